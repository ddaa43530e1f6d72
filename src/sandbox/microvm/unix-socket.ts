import { connect, type Socket } from 'node:net';
import { SeedforkError } from '../../errors/seedfork-error.js';

/**
 * Connect to the Unix socket at `path`, retrying every 10 ms while QEMU has not created it yet,
 * then hand it to `open` (which may itself fail and be retried, as a QMP greeting may).
 * @throws SeedforkError "cannot reach `what`" when nothing succeeds within `timeoutMs`
 */
export async function connectWhenReady<T>(
  path: string,
  timeoutMs: number,
  what: string,
  open: (socket: Socket) => T | Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect(path, () => resolve(s));
        s.once('error', reject);
      });
      return await open(socket);
    } catch (error) {
      if (Date.now() > deadline) throw new SeedforkError(`cannot reach ${what} at ${path}`, { cause: error });
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
