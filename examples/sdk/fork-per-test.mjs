// The fork-per-test loop, written against seedfork's SDK instead of a config: seed a base
// sandbox once (PostgreSQL, the migrations, the seed data), snapshot it, then run each test
// file of examples/todo-api in a fork of its own, as many at once as cores and memory allow.
//
//   npm run demo:sdk                      # after ./scripts/setup.sh
//   SEEDFORK_KEEP_FAILED=1 npm run demo:sdk   # a failed file's sandbox is kept: seedfork shell <id>
//   node examples/sdk/fork-per-test.mjs --isolation microvm [test/users.test.js …]
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Snapshot } from '../../dist/sdk/index.js';

const app = join(import.meta.dirname, '../todo-api');
const { values: flags, positionals } = parseArgs({
  options: { isolation: { type: 'string', default: 'namespace' } },
  allowPositionals: true,
});

// the cache key: what the seed depends on (the migrations, the seed script, the lockfile)
const inputs = [
  'package.json',
  'scripts/migrate.js',
  'scripts/seed.js',
  ...readdirSync(join(app, 'migrations')).map((m) => `migrations/${m}`),
];
const hash = createHash('sha256');
for (const file of inputs) hash.update(file).update(readFileSync(join(app, file)));
const key = `todo-api-${flags.isolation}-${hash.digest('hex').slice(0, 16)}`;

const options = {
  backend: flags.isolation,
  dir: app,
  services: { postgres: { port: 5432, database: 'todos' } },
  limits: { memory: '512MiB' },
};

const seedStarted = performance.now();
const snapshot = await Snapshot.cached({ ...options, key }, async (base) => {
  for (const step of ['node scripts/migrate.js', 'node scripts/seed.js']) {
    const { exitCode, stdout, stderr } = await base.exec(step, { timeoutMs: 120_000 });
    if (exitCode !== 0) throw new Error(`${step} exited with ${exitCode}:\n${stdout}${stderr}`);
  }
});
console.log(
  `snapshot ${snapshot.key} (${snapshot.createdAt}) ready in ${Math.round(performance.now() - seedStarted)} ms`,
);

const files =
  positionals.length > 0
    ? positionals
    : readdirSync(join(app, 'test'))
        .filter((f) => f.endsWith('.test.js'))
        .sort()
        .map((f) => `test/${f}`);
const concurrency = Math.max(1, Math.min(availableParallelism(), snapshot.forksThatFit(), files.length));
const keepFailed = process.env.SEEDFORK_KEEP_FAILED === '1';
const started = performance.now();
const results = [];
let next = 0;
const worker = async () => {
  while (next < files.length) {
    const file = files[next++];
    const sandbox = await snapshot.fork(); // `await using sandbox = …` where the Node has it (24)
    try {
      const run = await sandbox.exec(['node', '--test', '--test-reporter=dot', file], { timeoutMs: 120_000 });
      const result = {
        file,
        passed: run.exitCode === 0,
        ms: Math.round(run.durationMs),
        output: run.stdout + run.stderr,
      };
      if (!result.passed && keepFailed) result.kept = await sandbox.keep();
      results.push(result);
    } finally {
      await sandbox.kill(); // a kept sandbox stays
    }
  }
};
await Promise.all(Array.from({ length: concurrency }, worker));

for (const r of results.sort((a, b) => a.file.localeCompare(b.file))) {
  console.log(
    `${r.passed ? 'pass' : 'FAIL'}  ${r.file.padEnd(32)} ${String(r.ms).padStart(6)} ms${r.kept ? `  kept: ${r.kept}` : ''}`,
  );
  if (!r.passed) console.log(r.output.trimEnd().replace(/^/gm, '      '));
}
const failed = results.filter((r) => !r.passed).length;
console.log(
  `${files.length} files, ${files.length - failed} passed, ${failed} failed, each in a fork of its own, ${concurrency} at a time: ${Math.round(performance.now() - started)} ms`,
);
process.exitCode = failed ? 1 : 0;
