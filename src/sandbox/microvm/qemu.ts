import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { AgentClient } from './agent-client.js';
import { findOnPath, runHostTool } from './host-tool.js';
import { waitUntilGone } from './owner.js';
import { Qmp } from './qmp.js';

/** How QEMU runs the guest's CPU: hardware virtualisation, or software emulation. */
export type Accelerator = 'kvm' | 'tcg';

/** The accelerator to use, and why. */
export interface AcceleratorChoice {
  accel: Accelerator;
  /** One line for the output when it is not KVM. */
  reason?: string;
}

/**
 * KVM where `/dev/kvm` can be opened and is hardware KVM (the kvm_intel or kvm_amd module);
 * software emulation (TCG) otherwise, with the reason. `/dev/kvm` of the PVM module (kvm_pvm,
 * paravirtualised KVM inside a VM) kills guests with KVM internal errors (issue 14's probe).
 * @throws SeedforkError when `requested` is `kvm` and this machine has no hardware KVM
 */
export function chooseAccelerator(requested: 'auto' | Accelerator = 'auto'): AcceleratorChoice {
  if (requested === 'tcg') return { accel: 'tcg', reason: 'microvm.accel is tcg' };
  let usable = false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    usable = true;
  } catch {
    // below
  }
  const hardware = ['kvm_intel', 'kvm_amd'].some((m) => existsSync(`/sys/module/${m}`));
  if (usable && hardware) return { accel: 'kvm' };
  if (requested === 'kvm')
    throw new SeedforkError('microvm.accel is kvm, but this machine has no hardware KVM', {
      hint: usable
        ? '/dev/kvm here is not hardware KVM (kvm_intel or kvm_amd): set microvm.accel to auto or tcg.'
        : 'Load kvm_intel or kvm_amd and give this user /dev/kvm, or set microvm.accel to auto or tcg.',
    });
  const why = !existsSync('/dev/kvm')
    ? 'there is no /dev/kvm'
    : !usable
      ? '/dev/kvm cannot be opened by this user'
      : existsSync('/sys/module/kvm_pvm')
        ? '/dev/kvm is PVM (kvm_pvm), where guests die'
        : '/dev/kvm is not hardware KVM';
  return {
    accel: 'tcg',
    reason: `microvm: ${why}; guests run under software emulation (TCG), which is slower`,
  };
}

/** The host's TSC frequency in kHz, for `tsc_early_khz` (a TCG guest otherwise calibrates, and 1 boot in 25 hangs doing so). */
export function hostTscKhz(): number | undefined {
  const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}

/**
 * The QEMU binary (qemu-system-x86_64 on PATH).
 * @throws SeedforkError naming the Debian package when it is not installed
 */
export function qemuBinary(): string {
  const found = findOnPath('qemu-system-x86_64');
  if (found) return found;
  throw new SeedforkError('the microvm backend needs QEMU (qemu-system-x86_64), which is not installed', {
    hint: 'apt-get install qemu-system-x86',
  });
}

/** A virtio block device of a guest. */
export interface GuestDisk {
  /** QEMU's id of the drive (the same in a template and its clones). */
  id: string;
  file: string;
  format: 'raw' | 'qcow2';
  readOnly?: boolean;
}

/** What a guest is booted or restored with. */
export interface GuestSpec {
  vmlinux: string;
  initramfs: string;
  /** Disks, in order: the first is /dev/vda. */
  disks: GuestDisk[];
  /** Kernel command line additions (`seedfork.root=/dev/vda`). */
  append: string[];
  memoryMiB: number;
  cpus: number;
  accel: Accelerator;
  /** Directory for QEMU's log and the console log. */
  runDir: string;
  /** Directory for the QMP and agent sockets (a short path: a socket's is at most 107 bytes). */
  socketDir: string;
  /**
   * Guest memory in this file: `share: true` for a template (its pages are the snapshot),
   * `share: false` to map a template's memory copy-on-write in a clone.
   */
  memoryFile?: { path: string; share: boolean };
  /** Wait for an incoming migration (a clone restored from a snapshot) instead of booting. */
  incoming?: boolean;
  /** The agent's first job id: above every id of a restored snapshot's jobs, which still run. */
  firstJob?: number;
  /**
   * A network device on QEMU's user-mode network (slirp): `open` reaches what the host reaches
   * (a seed with `seed.network: 'host'`); `restricted` is the same device cut off from everything
   * (`restrict=on`: the forks of such a seed, whose restored guest has the device). Default: none.
   */
  network?: 'open' | 'restricted';
}

