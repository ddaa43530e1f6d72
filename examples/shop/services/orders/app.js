import { callJson, jsonServer, readJson } from '../lib/http.js';
import { getUser } from './users-client.js';

/**
 * The orders service: takes an order for a known customer, numbers it from the Redis counter
 * `orders:number`, and has the payments service charge it. `pool` is a pg.Pool, `redis` a
 * connected node-redis client.
 */
export function createOrdersApp({ pool, redis, usersUrl, paymentsUrl }) {
  return jsonServer({
    'POST /orders': async (req) => {
      const { userId, amountCents } = await readJson(req);
      if (!Number.isInteger(amountCents) || amountCents <= 0) {
        return [400, { error: 'amountCents must be a positive integer' }];
      }
      const user = await getUser(usersUrl, userId);
      if (!user) return [422, { error: `no user ${userId}` }];
      const number = await redis.incr('orders:number');
      await pool.query('INSERT INTO orders (number, user_id, amount_cents) VALUES ($1, $2, $3)', [
        number,
        user.id,
        amountCents,
      ]);
      const payment = await callJson('POST', `${paymentsUrl}/payments`, {
        orderNumber: number,
        amountCents,
        email: user.email,
      });
      const status =
        payment.status === 201 && payment.body.status === 'succeeded' ? 'paid' : 'payment_failed';
      await pool.query('UPDATE orders SET status = $1 WHERE number = $2', [status, number]);
      return [201, { number, userId: user.id, amountCents, status }];
    },
    'GET /users/:id/orders': async (_req, { id }) => {
      const { rows } = await pool.query(
        'SELECT number, amount_cents AS "amountCents", status FROM orders WHERE user_id = $1 ORDER BY number',
        [id],
      );
      return [200, rows];
    },
  });
}
