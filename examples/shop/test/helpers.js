import { once } from 'node:events';
import pg from 'pg';
import { createClient } from 'redis';
import {
  ORDERS_PORT,
  PAYMENT_PROVIDER_PORT,
  PAYMENT_PROVIDER_URL,
  PAYMENTS_PORT,
  PAYMENTS_URL,
  USERS_PORT,
  USERS_URL,
} from '../services/config.js';
import { jsonServer, listen, readJson } from '../services/lib/http.js';
import { createOrdersApp } from '../services/orders/app.js';
import { createPaymentsApp } from '../services/payments/app.js';
import { createUsersApp } from '../services/users/app.js';

export const USERS = USERS_URL;
export const ORDERS = `http://127.0.0.1:${ORDERS_PORT}`;
export const PAYMENTS = PAYMENTS_URL;

/**
 * Start the named services on their production ports, against the suite's DATABASE_URL and
 * REDIS_URL, as the suite's files have always done. `stop()` closes them and the connections.
 */
export async function startServices(...names) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
  const redis = await createClient({ url: process.env.REDIS_URL }).connect();
  const servers = [];
  try {
    for (const name of names) {
      if (name === 'users') servers.push(await listen(createUsersApp({ pool }), USERS_PORT));
      else if (name === 'payments')
        servers.push(
          await listen(createPaymentsApp({ pool, providerUrl: PAYMENT_PROVIDER_URL }), PAYMENTS_PORT),
        );
      else if (name === 'orders')
        servers.push(
          await listen(
            createOrdersApp({ pool, redis, usersUrl: USERS_URL, paymentsUrl: PAYMENTS_URL }),
            ORDERS_PORT,
          ),
        );
      else throw new Error(`no service ${name}`);
    }
  } catch (error) {
    await closeAll(servers, pool, redis);
    throw error;
  }
  return { pool, redis, stop: () => closeAll(servers, pool, redis) };
}

async function closeAll(servers, pool, redis) {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  }
  await pool.end();
  await redis.quit();
}

/**
 * A stub of the external payment provider on its production port (4242): it records every charge
 * and answers with `respond(charge)`, by default a successful charge `ch_<n>`.
 */
export async function startPaymentProvider() {
  const charges = [];
  let respond = () => [200, { id: `ch_${charges.length}`, status: 'succeeded' }];
  const server = jsonServer({
    'POST /v1/charges': async (req) => {
      charges.push(await readJson(req));
      return respond(charges.at(-1));
    },
  });
  await listen(server, PAYMENT_PROVIDER_PORT);
  return {
    charges,
    /** Answer the next charges with `fn(charge) => [status, body]`. */
    respondWith(fn) {
      respond = fn;
    },
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * The named services and, in front of them, the payment provider's stub (`provider`): what a
 * file that charges payments starts. `stop()` stops both.
 */
export async function startServicesAndProvider(...names) {
  const provider = await startPaymentProvider();
  try {
    const shop = await startServices(...names);
    return {
      ...shop,
      provider,
      stop: async () => {
        await shop.stop();
        await provider.stop();
      },
    };
  } catch (error) {
    await provider.stop();
    throw error;
  }
}
