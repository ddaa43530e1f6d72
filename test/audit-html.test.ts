// biome-ignore-all lint/performance/useDomNodeTextContent: the check is about the rendered page, so it reads rendered text
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { expect, test } from 'vitest';
import { confidenceOf } from '../src/audit/confidence.js';
import { renderHtml } from '../src/audit/html.js';
import type { AuditReport, Category, ClassifiedTest } from '../src/audit/types.js';
import { REPO } from './support/project.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM)
  console.warn(
    'skipping the HTML report check: no chromium (apt-get install chromium, or ./scripts/setup.sh --test)',
  );

const OUT = join(REPO, 'test-output', 'audit-html');
const runs = ['isolated #1', 'isolated #2', 'order: forward', 'order: reverse', 'shared: 2 workers'];

function classified(
  file: string,
  name: string,
  category: Category,
  statuses: string,
  extra: Partial<ClassifiedTest> = {},
): ClassifiedTest {
  const observations = runs.map((run, i) => ({
    run,
    kind: (run.startsWith('isolated') ? 'isolated' : run.startsWith('order') ? 'order' : 'shared') as
      | 'isolated'
      | 'order'
      | 'shared',
    status: (statuses[i] === 'F' ? 'failed' : 'passed') as 'failed' | 'passed',
  }));
  return {
    confidence: confidenceOf(category, observations),
    file,
    name,
    category,
    reason: `because <script>alert("${name}")</script> & more`,
    observations: runs.map((run, i) => ({
      run,
      kind: run.startsWith('isolated') ? 'isolated' : run.startsWith('order') ? 'order' : 'shared',
      status: statuses[i] === 'F' ? 'failed' : 'passed',
      ...(statuses[i] === 'F' ? { message: 'expected [] to equal ["apple"]' } : {}),
    })),
    ...extra,
  };
}

const report: AuditReport = {
  version: 1,
  startedAt: '2026-11-22T10:00:00.000Z',
  durationMs: 61_500,
  seed: 1234,
  suite: { files: ['test/a.test.js'], configHash: '0' },
  runs: runs.map((label) => ({
    label,
    kind: 'isolated',
    workers: 2,
    durationMs: 2000,
    order: ['a'],
    failed: 1,
    tests: 5,
  })),
  tests: [
    classified('test/dice.test.js', 'rolls high', 'non-deterministic', 'FPPFP'),
    classified('test/cart-empty.test.js', 'starts with an empty cart', 'order-dependent', 'PPFPF', {
      search: {
        kind: 'polluter',
        status: 'found',
        files: ['test/cart-add.test.js'],
        tests: [{ file: 'test/cart-add.test.js', name: 'adds an item' }],
        runs: 6,
        from: 'order: forward',
      },
    }),
    classified('test/port.test.js', 'serves on its port', 'shared-state', 'PPPPF'),
    classified('test/math.test.js', 'adds', 'stable-pass', 'PPPPP'),
  ],
  leftovers: [
    {
      file: 'test/cart-add.test.js',
      files: { created: ['/app/data/cart.json'], changed: [], deleted: ['/app/old.txt'] },
      processes: [],
      ports: [],
      tables: [{ service: 'postgres', table: 'public.todos', inserted: 1, updated: 0, deleted: 0 }],
      notes: [],
    },
    {
      file: 'test/port.test.js',
      files: { created: [], changed: [], deleted: [] },
      processes: [{ pid: 12, command: 'node server.js' }],
      ports: [{ address: '127.0.0.1', port: 8080 }],
      notes: [],
      tables: [],
    },
  ],
  conflicts: [
    {
      kind: 'port',
      resource: '127.0.0.1:8080',
      files: ['test/port-check.test.js', 'test/port.test.js'],
      description: 'both bind 127.0.0.1:8080',
      hint: 'bind port 0 <and> pass it on',
      partners: ['test/port-check.test.js'],
    },
  ],
  complete: true,
  notes: ['the shared-host runs ran the suite without isolation'],
  counts: {
    'non-deterministic': 1,
    'order-dependent': 1,
    brittle: 0,
    'shared-state': 1,
    'cache-dependent': 0,
    'stable-fail': 0,
    'stable-pass': 1,
    skipped: 0,
  },
  forks: 42,
};

test.skipIf(!CHROMIUM)(
  'the HTML report renders its tables in headless Chromium, offline, and a screenshot is saved',
  async () => {
    mkdirSync(OUT, { recursive: true });
    const html = join(OUT, 'report.html');
    writeFileSync(html, renderHtml(report));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const dialogs: string[] = [];
      page.on('dialog', async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      await page.goto(`file://${html}`);
      expect(await page.title()).toBe('seedfork audit: 3 flaky of 4 tests');
      const rows = page.locator('#tests tbody tr');
      expect(await rows.count()).toBe(4);
      expect(await rows.nth(0).locator('.badge').innerText()).toBe('non-deterministic (NOD)');
      expect(await rows.nth(1).innerText()).toMatch(/polluter: test\/cart-add\.test\.js › adds an item/);
      // one evidence cell per run, failures marked
      expect(await rows.nth(1).locator('td.cell').count()).toBe(runs.length);
      expect(await rows.nth(1).locator('td.cell.failed').count()).toBe(2);
      expect(await page.locator('#tests thead th.run').count()).toBe(runs.length);
      expect(await page.locator('#leftovers').innerText()).toMatch(
        /public\.todos \+1[\s\S]*127\.0\.0\.1:8080/,
      );
      const conflict = await page.locator('#conflicts tbody tr').innerText();
      expect(conflict).toMatch(
        /test\/port-check\.test\.js conflict partner: never failed\s+test\/port\.test\.js/,
      );
      expect(conflict).toMatch(/both bind 127\.0\.0\.1:8080[\s\S]*bind port 0 <and> pass it on/);
      // Names from test suites are text, never markup.
      expect(dialogs).toEqual([]);
      expect(await rows.nth(0).innerText()).toMatch(/<script>alert/);
      // Self-contained: the only request is the file itself.
      expect(requests).toEqual([`file://${html}`]);
      const box = await page.locator('#tests').boundingBox();
      expect(box!.height).toBeGreaterThan(100);
      await page.screenshot({ path: join(OUT, 'report.png'), fullPage: true });
      expect(statSync(join(OUT, 'report.png')).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  },
);
