import { SeedforkError } from '../../errors/seedfork-error.js';
import type { Guest } from './qemu.js';

const IGNORE_SHARED = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

/** Single-quote `s` for the shell QEMU's `exec:` migration runs. */
const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

async function migrationDone(guest: Guest, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = (await guest.qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled')
      throw new SeedforkError(`${what} failed: ${info['error-desc'] ?? info.status}`);
    if (Date.now() > deadline) throw new SeedforkError(`${what} did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Save a running template guest (started with `memoryFile.share`): stop it and write its device
 * state to `statePath` through QEMU's migration. With `x-ignore-shared` the guest's memory is not
 * copied: its pages already are the shared memory file, which becomes the snapshot's memory
 * (QEMU's VM templating; docs "Migration framework", capability x-ignore-shared).
 * @throws SeedforkError when the migration fails
 */
export async function saveGuest(guest: Guest, statePath: string, timeoutMs = 60_000): Promise<void> {
  await guest.qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
  await guest.qmp.execute('stop');
  await guest.qmp.execute('migrate', { uri: `exec:cat > ${quote(statePath)}` });
  await migrationDone(guest, timeoutMs, 'saving the guest');
}

/**
 * Restore a clone started with `incoming` and the template's memory file mapped privately
 * (`share: false`: its writes are copy-on-write), from the device state at `statePath`, then
 * run it and reseed its clock and random pool through the agent.
 * @throws SeedforkError when the restore fails or the agent does not answer
 */
export async function restoreGuest(guest: Guest, statePath: string, timeoutMs = 60_000): Promise<void> {
  await guest.qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
  await guest.qmp.execute('migrate-incoming', { uri: `exec:cat ${quote(statePath)}` });
  await migrationDone(guest, timeoutMs, 'restoring the guest');
  const status = (await guest.qmp.execute('query-status')) as { status: string };
  if (status.status !== 'running') await guest.qmp.execute('cont');
  await guest.agent.reseed();
}
