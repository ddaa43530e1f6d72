import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SeedforkError } from '../errors/seedfork-error.js';
import { parseDuration } from '../history/duration.js';
import { flakyTests } from '../history/flaky.js';
import { IngestConflict, ingest } from '../history/ingest.js';
import { activeQuarantine, quarantineMatcher } from '../history/quarantine.js';
import { MAX_REPORT_BYTES, parseReport } from '../history/read-report.js';
import type { HistoryStore } from '../history/store.js';
import { type TokenGrant, verifyToken } from '../history/tokens.js';
import { dashboardRoutes, isLocal } from './dashboard/routes.js';
import { queueRoutes } from './queue/routes.js';
import { serviceRequest } from './service-request.js';

/** What `POST /api/v1/runs` takes: one CI job's reports, base64-encoded. */
export interface RunUpload {
  service: string;
  build: string;
  attempt?: number;
  commit?: string;
  branch?: string;
  /** ISO 8601 */
  at?: string;
  dependsOn?: string[];
  replace?: boolean;
  reports: { name: string; content: string }[];
}

/** Largest request body: a few reports at the report limit, base64 (4/3). */
const MAX_BODY_BYTES = 4 * MAX_REPORT_BYTES;

/**
 * The history server's HTTP API (Hono):
 * - `POST /api/v1/runs`: ingest one job (`RunUpload`), with `Authorization: Bearer <token>`; an
 *   ingest token only for its own service (else 403), none or an unknown one 401; a job
 *   ingested before with other reports 409; bad reports 400 with the reason. Answers the
 *   ingest outcome, with each failed test's quarantine reason (for `--gate`).
 * - `GET /api/v1/flaky?service=&since=30d`: the verdicts, as `seedfork flaky --json`; open to
 *   loopback clients, a token needed from elsewhere.
 * - `GET /api/v1/health`.
 * - queue mode's `POST /api/v1/queue/{join,next,heartbeat}` and `GET /api/v1/queue/:service/:build`
 *   (see queue/routes.ts).
 * Served by @hono/node-server (the peer address comes from its socket).
 */
export function historyApp(
  store: HistoryStore,
  options: { regressionRuns: number; dependsOn?: Record<string, string[]> } = { regressionRuns: 2 },
): Hono {
  const app = new Hono();

  async function grant(header: string | undefined): Promise<TokenGrant | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    return token ? verifyToken(store, token) : undefined;
  }

  app.get('/api/v1/health', (c) => c.json({ ok: true, store: store.kind }));

  app.post('/api/v1/runs', bodyLimit({ maxSize: MAX_BODY_BYTES }), async (c) => {
    const request = await serviceRequest<RunUpload>(c, grant, {
      check: (b) =>
        typeof b?.service !== 'string' || typeof b.build !== 'string' || !Array.isArray(b.reports)
          ? 'service, build and reports[] are required'
          : undefined,
      forbidden: (mine, wanted) => `this token may ingest for ${mine} only, not ${wanted}`,
    });
    if ('refusal' in request) return request.refusal;
    const { body } = request;
    try {
      const reports = body.reports.map((r) =>
        parseReport(String(r.name), Buffer.from(String(r.content), 'base64')),
      );
      const at = body.at === undefined ? undefined : Date.parse(body.at);
      if (at !== undefined && !Number.isFinite(at))
        throw new SeedforkError(`at: "${body.at}" is not an ISO-8601 time`);
      const outcome = await ingest(store, {
        service: body.service,
        build: body.build,
        attempt: body.attempt ?? 1,
        ...(body.commit ? { commit: body.commit } : {}),
        ...(body.branch ? { branch: body.branch } : {}),
        ...(at !== undefined ? { at } : {}),
        dependsOn: Array.isArray(body.dependsOn) ? body.dependsOn.map(String) : [],
        reports,
        replace: body.replace === true,
      });
      const quarantined = quarantineMatcher(await activeQuarantine(store));
      return c.json({
        ...outcome,
        failed: outcome.failed.map((f) => ({
          ...f,
          quarantined: quarantined(body.service, f.file, f.name)?.reason,
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
      return c.json({ error: (error as Error).message }, 400);
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
