import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { AUDIT_LOG } from '../src/audit.js';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('starts with an empty audit log', () => {
  assert.equal(existsSync(AUDIT_LOG), false);
});

test('records every write, one line each', async () => {
  await api.post('/todos', { userId: 1, title: 'audit me' });
  await api.post('/todos/complete', { id: 2 });
  await settle();
  const lines = readFileSync(AUDIT_LOG, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /todo\.create/);
});
