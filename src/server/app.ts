import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SeedforkError } from '../errors/seedfork-error.js';
import { parseDuration } from '../history/duration.js';
import { flakyTests } from '../history/flaky.js';
import { IngestConflict, type PreparedIngest, storeIngest } from '../history/ingest.js';
import { activeQuarantine, quarantineMatcher } from '../history/quarantine.js';
import { MAX_REPORT_BYTES } from '../history/read-report.js';
import type { HistoryStore } from '../history/store.js';
import { type TokenGrant, verifyToken } from '../history/tokens.js';
import { dashboardRoutes, isLocal } from './dashboard/routes.js';
import { UploadThread } from './ingest/thread.js';
import { type UploadLimits, UploadTooLarge } from './ingest/upload.js';
import { queueRoutes } from './queue/routes.js';

export type { RunUpload } from './ingest/upload.js';

/** Largest request body: a few reports at the report limit, base64 (4/3), in bytes. */
const MAX_BODY_BYTES = 4 * MAX_REPORT_BYTES;

/** What one upload may hold unless the caller says otherwise: 64 MiB per report (as
 * `seedfork ingest` reads them) and 1,000,000 test cases. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { reportBytes: MAX_REPORT_BYTES, tests: 1_000_000 };

/**
 * The history server's HTTP API (Hono):
 * - `POST /api/v1/runs`: ingest one job (`RunUpload`), with `Authorization: Bearer <token>`; an
 *   ingest token only for its own service (else 403), none or an unknown one 401; a job
 *   ingested before with other reports 409; bad reports or fields 400 with the reason (naming
 *   the field); a body, report or test count over the server's limits 413 naming the limit.
 *   The upload is parsed on a worker thread and stored in batches, so other requests are
 *   answered meanwhile. Answers the ingest outcome, with each failed test's quarantine reason
 *   (for `--gate`).
 * - `GET /api/v1/flaky?service=&since=30d`: the verdicts, as `seedfork flaky --json`; open to
 *   loopback clients, a token needed from elsewhere.
 * - `GET /api/v1/health`.
 * - queue mode's `POST /api/v1/queue/{join,next,heartbeat}` and `GET /api/v1/queue/:service/:build`
 *   (see queue/routes.ts).
 * Served by @hono/node-server (the peer address comes from its socket).
 */
export function historyApp(
  store: HistoryStore,
  options: {
    regressionRuns: number;
    dependsOn?: Record<string, string[]>;
    /** What one upload may hold (DEFAULT_UPLOAD_LIMITS). */
    uploadLimits?: UploadLimits;
  } = { regressionRuns: 2 },
): Hono {
  const app = new Hono();

  async function grant(header: string | undefined): Promise<TokenGrant | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    return token ? verifyToken(store, token) : undefined;
  }

  app.get('/api/v1/health', (c) => c.json({ ok: true, store: store.kind }));

  const uploads = new UploadThread();
  const limits = options.uploadLimits ?? DEFAULT_UPLOAD_LIMITS;
  const bodyCap = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      c.json(
        {
          error: `the request body is over the server's limit of ${MAX_BODY_BYTES / 1024 ** 2} MiB: send fewer reports per ingest`,
        },
        413,
      ),
  });
  app.post('/api/v1/runs', bodyCap, async (c) => {
    const who = await grant(c.req.header('authorization'));
    if (!who)
      return c.json({ error: 'a valid bearer token is needed: seedfork token create --service S' }, 401);
    let prepared: PreparedIngest;
    try {
      // parsed on a worker thread: a large report does not hold up other requests
      prepared = await uploads.prepare(new Uint8Array(await c.req.arrayBuffer()), limits);
    } catch (error) {
      if (error instanceof UploadTooLarge) return c.json({ error: error.message }, 413);
      if (error instanceof SeedforkError) return c.json({ error: error.message }, 400);
      throw error;
    }
    if (who.scope !== 'admin' && who.service !== prepared.service)
      return c.json({ error: `this token may ingest for ${who.service} only, not ${prepared.service}` }, 403);
    try {
      const outcome = await storeIngest(store, prepared);
      const quarantined = quarantineMatcher(await activeQuarantine(store));
      return c.json({
        ...outcome,
        failed: outcome.failed.map((f) => ({
          ...f,
          quarantined: quarantined(prepared.service, f.file, f.name)?.reason,
        })),
      });
    } catch (error) {
      if (error instanceof IngestConflict) return c.json({ error: error.message }, 409);
      if (error instanceof SeedforkError) return c.json({ error: error.message }, 400);
      throw error;
    }
  });

  app.get('/api/v1/flaky', async (c) => {
    if (!isLocal(c) && !(await grant(c.req.header('authorization')))) {
      return c.json({ error: 'reading from another machine needs a token' }, 401);
    }
    let since: number;
    try {
      since = Date.now() - parseDuration(c.req.query('since') ?? '30d');
    } catch (error) {
      return c.json({ error: `since: ${(error as Error).message}` }, 400);
    }
    const service = c.req.query('service');
    const branch = c.req.query('branch');
    const verdicts = await flakyTests(store, {
      since,
      regressionRuns: options.regressionRuns,
      ...(service ? { service } : {}),
      ...(branch ? { branch } : {}),
    });
    return c.json(verdicts);
  });

  dashboardRoutes(app, store, { regressionRuns: options.regressionRuns, dependsOn: options.dependsOn ?? {} });
  queueRoutes(app, store, grant);

  app.onError((error, c) => c.json({ error: `internal error: ${error.message}` }, 500));
  return app;
}
