/**
 * `seedfork/pg`: a database of its own per test, cloned from a template through a pool shared by
 * every process (`testDatabase`), and a transaction rolled back after each test
 * (`withRollback`). Needs the `pg` package (node-postgres), which the user's project provides.
 */

export { beginRollback, withRollback } from './rollback.js';
export type { CloneStrategy, TestDatabase } from './template-pool.js';
export { closeTestDatabases, poolFor, type TestDatabaseOptions, testDatabase } from './test-database.js';
