/** A test, across services. */
export interface TestKey {
  service: string;
  file: string;
  name: string;
}

/** One failed run of a test. */
export interface FailureEvent extends TestKey {
  /** epoch ms */
  at: number;
}

/** How `correlate` clusters. */
export interface CorrelateOptions {
  /** Failures in one window of this length count as together, in ms (default 1 h). */
  windowMs: number;
  /** Tests with fewer failures in the history are left out (too little to go on; default 3). */
  minFailures: number;
  /** Cut the clustering at this Jaccard similarity (0-1); default: the cut with the best mean
   * silhouette, as Parry et al. choose it. */
  threshold?: number;
  /** What each service depends on (`--depends-on`, config `history.services`). */
  dependsOn: Record<string, string[]>;
}

/** Tests that fail together. */
export interface Cluster {
  tests: TestKey[];
  services: string[];
  /** The dependency most over-represented among the cluster's services, when one is shared by
   * at least two of them (or by its only service), with how many of them have it. */
  sharedDependency?: { name: string; services: number; lift: number };
  window: {
    /** First and last failure of a member (ISO 8601). */
    from: string;
    to: string;
    /** The hour of day (UTC) that holds at least half of the members' failures, if one does. */
    timeOfDay?: string;
  };
  /** Windows in which at least two members failed. */
  support: number;
  /** Mean Jaccard similarity of the members' failure windows, pairwise. */
  cohesion: number;
}

/**
 * Clusters of tests that fail together, across services (systemic flakiness: Parry, Kapfhammer,
 * Hilton and McMinn, "Systemic Flakiness: An Empirical Analysis of Co-Occurring Flaky Test
 * Failures", EASE 2025, found 75% of flaky tests in such clusters).
 *
 * Method, after Parry et al.: each test's failures become the set of time windows they fall
 * in (their "failing runs"; across services runs are not shared, time is); the distance between
 * two tests is the Jaccard distance of those sets; agglomerative clustering with average linkage
 * (UPGMA) merges the closest clusters; the cut is the one with the best mean silhouette
 * (Rousseeuw 1987), as Parry et al. choose it per project, unless `threshold` fixes it; clusters
 * of one test are dropped. Average linkage rather than single linkage, so that one test that
 * fails with two unrelated groups does not chain them into one.
 */
export function correlate(
  events: FailureEvent[],
  options: CorrelateOptions,
): { clusters: Cluster[]; threshold: number } {
  const byTest = new Map<string, { key: TestKey; windows: Set<number>; times: number[] }>();
  for (const e of events) {
    const id = JSON.stringify([e.service, e.file, e.name]);
    let entry = byTest.get(id);
    if (!entry) {
      entry = { key: { service: e.service, file: e.file, name: e.name }, windows: new Set(), times: [] };
      byTest.set(id, entry);
    }
    entry.windows.add(Math.floor(e.at / options.windowMs));
    entry.times.push(e.at);
  }
  const tests = [...byTest.values()].filter((t) => t.times.length >= options.minFailures);
  const n = tests.length;
  const distance: number[][] = tests.map((a) => tests.map((b) => 1 - jaccard(a.windows, b.windows)));
  const merges = averageLinkage(distance);
  const cuts =
    options.threshold !== undefined
      ? [1 - options.threshold]
      : [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].filter((cut) => merges.some((m) => m.distance <= cut));
  let best = {
    cut: 1 - (options.threshold ?? 0.5),
    score: Number.NEGATIVE_INFINITY,
    groups: [] as number[][],
  };
  for (const cut of cuts) {
    const groups = cutAt(n, merges, cut);
    const score = silhouette(groups, distance);
    if (score > best.score) best = { cut, score, groups };
  }
  const allServices = new Set(events.map((e) => e.service));
  const clusters = best.groups
    .filter((g) => g.length >= 2)
    .map((g) =>
      describeCluster(
        g.map((i) => tests[i]!),
        g,
        distance,
        options,
        allServices,
      ),
    )
    .sort((a, b) => b.tests.length - a.tests.length || b.support - a.support);
  return { clusters, threshold: 1 - best.cut };
}

function jaccard(a: Set<number>, b: Set<number>): number {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  const either = a.size + b.size - both;
  return either === 0 ? 0 : both / either;
}

/** UPGMA: the merges in order, each with the average distance between the two clusters. */
function averageLinkage(distance: number[][]): { a: number; b: number; distance: number }[] {
  const n = distance.length;
  const members = new Map<number, number[]>(Array.from({ length: n }, (_, i) => [i, [i]]));
  const merges: { a: number; b: number; distance: number }[] = [];
  while (members.size > 1) {
    let pick: { a: number; b: number; distance: number } | undefined;
    const ids = [...members.keys()];
    for (let x = 0; x < ids.length; x++) {
      for (let y = x + 1; y < ids.length; y++) {
        const d = averageDistance(members.get(ids[x]!)!, members.get(ids[y]!)!, distance);
        if (!pick || d < pick.distance) pick = { a: ids[x]!, b: ids[y]!, distance: d };
      }
    }
    if (!pick || pick.distance >= 1) break; // nothing left that ever failed together
    members.set(pick.a, [...members.get(pick.a)!, ...members.get(pick.b)!]);
    members.delete(pick.b);
    merges.push(pick);
  }
  return merges;
}

