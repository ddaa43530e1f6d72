import { callJson, jsonServer, readJson } from '../lib/http.js';

/**
 * The payments service: charges an order through the external payment provider's API
 * (`POST /v1/charges`) and records the outcome. A declined card is a payment with status
 * `declined`; a provider that fails or cannot be reached is a 502 and no payment.
 */
export function createPaymentsApp({ pool, providerUrl }) {
  return jsonServer({
    'POST /payments': async (req) => {
      const { orderNumber, amountCents, email } = await readJson(req);
      let charge;
      try {
        charge = await callJson('POST', `${providerUrl}/v1/charges`, {
          amount: amountCents,
          currency: 'usd',
          receipt_email: email,
          idempotency_key: `order-${orderNumber}`,
        });
      } catch (error) {
        return [
          502,
          { error: `the payment provider cannot be reached: ${error.cause?.code ?? error.message}` },
        ];
      }
      if (charge.status >= 500) return [502, { error: `the payment provider answered ${charge.status}` }];
      const declined = charge.status === 402;
      const status = declined ? 'declined' : 'succeeded';
      const { rows } = await pool.query(
        'INSERT INTO payments (order_number, amount_cents, provider_charge_id, status) VALUES ($1, $2, $3, $4) RETURNING id',
        [orderNumber, amountCents, declined ? null : charge.body.id, status],
      );
      return [201, { id: rows[0].id, status, reason: declined ? charge.body.error?.code : undefined }];
    },
    'GET /payments': async () => [
      200,
      (await pool.query('SELECT order_number AS "orderNumber", status FROM payments ORDER BY id')).rows,
    ],
  });
}
