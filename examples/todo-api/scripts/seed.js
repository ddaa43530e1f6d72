// Seeds the fixtures every test expects: 3 users, 6 todos (2 done).
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const users = [
  ['ada@example.com', 'Ada'],
  ['grace@example.com', 'Grace'],
  ['linus@example.com', 'Linus'],
];
for (const [email, name] of users)
  await client.query('INSERT INTO users (email, name) VALUES ($1, $2)', [email, name]);
const todos = [
  [1, 'buy milk', false],
  [1, 'write report', true],
  [2, 'fix bug 42', false],
  [2, 'review pull request', true],
  [3, 'release 1.0', false],
  [3, 'water plants', false],
];
for (const [user, title, done] of todos) {
  await client.query('INSERT INTO todos (user_id, title, done) VALUES ($1, $2, $3)', [user, title, done]);
}
console.log(`seeded ${users.length} users, ${todos.length} todos`);
await client.end();
