import { resolve } from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { baseEnvironment, openEnvironment, type TestEnvironment } from '../run/environment.js';

/** A project as an integration sees it: its seedfork config, state directory and the base
 * environment of its commands (before services add theirs). */
export interface Project {
  loaded: LoadedConfig;
  stateDir: string;
  baseEnv: Record<string, string>;
}

/**
 * The seedfork.config found from `root`, with its state directory and base environment.
 * @throws SeedforkError when the config is missing or invalid
 */
export async function loadProject(root: string): Promise<Project> {
  const loaded = await loadConfig(root);
  return {
    loaded,
    stateDir: resolve(loaded.root, loaded.config.stateDir),
    baseEnv: baseEnvironment(loaded.config),
  };
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
