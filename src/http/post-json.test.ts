import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { postJson } from './post-json.js';

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** A server answering each request with the next of `answers` ([status, body]); records what it got. */
async function serve(
  answers: [number, unknown][],
): Promise<{ url: string; got: { auth?: string; body: string }[] }> {
  const got: { auth?: string; body: string }[] = [];
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    got.push({ auth: req.headers.authorization, body });
    const [status, answer] = answers.shift() ?? [500, { error: 'no more answers' }];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, got };
}

describe('postJson', () => {
  test('retries a 5xx and returns the answer that follows, with the token and the body each time', async () => {
    const { url, got } = await serve([
      [503, { error: 'busy' }],
      [200, { stored: 2 }],
    ]);
    const outcome = await postJson<{ stored: number }>(
      url,
      { a: 1 },
      { token: 't', backoffMs: [1, 1], target: url },
    );
    expect(outcome).toEqual({ kind: 'ok', answer: { stored: 2 } });
    expect(got).toEqual([
      { auth: 'Bearer t', body: '{"a":1}' },
      { auth: 'Bearer t', body: '{"a":1}' },
    ]);
  });

  test("a 4xx is not retried and carries the server's reason", async () => {
    const { url, got } = await serve([[401, { error: 'a valid bearer token is needed' }]]);
    const outcome = await postJson(url, {}, { token: 'x', backoffMs: [1, 1], target: url, who: 'the queue' });
    expect(outcome).toMatchObject({
      kind: 'rejected',
      status: 401,
      message: 'the queue answered 401: a valid bearer token is needed',
    });
    expect(got).toHaveLength(1);
  });

  test('an unreachable server is tried once per wait plus once, then named', async () => {
    const outcome = await postJson(
      'http://127.0.0.1:9/api',
      {},
      { token: 'x', backoffMs: [1, 1, 1], target: 'http://127.0.0.1:9' },
    );
    expect(outcome).toMatchObject({
      kind: 'failed',
      attempts: 4,
      message: expect.stringMatching(/^cannot reach http:\/\/127\.0\.0\.1:9: /),
    });
  });

  test('an abort ends the retries at once', async () => {
    const controller = new AbortController();
    const { url } = await serve([[503, {}]]);
    const pending = postJson(
      url,
      {},
      { token: 'x', backoffMs: [60_000], target: url, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    expect(await pending).toEqual({ kind: 'cancelled' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
