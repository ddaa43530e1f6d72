// Where each service listens and what it calls, as in production: fixed ports on the host, and the
// payment provider reached through its gateway on port 4242 (a sidecar in production). Tests use the
// same values, so every test file needs these ports to itself.
export const USERS_PORT = Number(process.env.USERS_PORT ?? 3001);
export const ORDERS_PORT = Number(process.env.ORDERS_PORT ?? 3002);
export const PAYMENTS_PORT = Number(process.env.PAYMENTS_PORT ?? 3003);
export const PAYMENT_PROVIDER_PORT = 4242;

export const USERS_URL = process.env.USERS_URL ?? `http://127.0.0.1:${USERS_PORT}`;
export const PAYMENTS_URL = process.env.PAYMENTS_URL ?? `http://127.0.0.1:${PAYMENTS_PORT}`;
export const PAYMENT_PROVIDER_URL =
  process.env.PAYMENT_PROVIDER_URL ?? `http://127.0.0.1:${PAYMENT_PROVIDER_PORT}`;
