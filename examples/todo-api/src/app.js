import { createServer } from 'node:http';
import { audit } from './audit.js';
import { createPool } from './db.js';
import { invalidateStats, readStats, writeStats } from './stats-cache.js';

async function body(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

function send(res, status, data) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(data));
}

/** The todo API: users and their todos, with cached stats. */
export function createApp() {
  const pool = createPool();
  const routes = {
    'GET /users': async () => [200, (await pool.query('SELECT id, email, name FROM users ORDER BY id')).rows],
    'POST /users': async (req) => {
      const { email, name } = await body(req);
      try {
        const { rows } = await pool.query(
          'INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, email, name',
          [email, name],
        );
        audit('user.create', rows[0]);
        return [201, rows[0]];
      } catch (error) {
        if (error.code === '23505') return [409, { error: `email ${email} is taken` }];
        throw error;
      }
    },
    'GET /todos': async (req) => {
      const q = new URL(req.url, 'http://x').searchParams.get('q');
      const { rows } = q
        ? await pool.query('SELECT * FROM todos WHERE title ILIKE $1 ORDER BY id', [`%${q}%`])
        : await pool.query('SELECT * FROM todos ORDER BY id');
      return [200, rows];
    },
    'POST /todos': async (req) => {
      const { userId, title } = await body(req);
      const { rows } = await pool.query('INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING *', [
        userId,
        title,
      ]);
      audit('todo.create', rows[0]);
      invalidateStats();
      return [201, rows[0]];
    },
    'POST /todos/complete': async (req) => {
      const { id } = await body(req);
      const { rowCount } = await pool.query('UPDATE todos SET done = true WHERE id = $1', [id]);
      audit('todo.complete', { id });
      invalidateStats();
      return rowCount ? [200, { id }] : [404, { error: 'no such todo' }];
    },
    'DELETE /todos/done': async () => {
      const { rowCount } = await pool.query('DELETE FROM todos WHERE done');
      audit('todo.purge', { rowCount });
      invalidateStats();
      return [200, { deleted: rowCount }];
    },
    'GET /stats': async () => {
      const instance = String((await pool.query('SELECT pg_postmaster_start_time() AS t')).rows[0].t);
      const cached = readStats(instance);
      if (cached) return [200, { ...cached, cached: true }];
      const { rows } = await pool.query(
        'SELECT count(*)::int AS total, count(*) FILTER (WHERE done)::int AS done, (SELECT count(*)::int FROM users) AS users FROM todos',
      );
      writeStats(instance, rows[0]);
      return [200, { ...rows[0], cached: false }];
    },
  };
  const server = createServer(async (req, res) => {
    const route = routes[`${req.method} ${req.url.split('?')[0]}`];
    if (!route) return send(res, 404, { error: 'not found' });
    try {
      const [status, data] = await route(req);
      send(res, status, data);
    } catch (error) {
      send(res, 500, { error: error.message });
    }
  });
  server.on('close', () => pool.end());
  return server;
}

/** The port the API listens on. Like many apps, it has a fixed default. */
export const PORT = Number(process.env.PORT ?? 8080);
