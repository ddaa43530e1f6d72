import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditReport } from '../src/audit/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

if (!isRoot) console.warn('skipping the audit confidence test: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('the audit on a test failing 35% of its runs (default settings)', () => {
  const dir = join(REPO, 'test-output', 'projects', `nod-suite-${process.pid}`);
  let before: HostState;
  beforeAll(() => {
    before = hostState();
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(REPO, 'test/fixtures/nod-suite'), dir, { recursive: true });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test('calls it non-deterministic, never shared-state or order-dependent, across 20 seeds', async () => {
    // The coin's failures come from a hash of NOD_SEED and the audit run, so each seed's audit
    // is reproducible while the 20 seeds sample the 35% failure rate.
    const verdicts: Record<string, string[]> = {};
    for (let seed = 1; seed <= 20; seed++) {
      const r = await runCli(dir, ['audit', '--seed', '1'], { NOD_SEED: String(seed) });
      expect([0, 1], r.out).toContain(r.code); // 0 when the coin never came up tails
      const report = JSON.parse(readFileSync(join(dir, '.seedfork/audit.json'), 'utf8')) as AuditReport;
      const coin = report.tests.find((t) => t.name === 'lands heads')!;
      verdicts[coin.category] = verdicts[coin.category] ?? [];
      verdicts[coin.category]!.push(
        `seed ${seed}: ${coin.confidence.statement} (${coin.confidence.isolatedRuns} isolated)`,
      );
      expect(report.tests.find((t) => t.name === 'adds')?.category).toBe('stable-pass');
    }
    console.log(
      Object.entries(verdicts)
        .map(([c, v]) => `${c}: ${v.length}\n  ${v.join('\n  ')}`)
        .join('\n'),
    );
    expect(verdicts['shared-state']).toBeUndefined();
    expect(verdicts['order-dependent']).toBeUndefined();
    expect(verdicts['non-deterministic']?.length ?? 0).toBeGreaterThanOrEqual(19); // at least 95%
  }, 600_000);
});
