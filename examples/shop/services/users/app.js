import { jsonServer, readJson } from '../lib/http.js';

/** The users service: customers' accounts, one per email. `pool` is a pg.Pool. */
export function createUsersApp({ pool }) {
  return jsonServer({
    'GET /users': async () => [200, (await pool.query('SELECT id, email, name FROM users ORDER BY id')).rows],
    'GET /users/:id': async (_req, { id }) => {
      if (!/^\d+$/.test(id)) return [400, { error: 'id must be a number' }];
      const { rows } = await pool.query('SELECT id, email, name FROM users WHERE id = $1', [id]);
      return rows[0] ? [200, rows[0]] : [404, { error: `no user ${id}` }];
    },
    'POST /users': async (req) => {
      const { email, name } = await readJson(req);
      if (!email || !name) return [400, { error: 'email and name are required' }];
      try {
        const { rows } = await pool.query(
          'INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, email, name',
          [email, name],
        );
        return [201, rows[0]];
      } catch (error) {
        if (error.code === '23505') return [409, { error: `${email} already has an account` }];
        throw error;
      }
    },
  });
}
