import { type Dirent, lstatSync, readdirSync } from 'node:fs';
import picomatch from 'picomatch';
import type { FoundFile } from './types.js';

/** Longest path the kernel resolves, in bytes, with its NUL (linux/limits.h PATH_MAX). */
export const PATH_MAX = 4096;

/** Why a file with a newline in its name is listed but not copied. */
export const NEWLINE_NAME =
  'its name has a newline, which reports, shells and CI systems split on: rename it to copy it';

/** Why a file whose path is too long is listed but not copied. */
export const PATH_TOO_LONG = `its path is longer than PATH_MAX (${PATH_MAX} bytes), so it cannot be opened by name: shorten it to copy it`;

/**
 * Files below host directory `dir` matching `patterns` (relative globs, dotfiles included,
 * never below node_modules), with their modification times, sorted by path. Only regular
 * files: symbolic links are neither followed nor listed, since a test may leave a loop, or a
 * link out of the sandbox. A file that matches but cannot be copied by name (a newline in its
 * name; a path over PATH_MAX, or a directory there, listed as `<dir>/`) is listed with
 * `unreadable` saying why, so that callers can say what they skipped. Newlines count as `_`
 * when matching (picomatch's `*` stops at them). A backend whose sandbox files are reachable
 * from the host implements {@link Sandbox.findFiles} with it.
 */
export function findFilesIn(dir: string, patterns: readonly string[]): FoundFile[] {
  if (patterns.length === 0) return [];
  const matches = picomatch([...patterns], { dot: true });
  const out: FoundFile[] = [];
  const seen = new Set<string>();
  const add = (file: FoundFile) => {
    if (seen.has(file.path)) return;
    seen.add(file.path);
    out.push(file);
  };
  const matchable = (rel: string) => rel.replaceAll('\n', '_');
  /** Whether anything below directory `rel` could match (it is under some pattern's base). */
  const bases = patterns.map((p) => picomatch.scan(p).base);
  const mayHold = (rel: string) =>
    bases.some((b) => b === '' || rel === b || rel.startsWith(`${b}/`) || b.startsWith(`${rel}/`));

  const visit = (rel: string, entry: Dirent | undefined) => {
    const host = rel === '' ? dir : `${dir}/${rel}`;
    const isDir = entry ? entry.isDirectory() : true;
    if (Buffer.byteLength(host) >= PATH_MAX) {
      if (isDir ? mayHold(rel) : matches(matchable(rel)))
        add({ path: isDir ? `${rel}/` : rel, mtimeMs: Date.now(), unreadable: PATH_TOO_LONG });
      return;
    }
    if (entry && !isDir) {
      if (!entry.isFile() || !matches(matchable(rel))) return; // links, FIFOs, sockets: never
      if (rel.includes('\n')) {
        add({ path: rel, mtimeMs: Date.now(), unreadable: NEWLINE_NAME });
        return;
      }
      try {
        add({ path: rel, mtimeMs: lstatSync(host).mtimeMs });
      } catch {
        // removed while we looked
      }
      return;
    }
    let entries: Dirent[];
    try {
      entries = readdirSync(host, { withFileTypes: true });
    } catch {
      return; // removed, or not a directory
    }
    for (const child of entries) {
      if (child.name === 'node_modules' && child.isDirectory()) continue;
      const childRel = rel === '' ? child.name : `${rel}/${child.name}`;
      if (child.isDirectory() && !mayHold(childRel)) continue;
      visit(childRel, child);
    }
  };
  visit('', undefined);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
