// A test process using the template pool: takes databases from the pool of argv[2] (the
// seeded database's URL) and prints their names as JSON lines.
//   take N  — take N at once, write a row into each, keep them until all are taken, then exit
//             normally (the pool drops them as the process ends)
//   crash   — take one, write a row, print it, then die by SIGKILL mid-use
import pg from 'pg';
import { testDatabase } from '../../src/pg/test-database.js';

const [url, mode, count] = process.argv.slice(2);
const options = { url: url!, template: { seed: 'pg-pool-test' }, poolSize: 3 };

async function useOne(tag: string): Promise<string> {
  const db = await testDatabase(options);
  const client = new pg.Client(db.url);
  await client.connect();
  await client.query('insert into accounts (name) values ($1)', [tag]);
  await client.end();
  return db.name;
}

if (mode === 'take') {
  const names = await Promise.all(
    Array.from({ length: Number(count) }, (_, i) => useOne(`taker ${process.pid} #${i}`)),
  );
  for (const name of names) process.stdout.write(`${JSON.stringify({ name })}\n`);
} else if (mode === 'crash') {
  const name = await useOne('crashing');
  process.stdout.write(`${JSON.stringify({ name })}\n`);
  process.kill(process.pid, 'SIGKILL');
}
