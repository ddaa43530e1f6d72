import { resolve } from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { baseEnvironment, openEnvironment, type TestEnvironment } from '../run/environment.js';

/**
 * What an integration runs test files in: the seedfork.config found from `root`, its state
 * directory, and the environment (snapshot seeded or reused, sandboxes forked from it) that
 * `seedfork run` would use, and the base environment of its commands (before services add theirs).
 * @throws SeedforkError when the config is missing or invalid, or seeding fails
 */
export async function openProjectEnvironment(root: string): Promise<{
  loaded: LoadedConfig;
  stateDir: string;
  environment: TestEnvironment;
  baseEnv: Record<string, string>;
}> {
  const loaded = await loadConfig(root);
  const stateDir = resolve(loaded.root, loaded.config.stateDir);
  const baseEnv = baseEnvironment(loaded.config);
  const environment = await openEnvironment('namespace', stateDir, { loaded, baseEnv });
  return { loaded, stateDir, environment, baseEnv };
}
