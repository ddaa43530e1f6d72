import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('completes a todo', async () => {
  const { status } = await api.post('/todos/complete', { id: 1 });
  assert.equal(status, 200);
});

test('stats count it as done', async () => {
  await settle();
  const { body } = await api.get('/stats');
  assert.deepEqual({ total: body.total, done: body.done }, { total: 6, done: 3 });
});
