// The users service on its own: registration, and the customer list.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callJson } from '../services/lib/http.js';
import { startServices, USERS } from './helpers.js';

let shop;
before(async () => {
  shop = await startServices('users');
});
after(() => shop.stop());

test('registers a new customer', async () => {
  const r = await callJson('POST', `${USERS}/users`, { email: 'dana@shop.test', name: 'Dana' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.email, 'dana@shop.test');
});

test('refuses a second account for the same email', async () => {
  const r = await callJson('POST', `${USERS}/users`, { email: 'dana@shop.test', name: 'Dana again' });
  assert.equal(r.status, 409);
});

test('lists the seeded customers and the new one', async () => {
  const r = await callJson('GET', `${USERS}/users`);
  assert.deepEqual(
    r.body.map((u) => u.email),
    ['ada@shop.test', 'grace@shop.test', 'linus@shop.test', 'dana@shop.test'],
  );
});
