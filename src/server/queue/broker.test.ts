import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pruneHistory } from '../../history/retention.js';
import { type HistoryStore, openHistory } from '../../history/store.js';
import { createToken } from '../../history/tokens.js';
import type { QueueFile, QueueJoin } from '../../plan/queue-protocol.js';
import { historyApp } from '../app.js';
import {
  heartbeat,
  joinQueue,
  nextFile,
  QueueConflict,
  QueueForbidden,
  QueueUnknown,
  queueStatus,
} from './broker.js';

const FILES: QueueFile[] = [
  { file: 'a.test.js', costMs: 100 },
  { file: 'b.test.js', costMs: 900 },
  { file: 'c.test.js', costMs: 500 },
  { file: 'd.test.js', costMs: 300 },
];
const LEASE = 10_000;
const T0 = Date.UTC(2026, 10, 25, 12);

describe('the queue broker', () => {
  let dir = '';
  let store: HistoryStore;
  let builds = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seedfork-queue-'));
    store = await openHistory(join(dir, 'history'));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh build's join request for `job`. */
  const joinOf = (build: string, job: string, files = FILES): QueueJoin => ({
    service: 'billing',
    build,
    job,
    secret: secretOf(job),
    suiteId: `suite-${files.map((f) => f.file).join(',')}`,
    files,
    leaseMs: LEASE,
  });
  /** Each job's secret, as a job draws it (here: fixed per job id). */
  const secretOf = (job: string) => `secret-of-${job}`.padEnd(43, '-');
  const call = (build: string, job: string) => ({ service: 'billing', build, job, secret: secretOf(job) });
  const newBuild = () => `build-${++builds}`;

  test('hands out the costliest file first, waits while files are leased, and is done when all are', async () => {
    const build = newBuild();
    expect(await joinQueue(store, joinOf(build, 'A'), T0)).toEqual({ files: 4, remaining: 4 });
    await joinQueue(store, joinOf(build, 'B'), T0);
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0)).toEqual({ file: 'b.test.js' });
    expect(await nextFile(store, { ...call(build, 'B'), finished: [] }, T0)).toEqual({ file: 'c.test.js' });
    expect(await nextFile(store, { ...call(build, 'B'), finished: ['c.test.js'] }, T0 + 1)).toEqual({
      file: 'd.test.js',
    });
    expect(await nextFile(store, { ...call(build, 'B'), finished: ['d.test.js'] }, T0 + 2)).toEqual({
      file: 'a.test.js',
    });
    // nothing queued, b and a leased: B waits rather than stopping (A may yet be lost)
    const wait = await nextFile(store, { ...call(build, 'B'), finished: [] }, T0 + 3);
    expect(wait).toEqual({ waitMs: 1000 });
    expect(await nextFile(store, { ...call(build, 'A'), finished: ['b.test.js'] }, T0 + 4)).toEqual({
      waitMs: 1000,
    });
    expect(await nextFile(store, { ...call(build, 'B'), finished: ['a.test.js'] }, T0 + 5)).toEqual({
      done: true,
    });
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0 + 6)).toEqual({ done: true });
    const status = await queueStatus(store, 'billing', build);
    expect(status).toMatchObject({ files: 4, queued: 0, leased: 0, done: 4, handedAgain: [] });
    expect(status?.jobs).toEqual([
      { job: 'A', state: 'complete', leased: [], done: 1 },
      { job: 'B', state: 'complete', leased: [], done: 3 },
    ]);
  });

  test('a job not heard from for its lease is lost: the files it held and finished go to the others', async () => {
    const build = newBuild();
    await joinQueue(store, joinOf(build, 'A'), T0);
    await joinQueue(store, joinOf(build, 'B'), T0);
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0)).toEqual({ file: 'b.test.js' });
    expect(await nextFile(store, { ...call(build, 'A'), finished: ['b.test.js'] }, T0 + 10)).toEqual({
      file: 'c.test.js',
    });
    // B keeps itself alive with heartbeats; A goes silent
    await heartbeat(store, call(build, 'B'), T0 + LEASE - 1);
    expect(await nextFile(store, { ...call(build, 'B'), finished: [] }, T0 + LEASE + 5)).toEqual({
      file: 'd.test.js',
    });
    // A's lease (renewed at T0 + 10) ran out at T0 + 10 + LEASE
    const after = T0 + LEASE + 11;
    const taken: string[] = [];
    let finished: string[] = ['d.test.js'];
    for (;;) {
      const answer = await nextFile(store, { ...call(build, 'B'), finished }, after);
      if (!('file' in answer)) {
        expect(answer).toEqual({ done: true });
        break;
      }
      taken.push(answer.file);
      finished = [answer.file];
    }
    // b (finished by A, whose report died with it) and c (held by A) come back, costliest first
    expect(taken).toEqual(['b.test.js', 'c.test.js', 'a.test.js']);
    await expect(
      nextFile(store, { ...call(build, 'A'), finished: ['c.test.js'] }, after + 1),
    ).rejects.toThrow(
      expect.objectContaining({ lost: true, message: expect.stringMatching(/not heard from for 10000 ms/) }),
    );
    await expect(heartbeat(store, call(build, 'A'), after + 1)).rejects.toBeInstanceOf(QueueConflict);
    const status = await queueStatus(store, 'billing', build);
    expect(status?.handedAgain).toEqual(['b.test.js', 'c.test.js']);
    expect(status?.jobs.map((j) => [j.job, j.state, j.done])).toEqual([
      ['A', 'lost', 0],
      ['B', 'complete', 4],
    ]);
  });

  test('heartbeats keep a job that runs one long file', async () => {
    const build = newBuild();
    await joinQueue(store, joinOf(build, 'A'), T0);
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0)).toEqual({ file: 'b.test.js' });
    for (let k = 1; k <= 5; k++) await heartbeat(store, call(build, 'A'), T0 + k * (LEASE / 2));
    await joinQueue(store, joinOf(build, 'B'), T0 + 3 * LEASE); // a job on a machine that started late
    const answer = await nextFile(store, { ...call(build, 'B'), finished: [] }, T0 + 3 * LEASE);
    expect(answer).toEqual({ file: 'c.test.js' }); // not b: A still holds it
    expect(await nextFile(store, { ...call(build, 'A'), finished: ['b.test.js'] }, T0 + 3 * LEASE)).toEqual({
      file: 'd.test.js',
    });
  });

  test('a job with other files, or calls before joining, are refused', async () => {
    const build = newBuild();
    await joinQueue(store, joinOf(build, 'A'), T0);
    // other costs are fine (each job reads its own timings); other files are not
    await joinQueue(
      store,
      joinOf(
        build,
        'B',
        FILES.map((f) => ({ ...f, costMs: 1 })),
      ),
      T0,
    ).then(() => undefined);
    await expect(joinQueue(store, joinOf(build, 'C', FILES.slice(1)), T0)).rejects.toThrow(
      /brings other test files .* every job of a build must run the same checkout/,
    );
    await expect(nextFile(store, { ...call(build, 'nobody'), finished: [] }, T0)).rejects.toBeInstanceOf(
      QueueUnknown,
    );
    await expect(nextFile(store, { ...call('no-such-build', 'A'), finished: [] }, T0)).rejects.toThrow(
      /no queue for build no-such-build/,
    );
  });

  test('another job cannot act as a job: its calls without the secret are 403 and change nothing', async () => {
    const build = newBuild();
    await joinQueue(store, joinOf(build, 'A'), T0);
    await joinQueue(store, joinOf(build, 'B'), T0);
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0)).toEqual({ file: 'b.test.js' });
    const forged = { ...call(build, 'A'), secret: secretOf('B') };
    // B, with a token of the same service, tries to take files, keep leases and rejoin as A
    await expect(nextFile(store, { ...forged, finished: ['b.test.js'] }, T0 + 1)).rejects.toThrow(
      /job A of build .* joined with another secret/,
    );
    await expect(nextFile(store, { ...forged, finished: [] }, T0 + 1)).rejects.toBeInstanceOf(QueueForbidden);
    await expect(
      joinQueue(store, { ...joinOf(build, 'A'), secret: secretOf('B') }, T0 + 1),
    ).rejects.toBeInstanceOf(QueueForbidden);
    // heartbeats with the wrong secret do not keep A alive: A's lease runs out on time
    for (let k = 1; k <= 3; k++) {
      await expect(heartbeat(store, forged, T0 + k * (LEASE / 2))).rejects.toBeInstanceOf(QueueForbidden);
      await heartbeat(store, call(build, 'B'), T0 + k * (LEASE / 2)); // B itself stays alive
    }
    await heartbeat(store, call(build, 'B'), T0 + LEASE + 1);
    expect(await nextFile(store, { ...call(build, 'B'), finished: [] }, T0 + LEASE + 2)).toEqual({
      file: 'b.test.js', // A's file, handed to B because A itself went silent
    });
    // controls: a retried join with the job's own secret is fine, and so are its calls
    await joinQueue(store, joinOf(build, 'C'), T0 + LEASE + 3);
    await joinQueue(store, joinOf(build, 'C'), T0 + LEASE + 4);
    expect(await nextFile(store, { ...call(build, 'C'), finished: [] }, T0 + LEASE + 5)).toEqual({
      file: 'c.test.js',
    });
    // a secret too short (or none) is a malformed request
    await expect(heartbeat(store, { ...call(build, 'C'), secret: 'short' })).rejects.toThrow(
      /secret must be/,
    );
  });

  test('reporting a file another job leased, or one not leased at all, is a conflict that changes nothing', async () => {
    const build = newBuild();
    await joinQueue(store, joinOf(build, 'A'), T0);
    await joinQueue(store, joinOf(build, 'B'), T0);
    expect(await nextFile(store, { ...call(build, 'A'), finished: [] }, T0)).toEqual({ file: 'b.test.js' });
    await expect(nextFile(store, { ...call(build, 'B'), finished: ['b.test.js'] }, T0 + 1)).rejects.toThrow(
      /job B reports "b.test.js" finished, but that file is leased to job A/,
    );
    await expect(nextFile(store, { ...call(build, 'B'), finished: ['d.test.js'] }, T0 + 1)).rejects.toThrow(
      /"d.test.js" finished, but that file is queued, not leased to it/,
    );
    await expect(nextFile(store, { ...call(build, 'B'), finished: ['nope.js'] }, T0 + 1)).rejects.toThrow(
      /is not in the build/,
    );
    // nothing changed: b is still A's, and B has taken nothing
    expect(await queueStatus(store, 'billing', build)).toMatchObject({
      queued: 3,
      done: 0,
      jobs: [
        { job: 'A', leased: ['b.test.js'] },
        { job: 'B', leased: [] },
      ],
    });
    // control: A reports its own file, and again (a retried call), and it is done
    expect(await nextFile(store, { ...call(build, 'A'), finished: ['b.test.js'] }, T0 + 2)).toEqual({
      file: 'c.test.js',
    });
    await nextFile(store, { ...call(build, 'A'), finished: ['b.test.js', 'c.test.js'] }, T0 + 3);
    await expect(nextFile(store, { ...call(build, 'B'), finished: ['c.test.js'] }, T0 + 4)).rejects.toThrow(
      /was finished by job A/,
    );
    expect((await queueStatus(store, 'billing', build))?.done).toBe(2);
  });

  test('malformed joins are refused with the reason', async () => {
    const build = newBuild();
    await expect(joinQueue(store, { ...joinOf(build, 'A'), leaseMs: 10 }, T0)).rejects.toThrow(
      /leaseMs must be/,
    );
    await expect(joinQueue(store, joinOf(build, 'A', []), T0)).rejects.toThrow(/at least one/);
    await expect(joinQueue(store, joinOf(build, 'A', [FILES[0]!, FILES[0]!]), T0)).rejects.toThrow(/twice/);
    await expect(
      joinQueue(store, joinOf(build, 'A', [{ file: 'x', costMs: Number.NaN }]), T0),
    ).rejects.toThrow(/bad file entry/);
    await expect(joinQueue(store, { ...joinOf(build, 'A'), job: '' }, T0)).rejects.toThrow(/job must be/);
    expect(await queueStatus(store, 'billing', build)).toBeUndefined(); // nothing half created
  });

  test("retention drops the queues of builds older than the history's window", async () => {
    const [old, fresh] = [newBuild(), newBuild()];
    await joinQueue(store, joinOf(old, 'A'));
    await joinQueue(store, joinOf(fresh, 'A'));
    await store.query(`update queue_builds set created_at = now() - interval '40 days' where build = $1`, [
      old,
    ]);
    await pruneHistory(store, 30);
    expect(await queueStatus(store, 'billing', old)).toBeUndefined();
    expect((await queueStatus(store, 'billing', fresh))?.files).toBe(4);
  });

  test('over HTTP: a token for the service, 401 without one, 403 for another service, 409 when lost', async () => {
    const app = historyApp(store);
    const ingest = (await createToken(store, { scope: 'ingest', service: 'billing' })).token;
    const other = (await createToken(store, { scope: 'ingest', service: 'search' })).token;
    const post = (path: string, body: unknown, token?: string) =>
      app.request(`/api/v1/queue/${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    const build = newBuild();
    const join = { ...joinOf(build, 'A'), leaseMs: 1000 };
    expect((await post('join', join)).status).toBe(401);
    expect((await post('join', join, 'sft_not-a-token')).status).toBe(401);
    const refused = await post('join', join, other);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: 'this token is for search only, not billing' });
    expect((await post('join', join, ingest)).status).toBe(200);
    expect((await post('join', { ...join, leaseMs: 'soon' }, ingest)).status).toBe(400);
    const first = await post('next', { ...call(build, 'A'), finished: [] }, ingest);
    expect(await first.json()).toEqual({ file: 'b.test.js' });
    expect((await post('next', { ...call(build, 'stranger'), finished: [] }, ingest)).status).toBe(404);
    // the same service's token, another job's secret: 403; a file of A's reported by B: 409
    await post('join', { ...join, job: 'B', secret: secretOf('B') }, ingest);
    const forged = await post('next', { ...call(build, 'A'), secret: secretOf('B'), finished: [] }, ingest);
    expect(forged.status).toBe(403);
    expect(await forged.json()).toEqual({ error: expect.stringMatching(/joined with another secret/) });
    const stolen = await post('next', { ...call(build, 'B'), finished: ['b.test.js'] }, ingest);
    expect(stolen.status).toBe(409);
    expect(await stolen.json()).toMatchObject({
      error: expect.stringMatching(/leased to job A/),
      lost: false,
    });
    expect((await post('heartbeat', call(build, 'A'), ingest)).status).toBe(200); // the control
    await new Promise((done) => setTimeout(done, 1100)); // the real clock: A's 1 s lease runs out
    await post('join', { ...join, job: 'B', secret: secretOf('B') }, ingest);
    const lost = await post('heartbeat', call(build, 'A'), ingest);
    expect(lost.status).toBe(409);
    expect(await lost.json()).toMatchObject({ lost: true });
    expect((await post('bad-path', {}, ingest)).status).toBe(404);
  });
});
