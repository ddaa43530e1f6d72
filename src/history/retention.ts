import type { HistoryStore } from './store.js';

/**
 * Drop runs older than `days` days, by whole UTC days: runs before the start of the day `days`
 * days ago go, with their results and their days in the rollup, in one transaction. Tests left
 * without results, released quarantine entries and queue-mode builds of that age go too.
 * @returns how many runs and results were dropped
 */
export async function pruneHistory(
  store: HistoryStore,
  days: number,
): Promise<{ runs: number; results: number }> {
  const now = new Date();
  const cutoff = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days));
  return store.transaction(async (tx) => {
    const [counts] = await tx.query<{ runs: string; results: string }>(
      `select count(distinct u.id) as runs, count(r.run_id) as results
       from runs u left join results r on r.run_id = u.id where u.at < $1`,
      [cutoff.toISOString()],
    );
    await tx.query('delete from runs where at < $1', [cutoff.toISOString()]);
    await tx.query('delete from test_days where day < $1::date', [cutoff.toISOString().slice(0, 10)]);
    await tx.query('delete from tests t where not exists (select 1 from results r where r.test_id = t.id)');
    await tx.query('delete from quarantine where released_at < $1', [cutoff.toISOString()]);
    await tx.query('delete from queue_builds where created_at < $1', [cutoff.toISOString()]);
    return { runs: Number(counts?.runs ?? 0), results: Number(counts?.results ?? 0) };
  });
}
