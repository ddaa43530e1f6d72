import type { Context } from 'hono';
import type { TokenGrant } from '../history/tokens.js';

/** What {@link serviceRequest} found: the request's JSON body, or the error response to send. */
export type ServiceRequest<T> = { body: T } | { refusal: Response };

/**
 * The JSON body of a POST that acts for one service (an ingest, a queue call), once its bearer
 * token is checked against the body's `service`: no token or an unknown one is 401, a body that
 * is not JSON 400, a token of another service 403 (an admin token may act for any).
 * `check` may refuse a body before its service is compared (a message: 400).
 * `forbidden` words the 403 for the endpoint.
 */
export async function serviceRequest<T extends { service?: unknown }>(
  c: Context,
  grant: (header: string | undefined) => Promise<TokenGrant | undefined>,
  options: {
    forbidden: (tokenService: string, requested: unknown) => string;
    check?: (body: T) => string | undefined;
  },
): Promise<ServiceRequest<T>> {
  const who = await grant(c.req.header('authorization'));
  if (!who)
    return {
      refusal: c.json({ error: 'a valid bearer token is needed: seedfork token create --service S' }, 401),
    };
  let body: T;
  try {
    body = (await c.req.json()) as T;
  } catch {
    return { refusal: c.json({ error: 'the body is not JSON' }, 400) };
  }
  const invalid = options.check?.(body);
  if (invalid) return { refusal: c.json({ error: invalid }, 400) };
  if (who.scope !== 'admin' && who.service !== body?.service)
    return { refusal: c.json({ error: options.forbidden(String(who.service), body?.service) }, 403) };
  return { body };
}
