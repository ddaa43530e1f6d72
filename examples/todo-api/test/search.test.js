import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('finds a todo by words in its title', async () => {
  const { body } = await api.get('/todos?q=milk');
  assert.deepEqual(
    body.map((t) => t.title),
    ['buy milk'],
  );
});

test('finds new todos too', async () => {
  await api.post('/todos', { userId: 3, title: 'buy oat milk' });
  await settle();
  const { body } = await api.get('/todos?q=milk');
  assert.equal(body.length, 2);
});
