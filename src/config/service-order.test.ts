import { expect, test } from 'vitest';
import { parseConfig } from './load.js';
import { serviceOrder } from './service-order.js';

test('dependencies start first; the rest keep their declared order', () => {
  expect(
    serviceOrder({
      api: { dependsOn: ['db', 'cache'] },
      db: {},
      worker: { dependsOn: ['api'] },
      cache: { dependsOn: [] },
    }),
  ).toEqual(['db', 'cache', 'api', 'worker']);
  expect(serviceOrder({})).toEqual([]);
});

test('an undeclared dependency or a cycle is a config error that names the services', () => {
  const config = (services: object) => () => parseConfig({ seed: { services }, test: { include: ['x'] } });
  expect(config({ api: { command: 'x', dependsOn: ['cahce'] }, cache: { kind: 'redis' } })).toThrow(
    /service api depends on cahce, which is not declared in seed\.services \(declared: api, cache\)/,
  );
  expect(
    config({
      a: { command: 'x', dependsOn: ['b'] },
      b: { command: 'y', dependsOn: ['a'] },
      db: { port: 5432 },
    }),
  ).toThrow(/services depend on each other in a cycle: a, b/);
  expect(config({ a: { command: 'x', dependsOn: ['a'] } })).toThrow(/service a depends on itself/);
});

test('a redis service is told apart by its kind, with its defaults', () => {
  const { seed } = parseConfig({
    seed: { services: { cache: { kind: 'redis' }, db: { port: 5433 } } },
    test: { include: ['x'] },
  });
  expect(seed.services.cache).toMatchObject({ kind: 'redis', port: 6379, dependsOn: [], settings: {} });
  expect(seed.services.db).toMatchObject({ port: 5433, database: 'app' });
  expect(() =>
    parseConfig({
      seed: { services: { cache: { kind: 'redis', database: 'x' } } },
      test: { include: ['x'] },
    }),
  ).toThrow();
});
