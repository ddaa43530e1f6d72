import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './project.js';

/** The audit fixture: a suite with known flakiness, its ground truth beside it. */
export const AUDIT_FIXTURE = join(REPO, 'test/fixtures/audit-suite');
/** The fixture's ground truth: each test's class, and the culprits of its order-dependent and brittle ones. */
export const AUDIT_TRUTH: Record<string, { category: string; culprits?: string[] }> = JSON.parse(
  readFileSync(join(REPO, 'test/fixtures/audit-suite.truth.json'), 'utf8'),
);
/** The fixed path the fixture's tmpfile test writes (shared state on the host). */
export const AUDIT_FIXTURE_SCRATCH = '/tmp/seedfork-audit-fixture.scratch';
/** The fixed path the fixture's session files both write (a conflict). */
export const AUDIT_FIXTURE_SESSION = '/tmp/seedfork-fixture-session.json';

/** A fresh copy of the audit fixture under test-output/ (the shared-host runs write into the project). */
export function auditFixtureCopy(name: string): string {
  const dir = join(REPO, 'test-output', 'projects', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(AUDIT_FIXTURE, dir, { recursive: true });
  return dir;
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** Whether `pid` still runs (a zombie has released its sockets and counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Undo what an audit of the fixture copy at `dir` left on the host: the port test's server
 * (it leaves one running on the shared host, as the suite it imitates would) and the fixed
 * /tmp paths.
 */
export function cleanUpAuditFixture(dir: string): void {
  // the shared-host runs run in a copy of the project
  for (const root of [dir, join(dir, '.seedfork/shared-project')]) {
    const pidFile = join(root, 'data/port-daemon.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      continue; // gone already
    }
    // the kill is delivered asynchronously: the port is free only once the process has exited
    for (let waited = 0; waited < 5000 && alive(pid); waited += 10) Atomics.wait(PAUSE, 0, 0, 10);
  }
  rmSync(AUDIT_FIXTURE_SCRATCH, { force: true });
  rmSync(AUDIT_FIXTURE_SESSION, { force: true });
}
