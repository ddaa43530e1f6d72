import { expect, test } from 'vitest';
import { findConflicts } from './conflicts.js';
import type { Leftovers } from './leftovers.js';
import type { ClassifiedTest } from './types.js';

function print(file: string, parts: Partial<Leftovers> = {}): Leftovers {
  return {
    file,
    files: { created: [], changed: [], deleted: [] },
    processes: [],
    ports: [],
    tables: [],
    notes: [],
    ...parts,
  };
}

function tested(file: string, failed: boolean): ClassifiedTest {
  return {
    file,
    name: 't',
    category: failed ? 'shared-state' : 'stable-pass',
    reason: '',
    confidence: { runs: 1, isolatedRuns: 0, value: 0, statement: '' },
    observations: [{ run: 'shared: 2 workers', kind: 'shared', status: failed ? 'failed' : 'passed' }],
  };
}

test('ports: the same address, or a wildcard against any; never different addresses or ports', () => {
  const { conflicts } = findConflicts(
    [
      print('a.test.js', { binds: ['inet 127.0.0.1 8080', 'inet 127.0.0.1 9000'] }),
      print('b.test.js', { binds: ['inet 127.0.0.1 8080'] }),
      print('c.test.js', { binds: ['inet6 :: 9000'] }),
      print('d.test.js', { binds: ['inet 127.0.0.2 8080', 'inet 127.0.0.1 8081'] }),
    ],
    [tested('a.test.js', false), tested('b.test.js', true)],
  );
  expect(conflicts.map((c) => `${c.files.join(' + ')}: ${c.description}`)).toEqual([
    'a.test.js + b.test.js: both bind 127.0.0.1:8080',
    'a.test.js + c.test.js: both bind port 9000',
  ]);
  expect(conflicts[0]!.partners).toEqual(['a.test.js']); // b failed somewhere, a never did
  expect(conflicts[0]!.hint).toMatch(/port 0/);
});

test('a port still listening at the end counts as bound, and one bind is one conflict, not two', () => {
  const { conflicts } = findConflicts(
    [
      print('a.test.js', { binds: ['inet 127.0.0.1 8080'], ports: [{ address: '127.0.0.1', port: 8080 }] }),
      print('b.test.js', { ports: [{ address: '127.0.0.1', port: 8080 }] }),
    ],
    [],
  );
  expect(conflicts.map((c) => c.description)).toEqual(['both bind 127.0.0.1:8080']);
  expect(conflicts[0]!.partners).toEqual(['a.test.js', 'b.test.js']);
});

test('paths (files and unix sockets) and tables; paths every file writes are left out as tool state', () => {
  const tool = '/root/.cache/tool/state.bin';
  const { conflicts, common } = findConflicts(
    [
      print('a.test.js', {
        files: { created: ['/tmp/session.json', tool], changed: [], deleted: [] },
        binds: ['unix /tmp/app.sock', 'unix @abstract'],
        tables: [{ service: 'postgres', table: 'public.accounts', inserted: 1, updated: 0, deleted: 0 }],
      }),
      print('b.test.js', {
        files: { created: [tool], changed: ['/tmp/session.json'], deleted: [] },
        binds: ['unix /tmp/app.sock', 'unix @abstract'],
        tables: [
          { service: 'postgres', table: 'public.accounts', inserted: 0, updated: 2, deleted: 0 },
          { service: 'postgres', table: 'public.other', inserted: 1, updated: 0, deleted: 0 },
        ],
      }),
      print('c.test.js', { files: { created: [], changed: [], deleted: [tool] } }),
    ],
    [],
  );
  expect(common).toEqual([tool]);
  expect(conflicts.map((c) => [c.kind, c.resource, c.description])).toEqual([
    ['port', 'unix @abstract', 'both bind the abstract unix socket @abstract'],
    ['file', '/tmp/app.sock', 'both write /tmp/app.sock'],
    ['file', '/tmp/session.json', 'both write /tmp/session.json'],
    ['table', 'postgres public.accounts', 'both write table public.accounts'],
  ]);
});
