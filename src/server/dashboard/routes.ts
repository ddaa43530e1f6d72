import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { correlateHistory } from '../../history/correlate-history.js';
import { parseDuration } from '../../history/duration.js';
import { flakyTests } from '../../history/flaky.js';
import { activeQuarantine, addQuarantine, removeQuarantine } from '../../history/quarantine.js';
import { pruneHistory } from '../../history/retention.js';
import type { HistoryStore } from '../../history/store.js';
import { type TokenGrant, verifyToken } from '../../history/tokens.js';
import { verdictsCsv } from './csv.js';
import { type Filters, overview, testDetail } from './data.js';
import {
  clustersPage,
  DASHBOARD_JS,
  type FilterValues,
  filterQuery,
  loginPage,
  messagePage,
  overviewPage,
  quarantinePage,
  testPage,
} from './pages.js';

/** What the dashboard judges and clusters with (the config's `history` keys). */
export interface DashboardOptions {
  regressionRuns: number;
  /** What each service depends on (config `history.services`), for the clusters. */
  dependsOn: Record<string, string[]>;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;
const COOKIE = 'seedfork_token';

/** uPlot (https://github.com/leeoniya/uPlot, MIT), served from this package's node_modules so
 * that the pages work without network access. */
const require = createRequire(import.meta.url);
const ASSETS: Record<string, { type: string; body: () => string }> = {
  'uPlot.iife.min.js': {
    type: 'text/javascript',
    body: () => readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
  },
  'uPlot.min.css': {
    type: 'text/css',
    body: () => readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  },
  'dashboard.js': { type: 'text/javascript', body: () => DASHBOARD_JS },
};

/** The token a request carries: `Authorization: Bearer`, else the login cookie. */
function tokenOf(c: Context): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? getCookie(c, COOKIE);
}

/** Whether a request comes from this machine (its peer address is a loopback one). */
export function isLocal(c: Context): boolean {
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    return false; // no socket (a request made in-process): not known to be local, so not trusted
  }
  return LOOPBACK.test(address ?? '');
}

/** Whether a request may read: from this machine, or with a valid token. */
export async function mayRead(c: Context, store: HistoryStore): Promise<boolean> {
  if (isLocal(c)) return true;
  const token = tokenOf(c);
  return token !== undefined && (await verifyToken(store, token)) !== undefined;
}

/** The filters of a request's query string. @throws Error on a `since` that does not parse */
export function filtersOf(c: Context, regressionRuns: number): { filters: Filters; values: FilterValues } {
  const values: FilterValues = {
    since: c.req.query('since') || '30d',
    ...(c.req.query('service') ? { service: c.req.query('service') } : {}),
    ...(c.req.query('branch') ? { branch: c.req.query('branch') } : {}),
  };
  return {
    values,
    filters: {
      since: Date.now() - parseDuration(values.since),
      regressionRuns,
      ...(values.service ? { service: values.service } : {}),
      ...(values.branch ? { branch: values.branch } : {}),
    },
  };
}

/**
 * The dashboard's pages on `app`: `/` (services ranked by flaky tests, the daily flake-rate
 * trend, the flaky and broken tests), `/tests/:id` (a test's history strip, grouped failures,
 * audit verdicts), `/clusters`, `/quarantine` (with add and remove, and the retention form: each
 * needs an admin token in the form), `/api/v1/flaky.csv`, `/login`. Every page takes `since`, `service` and `branch`.
 * Reading is open to this machine; from elsewhere it needs a token (a bearer header, or the
 * cookie `/login` sets).
 */
