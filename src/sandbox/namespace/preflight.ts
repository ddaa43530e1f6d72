import { existsSync, readFileSync } from 'node:fs';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { helperPath } from './helper.js';
import { readHostFacts, restrictionError } from './restrictions.js';

/** Whether this process creates sandboxes as root or through an unprivileged user namespace. */
export type Privilege = 'root' | 'rootless';

/**
 * Check the kernel features the namespace backend needs, and how it will get its privileges: a
 * probe makes the namespaces once, and a refusal is named (see {@link restrictionError}).
 * @throws SeedforkError naming the missing feature or restriction and what fixes it.
 */
export function namespacePreflight(): Privilege {
  if (process.platform !== 'linux') {
    throw new SeedforkError(`the namespace backend needs Linux (this is ${process.platform})`, {
      hint: 'Run seedfork on a Linux machine or VM, or use --isolation none to run without sandboxes.',
    });
  }
  helperPath();
  for (const ns of ['mnt', 'pid', 'net', 'uts', 'ipc']) {
    if (!existsSync(`/proc/self/ns/${ns}`)) {
      throw new SeedforkError(`this kernel has no ${ns} namespaces (/proc/self/ns/${ns} is missing)`, {
        hint:
          'Use a kernel built with CONFIG_NAMESPACES and CONFIG_' +
          ns.toUpperCase() +
          '_NS, or --isolation none.',
      });
    }
  }
  const filesystems = readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay\n/.test(filesystems)) {
    throw new SeedforkError('overlayfs is not available (no "overlay" in /proc/filesystems)', {
      hint: 'Load it with `modprobe overlay` (as root), or use --isolation none.',
    });
  }
  // can this process make the namespaces? if not, name the restriction and its fix
  const facts = readHostFacts();
  const restricted = restrictionError(facts);
  if (restricted) throw restricted;
  return facts.uid === 0 ? 'root' : 'rootless';
}
