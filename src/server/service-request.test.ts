import { Hono } from 'hono';
import { describe, expect, test } from 'vitest';
import type { TokenGrant } from '../history/tokens.js';
import { serviceRequest } from './service-request.js';

const TOKENS: Record<string, TokenGrant> = {
  sft_api: { id: 1, scope: 'ingest', service: 'api' },
  sft_admin: { id: 2, scope: 'admin' },
};

const app = new Hono();
app.post('/act', async (c) => {
  const request = await serviceRequest<{ service?: string; n?: number }>(
    c,
    async (header) => TOKENS[/^Bearer (\S+)$/.exec(header ?? '')?.[1] ?? ''],
    {
      check: (b) => (typeof b.n === 'number' ? undefined : 'n is required'),
      forbidden: (mine, wanted) => `this token acts for ${mine} only, not ${wanted}`,
    },
  );
  return 'refusal' in request ? request.refusal : c.json({ acted: request.body });
});

const post = async (token: string | undefined, body: string) => {
  const res = await app.request('/act', {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body,
  });
  return { status: res.status, json: await res.json() };
};

describe('serviceRequest', () => {
  test('refuses no token or an unknown one (401), a body that is not JSON or fails the check (400), another service (403)', async () => {
    expect(await post(undefined, '{}')).toMatchObject({
      status: 401,
      json: { error: expect.stringMatching(/bearer token/) },
    });
    expect((await post('sft_forged', '{}')).status).toBe(401);
    expect(await post('sft_api', '{')).toEqual({ status: 400, json: { error: 'the body is not JSON' } });
    expect(await post('sft_api', '{"service":"api"}')).toEqual({
      status: 400,
      json: { error: 'n is required' },
    });
    expect(await post('sft_api', '{"service":"web","n":1}')).toEqual({
      status: 403,
      json: { error: 'this token acts for api only, not web' },
    });
  });

  test("gives the body for the token's own service, and for any service to an admin token", async () => {
    expect(await post('sft_api', '{"service":"api","n":1}')).toEqual({
      status: 200,
      json: { acted: { service: 'api', n: 1 } },
    });
    expect((await post('sft_admin', '{"service":"web","n":2}')).status).toBe(200);
  });
});
