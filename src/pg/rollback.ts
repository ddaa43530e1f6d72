import type { ClientBase } from 'pg';

/** A transaction-control statement the wrapper rewrites, by its first keyword. */
const CONTROL = /^\s*(begin|start\s+transaction|commit|end|rollback|abort)\b(?!\s+to\b)/i;

/**
 * Run `fn` inside a transaction on `client` that is always rolled back, so whatever `fn` (the
 * test, and the app code it calls with the client it is given) writes is gone afterwards and
 * the seeded data stays as it was. The client `fn` gets turns the app's own transactions into
 * savepoints: `BEGIN` becomes `SAVEPOINT`, `COMMIT` releases it and `ROLLBACK` rolls back to it,
 * so code that manages transactions runs unchanged (the pattern of Django's TestCase and
 * Rails' transactional tests). A `COMMIT` with no `BEGIN` of its own is ignored: it would
 * otherwise commit the test's data.
 *
 * What this cannot roll back, and the fix (see README, "Transaction rollback"):
 * - sequences advance anyway (nextval is not transactional): compare rows, not generated ids;
 * - other connections (a pool in the app, a server under test) do not see the uncommitted rows
 *   and are not rolled back: give each test a database of its own instead (`testDatabase`);
 * - statements that cannot run in a transaction (`CREATE DATABASE`, `VACUUM`, `CREATE INDEX
 *   CONCURRENTLY`) fail.
 *
 * @param client a connected node-postgres client (`new pg.Client`, or one from `pool.connect()`)
 *   with no transaction open
 * @returns what `fn` returns; what it throws is thrown after the rollback
 */
export async function withRollback<C extends ClientBase, T>(
  client: C,
  fn: (client: C) => Promise<T>,
): Promise<T> {
  const tx = await beginRollback(client);
  try {
    return await fn(tx.client);
  } finally {
    await tx.rollback();
  }
}

/**
 * {@link withRollback} in two halves, for fixtures with a setup and a teardown: begins the
 * transaction and returns the wrapped client, and `rollback()` to call when the test ends
 * (idempotent).
 */
export async function beginRollback<C extends ClientBase>(
  client: C,
): Promise<{ client: C; rollback(): Promise<void> }> {
  await client.query('begin');
  let depth = 0;
  const rewrite = (text: string): string | undefined => {
    const m = CONTROL.exec(text);
    if (!m) return text;
    const verb = m[1]!.toLowerCase();
    if (verb === 'begin' || verb.startsWith('start')) return `savepoint seedfork_${++depth}`;
    if (depth === 0) return undefined; // the test's own transaction: never ended by the code under test
    const name = `seedfork_${depth--}`;
    return verb === 'commit' || verb === 'end'
      ? `release savepoint ${name}`
      : `rollback to savepoint ${name}; release savepoint ${name}`;
  };
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const wrapped = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return (first: unknown, ...rest: unknown[]) => {
        const text = typeof first === 'string' ? first : (first as { text?: unknown } | null)?.text;
        if (typeof text !== 'string') return query(first, ...rest);
        const sql = rewrite(text);
        if (sql === undefined)
          return query('select 1 where false', ...rest.filter((a) => typeof a === 'function'));
        return typeof first === 'string'
          ? query(sql, ...rest)
          : query({ ...(first as object), text: sql }, ...rest);
      };
    },
  });
  let done: Promise<void> | undefined;
  return {
    client: wrapped,
    rollback: () => {
      done ??= client.query('rollback').then(() => {});
      return done;
    },
  };
}
