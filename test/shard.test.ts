import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { makeProject } from './support/project.js';

const seedfork = runCli;

/** A node:test file that logs when it starts, then takes `ms`. */
const timed = (name: string, ms: number) =>
  `import { appendFileSync } from 'node:fs';\nimport { test } from 'node:test';\nappendFileSync('order.log', '${name}\\n');\ntest('${name} works', async () => { await new Promise((r) => setTimeout(r, ${ms})); });\n`;

const DURATIONS: Record<string, number> = { quick: 20, slow: 900, medium: 400, tiny: 5, mid: 300 };

function suiteProject(name: string): string {
  const files: Record<string, string> = {
    'seedfork.config.mjs': `export default { test: { include: ['test/*.test.js'] }, isolation: 'none' };\n`,
  };
  for (const [file, ms] of Object.entries(DURATIONS)) files[`test/${file}.test.js`] = timed(file, ms);
  return makeProject(name, files);
}

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('timings and the local queue', () => {
  test('a run records timings, and the next run starts the slowest file first', async () => {
    const dir = suiteProject('queue');
    const first = await seedfork(dir, ['run', '--workers', '1']);
    expect(first.code, first.out).toBe(0);
    const timings = read(join(dir, '.seedfork/timings.json'));
    expect(Object.keys(timings.files).sort()).toEqual(
      Object.keys(DURATIONS)
        .map((f) => `test/${f}.test.js`)
        .sort(),
    );
    expect(timings.files['test/slow.test.js'].durationMs).toBeGreaterThan(
      timings.files['test/quick.test.js'].durationMs,
    );
    expect(timings.files['test/slow.test.js'].tests['slow works']).toBeGreaterThanOrEqual(850);

    rmSync(join(dir, 'order.log'));
    const second = await seedfork(dir, ['run', '--workers', '1']);
    expect(second.code, second.out).toBe(0);
    const order = readFileSync(join(dir, 'order.log'), 'utf8').trim().split('\n');
    expect(order.slice(0, 3)).toEqual(['slow', 'medium', 'mid']);
    expect(read(join(dir, '.seedfork/timings.json')).files['test/slow.test.js'].samples).toBe(2);
  });

  test('reads durations from an earlier JUnit report when nothing is recorded', async () => {
    const dir = suiteProject('junit-in');
    const suites = Object.entries({ tiny: 30, slow: 0.9, medium: 0.4, mid: 0.3, quick: 0.02 })
      .map(([f, s]) => `<testsuite name="test/${f}.test.js"><testcase name="t" time="${s}"/></testsuite>`)
      .join('');
    writeFileSync(join(dir, 'old.xml'), `<testsuites>${suites}</testsuites>`);
    const r = await seedfork(dir, ['plan', '--shards', '2', '--files', '--timings-from', 'old.xml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/0 recorded .* 5 from JUnit reports, 0 estimated/);
    // tiny is the 30 s file in that report: alone in shard 1, the other four in shard 2.
    expect(r.out).toMatch(
      /1\/2\s+1\s+30\.1 s[^\n]*\n\s+30\.1 s {2}test\/tiny\.test\.js \(junit\)\n2\/2\s+4 /,
    );
    expect((await seedfork(dir, ['plan', '--timings-from', 'nope.xml'])).out).toMatch(
      /--timings-from nope\.xml: no such JUnit report/,
    );
  });
});

describe('sharding and merge', () => {
  test('shards cover the suite exactly once and merge back into the full run', async () => {
    const dir = suiteProject('shards');
    expect((await seedfork(dir, ['run', '--workers', '1'])).code).toBe(0); // record timings
    const plan = JSON.parse((await seedfork(dir, ['plan', '--shards', '3', '--json', '--workers', '1'])).out);
    expect(plan.shards).toHaveLength(3);
    // slow (900) alone; medium + mid + ... balanced against it
    expect(plan.shards[0].files.map((c: { file: string }) => c.file)).toEqual(['test/slow.test.js']);

    const env = { SEEDFORK_RUN_ID: 'run-42' };
    for (const i of [1, 2, 3]) {
      const r = await seedfork(
        dir,
        ['run', '--shard', `${i}/3`, '--json', `out/shard-${i}.json`, '--workers', '1'],
        env,
      );
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`shard ${i}/3 \\(by timing\\): \\d of 5 test files`));
    }
    const shardFiles = [1, 2, 3].flatMap((i) => read(join(dir, `out/shard-${i}.json`)).shard.files).sort();
    expect(shardFiles).toEqual(
      Object.keys(DURATIONS)
        .map((f) => `test/${f}.test.js`)
        .sort(),
    );

    const m = await seedfork(dir, [
      'merge',
      'out/shard-3.json',
      'out/shard-1.json',
      'out/shard-2.json',
      '--junit',
      'out/junit.xml',
      '--json',
      'out/merged.json',
      '--timings',
      'out/timings.json',
    ]);
    expect(m.code, m.out).toBe(0);
    expect(m.out).toMatch(/merged 3 shards: 5 files, 5 tests: 5 passed, 0 failed/);
    expect(m.out).toMatch(/slowest files:\n\s+[\d.]+ s {2}test\/slow\.test\.js/);
    expect(m.out).toMatch(/shard balance \(slowest \/ mean shard wall time\): \d\.\d{3}/);
    const merged = read(join(dir, 'out/merged.json'));
    expect(merged.runId).toBe('run-42');
    expect(merged.files.map((f: { file: string }) => f.file)).toEqual(shardFiles);
    expect(readFileSync(join(dir, 'out/junit.xml'), 'utf8')).toMatch(
      /<testsuites name="seedfork" tests="5" failures="0"/,
    );
    expect(Object.keys(read(join(dir, 'out/timings.json')).files)).toHaveLength(5);
  });

  test('an empty shard succeeds without seeding, and merges', async () => {
    const dir = suiteProject('empty-shard');
    const r = await seedfork(dir, ['run', '--shard', '7/7', '--json', 'out/s7.json']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/shard 7\/7 \(by timing\): 0 of 5 test files/);
    expect(r.out).not.toMatch(/seed:/);
    expect(read(join(dir, 'out/s7.json')).files).toEqual([]);
  });
});

