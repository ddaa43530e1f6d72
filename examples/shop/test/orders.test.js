// The orders service with the users and payments services and the payment provider's stub.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callJson } from '../services/lib/http.js';
import { ORDERS, startServicesAndProvider } from './helpers.js';

let shop;
before(async () => {
  shop = await startServicesAndProvider('users', 'payments', 'orders');
});
after(() => shop.stop());

test('the first order is number 1001, paid through the provider', async () => {
  const r = await callJson('POST', `${ORDERS}/orders`, { userId: 1, amountCents: 2500 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(r.body, { number: 1001, userId: 1, amountCents: 2500, status: 'paid' });
  assert.deepEqual(shop.provider.charges, [
    { amount: 2500, currency: 'usd', receipt_email: 'ada@shop.test', idempotency_key: 'order-1001' },
  ]);
});

test("a customer's orders are the ones placed for them", async () => {
  const r = await callJson('GET', `${ORDERS}/users/1/orders`);
  assert.deepEqual(r.body, [{ number: 1001, amountCents: 2500, status: 'paid' }]);
});

test('an unknown customer cannot order, and nothing is charged', async () => {
  const r = await callJson('POST', `${ORDERS}/orders`, { userId: 999, amountCents: 100 });
  assert.equal(r.status, 422);
  assert.equal(shop.provider.charges.length, 1);
});
