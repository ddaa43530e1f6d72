// Consumer contract: what the orders service expects of the users service (Pact JS). The contract
// it writes must match pacts/orders-users.json, which the users service verifies
// (users.provider.test.js). To change the contract, run this file with PACT_UPDATE=1 outside
// seedfork, which rewrites pacts/orders-users.json, and commit it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MatchersV3, PactV3 } from '@pact-foundation/pact';
import { getUser } from '../services/orders/users-client.js';

const COMMITTED = new URL('../pacts/', import.meta.url).pathname;
const dir = process.env.PACT_UPDATE ? COMMITTED : mkdtempSync(join(tmpdir(), 'pacts-'));
const pact = new PactV3({ consumer: 'orders', provider: 'users', dir, logLevel: 'error' });
after(() => {
  if (dir !== COMMITTED) rmSync(dir, { recursive: true, force: true });
});

test('a user that exists is read with its id, email and name', async () => {
  pact
    .given('a user with id 42 exists')
    .uponReceiving('a request for user 42')
    .withRequest({ method: 'GET', path: '/users/42' })
    .willRespondWith({
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      body: {
        id: MatchersV3.integer(42),
        email: MatchersV3.email('pact@shop.test'),
        name: MatchersV3.string('Pact'),
      },
    });
  await pact.executeTest(async (mock) => {
    assert.deepEqual(await getUser(mock.url, 42), { id: 42, email: 'pact@shop.test', name: 'Pact' });
  });
});

test('a user that does not exist is null', async () => {
  pact
    .given('no user with id 999 exists')
    .uponReceiving('a request for user 999')
    .withRequest({ method: 'GET', path: '/users/999' })
    .willRespondWith({ status: 404 });
  await pact.executeTest(async (mock) => {
    assert.equal(await getUser(mock.url, 999), null);
  });
});

test('the contract is the committed pacts/orders-users.json', () => {
  const read = (d) => {
    const { consumer, provider, interactions } = JSON.parse(
      readFileSync(join(d, 'orders-users.json'), 'utf8'),
    );
    return { consumer, provider, interactions };
  };
  assert.deepEqual(
    read(dir),
    read(COMMITTED),
    'the contract changed: rerun with PACT_UPDATE=1 and commit it',
  );
});
