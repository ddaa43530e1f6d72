/** Thrown by a probe when the audit's run budget (`--max-runs`, `--timeout`) is spent. */
export class BudgetExhausted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BudgetExhausted';
  }
}

/** Outcome of {@link minimize}. */
export type Minimized<T> =
  | { status: 'found'; items: T[]; probes: number }
  /** The search stopped early: the culprits are among `items` (already narrowed). */
  | { status: 'budget'; items: T[]; probes: number; reason: string };

function split<T>(items: T[], n: number): T[][] {
  const parts: T[][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = start + Math.floor((items.length - start) / (n - i));
    parts.push(items.slice(start, end));
    start = end;
  }
  return parts.filter((p) => p.length > 0);
}

/**
 * Delta debugging (Zeller & Hildebrandt, "Simplifying and Isolating Failure-Inducing Input",
 * IEEE TSE 2002): shrink `items` to a 1-minimal subset for which `probe` still holds, keeping
 * their order. iFixFlakies (Shi et al., "iFixFlakies: A Framework for Automatically Fixing
 * Order-Dependent Flaky Tests", ESEC/FSE 2019) applies it to the tests that ran before an
 * order-dependent victim to find its polluters (probe: the victim fails after the subset) or
 * state-setters (probe: a brittle test passes after it). A single culprit costs about
 * 2·log2(n) probes. `probe(items)` itself is assumed true and is not run.
 * A probe may throw {@link BudgetExhausted}; the narrowed set is returned as `budget`.
 */
export async function minimize<T>(
  items: T[],
  probe: (subset: T[]) => Promise<boolean>,
): Promise<Minimized<T>> {
  let current = items;
  let n = 2;
  let probes = 0;
  const test = async (subset: T[]) => {
    probes++;
    return probe(subset);
  };
  try {
    while (current.length >= 2) {
      const parts = split(current, Math.min(n, current.length));
      let reduced = false;
      for (const part of parts) {
        if (await test(part)) {
          current = part;
          n = 2;
          reduced = true;
          break;
        }
      }
      if (!reduced && parts.length > 2) {
        for (const part of parts) {
          const complement = current.filter((x) => !part.includes(x));
          if (await test(complement)) {
            current = complement;
            n = Math.max(n - 1, 2);
            reduced = true;
            break;
          }
        }
      }
      if (!reduced) {
        if (n >= current.length) break;
        n = Math.min(current.length, n * 2);
      }
    }
  } catch (error) {
    if (error instanceof BudgetExhausted)
      return { status: 'budget', items: current, probes, reason: error.message };
    throw error;
  }
  return { status: 'found', items: current, probes };
}
