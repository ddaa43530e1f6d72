// A plain object: `import { defineConfig } from 'seedfork'` and wrapping it only adds types.
export default {
  seed: {
    // The snapshot is rebuilt when any of these files change.
    inputs: ['migrations/**', 'scripts/**', 'package.json'],
    steps: ['node scripts/migrate.js', 'node scripts/seed.js'],
    services: {
      postgres: { port: 5432, database: 'shop' },
      redis: { kind: 'redis', port: 6379 },
    },
  },
  test: { include: ['test/**/*.test.js'], runner: 'node' },
  report: { junit: '.seedfork/junit.xml' },
};
