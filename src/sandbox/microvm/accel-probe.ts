import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeedforkError } from '../../errors/seedfork-error.js';
import type { AcceleratorChoice } from './qemu.js';
import { type Accelerator, startGuest } from './qemu.js';

/** What a probe boot needs: the guest's kernel and initramfs. */
export interface ProbeAssets {
  vmlinux: string;
  initramfs: string;
}

/** How long a probe guest may take to say it is ready, in ms (a KVM guest takes well under 1 s). */
export const PROBE_READY_MS = 20_000;

/**
 * Boot the guest's kernel and agent under `accel`, with no disk, and see whether the agent
 * reports ready (the initramfs alone: a few seconds at most). KVM devices that open fine can
 * still kill guests (issue 14: a paravirtualised /dev/kvm), so hardware KVM is trusted only
 * after this.
 * @returns undefined when the guest came up, else why not (one line)
 */
export async function probeBoot(
  assets: ProbeAssets,
  accel: Accelerator,
  readyMs = PROBE_READY_MS,
): Promise<string | undefined> {
  const runDir = mkdtempSync(join(tmpdir(), 'seedfork-probe-'));
  try {
    const guest = await startGuest(
      {
        vmlinux: assets.vmlinux,
        initramfs: assets.initramfs,
        disks: [],
        append: [],
        memoryMiB: 256,
        cpus: 1,
        accel,
        runDir,
      },
      readyMs,
    );
    await guest.kill();
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * The accelerator guests use: `choice` (from chooseAccelerator), checked by a probe boot when it
 * is KVM. A failed probe falls back to TCG with the reason, or, when KVM was asked for
 * (`microvm.accel: kvm`), is an error.
 * @param probe the probe boot (given for tests)
 * @throws SeedforkError when KVM was asked for and the probe boot failed
 */
export async function settleAccelerator(
  choice: AcceleratorChoice,
  requested: 'auto' | Accelerator,
  probe: (accel: Accelerator) => Promise<string | undefined>,
): Promise<AcceleratorChoice> {
  if (choice.accel !== 'kvm') return choice;
  const failure = await probe('kvm');
  if (failure === undefined) return choice;
  if (requested === 'kvm')
    throw new SeedforkError(`microvm.accel is kvm, but a guest did not boot under KVM: ${failure}`, {
      hint: 'Set microvm.accel to auto or tcg to run guests under software emulation.',
    });
  return {
    accel: 'tcg',
    reason: `a probe guest did not boot under KVM (${failure}); guests run under software emulation (TCG), which is slower`,
  };
}
