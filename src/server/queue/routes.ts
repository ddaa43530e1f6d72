import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SeedforkError } from '../../errors/seedfork-error.js';
import type { HistoryStore } from '../../history/store.js';
import type { TokenGrant } from '../../history/tokens.js';
import type { QueueCall } from '../../plan/queue-protocol.js';
import { isLocal } from '../dashboard/routes.js';
import { serviceRequest } from '../service-request.js';
import {
  heartbeat,
  joinQueue,
  nextFile,
  QueueConflict,
  QueueForbidden,
  QueueUnknown,
  queueStatus,
} from './broker.js';

/** Largest queue request: a join listing some tens of thousands of files. */
const MAX_QUEUE_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Queue mode's routes (protocol in src/plan/queue-protocol.ts), each with a bearer token that may
 * ingest for the request's service (an admin token for any): none or an unknown one 401, another
 * service's 403, and so is a call without the job's secret; a malformed request 400, an unknown
 * build or job 404, another suite, a lost job or a finished file not leased to the job 409. `GET /api/v1/queue/:service/:build` shows a build's queue (open to loopback, a token
 * needed from elsewhere).
 */
export function queueRoutes(
  app: Hono,
  store: HistoryStore,
  grant: (header: string | undefined) => Promise<TokenGrant | undefined>,
): void {
  const call =
    <T extends QueueCall, R>(handle: (body: T) => Promise<R>) =>
    async (c: Context) => {
      const request = await serviceRequest<T>(c, grant, {
        forbidden: (mine, wanted) => `this token is for ${mine} only, not ${wanted}`,
      });
      if ('refusal' in request) return request.refusal;
      try {
        return c.json((await handle(request.body)) ?? { ok: true });
      } catch (error) {
        if (error instanceof QueueConflict) return c.json({ error: error.message, lost: error.lost }, 409);
        if (error instanceof QueueUnknown) return c.json({ error: error.message }, 404);
        if (error instanceof QueueForbidden) return c.json({ error: error.message }, 403);
        if (error instanceof SeedforkError) return c.json({ error: error.message }, 400);
        throw error;
      }
    };
  const limit = bodyLimit({ maxSize: MAX_QUEUE_BODY_BYTES });
  app.post('/api/v1/queue/join', limit, call(joinQueue.bind(null, store)));
  app.post('/api/v1/queue/next', limit, call(nextFile.bind(null, store)));
  app.post('/api/v1/queue/heartbeat', limit, call(heartbeat.bind(null, store)));
  app.get('/api/v1/queue/:service/:build', async (c) => {
    if (!isLocal(c) && !(await grant(c.req.header('authorization'))))
      return c.json({ error: 'reading from another machine needs a token' }, 401);
    const status = await queueStatus(store, c.req.param('service'), c.req.param('build'));
    return status ? c.json(status) : c.json({ error: 'no such build in the queue' }, 404);
  });
}
