import { resolve } from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { baseEnvironment, openEnvironment, type TestEnvironment } from '../run/environment.js';
import { withheldNotice } from '../sandbox/host-env.js';

/** A project as an integration sees it: its seedfork config, state directory and the base
 * environment of its commands (before services add theirs). */
export interface Project {
  loaded: LoadedConfig;
  stateDir: string;
  baseEnv: Record<string, string>;
}

/** Projects whose withheld variables this process has named already (once per run). */
const said = new Set<string>();

/**
 * The seedfork.config found from `root`, with its state directory and base environment; names
 * the host variables withheld from the tests on stderr, once per project and process.
 * @throws SeedforkError when the config is missing or invalid
 */
export async function loadProject(root: string): Promise<Project> {
  const loaded = await loadConfig(root);
  const { env, withheld } = baseEnvironment(loaded.config);
  const notice = withheldNotice(withheld);
  if (notice && !said.has(loaded.root)) {
    said.add(loaded.root);
    process.stderr.write(`seedfork: ${notice}\n`);
  }
  return { loaded, stateDir: resolve(loaded.root, loaded.config.stateDir), baseEnv: env };
}

/**
 * What an integration runs test files in: the environment (snapshot seeded or reused, sandboxes
 * forked from it) that `seedfork run` would use for `project`, or for the config found from a
 * root directory.
 * @throws SeedforkError when the config is missing or invalid, or seeding fails
 */
export async function openProjectEnvironment(
  from: string | Project,
): Promise<Project & { environment: TestEnvironment }> {
  const project = typeof from === 'string' ? await loadProject(from) : from;
  const environment = await openEnvironment('namespace', project.stateDir, {
    loaded: project.loaded,
    baseEnv: project.baseEnv,
  });
  return { ...project, environment };
}
