// Starts the three services on their production ports, against DATABASE_URL and REDIS_URL.
import pg from 'pg';
import { createClient } from 'redis';
import {
  ORDERS_PORT,
  PAYMENT_PROVIDER_URL,
  PAYMENTS_PORT,
  PAYMENTS_URL,
  USERS_PORT,
  USERS_URL,
} from './config.js';
import { listen } from './lib/http.js';
import { createOrdersApp } from './orders/app.js';
import { createPaymentsApp } from './payments/app.js';
import { createUsersApp } from './users/app.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const redis = await createClient({ url: process.env.REDIS_URL }).connect();
await listen(createUsersApp({ pool }), USERS_PORT);
await listen(createPaymentsApp({ pool, providerUrl: PAYMENT_PROVIDER_URL }), PAYMENTS_PORT);
await listen(createOrdersApp({ pool, redis, usersUrl: USERS_URL, paymentsUrl: PAYMENTS_URL }), ORDERS_PORT);
console.log(`users on ${USERS_PORT}, orders on ${ORDERS_PORT}, payments on ${PAYMENTS_PORT}`);
