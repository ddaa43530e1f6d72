import { stopHelpers } from '../sandbox/index.js';
import { killLiveSandboxes } from './sandbox.js';

/**
 * Give back everything the SDK holds in this process, as its exit would: every sandbox still
 * live (not killed, not kept) is killed, then the namespace helper process is stopped, which
 * frees this process's claim (its run lock: an open, flock(2)ed file under each state directory's
 * `runs/`). Afterwards nothing of this process is open under a state directory, so a long-lived
 * program can unmount or delete one, and `seedfork gc` treats this process's leftovers as
 * those of an ended run. Kept sandboxes stay for `seedfork shell`.
 *
 * Snapshots stay on disk, and their objects stay usable: a later `fork()` or `Sandbox.create`
 * starts a new helper and takes the claim again. Call it when no `create`, `fork` or `exec` is
 * in flight: those would fail with the helper gone.
 * @throws AggregateError when some sandbox could not be killed (the helper is stopped anyway,
 *   which kills what is left of it)
 */
export async function close(): Promise<void> {
  try {
    await killLiveSandboxes();
  } finally {
    await stopHelpers();
  }
}