function averageDistance(a: number[], b: number[], distance: number[][]): number {
  let sum = 0;
  for (const i of a) for (const j of b) sum += distance[i]![j]!;
  return sum / (a.length * b.length);
}

/** The clusters left by applying the merges up to distance `cut`, as lists of test indices. */
function cutAt(n: number, merges: { a: number; b: number; distance: number }[], cut: number): number[][] {
  const groups = new Map<number, number[]>(Array.from({ length: n }, (_, i) => [i, [i]]));
  for (const m of merges) {
    if (m.distance > cut) break;
    groups.set(m.a, [...groups.get(m.a)!, ...groups.get(m.b)!]);
    groups.delete(m.b);
  }
  return [...groups.values()];
}

/** Mean silhouette over the tests in clusters of two or more (a singleton scores 0). */
function silhouette(groups: number[][], distance: number[][]): number {
  if (groups.every((g) => g.length < 2)) return Number.NEGATIVE_INFINITY;
  let total = 0;
  let count = 0;
  for (const g of groups) {
    for (const i of g) {
      count++;
      if (g.length < 2) continue;
      const a = g.filter((j) => j !== i).reduce((s, j) => s + distance[i]![j]!, 0) / (g.length - 1);
      let b = Number.POSITIVE_INFINITY;
      for (const other of groups) {
        if (other === g) continue;
        b = Math.min(b, other.reduce((s, j) => s + distance[i]![j]!, 0) / other.length);
      }
      if (!Number.isFinite(b)) b = 1;
      total += (b - a) / Math.max(a, b, 1e-9);
    }
  }
  return total / count;
}

function describeCluster(
  members: { key: TestKey; windows: Set<number>; times: number[] }[],
  indices: number[],
  distance: number[][],
  options: CorrelateOptions,
  allServices: Set<string>,
): Cluster {
  const services = [...new Set(members.map((m) => m.key.service))].sort();
  const times = members.flatMap((m) => m.times).sort((a, b) => a - b);
  // co-failure windows: two or more members failed in them
  const counts = new Map<number, number>();
  for (const m of members) for (const w of m.windows) counts.set(w, (counts.get(w) ?? 0) + 1);
  const support = [...counts.values()].filter((c) => c >= 2).length;
  let pairs = 0;
  let similarity = 0;
  for (let x = 0; x < indices.length; x++) {
    for (let y = x + 1; y < indices.length; y++) {
      pairs++;
      similarity += 1 - distance[indices[x]!]![indices[y]!]!;
    }
  }
  const hours = new Array<number>(24).fill(0);
  for (const t of times) hours[new Date(t).getUTCHours()]!++;
  const peak = hours.indexOf(Math.max(...hours));
  const hh = (h: number) => `${String(h % 24).padStart(2, '0')}:00`;
  const timeOfDay = hours[peak]! * 2 >= times.length ? `${hh(peak)}-${hh(peak + 1)} UTC` : undefined;
  return {
    tests: members
      .map((m) => m.key)
      .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name)),
    services,
    ...sharedDependency(services, options.dependsOn, allServices),
    window: {
      from: new Date(times[0]!).toISOString(),
      to: new Date(times.at(-1)!).toISOString(),
      ...(timeOfDay ? { timeOfDay } : {}),
    },
    support,
    cohesion: pairs > 0 ? similarity / pairs : 1,
  };
}

/**
 * The dependency with the highest lift among the cluster's services: its share of the cluster's
 * services over its share of all services that reported failures (1 = no more common than
 * anywhere). Needs two services with it, or the cluster's only one.
 */
function sharedDependency(
  services: string[],
  dependsOn: Record<string, string[]>,
  allServices: Set<string>,
): { sharedDependency?: Cluster['sharedDependency'] } {
  let best: Cluster['sharedDependency'];
  const deps = new Set(services.flatMap((s) => dependsOn[s] ?? []));
  for (const dep of deps) {
    const inCluster = services.filter((s) => dependsOn[s]?.includes(dep)).length;
    const overall = [...allServices].filter((s) => dependsOn[s]?.includes(dep)).length;
    if (inCluster < Math.min(2, services.length)) continue;
    const lift =
      inCluster /
      services.length /
      (Math.max(overall, inCluster) / Math.max(allServices.size, services.length));
    if (!best || lift > best.lift || (lift === best.lift && inCluster > best.services)) {
      best = { name: dep, services: inCluster, lift: Math.round(lift * 100) / 100 };
    }
  }
  return best ? { sharedDependency: best } : {};
}
