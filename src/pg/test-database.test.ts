import { afterEach, expect, test } from 'vitest';
import { idleCores, poolFor, serverIsLocal } from './test-database.js';

afterEach(() => {
  delete process.env.SEEDFORK_PG_REFILL;
});

test('idle cores: the cores less the rounded-up load, between 1 and 4', () => {
  expect(idleCores(16, 0.2)).toBe(4);
  expect(idleCores(8, 5.5)).toBe(2);
  expect(idleCores(2, 1.1)).toBe(1);
  expect(idleCores(2, 7)).toBe(1);
});

test('a server on this machine: localhost, loopback addresses and Unix sockets; not a remote host', () => {
  expect(serverIsLocal('postgres://u@localhost:5432/app')).toBe(true);
  expect(serverIsLocal('postgres://u@127.0.0.1/app')).toBe(true);
  expect(serverIsLocal('postgres://u@[::1]:5432/app')).toBe(true);
  expect(serverIsLocal('postgres://u@/app?host=/var/run/postgresql')).toBe(true);
  expect(serverIsLocal('postgres://u@db.internal:5432/app')).toBe(false);
  expect(serverIsLocal('postgres://u@10.0.0.7/app')).toBe(false);
  expect(serverIsLocal('postgres:///app?host=/run/postgresql')).toBe(true);
  expect(serverIsLocal('not a url')).toBe(false);
});

test('a refill that is not a whole number of clones says what to set', () => {
  const options = { url: 'postgres://u@db.internal/app', template: { seed: 'x' } };
  expect(() => poolFor({ ...options, refill: 0 })).toThrow(/refill must be a whole number of clones at once/);
  process.env.SEEDFORK_PG_REFILL = 'many';
  expect(() => poolFor(options)).toThrow(/not many/);
});
