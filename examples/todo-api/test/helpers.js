import { once } from 'node:events';
import { createApp, PORT } from '../src/app.js';

/** Start the API on its fixed port for one test file; returns a small client and a stop(). */
export async function startApi() {
  const server = createApp();
  server.listen(PORT, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${PORT}`;
  const call = async (method, path, data) => {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    get: (path) => call('GET', path),
    post: (path, data) => call('POST', path, data ?? {}),
    del: (path) => call('DELETE', path),
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Let a concurrently started test file reach the same point (real suites have slow setup too). */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