/** QEMU's arguments for `spec`: the microvm machine, virtio-mmio devices, no network unless `spec.network`, no display. */
export function qemuArgs(spec: GuestSpec): string[] {
  const tsc = spec.accel === 'tcg' ? hostTscKhz() : undefined;
  const machine = ['microvm', 'x-option-roms=off', 'acpi=on', 'rtc=on'];
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-accel',
    spec.accel,
    '-m',
    `${spec.memoryMiB}M`,
    '-smp',
    String(spec.cpus),
  ];
  if (spec.memoryFile) {
    machine.push('memory-backend=mem');
    args.push(
      '-object',
      `memory-backend-file,id=mem,size=${spec.memoryMiB}M,mem-path=${spec.memoryFile.path},share=${spec.memoryFile.share ? 'on' : 'off'}`,
    );
  }
  args.push('-M', machine.join(','));
  args.push('-kernel', spec.vmlinux, '-initrd', spec.initramfs);
  args.push(
    '-append',
    [
      'console=ttyS0',
      'quiet',
      'panic=-1',
      ...(tsc ? [`tsc_early_khz=${tsc}`] : []),
      ...(spec.network ? ['seedfork.net=1'] : []),
      ...spec.append,
    ].join(' '),
  );
  args.push('-serial', `file:${join(spec.runDir, 'console.log')}`);
  args.push('-qmp', `unix:${join(spec.socketDir, 'qmp.sock')},server=on,wait=off`);
  args.push(
    '-device',
    'virtio-serial-device',
    '-chardev',
    `socket,id=agent,path=${join(spec.socketDir, 'agent.sock')},server=on,wait=off`,
    '-device',
    'virtserialport,chardev=agent,name=seedfork.agent',
  );
  for (const disk of spec.disks) {
    args.push(
      '-drive',
      `id=${disk.id},file=${disk.file},format=${disk.format},if=none,cache=unsafe${disk.readOnly ? ',readonly=on' : ''}`,
      '-device',
      `virtio-blk-device,drive=${disk.id}`,
    );
  }
  if (spec.network)
    args.push(
      '-netdev',
      `user,id=net0${spec.network === 'restricted' ? ',restrict=on' : ''}`,
      '-device',
      'virtio-net-device,netdev=net0',
    );
  if (spec.incoming) args.push('-incoming', 'defer');
  return args;
}

/** A running QEMU with its guest's agent. */
export interface Guest {
  /** The shell QEMU runs under (see WATCHER): killing it kills QEMU. */
  readonly process: ChildProcess;
  /** Directory of the guest's QMP and agent sockets. */
  readonly socketDir: string;
  readonly agent: AgentClient;
  readonly qmp: Qmp;
  /** The guest's serial console (kernel messages, the agent's complaints). */
  readonly consoleLog: string;
  /** Kill QEMU and wait for it to exit. Safe to call twice. */
  kill(): Promise<void>;
}

/** The last lines of a guest's console, for errors. */
export function consoleTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no console output)';
  }
}

/**
 * What QEMU runs under: a shell whose death kills QEMU (`setpriv --pdeathsig KILL`, util-linux),
 * and which itself gets SIGTERM when the seedfork process that started it dies, however it dies
 * (SIGKILL included). On that SIGTERM it exits, taking QEMU with it, unless the guest's keep file
 * (`$1`) exists: then it stays, and the guest with it, for `seedfork shell`. It exits when QEMU
 * does. (POSIX: a trapped signal ends `wait` early, so it waits again.)
 */
