// The payments service against the payment provider's stub: success, a decline, an outage.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callJson } from '../services/lib/http.js';
import { PAYMENTS, startServicesAndProvider } from './helpers.js';

let shop;
before(async () => {
  shop = await startServicesAndProvider('payments');
});
after(() => shop.stop());

test('a charge the provider accepts is a succeeded payment', async () => {
  const r = await callJson('POST', `${PAYMENTS}/payments`, {
    orderNumber: 7,
    amountCents: 990,
    email: 'ada@shop.test',
  });
  assert.deepEqual(r.body, { id: 1, status: 'succeeded' });
});

test('a declined card is recorded with the reason', async () => {
  shop.provider.respondWith(() => [402, { error: { code: 'card_declined' } }]);
  const r = await callJson('POST', `${PAYMENTS}/payments`, {
    orderNumber: 8,
    amountCents: 990,
    email: 'ada@shop.test',
  });
  assert.deepEqual(r.body, { id: 2, status: 'declined', reason: 'card_declined' });
});

test('a provider outage is a 502, and no payment is recorded', async () => {
  shop.provider.respondWith(() => [503, { error: 'maintenance' }]);
  const r = await callJson('POST', `${PAYMENTS}/payments`, {
    orderNumber: 9,
    amountCents: 990,
    email: 'ada@shop.test',
  });
  assert.equal(r.status, 502);
  const { body } = await callJson('GET', `${PAYMENTS}/payments`);
  assert.deepEqual(body, [
    { orderNumber: 7, status: 'succeeded' },
    { orderNumber: 8, status: 'declined' },
  ]);
});
