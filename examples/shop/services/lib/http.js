import { once } from 'node:events';
import { createServer } from 'node:http';

/** Read a request's JSON body ({} when empty). */
export async function readJson(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

/**
 * An HTTP server from a table of routes: `'GET /users/:id': async (req, params) => [status, body]`.
 * Unknown routes answer 404, thrown errors 500 with the message.
 */
export function jsonServer(routes) {
  const table = Object.entries(routes).map(([key, handler]) => {
    const [method, path] = key.split(' ');
    const names = [];
    const pattern = new RegExp(
      `^${path.replace(/:(\w+)/g, (_, name) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    return { method, pattern, names, handler };
  });
  return createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    let status = 404;
    let body = { error: `no route ${req.method} ${pathname}` };
    try {
      for (const route of table) {
        const match = req.method === route.method && route.pattern.exec(pathname);
        if (!match) continue;
        const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1])]));
        [status, body] = await route.handler(req, params);
        break;
      }
    } catch (error) {
      status = 500;
      body = { error: error.message };
    }
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

/** Listen on `port` of 127.0.0.1; resolves when listening, rejects with EADDRINUSE and the like. */
export async function listen(server, port) {
  server.listen(port, '127.0.0.1');
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  return server;
}

/** Call a JSON API: `{ status, body }`. */
export async function callJson(method, url, data) {
  const res = await fetch(url, {
    method,
    headers: data === undefined ? {} : { 'Content-Type': 'application/json' },
    body: data === undefined ? undefined : JSON.stringify(data),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
