import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditReport, ClassifiedTest } from '../audit/types.js';
import { recordAudit } from './audit-verdicts.js';
import { flakyTests } from './flaky.js';
import { ingest } from './ingest.js';
import { type HistoryStore, openHistory } from './store.js';

describe('audit verdicts in the history', () => {
  let dir = '';
  let store: HistoryStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seedfork-audit-verdicts-'));
    store = await openHistory(join(dir, 'history'));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each test's latest audit class and culprits come with its verdict", async () => {
    const cases = ['reads the count', 'writes the count'].map((name) => ({
      file: 'test/a.test.js',
      name,
      status: 'passed' as const,
      durationMs: 1,
      retryFailures: 0,
    }));
    await ingest(store, {
      service: 'api',
      build: '1',
      attempt: 1,
      dependsOn: [],
      reports: [{ cases, content: Buffer.from('1') }],
    });
    const classified = (
      name: string,
      category: ClassifiedTest['category'],
      culprit?: string,
    ): ClassifiedTest =>
      ({
        file: 'test/a.test.js',
        name,
        category,
        reason: `${category} because`,
        observations: [],
        confidence: { runs: 0, isolatedRuns: 0, value: 0, statement: '' },
        ...(culprit
          ? { search: { kind: 'polluter', status: 'found', files: [culprit], tests: [], runs: 3 } }
          : {}),
      }) as ClassifiedTest;
    const audit = (startedAt: string, tests: ClassifiedTest[]) =>
      ({ startedAt, tests }) as unknown as AuditReport;
    await recordAudit(
      store,
      'api',
      audit('2026-11-20T00:00:00.000Z', [classified('reads the count', 'non-deterministic')]),
    );
    await recordAudit(
      store,
      'api',
      audit('2026-11-24T00:00:00.000Z', [
        classified('reads the count', 'order-dependent', 'test/b.test.js'),
        classified('writes the count', 'stable-pass'),
      ]),
    );
    const verdicts = await flakyTests(store, { since: 0, regressionRuns: 2 });
    expect(verdicts.find((v) => v.name === 'reads the count')?.audit).toEqual({
      category: 'order-dependent',
      reason: 'order-dependent because',
      culprits: ['test/b.test.js'],
      at: '2026-11-24T00:00:00.000Z',
    });
    expect(verdicts.find((v) => v.name === 'writes the count')?.audit?.culprits).toEqual([]);
  });
});
