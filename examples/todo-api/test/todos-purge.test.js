import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
  await settle();
});
after(() => api.stop());

test('purges done todos', async () => {
  const { status, body } = await api.del('/todos/done');
  assert.equal(status, 200);
  assert.equal(body.deleted, 2);
});

test('leaves the open ones', async () => {
  const { body } = await api.get('/todos');
  assert.equal(body.length, 4);
  assert.ok(body.every((t) => !t.done));
});
