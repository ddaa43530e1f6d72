import type { Client, QueryResultRow } from 'pg';
import { SeedforkError } from '../errors/seedfork-error.js';
import { loadPg } from './load-pg.js';

/**
 * A node-postgres client that does not keep the process alive while idle: its socket is
 * referenced only while a query is in flight, so a test process that is done exits even though
 * the pool's connection is still open (its advisory locks then end with it).
 */
export class Connection {
  private inFlight = 0;
  /** The last statement queued: node-postgres wants one at a time per client. */
  private tail: Promise<void> = Promise.resolve();

  private constructor(private readonly client: Client) {}

  /**
   * Connect to `url`.
   * @throws SeedforkError when the `pg` package is missing or the server cannot be reached; when
   *   every connection is taken ("too many clients", SQLSTATE 53300), with what to lower or raise
   */
  static async open(url: string): Promise<Connection> {
    const pg = await loadPg('seedfork/pg');
    const client = new pg.Client({ connectionString: url, application_name: 'seedfork-pg-pool' });
    // an idle connection that drops (server restart) must not crash the test process
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      if (sqlState(error) === '53300')
        throw new SeedforkError(`PostgreSQL at ${redact(url)} has no connection left for the template pool`, {
          hint: 'Every connection up to max_connections is in use: run fewer workers, close connections the tests leave open (end each client and pool after its test), or raise max_connections in the postgres service settings.',
          cause: error,
        });
      throw new SeedforkError(`cannot connect to PostgreSQL at ${redact(url)}: ${(error as Error).message}`, {
        hint: 'Check that the server runs and DATABASE_URL (or the url option) names it; inside a sandbox, that the postgres service is declared in seed.services.',
        cause: error,
      });
    }
    const connection = new Connection(client);
    connection.socket()?.unref();
    return connection;
  }

  /** Run one statement (after those already queued on this connection); rows as objects. */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    if (this.inFlight++ === 0) this.socket()?.ref();
    const result = this.tail.then(() => this.client.query<R>(text, values));
    const settled = result.then(
      () => {},
      () => {},
    );
    this.tail = settled;
    void settled.then(() => {
      if (--this.inFlight === 0) this.socket()?.unref();
    });
    return result.then((r) => r.rows);
  }

  /** Run one statement that returns one row (a `select` of values). */
  async one<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<R> {
    const [row] = await this.query<R>(text, values);
    if (!row) throw new Error(`no row from: ${text}`);
    return row;
  }

  /** Close the connection (releasing its session's advisory locks). Never throws. */
  async close(): Promise<void> {
    this.socket()?.ref();
    await this.client.end().catch(() => {});
  }

  private socket(): { ref(): void; unref(): void } | undefined {
    // node-postgres keeps the socket on its connection object (not part of its typed API)
    return (this.client as unknown as { connection?: { stream?: { ref(): void; unref(): void } } }).connection
      ?.stream;
  }
}

/** `url` without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}
