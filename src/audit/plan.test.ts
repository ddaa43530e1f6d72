import { expect, test } from 'vitest';
import { planAuditRuns } from './plan.js';

test("a quick audit's plan: one isolated run, the reverse order without a forward one, one shared run", () => {
  const plan = planAuditRuns(['a', 'b', 'c'], new Set(['repeat', 'reverse', 'shared']), {
    repeat: 1,
    seed: 1,
    workers: 4,
    forward: false,
  });
  expect(plan.sandboxed.map((r) => [r.label, r.order, r.workers])).toEqual([
    ['isolated #1', ['a', 'b', 'c'], 4],
    ['order: reverse', ['c', 'b', 'a'], 1],
  ]);
  expect(plan.shared.map((r) => r.label)).toEqual(['shared: 4 workers']);
  // the default plan keeps the forward order as the baseline of the others
  const full = planAuditRuns(['a', 'b'], new Set(['reverse']), { repeat: 3, seed: 1, workers: 2 });
  expect(full.sandboxed.map((r) => r.label)).toEqual(['order: forward', 'order: reverse']);
});
