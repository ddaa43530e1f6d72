import { describe, expect, test } from 'vitest';
import { settleAccelerator } from './accel-probe.js';

describe('settleAccelerator: KVM only after a probe guest booted under it', () => {
  test('TCG needs no probe', async () => {
    const probe = async () => {
      throw new Error('not called');
    };
    expect(await settleAccelerator({ accel: 'tcg', reason: 'no /dev/kvm' }, 'auto', probe)).toEqual({
      accel: 'tcg',
      reason: 'no /dev/kvm',
    });
  });

  test('KVM whose probe guest booted is kept', async () => {
    const asked: string[] = [];
    const probe = async (accel: string) => {
      asked.push(accel);
      return undefined;
    };
    expect(await settleAccelerator({ accel: 'kvm' }, 'auto', probe)).toEqual({ accel: 'kvm' });
    expect(asked).toEqual(['kvm']);
  });

  test('KVM whose probe guest died falls back to TCG and says why', async () => {
    const choice = await settleAccelerator({ accel: 'kvm' }, 'auto', async () => 'KVM internal error');
    expect(choice.accel).toBe('tcg');
    expect(choice.reason).toMatch(/probe guest did not boot under KVM \(KVM internal error\)/);
  });

  test('asked for KVM (microvm.accel: kvm), a failed probe is an error that says what to set', async () => {
    await expect(settleAccelerator({ accel: 'kvm' }, 'kvm', async () => 'hangs')).rejects.toThrow(
      /microvm.accel is kvm, but a guest did not boot under KVM: hangs/,
    );
  });
});
