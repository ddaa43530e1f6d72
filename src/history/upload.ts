import { basename } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { postJson } from '../http/post-json.js';
import type { IngestOutcome, IngestRequest } from './ingest.js';

/** What the server answered: the ingest outcome, each failed test with its quarantine reason. */
export interface UploadOutcome extends Omit<IngestOutcome, 'failed'> {
  failed: { file: string; name: string; quarantined?: string }[];
}

/** Waits between attempts, in ms: three retries after the first try. */
const BACKOFF_MS = [500, 1000, 2000];

/**
 * Send one job's reports to a history server (`seedfork serve`), retrying with backoff (0.5, 1
 * and 2 s) when the server cannot be reached or answers 5xx. The server stores a job in one
 * transaction, so a broken upload leaves nothing half written, and a retry of one that did
 * land is answered `duplicate`.
 * @throws SeedforkError with the server's reason on 4xx (401, 403, 409, 400), or after the
 *   last retry with what went wrong
 */
export async function uploadRun(
  server: string,
  token: string,
  request: Omit<IngestRequest, 'reports'> & { reports: { path: string; content: Buffer }[] },
  options: { backoffMs?: number[] } = {},
): Promise<UploadOutcome> {
  const body = JSON.stringify({
    service: request.service,
    build: request.build,
    attempt: request.attempt,
    commit: request.commit,
    branch: request.branch,
    at: request.at === undefined ? undefined : new Date(request.at).toISOString(),
    dependsOn: request.dependsOn,
    replace: request.replace,
    reports: request.reports.map((r) => ({ name: basename(r.path), content: r.content.toString('base64') })),
  });
  const url = `${server.replace(/\/+$/, '')}/api/v1/runs`;
  const outcome = await postJson<UploadOutcome>(url, body, {
    token,
    backoffMs: options.backoffMs ?? BACKOFF_MS,
    target: server,
  });
  if (outcome.kind === 'ok') return outcome.answer;
  if (outcome.kind === 'rejected') throw new SeedforkError(outcome.message);
  if (outcome.kind === 'cancelled') throw new SeedforkError('the upload was cancelled'); // no signal: never
  throw new SeedforkError(
    `${outcome.message} (gave up after ${outcome.attempts} attempts). The server stores a job whole or not at all: run the same ingest again, and a job it did store is not stored twice.`,
  );
}
