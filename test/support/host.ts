import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupLayout, listAllSandboxCgroups } from '../../src/sandbox/namespace/cgroup.js';

/** What seedfork could leak on the host: sandbox processes, orphaned zygotes, overlay and disk-quota mounts, cgroups, netns. */
export interface HostState {
  helpers: string[];
  overlayMounts: string[];
  cgroups: string[];
  netns: string[];
}

function processes(): { pid: string; ppid: string; comm: string; netns: string }[] {
  const out: { pid: string; ppid: string; comm: string; netns: string }[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      out.push({
        pid,
        ppid: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '',
        comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
        netns: readlinkSync(`/proc/${pid}/ns/net`),
      });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Read the host's current state. */
export function hostState(): HostState {
  const procs = processes();
  return {
    // Sandbox processes, and zygotes whose seedfork process is gone (a live one's is its parent).
    helpers: procs
      .filter((p) => /^seedfork-(ns|init)$/.test(p.comm) || (p.comm === 'seedfork-zygote' && p.ppid === '1'))
      .map((p) => `${p.pid}:${p.comm}`),
    overlayMounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => / - overlay /.test(l) || (/ - tmpfs /.test(l) && /\/sandboxes\//.test(l))),
    cgroups: listAllSandboxCgroups(cgroupLayout()),
    netns: [...new Set(procs.map((p) => p.netns))].sort(),
  };
}

/**
 * Resolves when the host holds nothing seedfork made since `before` (waits up to `timeoutMs`
 * for the kernel to finish tearing down), else rejects with what is left.
 */
export async function expectHostClean(before: HostState, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = hostState();
    const leaks = {
      helpers: now.helpers.filter((h) => !before.helpers.includes(h)),
      overlayMounts: now.overlayMounts.filter((m) => !before.overlayMounts.includes(m)),
      cgroups: now.cgroups.filter((c) => !before.cgroups.includes(c)),
      netns: now.netns.filter((n) => !before.netns.includes(n)),
    };
    if (Object.values(leaks).every((l) => l.length === 0)) return;
    if (Date.now() > deadline) throw new Error(`host not clean: ${JSON.stringify(leaks, null, 2)}`);
    await sleep(50);
  }
}

/** True when this process can make sandboxes (root). Tests that need it say why they skip. */
export const isRoot = process.getuid?.() === 0;
