// Applies migrations/*.sql in order, once each (recorded in schema_migrations).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const dir = new URL('../migrations/', import.meta.url).pathname;
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
await client.query(
  'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz DEFAULT now())',
);
const { rows } = await client.query('SELECT name FROM schema_migrations');
const applied = new Set(rows.map((r) => r.name));
for (const name of readdirSync(dir)
  .filter((f) => f.endsWith('.sql'))
  .sort()) {
  if (applied.has(name)) continue;
  await client.query('BEGIN');
  await client.query(readFileSync(join(dir, name), 'utf8'));
  await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [name]);
  await client.query('COMMIT');
  console.log(`migrated ${name}`);
}
await client.end();
