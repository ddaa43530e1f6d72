// Provider verification: the real users service, on its production port with the suite's
// database, replays the orders service's contract (pacts/orders-users.json) with Pact's verifier.
import { after, before, test } from 'node:test';
import { Verifier } from '@pact-foundation/pact';
import { startServices, USERS } from './helpers.js';

let shop;
before(async () => {
  shop = await startServices('users');
});
after(() => shop.stop());

test("the users service honours the orders service's contract", async () => {
  await new Verifier({
    provider: 'users',
    providerBaseUrl: USERS,
    pactUrls: [new URL('../pacts/orders-users.json', import.meta.url).pathname],
    logLevel: 'error',
    stateHandlers: {
      'a user with id 42 exists': async () => {
        await shop.pool.query(
          "INSERT INTO users (id, email, name) VALUES (42, 'pact@shop.test', 'Pact') ON CONFLICT (id) DO NOTHING",
        );
      },
      'no user with id 999 exists': async () => {
        await shop.pool.query('DELETE FROM users WHERE id = 999');
      },
    },
  }).verifyProvider();
});
