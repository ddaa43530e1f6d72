import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SeedforkError } from '../../errors/seedfork-error.js';

/**
 * What decides whether this process can create the namespaces a sandbox needs: who it runs as,
 * its capabilities and seccomp state (/proc/self/status), the kernel's user-namespace sysctls,
 * and a probe that tries (util-linux `unshare`).
 */
export interface HostFacts {
  uid: number;
  /** CAP_SYS_ADMIN (bit 21) is in the effective set. */
  capSysAdmin: boolean;
  /** Seccomp filters on this process (`Seccomp_filters`; 0 outside a filtered container). */
  seccompFilters: number;
  /** kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+), when the kernel has it. */
  apparmorRestrict?: number;
  /** kernel.unprivileged_userns_clone (Debian's patch), when the kernel has it. */
  unprivilegedClone?: number;
  /** user.max_user_namespaces. */
  maxUserNs?: number;
  /** Whether `unshare` could make the namespaces (with a user namespace when not root), and
   * what it said when it could not. */
  probe: { ok: boolean; error?: string };
}

const CAP_SYS_ADMIN = 21n;

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** This process's /proc/self/status, read once, as a field reader. */
function processStatus(): (field: string) => string | undefined {
  let text = '';
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // not Linux's procfs: every field unknown
  }
  return (field) => new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(text)?.[1];
}

/**
 * Read the facts of this process and machine, probing namespace creation with util-linux
 * `unshare` (mount, PID, network, IPC and UTS namespaces; a user namespace too when not root),
 * which leaves nothing behind.
 */
export function readHostFacts(): HostFacts {
  const uid = process.getuid?.() ?? -1;
  const status = processStatus();
  const capEff = status('CapEff');
  const capSysAdmin = capEff ? ((BigInt(`0x${capEff}`) >> CAP_SYS_ADMIN) & 1n) === 1n : uid === 0;
  const flags = ['--mount', '--pid', '--net', '--ipc', '--uts', '--fork'];
  if (uid !== 0) flags.unshift('--user', '--map-root-user');
  const probe = spawnSync('unshare', [...flags, 'true'], { encoding: 'utf8', timeout: 10_000 });
  // without util-linux's unshare there is no probe: the sandbox's own start says what fails
  const unprobed = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  const error = probe.error ? probe.error.message : probe.stderr.trim().split('\n').pop();
  const apparmorRestrict = readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const unprivilegedClone = readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  const maxUserNs = readNumber('/proc/sys/user/max_user_namespaces');
  return {
    uid,
    capSysAdmin,
    seccompFilters: Number(status('Seccomp_filters') ?? (status('Seccomp') === '2' ? 1 : 0)),
    ...(apparmorRestrict !== undefined ? { apparmorRestrict } : {}),
    ...(unprivilegedClone !== undefined ? { unprivilegedClone } : {}),
    ...(maxUserNs !== undefined ? { maxUserNs } : {}),
    probe: probe.status === 0 || unprobed ? { ok: true } : { ok: false, ...(error ? { error } : {}) },
  };
}

/** What the other isolation modes give up, for hints that offer them. */
const OTHERWISE =
  'Or choose another isolation: --isolation microvm (a guest kernel per test file: needs QEMU, ' +
  'and /dev/kvm passed in to be fast; it runs under TCG, several times slower, without) or ' +
  '--isolation none (no sandboxes: files share the services, ports and /tmp, so tests that ' +
  'share state can fail).';

/**
 * Why sandboxes cannot be made here, naming the exact restriction and its fix, or undefined when
 * the probe made them. The cases: a container's root without CAP_SYS_ADMIN (Docker, Podman,
 * GitLab's Docker executor), a seccomp filter refusing unshare(2) (a runtime's default profile),
 * AppArmor's restriction of unprivileged user namespaces (Ubuntu 23.10+, GitHub-hosted Ubuntu
 * 24.04 runners), Debian's unprivileged_userns_clone=0, user.max_user_namespaces=0.
 * Sources: capabilities(7), user_namespaces(7), Docker's default seccomp profile
 * (https://docs.docker.com/engine/security/seccomp/), Ubuntu's "restricted unprivileged user
 * namespaces" (https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces).
 */
export function restrictionError(facts: HostFacts): SeedforkError | undefined {
  if (facts.probe.ok) return undefined;
  const said = facts.probe.error ? ` (unshare: ${facts.probe.error.replace(/^unshare:\s*/, '')})` : '';
  if (facts.uid === 0 && !facts.capSysAdmin)
    return new SeedforkError(
      `seedfork runs as root without CAP_SYS_ADMIN, so it cannot create a sandbox's namespaces${said}: ` +
        "a container's default (Docker, Podman, GitLab's Docker executor)",
      {
        hint:
          'Give the job container the capability: docker run --privileged (GitLab: privileged = true ' +
          "under [runners.docker] in the runner's config.toml), or --cap-add SYS_ADMIN --security-opt " +
          `seccomp=unconfined --security-opt apparmor=unconfined. ${OTHERWISE}`,
      },
    );
  if (facts.uid !== 0 && facts.apparmorRestrict === 1)
    return new SeedforkError(
      `AppArmor restricts unprivileged user namespaces on this machine (kernel.apparmor_restrict_unprivileged_userns = 1)${said}`,
      {
        hint:
          'Run seedfork as root (sudo -E npx seedfork run), or lift the restriction in a step before it: ' +
          'sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (GitHub-hosted Ubuntu 24.04 ' +
          `runners have it on; or an AppArmor profile for node granting userns). ${OTHERWISE}`,
      },
    );
  if (facts.uid !== 0 && (facts.unprivilegedClone === 0 || facts.maxUserNs === 0))
    return new SeedforkError(
      `this kernel disables unprivileged user namespaces (${
        facts.unprivilegedClone === 0
          ? 'kernel.unprivileged_userns_clone = 0'
          : 'user.max_user_namespaces = 0'
      })${said}`,
      {
        hint:
          'Run seedfork as root (sudo -E npx seedfork run), or enable them: sudo sysctl -w ' +
          `${facts.unprivilegedClone === 0 ? 'kernel.unprivileged_userns_clone=1' : 'user.max_user_namespaces=15000'}. ${OTHERWISE}`,
      },
    );
  if (facts.seccompFilters > 0)
    return new SeedforkError(
      `a seccomp filter refuses this process the calls that create namespaces${said}: a container runtime's default profile`,
      {
        hint:
          'Run the job container with --security-opt seccomp=unconfined (or a profile that allows ' +
          `unshare, and clone with namespace flags), or --privileged. ${OTHERWISE}`,
      },
    );
  return new SeedforkError(`creating a sandbox's namespaces failed${said}`, {
    hint: `Run seedfork as root (sudo -E npx seedfork run). ${OTHERWISE}`,
  });
}
