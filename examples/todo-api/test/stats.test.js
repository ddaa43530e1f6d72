import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
  await settle();
});
after(() => api.stop());

test('computes stats from the database on first use', async () => {
  const { body } = await api.get('/stats');
  assert.deepEqual(body, { total: 6, done: 2, users: 3, cached: false });
});

test('serves them from the disk cache afterwards', async () => {
  const { body } = await api.get('/stats');
  assert.equal(body.cached, true);
  assert.equal(body.total, 6);
});