const WATCHER = `keep=$1; shift
trap '[ -e "$keep" ] || exit 0' TERM
setpriv --pdeathsig KILL -- "$@" &
qemu=$!
while kill -0 "$qemu" 2>/dev/null; do wait "$qemu"; done`;

/** The file whose presence keeps a guest alive after its seedfork process (see WATCHER). */
export function keepFile(runDir: string): string {
  return join(runDir, 'keep');
}

/**
 * Start QEMU for `spec` and connect to its QMP socket and its agent. A booted guest is ready
 * when its agent says so; a clone (`incoming`) is left for the caller to restore.
 * @throws SeedforkError when QEMU fails to start or the agent is not ready within `readyMs`,
 *   with QEMU's output and the console's last lines; QEMU is killed then
 */
export async function startGuest(guestSpec: Omit<GuestSpec, 'socketDir'>, readyMs: number): Promise<Guest> {
  // the sockets live under the system's temporary directory: a project's state directory may
  // be too deep for a socket's path; they go when the guest is killed
  const spec: GuestSpec = { ...guestSpec, socketDir: mkdtempSync(join(tmpdir(), 'seedfork-vm-')) };
  const stderrLog = join(spec.runDir, 'qemu.log');
  const out = openSync(stderrLog, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'TERM',
        '--',
        'sh',
        '-c',
        WATCHER,
        'sh',
        keepFile(spec.runDir),
        qemuBinary(),
        ...qemuArgs(spec),
      ],
      {
        stdio: ['ignore', out, out],
      },
    );
  } finally {
    closeSync(out); // QEMU has its own copy
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let agent: AgentClient | undefined;
  let qmp: Qmp | undefined;
  const kill = async () => {
    agent?.close();
    qmp?.close();
    const qemu = childPids(child.pid);
    for (const pid of qemu) signal(pid, 'SIGKILL');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await waitUntilGone(qemu);
    rmSync(spec.socketDir, { recursive: true, force: true });
  };
  const died = exited.then(() => {
    throw new SeedforkError(`QEMU exited while starting the guest: ${consoleTail(stderrLog, 5)}`, {
      details: consoleTail(join(spec.runDir, 'console.log')),
    });
  });
  died.catch(() => {});
  try {
    qmp = await Promise.race([Qmp.connect(join(spec.socketDir, 'qmp.sock'), readyMs), died]);
    agent = await Promise.race([
      AgentClient.connect(join(spec.socketDir, 'agent.sock'), readyMs, spec.firstJob),
      died,
    ]);
    if (!spec.incoming) await Promise.race([agent.ready(readyMs), died]);
  } catch (error) {
    await kill();
    if (error instanceof SeedforkError && error.message.startsWith('QEMU exited')) throw error;
    throw new SeedforkError(`the guest did not become ready: ${(error as Error).message}`, {
      hint: 'The guest console below says how far it got.',
      details: consoleTail(join(spec.runDir, 'console.log')),
      cause: error,
    });
  }
  return {
    process: child,
    socketDir: spec.socketDir,
    agent,
    qmp,
    consoleLog: join(spec.runDir, 'console.log'),
    kill,
  };
}

/**
 * `qemu-img create` of a qcow2 overlay over `backing` (copy-on-write: the backing file is never written).
 * @throws SeedforkError when qemu-img is missing (naming qemu-utils) or fails (with its output)
 */
export async function createOverlay(
  backing: string,
  backingFormat: 'raw' | 'qcow2',
  overlay: string,
): Promise<void> {
  await runHostTool(
    'qemu-img',
    ['create', '-q', '-f', 'qcow2', '-F', backingFormat, '-b', backing, overlay],
    `qemu-img cannot create an overlay of ${backing}`,
  );
}

/** The children of process `pid` (/proc/<pid>/task/<pid>/children, proc(5)). */
function childPids(pid: number | undefined): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited already
  }
}
