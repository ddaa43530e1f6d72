import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('rejects a taken email', async () => {
  const { status } = await api.post('/users', { email: 'ada@example.com', name: 'Another Ada' });
  assert.equal(status, 409);
});

test('accepts the same person under a new email', async () => {
  const { status } = await api.post('/users', { email: 'margaret@example.com', name: 'Margaret H.' });
  assert.equal(status, 201);
  await settle();
  assert.equal((await api.get('/users')).body.length, 4);
});
