import type { FileChanges } from '../types.js';

/**
 * What a guest's files are compared by to tell what changed since its snapshot: the guest's
 * root filesystem (its disk), /tmp and /run (tmpfs), each walked without leaving its filesystem.
 * The project, mounted over its own disk, is read through its overlay instead
 * ({@link projectChangesScript}).
 */
export const LISTED_ROOTS = ['/', '/tmp', '/run'] as const;

/**
 * The guest command that lists every entry under {@link LISTED_ROOTS}: `TYPE MTIME SIZE PATH`
 * records, each ending in NUL (GNU find's `-printf`; a path may hold any byte but NUL).
 */
export function listingCommand(): string[] {
  return ['find', ...LISTED_ROOTS, '-xdev', '-printf', '%y %T@ %s %p\\0'];
}

/** One entry of a listing: type letter (find's %y) and a stamp (mtime and size). */
interface Entry {
  type: string;
  stamp: string;
}

/** Parse the output of {@link listingCommand}. */
export function parseListing(text: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const record of text.split('\0')) {
    const m = /^(\S) (\S+) (\d+) (\/.*)$/s.exec(record);
    if (m) out.set(m[4]!, { type: m[1]!, stamp: `${m[2]} ${m[3]}` });
  }
  return out;
}

/** Whether `path` or a directory above it is ignored (a walk that prunes ignored directories). */
function prunedBy(ignore: (path: string) => boolean): (path: string) => boolean {
  const memo = new Map<string, boolean>();
  const check = (path: string, isDir: boolean): boolean => {
    const key = isDir ? `${path}/` : path;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const parent = path.slice(0, path.lastIndexOf('/'));
    const result = (parent !== '' && check(parent, true)) || ignore(key);
    memo.set(key, result);
    return result;
  };
  return (path) => check(path, false);
}

/**
 * What changed between listing `base` (the snapshot's) and `now` (the sandbox's): a file is
 * `created` when `base` lacks it, `changed` when its mtime or size differs, `deleted` when only
 * `base` has it. Directories are listed (with a trailing `/`) only when new and empty, as the
 * namespace backend lists them.
 */
export function diffListings(
  base: Map<string, Entry>,
  now: Map<string, Entry>,
  ignore: (path: string) => boolean,
): FileChanges {
  const ignored = prunedBy(ignore);
  const created: string[] = [];
  const changed: string[] = [];
  const deleted: string[] = [];
  const parents = new Set<string>();
  for (const path of now.keys()) parents.add(path.slice(0, path.lastIndexOf('/')));
  for (const [path, entry] of now) {
    if (LISTED_ROOTS.includes(path as (typeof LISTED_ROOTS)[number]) || ignored(path)) continue;
    const before = base.get(path);
    if (entry.type === 'd') {
      if (!before && !parents.has(path)) created.push(`${path}/`);
    } else if (!before || before.type === 'd') created.push(path);
    else if (before.stamp !== entry.stamp || before.type !== entry.type) changed.push(path);
  }
  for (const [path, entry] of base)
    if (entry.type !== 'd' && !now.has(path) && !ignored(path)) deleted.push(path);
  return { created: created.sort(), changed: changed.sort(), deleted: deleted.sort() };
}

/**
 * The guest command that lists what was written to a project mounted through an overlay
 * (native/guest-agent.c, 'V'): every entry of its upper layer, as `TYPE PATH\0` records, paths
 * relative to `upper`. A character device there is a whiteout: a deleted file
 * (https://docs.kernel.org/filesystems/overlayfs.html#whiteouts-and-opaque-directories).
 */
export function upperListingCommand(upper: string): string[] {
  return ['find', upper, '-mindepth', '1', '-printf', '%y %P\\0'];
}

/** Parse the output of {@link upperListingCommand}: type letter by relative path. */
export function parseUpperListing(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const record of text.split('\0')) if (record.length > 2) out.set(record.slice(2), record[0]!);
  return out;
}
