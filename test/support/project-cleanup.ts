// A Vitest setup file: when a test file ends, remove the throwaway projects it made under
// test-output/projects (named `<name>-<pid>` by makeProject and the tests that build their own).
// Each holds its seeded snapshot, about 270 MB with PostgreSQL's pooled test databases; left in
// place, a full run kept about 6.5 GB of them, and a CI machine with less free disk failed
// half-way with every later file erroring. A project with anything still mounted under it (a
// sandbox that is still running or kept) is left alone and named, so the leak stays visible; so
// are the projects of a file with a failed test, to look into.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, type Suite, type Task } from 'vitest';
import { mountPoints } from '../../src/sandbox/namespace/sandbox.js';
import { removeTree } from '../../src/sandbox/remove-tree.js';
import { REPO } from './project.js';

const PROJECTS = join(REPO, 'test-output', 'projects');

/** Mount points at or under `dir`. */
function mountsUnder(dir: string): string[] {
  return mountPoints().filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Whether `task` or anything in it failed. */
function failed(task: Readonly<Task>): boolean {
  if (task.result?.state === 'fail') return true;
  return 'tasks' in task && (task as Suite).tasks.some(failed);
}

afterAll((file) => {
  let names: string[];
  try {
    names = readdirSync(PROJECTS);
  } catch {
    return; // this file made none
  }
  const mine = names.filter((n) => n.endsWith(`-${process.pid}`));
  if (mine.length > 0 && failed(file)) {
    console.warn(`project-cleanup: a test failed: its projects are left in ${PROJECTS} (${mine.join(', ')})`);
    return;
  }
  for (const name of mine) {
    const dir = join(PROJECTS, name);
    const mounts = mountsUnder(dir);
    if (mounts.length > 0) {
      console.warn(`project-cleanup: ${dir} is left in place: still mounted under it: ${mounts.join(', ')}`);
      continue;
    }
    removeTree(dir);
  }
});
