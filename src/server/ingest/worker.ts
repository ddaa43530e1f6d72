// A worker thread of the history server: reads uploads (JSON, base64, XML) and prepares their
// ingests off the server's event loop (see thread.ts). One message in, one message out.
import { parentPort } from 'node:worker_threads';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { prepareUpload, type UploadLimits, UploadTooLarge } from './upload.js';

/** A request to the worker. */
export interface UploadJob {
  id: number;
  body: Uint8Array;
  limits: UploadLimits;
}

/** The worker's answer: the prepared ingest, or the error with the HTTP status it maps to. */
export type UploadAnswer =
  | { id: number; prepared: ReturnType<typeof prepareUpload> }
  | { id: number; error: string; status: 400 | 413 | 500 };

parentPort?.on('message', (job: UploadJob) => {
  let answer: UploadAnswer;
  try {
    answer = { id: job.id, prepared: prepareUpload(job.body, job.limits) };
  } catch (error) {
    const status = error instanceof UploadTooLarge ? 413 : error instanceof SeedforkError ? 400 : 500;
    answer = { id: job.id, error: (error as Error).message, status };
  }
  parentPort!.postMessage(answer);
});
