// Seeds what every test expects: 3 customers in PostgreSQL, and in Redis the order-number counter
// (the next order is 1001).
import pg from 'pg';
import { createClient } from 'redis';

const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
await db.connect();
const users = [
  ['ada@shop.test', 'Ada'],
  ['grace@shop.test', 'Grace'],
  ['linus@shop.test', 'Linus'],
];
for (const [email, name] of users)
  await db.query('INSERT INTO users (email, name) VALUES ($1, $2)', [email, name]);
await db.end();

const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();
await redis.set('orders:number', '1000');
await redis.quit();
console.log(`seeded ${users.length} users; the next order number is 1001`);
