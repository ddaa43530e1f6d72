import { readFileSync } from 'node:fs';

let version: string | undefined;

/** seedfork's own version (its package.json's), read once. */
export function seedforkVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}
