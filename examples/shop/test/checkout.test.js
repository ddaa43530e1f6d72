// A new customer's checkout end to end: sign up, order, a declined card, a retry that is paid.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callJson } from '../services/lib/http.js';
import { ORDERS, startServicesAndProvider, USERS } from './helpers.js';

let shop;
let customer;
before(async () => {
  shop = await startServicesAndProvider('users', 'payments', 'orders');
});
after(() => shop.stop());

test('a visitor signs up', async () => {
  const r = await callJson('POST', `${USERS}/users`, { email: 'dana@shop.test', name: 'Dana' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  customer = r.body;
});

test('a declined card leaves the order unpaid', async () => {
  shop.provider.respondWith(() => [402, { error: { code: 'card_declined' } }]);
  const r = await callJson('POST', `${ORDERS}/orders`, { userId: customer.id, amountCents: 4200 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(r.body, {
    number: 1001,
    userId: customer.id,
    amountCents: 4200,
    status: 'payment_failed',
  });
});

test('the next order is paid', async () => {
  shop.provider.respondWith((charge) => [200, { id: `ch_${charge.idempotency_key}`, status: 'succeeded' }]);
  const r = await callJson('POST', `${ORDERS}/orders`, { userId: customer.id, amountCents: 4200 });
  assert.equal(r.body.status, 'paid');
  const payments = await shop.pool.query('SELECT order_number, status FROM payments ORDER BY id');
  assert.deepEqual(payments.rows, [
    { order_number: 1001, status: 'declined' },
    { order_number: 1002, status: 'succeeded' },
  ]);
});
