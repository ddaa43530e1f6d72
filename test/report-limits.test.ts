import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FileResult, RunResult } from '../src/report/types.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { CLI, makeProject } from './support/project.js';

if (!isRoot) console.warn('skipping the report-limit runs: sandboxes need root (run the suite as root)');

/**
 * A test file that replaces its own node:test JUnit report (the runner keeps writing to the file
 * it opened, so seedfork reads the planted one) with a valid report of `cases` test cases, each
 * padded to about `bytesPerCase` bytes.
 */
const planter = (cases: number, bytesPerCase: number, failing = false) => `
import { closeSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { test } from 'node:test';

test('plants a report of ${cases} test cases', () => {
  const dir = '/tmp/.seedfork-junit';
  for (const entry of readdirSync(dir)) {
    const report = dir + '/' + entry + '/junit.xml';
    const fd = openSync(report + '.planted', 'w');
    writeSync(fd, '<?xml version="1.0" encoding="UTF-8"?>\\n<testsuites>\\n<testsuite name="planted">\\n');
    const pad = 'x'.repeat(Math.max(0, ${bytesPerCase} - 60));
    let chunk = '';
    for (let i = 0; i < ${cases}; i++) {
      chunk += '<testcase classname="' + pad + '" name="t' + i + '" time="0"${failing ? '><failure message="planted"/></testcase>' : '/>'}\\n';
      if (chunk.length > 1 << 20) { writeSync(fd, chunk); chunk = ''; }
    }
    writeSync(fd, chunk + '</testsuite>\\n</testsuites>\\n');
    closeSync(fd);
    renameSync(report + '.planted', report);
  }
});
`;

const MiB = 1024 ** 2;

describe.skipIf(!isRoot)('report limits: a test that writes a giant report', () => {
  let project = '';
  let run: { code: number | null; out: string; maxRssKiB: number };
  let files: Record<string, FileResult>;
  let result: RunResult;
  let before: ReturnType<typeof hostState>;

  beforeAll(async () => {
    project = makeProject('report-limits', {
      'seedfork.config.mjs': `export default {
        test: { include: ['test/*.test.mjs'], runner: 'node', timeoutMs: 120_000 },
        limits: { disk: '2GiB', memory: '2GiB' },
        report: { junit: 'junit.xml' },
      };`,
      // two files of 240 MB and 2,000,000 cases each: over limits.report.bytes (64 MiB)
      'test/giant-a.test.mjs': planter(2_000_000, 120),
      'test/giant-b.test.mjs': planter(2_000_000, 120),
      // 2.3 MB but 150,000 cases: over limits.report.tests (100,000)
      'test/many-cases.test.mjs': planter(150_000, 0),
      // the control: 50,000 cases (1.2 MB), under both limits, is read
      'test/under-limit.test.mjs': planter(50_000, 0),
      // 60 failing cases: the console lists 50 of them and says how many more
      'test/failures.test.mjs': planter(60, 0, true),
      'test/plain.test.mjs': `import { test } from 'node:test';\ntest('an ordinary test', () => {});\n`,
    });
    // a previous run's reports, which the giant run must replace (not leave looking current)
    await runCli(project, ['run', 'test/plain.test.mjs']);
    before = hostState();
    run = await runCli(project, ['run', '--workers', '2']);
    result = JSON.parse(readFileSync(join(project, '.seedfork/results.json'), 'utf8'));
    files = Object.fromEntries(result.files.map((f) => [f.file.replace(/^test\//, ''), f]));
  }, 600_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  test('the files over a limit are errors naming it; the rest have their results', () => {
    for (const name of ['giant-a.test.mjs', 'giant-b.test.mjs']) {
      expect(files[name]?.status, run.out).toBe('error');
      expect(files[name]?.tests).toEqual([]);
      expect(files[name]?.error).toMatch(
        /the runner's report is 2\d\d\.\d MiB, over limits\.report\.bytes \(64 MiB\): not read/,
      );
    }
    expect(files['many-cases.test.mjs']?.status).toBe('error');
    expect(files['many-cases.test.mjs']?.error).toMatch(
      /has more than 100000 test cases, over limits\.report\.tests \(100000\)/,
    );
    // controls: the same planted report under the limits is read, and a plain file passes
    expect(files['under-limit.test.mjs']?.status).toBe('passed');
    expect(files['under-limit.test.mjs']?.tests).toHaveLength(50_000);
    expect(files['plain.test.mjs']?.status).toBe('passed');
    expect(files['failures.test.mjs']?.tests.filter((t) => t.status === 'failed')).toHaveLength(60);
    expect(run.code).toBe(1);
  });

  test("seedfork's memory stays bounded, and its console does not print a line per planted case", () => {
    console.log(`seedfork peak RSS: ${Math.round(run.maxRssKiB / 1024)} MiB`);
    expect(run.maxRssKiB * 1024).toBeLessThan(500 * MiB);
    expect(run.out.split('\n').length).toBeLessThan(200);
    expect(run.out.match(/✗ planted > t\d+ — planted/g)).toHaveLength(50);
    expect(run.out).toContain('… and 10 more failed tests (all of them in the JSON result)');
  });

  test("results.json and junit.xml are this run's, whole and valid", () => {
    expect(result.files).toHaveLength(6);
    expect(result.incomplete).toBeUndefined();
    const junit = readFileSync(join(project, 'junit.xml'), 'utf8');
    expect(XMLValidator.validate(junit)).toBe(true);
    expect(junit).toContain('name="test/giant-a.test.mjs"');
    expect(statSync(join(project, 'junit.xml')).size).toBeLessThan(20 * MiB);
    expect(existsSync(join(project, `junit.xml.${process.pid}.tmp`))).toBe(false);
  });

  test('the host is clean afterwards', async () => {
    await expectHostClean(before);
  });
});

/** Run the built CLI, recording its peak RSS (KiB, from getrusage at exit). */
async function runCli(
  cwd: string,
  args: string[],
): Promise<{ code: number | null; out: string; maxRssKiB: number }> {
  const rssFile = join(cwd, `.rss-${process.pid}`);
  const preload = `data:text/javascript,${encodeURIComponent(
    `import { writeFileSync } from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`,
  )}`;
  const child = spawn(process.execPath, ['--import', preload, CLI, ...args], {
    cwd,
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const maxRssKiB = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : Number.NaN;
  rmSync(rssFile, { force: true });
  return { code, out, maxRssKiB };
}
