import { existsSync, readFileSync } from 'node:fs';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { helperPath } from './helper.js';

/** Whether this process creates sandboxes as root or through an unprivileged user namespace. */
export type Privilege = 'root' | 'rootless';

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Check the kernel features the namespace backend needs, and how it will get its privileges.
 * @throws SeedforkError naming the missing feature and the command that fixes it.
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
  if (process.getuid?.() === 0) return 'root';
  const unprivileged = readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  const maxUserNs = readNumber('/proc/sys/user/max_user_namespaces');
  if (unprivileged === 0 || maxUserNs === 0) {
    throw new SeedforkError(
      'sandboxes need root, or unprivileged user namespaces, and this kernel disables them',
      {
        hint:
          'Run seedfork as root (sudo), or enable them: sysctl -w kernel.unprivileged_userns_clone=1 ' +
          'user.max_user_namespaces=15000.',
      },
    );
  }
  if (readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === 1) {
    throw new SeedforkError('AppArmor restricts unprivileged user namespaces on this machine', {
      hint:
        'Run seedfork as root (sudo), or allow them: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 ' +
        '(or an AppArmor profile for node granting userns).',
    });
  }
  return 'rootless';
}
