import { resolve } from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { baseEnvironment, openEnvironment, type TestEnvironment } from '../run/environment.js';

/**
 * What an integration runs test files in: the seedfork.config found from `root`, its state
 * directory, and the environment (snapshot seeded or reused, sandboxes forked from it) that
 * `seedfork run` would use.
 * @throws SeedforkError when the config is missing or invalid, or seeding fails
 */
export async function openProjectEnvironment(
  root: string,
): Promise<{ loaded: LoadedConfig; stateDir: string; environment: TestEnvironment }> {
  const loaded = await loadConfig(root);
  const stateDir = resolve(loaded.root, loaded.config.stateDir);
  const environment = await openEnvironment('namespace', stateDir, {
    loaded,
    baseEnv: baseEnvironment(loaded.config),
  });
  return { loaded, stateDir, environment };
}
