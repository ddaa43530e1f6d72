import pg from 'pg';

/** One connection pool for the process, from DATABASE_URL. */
export function createPool() {
  return new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
}
