/**
 * A seeded pseudo-random generator (mulberry32, Tommy Ettinger's public-domain 32-bit
 * generator): numbers in [0, 1), the same sequence for the same seed on every machine.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seeded shuffle (Fisher–Yates over {@link seededRandom}): the same seed gives the same
 * order on every machine, so a shuffled order that failed can be replayed with `--seed`.
 */
export function shuffle<T>(items: T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
