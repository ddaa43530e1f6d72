import { execFileSync } from 'node:child_process';

/** Why the microvm tests cannot run here (a missing package, no root), or undefined. */
export function microvmMissing(): string | undefined {
  for (const [command, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['qemu-img', 'qemu-utils'],
    ['mmdebstrap', 'mmdebstrap'],
    ['lz4', 'lz4'],
    ['apt-get', 'apt (a Debian or Ubuntu host)'],
  ])
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    } catch {
      return `${command} is not installed (apt-get install ${pkg})`;
    }
  if (process.getuid?.() !== 0) return 'building the guest image (mmdebstrap) needs root';
  return undefined;
}

/** Pids of the QEMU processes running seedfork guests. */
export const qemuPids = (): string[] =>
  execFileSync('sh', ['-c', 'pgrep -f "^[^ ]*qemu-system-x86_64 .*seedfork.agent" || true'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
