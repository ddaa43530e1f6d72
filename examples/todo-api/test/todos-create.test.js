import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('creates a todo', async () => {
  const { status, body } = await api.post('/todos', { userId: 1, title: 'call the bank' });
  assert.equal(status, 201);
  assert.equal(body.title, 'call the bank');
  assert.equal(body.done, false);
});

test('the list grows by what was created', async () => {
  await api.post('/todos', { userId: 2, title: 'book flights' });
  await settle();
  const { body } = await api.get('/todos');
  assert.equal(body.length, 8);
});
