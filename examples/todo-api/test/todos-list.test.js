import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
  await settle();
});
after(() => api.stop());

test('lists the seeded todos', async () => {
  const { status, body } = await api.get('/todos');
  assert.equal(status, 200);
  assert.equal(body.length, 6);
  assert.equal(body[0].title, 'buy milk');
});

test('two of the seeded todos are done', async () => {
  const { body } = await api.get('/todos');
  assert.equal(body.filter((t) => t.done).length, 2);
});
