import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createJiti } from 'jiti';
import type { z } from 'zod';
import { SeedforkError } from '../errors/seedfork-error.js';
import { type Config, configSchema, type UserConfig } from './schema.js';

/** Config file names looked up, in this order, in the working directory. */
export const CONFIG_FILES = [
  'seedfork.config.ts',
  'seedfork.config.mts',
  'seedfork.config.mjs',
  'seedfork.config.js',
  'seedfork.config.json',
];

/** A validated config plus where it came from. */
export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  /** Directory of the config file: test globs, seed inputs and stateDir are relative to it. */
  root: string;
}

/**
 * Types a config object; returns it unchanged. Only for editor help: a plain
 * `export default { ... }` works the same.
 */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}

/** Find the config file in `cwd`. @throws SeedforkError when there is none. */
export function findConfigFile(cwd: string, explicit?: string): string {
  if (explicit) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new SeedforkError(`config file ${file} does not exist`);
    return file;
  }
  for (const name of CONFIG_FILES) {
    const file = resolve(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new SeedforkError(`no seedfork config in ${cwd}`, {
    hint: `Create seedfork.config.ts (or ${CONFIG_FILES.slice(1).join(', ')}) with at least test.include, or pass --config.`,
  });
}

/** Format zod issues as "key.path: message" lines that name the fix. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length ? `${path}: ` : '';
        return `${where}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} (remove or fix the spelling)`;
      }
      return `${path}: ${issue.message}`;
    })
    .join('\n');
}

/**
 * Validate a raw config object. @throws SeedforkError listing every problem by key.
 */
export function parseConfig(raw: unknown, file = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new SeedforkError(`invalid config in ${file}:\n${formatIssues(result.error)}`, {
      hint: 'See the README section "Configuration" for every key.',
    });
  }
  return result.data;
}

/**
 * Load and validate `seedfork.config.{ts,mts,mjs,js,json}`. TypeScript is loaded with jiti,
 * like Vite/Vitest configs; the default export (or the JSON document) is the config.
 * @throws SeedforkError when the file is missing, fails to load, or is invalid.
 */
export async function loadConfig(cwd: string, explicit?: string): Promise<LoadedConfig> {
  const file = findConfigFile(cwd, explicit);
  let raw: unknown;
  try {
    if (file.endsWith('.json')) {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } else {
      const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false });
      raw = await jiti.import(file, { default: true });
    }
  } catch (error) {
    throw new SeedforkError(`cannot load ${file}: ${(error as Error).message}`, { cause: error });
  }
  return { config: parseConfig(raw, file), file, root: dirname(file) };
}
