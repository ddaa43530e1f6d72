import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { settle, startApi } from './helpers.js';

let api;
before(async () => {
  api = await startApi();
});
after(() => api.stop());

test('signs up a new user', async () => {
  const { status, body } = await api.post('/users', { email: 'margaret@example.com', name: 'Margaret' });
  assert.equal(status, 201);
  assert.equal(body.name, 'Margaret');
});

test('lists every user', async () => {
  await settle();
  const { body } = await api.get('/users');
  assert.equal(body.length, 4);
});