export function dashboardRoutes(app: Hono, store: HistoryStore, options: DashboardOptions): void {
  for (const [name, asset] of Object.entries(ASSETS)) {
    const body = asset.body();
    app.get(`/assets/${name}`, (c) => c.body(body, 200, { 'content-type': `${asset.type}; charset=utf-8` }));
  }

  app.get('/favicon.ico', (c) => c.body(null, 204));

  /** Run `page` with the request's filters, or answer why not (401 page, 400 page). */
  const readPage =
    (page: (c: Context, filters: Filters, values: FilterValues) => Promise<Response> | Response) =>
    async (c: Context) => {
      const fallback: FilterValues = { since: '30d' };
      if (!(await mayRead(c, store))) {
        return c.html(
          messagePage(
            'Sign in',
            'Reading the history from another machine needs a token: sign in at /login.',
            fallback,
          ),
          401,
        );
      }
      let parsed: ReturnType<typeof filtersOf>;
      try {
        parsed = filtersOf(c, options.regressionRuns);
      } catch (error) {
        return c.html(messagePage('Bad filter', (error as Error).message, fallback), 400);
      }
      return page(c, parsed.filters, parsed.values);
    };

  app.get(
    '/',
    readPage(async (c, filters, values) => c.html(overviewPage(await overview(store, filters), values))),
  );

  app.get(
    '/tests/:id',
    readPage(async (c, filters, values) => {
      const id = Number(c.req.param('id'));
      const test = Number.isSafeInteger(id) ? await testDetail(store, id, filters) : undefined;
      if (!test)
        return c.html(messagePage('Not found', `There is no test #${c.req.param('id')}.`, values), 404);
      return c.html(testPage(test, values));
    }),
  );

  app.get(
    '/clusters',
    readPage(async (c, filters, values) => {
      const result = await correlateHistory(store, {
        since: filters.since,
        windowMs: 3_600_000,
        minFailures: 3,
        regressionRuns: options.regressionRuns,
        dependsOn: options.dependsOn,
      });
      const clusters = filters.service
        ? result.clusters.filter((cl) => cl.services.includes(filters.service!))
        : result.clusters;
      return c.html(clustersPage({ ...result, clusters }, values));
    }),
  );

  app.get(
    '/quarantine',
    readPage(async (c, _filters, values) => c.html(quarantinePage(await activeQuarantine(store), values))),
  );

  app.get(
    '/api/v1/flaky.csv',
    readPage(async (c, filters) => {
      return c.body(verdictsCsv(await flakyTests(store, filters)), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': 'attachment; filename="seedfork-flaky.csv"',
      });
    }),
  );

  /** A quarantine or retention change: the form's token must be an admin token (a form field, not the
   * cookie, so another site cannot make the browser send it). */
  const mutate =
    (change: (form: Record<string, string>, c: Context) => Promise<string>) => async (c: Context) => {
      const form = Object.fromEntries(
        Object.entries(await c.req.parseBody()).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : '']),
      );
      const values: FilterValues = { since: '30d' };
      const grant: TokenGrant | undefined = form.token ? await verifyToken(store, form.token) : undefined;
      const entries = () => activeQuarantine(store);
      if (!grant) {
        return c.html(
          quarantinePage(await entries(), values, {
            error: 'A valid admin token is needed to change the quarantine.',
          }),
          401,
        );
      }
      if (grant.scope !== 'admin') {
        return c.html(
          quarantinePage(await entries(), values, {
            error:
              'This token may only ingest; changing the quarantine needs an admin token (seedfork token create --admin).',
          }),
          403,
        );
      }
      try {
        const done = await change(form, c);
        return c.html(quarantinePage(await entries(), values, { done }));
      } catch (error) {
        return c.html(quarantinePage(await entries(), values, { error: (error as Error).message }), 400);
      }
    };

  app.post(
    '/quarantine',
    mutate(async (form) => {
      const entry = await addQuarantine(store, {
        pattern: form.pattern ?? '',
        reason: form.reason ?? '',
        ...(form.service ? { service: form.service } : {}),
        ...(form.owner ? { owner: form.owner } : {}),
        ...(form.expires ? { expiresAt: Date.now() + parseDuration(form.expires) } : {}),
      });
      return `Quarantined ${entry.pattern} (#${entry.id}).`;
    }),
  );

  app.post(
    '/quarantine/:id/remove',
    mutate(async (_form, c) => {
      const id = c.req.param('id') ?? '';
      if (!/^\d+$/.test(id)) throw new Error(`#${id} is not an entry`);
      const removed = await removeQuarantine(store, id);
      if (removed === 0) throw new Error(`#${id} is not in the quarantine`);
      return `Released #${id}.`;
    }),
  );

  app.post(
    '/retention',
    mutate(async (form) => {
      const days = Number(form.days);
      if (!Number.isSafeInteger(days) || days < 1 || days > 36_500)
        throw new Error(`days: "${form.days}" is not a whole number of days from 1 to 36500`);
      const dropped = await pruneHistory(store, days);
      return `Dropped ${dropped.runs} runs (${dropped.results} results) older than ${days} days.`;
    }),
  );

  app.get('/login', (c) => c.html(loginPage()));
  app.post('/login', async (c) => {
    const token = String((await c.req.parseBody()).token ?? '').trim();
    if (!(await verifyToken(store, token))) return c.html(loginPage('That token is not valid.'), 401);
    setCookie(c, COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
    return c.redirect(`/${filterQuery({ since: '30d' })}`, 303);
  });
}
