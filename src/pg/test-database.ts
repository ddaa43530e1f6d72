import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { redact } from './connection.js';
import { templateHash, templateHashOfKey } from './names.js';
import { type CloneStrategy, TemplatePool, type TestDatabase } from './template-pool.js';

/** Options of {@link testDatabase}; every one has a default. */
export interface TestDatabaseOptions {
  /** The seeded database to clone (its server holds the pool); default `DATABASE_URL`. */
  url?: string;
  /**
   * What the template is made of, for its identity outside a sandbox: the migration and seed
   * files (globs, relative to `cwd`, default the working directory) and the seed command. A
   * change to any of them builds a new template. Inside a sandbox the snapshot key is used
   * (`SEEDFORK_SNAPSHOT_KEY`) unless this is given.
   */
  template?: { files?: string[]; seed?: string; cwd?: string };
  /**
   * Build the template by running migrations and seeds against `url` (an empty database)
   * instead of cloning `url`'s database; it must close its connections before it returns.
   */
  setup?: (url: string) => Promise<void>;
  /** Fresh databases kept ready; default `SEEDFORK_PG_POOL_SIZE`, else 4 (0 in a sandbox whose
   * snapshot holds databases cloned at seed time: config `seed.services.<pg>.pool`). */
  poolSize?: number;
  /** How clones are copied; default `auto`: each strategy timed once, then the faster. */
  strategy?: CloneStrategy;
  /**
   * Clones the refill makes at once (see TemplatePoolOptions.refill); default
   * `SEEDFORK_PG_REFILL`, else `auto`: {@link idleCores} when the server runs on this machine
   * (its URL names localhost, a loopback address or a Unix socket), else 1.
   */
  refill?: number | 'auto';
}

/** The most clones at once `auto` asks for: past 4 the development machine gained nothing. */
const MAX_AUTO_REFILL = 4;

/**
 * Cores of this machine not busy now: the cores Node may use less the 1-minute load average
 * (os.loadavg: runnable and uninterruptible tasks, Linux proc(5) /proc/loadavg), rounded up,
 * between 1 and {@link MAX_AUTO_REFILL}.
 */
export function idleCores(cores = availableParallelism(), load = loadavg()[0] ?? 0): number {
  return Math.max(1, Math.min(MAX_AUTO_REFILL, cores - Math.ceil(load)));
}

/** Whether the server of `url` runs on this machine: localhost, a loopback address or a socket. */
export function serverIsLocal(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // WHATWG URLs refuse a user with no host (postgres://u@/db?host=/run/postgresql), which
    // libpq and pg take: a socket directory in the query still says the server is here
    return /[?&]host=(\/|%2F)/i.test(url);
  }
  const socketDir = parsed.searchParams.get('host');
  if (socketDir?.startsWith('/')) return true;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return host === '' || host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function refillOf(option: number | 'auto' | undefined, url: string): number {
  const given = option ?? process.env.SEEDFORK_PG_REFILL ?? 'auto';
  if (given === 'auto') return serverIsLocal(url) ? idleCores() : 1;
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1)
    throw new SeedforkError(
      `refill must be a whole number of clones at once (1 or more) or auto, not ${given}`,
      {
        hint: 'Set testDatabase({ refill }) or SEEDFORK_PG_REFILL to 1, 2, … or auto.',
      },
    );
  return n;
}

export type { CloneStrategy, TestDatabase } from './template-pool.js';

/** One pool per server and template in this process, shared by every call. */
const pools = new Map<string, TemplatePool>();
let exitHooked = false;

/**
 * A database of its own for one test, cloned from the seeded database through a pool shared
 * by every process on the machine or in the sandbox ({@link TemplatePool}): `db.url` to connect
 * to, `db.release()` to drop it (done for you when the process ends; a killed process's
 * databases are dropped by the next pool that starts).
 *
 *     const db = await testDatabase();
 *     const client = new pg.Client(db.url);
 *
 * @throws SeedforkError when no URL is known, the template's identity cannot be told (outside a
 *   sandbox without `template`), the `pg` package is missing, or the server refuses
 */
export async function testDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return poolFor(options).take();
}

/**
 * The pool {@link testDatabase} takes from for these options (started on first use).
 * @throws SeedforkError as {@link testDatabase}
 */
export function poolFor(options: TestDatabaseOptions = {}): TemplatePool {
  const url = options.url ?? process.env.DATABASE_URL;
  if (!url)
    throw new SeedforkError('testDatabase() has no database to clone: DATABASE_URL is not set', {
      hint: 'Declare a postgres service in seed.services (seedfork sets DATABASE_URL in every sandbox), or pass { url }.',
    });
  const hash = hashOf(options);
  const key = `${redact(url)}\u0000${hash}`;
  let pool = pools.get(key);
  if (!pool) {
    // databases cloned at seed time for this template (SEEDFORK_PG_POOL_READY names it): none
    // cloned ahead, only on demand once they are taken; else 4 kept ready
    const ready = process.env.SEEDFORK_PG_POOL_READY === hash;
    const size = options.poolSize ?? Number(process.env.SEEDFORK_PG_POOL_SIZE ?? (ready ? 0 : 4));
    if (!Number.isInteger(size) || size < 0)
      throw new SeedforkError(`poolSize must be a whole number of databases, not ${size}`);
    pool = new TemplatePool({
      url,
      hash,
      size,
      strategy: options.strategy ?? 'auto',
      refill: refillOf(options.refill, url),
      // in a sandbox seeded with a pool, a released database goes with the sandbox
      keepReleased: ready && process.env.SEEDFORK_SANDBOX_ID !== undefined,
      ...(options.setup ? { setup: options.setup } : {}),
    });
    pools.set(key, pool);
    // a pool that could not start is not kept: the next call tries afresh
    pool.ready.catch(() => {
      if (pools.get(key) === pool) pools.delete(key);
    });
    hookExit();
  }
  return pool;
}

/** Drop every database this process took and close the pools' connections. */
export async function closeTestDatabases(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close()));
}

function hashOf(options: TestDatabaseOptions): string {
  const { template } = options;
  if (template?.files || template?.seed)
    return templateHash(template.files ?? [], template.seed ?? '', resolve(template.cwd ?? process.cwd()));
  const key = process.env.SEEDFORK_SNAPSHOT_KEY;
  if (key) return templateHashOfKey(key);
  throw new SeedforkError('testDatabase() cannot tell which template to use outside a seedfork sandbox', {
    hint: "Name what the seeded database is made of, e.g. testDatabase({ template: { files: ['migrations/**'], seed: 'node scripts/seed.js' } }): a change to them builds a new template.",
  });
}

/** Release what this process holds when it ends normally (the event loop empties). */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('beforeExit', () => {
    if (pools.size > 0) void closeTestDatabases();
  });
}