describe('bad input leaves no partial output', () => {
  test.each(['0/4', '5/4', '1/0', 'text'])('--shard %s is a clear error', async (value) => {
    const dir = suiteProject(`bad-shard-${value.replace('/', '-')}`);
    const r = await seedfork(dir, ['run', '--shard', value]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/seedfork: error: --shard/);
    expect(r.out).toMatch(/hint: Pass --shard i\/N/);
    expect(existsSync(join(dir, '.seedfork'))).toBe(false);
  });

  test('a corrupt timings file or one from another suite stops the run before anything runs', async () => {
    const dir = suiteProject('bad-timings');
    writeFileSync(join(dir, 'corrupt.json'), '{"version":1,"files":{"test/slow.test.js":');
    const corrupt = await seedfork(dir, ['run', '--timings', 'corrupt.json']);
    expect(corrupt.code).toBe(2);
    expect(corrupt.out).toMatch(/the timings file .*corrupt\.json is corrupt/);
    expect(corrupt.out).toMatch(/hint: Delete .*corrupt\.json/);
    const other = {
      version: 1,
      updatedAt: 'x',
      files: { 'spec/other.test.js': { durationMs: 5, samples: 1, updatedAt: 'x' } },
    };
    writeFileSync(join(dir, 'other.json'), JSON.stringify(other));
    const foreign = await seedfork(dir, ['plan', '--shards', '2', '--timings', 'other.json']);
    expect(foreign.code).toBe(2);
    expect(foreign.out).toMatch(/from another suite/);
    expect(existsSync(join(dir, 'order.log'))).toBe(false);
    expect(existsSync(join(dir, '.seedfork/results.json'))).toBe(false);
    expect(readFileSync(join(dir, 'corrupt.json'), 'utf8')).toBe(
      '{"version":1,"files":{"test/slow.test.js":',
    );
  });

  test('merging a missing shard, a duplicate, or another run writes nothing', async () => {
    const dir = suiteProject('bad-merge');
    for (const [i, id] of [
      [1, 'a'],
      [2, 'a'],
      [3, 'a'],
    ] as const)
      expect(
        (
          await seedfork(dir, ['run', '--shard', `${i}/3`, '--json', `out/${i}.json`], {
            SEEDFORK_RUN_ID: id,
          })
        ).code,
      ).toBe(0);
    expect(
      (await seedfork(dir, ['run', '--shard', '3/3', '--json', 'out/3-other.json'], { SEEDFORK_RUN_ID: 'b' }))
        .code,
    ).toBe(0);
    writeFileSync(join(dir, 'out/truncated.json'), '{"version":1,"files":[');
    const outputs = ['--junit', 'm/junit.xml', '--json', 'm/merged.json', '--timings', 'm/timings.json'];
    const cases: [string[], RegExp][] = [
      [['out/1.json', 'out/2.json'], /missing shard 3\/3/],
      [['out/1.json', 'out/2.json', 'out/2.json', 'out/3.json'], /shard 2\/3 is duplicated/],
      [
        ['out/1.json', 'out/2.json', 'out/3-other.json'],
        /different runs: a \(out\/1\.json, out\/2\.json\); b \(out\/3-other\.json\)/,
      ],
      [['out/1.json', 'out/truncated.json'], /truncated\.json is not JSON/],
      [['out/1.json', 'order.log'], /order\.log is not JSON/],
      [['out/nope.json'], /cannot read the result file out\/nope\.json/],
    ];
    for (const [inputs, message] of cases) {
      const r = await seedfork(dir, ['merge', ...inputs, ...outputs]);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(message);
      expect(existsSync(join(dir, 'm')), r.out).toBe(false);
    }
    expect((await seedfork(dir, ['merge', 'out/1.json', 'out/2.json', 'out/3.json', ...outputs])).code).toBe(
      0,
    );
    expect(existsSync(join(dir, 'm/merged.json'))).toBe(true);
  });
});
