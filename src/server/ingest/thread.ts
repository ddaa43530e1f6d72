import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SeedforkError } from '../../errors/seedfork-error.js';
import type { PreparedIngest } from '../../history/ingest.js';
import { prepareUpload, type UploadLimits, UploadTooLarge } from './upload.js';
import type { UploadAnswer } from './worker.js';

/** The worker script, next to this module once built (dist/server/ingest/worker.js). */
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** Heap of the worker thread, in MiB: parsing a report at the size limit fits with room. */
const WORKER_HEAP_MIB = 2048;

/**
 * Prepares uploads (prepareUpload) on one worker thread, one at a time in arrival order, so
 * that parsing a large report never blocks the server's event loop: health checks, the
 * dashboard and queue calls are answered meanwhile. A worker that dies (out of memory on a
 * hostile report) fails the upload it had and is started afresh for the next. Where seedfork
 * runs from its TypeScript sources (its unit tests), there is no built worker and uploads are
 * prepared in-process.
 */
export class UploadThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (p: PreparedIngest) => void; reject: (e: Error) => void }
  >();

  /**
   * @throws SeedforkError (400) on a malformed upload; UploadTooLarge (413) over a limit;
   *   Error when the worker died on it
   */
  prepare(body: Uint8Array, limits: UploadLimits): Promise<PreparedIngest> {
    if (!existsSync(WORKER)) return Promise.resolve().then(() => prepareUpload(body, limits));
    const worker = this.start();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, body, limits }, [body.buffer as ArrayBuffer]);
    });
  }

  /** Stop the worker; uploads still in it fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MIB } });
    worker.unref();
    worker.on('message', (answer: UploadAnswer) => {
      const waiting = this.pending.get(answer.id);
      if (!waiting) return;
      this.pending.delete(answer.id);
      if ('prepared' in answer) waiting.resolve(answer.prepared);
      else if (answer.status === 413) waiting.reject(new UploadTooLarge(answer.error));
      else if (answer.status === 400) waiting.reject(new SeedforkError(answer.error));
      else waiting.reject(new Error(answer.error));
    });
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values())
        waiting.reject(new UploadTooLarge(`the upload could not be read: ${why}`));
      this.pending.clear();
    };
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => fail(`the worker thread exited (code ${code})`));
    this.worker = worker;
    return worker;
  }
}
