import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { ProcessZygote, processZygoteUnavailable } from '../src/sandbox/namespace/process-zygote.js';
import type { Sandbox, Snapshot, SpawnedProcess } from '../src/sandbox/types.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

const unavailable = processZygoteUnavailable();
if (!isRoot) console.warn('skipping the process zygote tests: sandboxes need root');
else if (unavailable) console.warn(`skipping the process zygote tests: ${unavailable}`);

const PROGRAM = join(REPO, 'test/fixtures/zygote/program.cjs');
const HOST_FILE = '/tmp/seedfork-zygote-test-host-file';

interface Report {
  pid: number;
  hostname: string;
  cwd: string;
  env: Record<string, string>;
  uid: number;
  greeting: string;
  random: [number, number];
  fds: Record<string, string>;
  zygote: string;
  heldOpen: number;
  hostFileSeen: boolean;
}

/** Send the fork its command; resolve with its exit code, what it answered and its stderr. */
async function obey(
  child: SpawnedProcess,
  command: string,
): Promise<{ code: number | null; answer: string; stderr: string }> {
  const channel = child.stdio[3] as Socket;
  let answer = '';
  let stderr = '';
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => (answer += chunk));
  // a fork killed before it reads the command resets its channel (EPIPE, as a child's pipe
  // would): its exit code says so, and an unheard stream error would end vitest's worker
  channel.on('error', () => {});
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk));
  channel.write(`${command}\n`);
  const code = await new Promise<number | null>((done) =>
    child.exitCode !== null ? done(child.exitCode) : child.on('exit', (c) => done(c)),
  );
  await new Promise((done) => setTimeout(done, 50)); // the last output, after the exit line
  return { code, answer, stderr };
}

describe.skipIf(!isRoot || unavailable !== undefined)(
  'the process zygote (a Node program forked into sandboxes)',
  () => {
    const stateDir = join(REPO, 'test-output', 'state-process-zygote');
    const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIVEN: 'yes' };
    let before: HostState;
    let snapshot: Snapshot;
    let zygote: ProcessZygote;

    beforeAll(async () => {
      rmSync(stateDir, { recursive: true, force: true });
      writeFileSync(HOST_FILE, 'host only\n');
      before = hostState();
      snapshot = await backend.createSnapshot({ key: 'zygote-snapshot', build: async () => {} });
      zygote = await ProcessZygote.start([process.execPath, PROGRAM], {
        cwd: REPO,
        env: { ...env, ZYGOTE_ONLY: 'secret-of-the-zygote' },
        input: JSON.stringify({ greeting: 'set up once', hostFile: HOST_FILE }),
      });
    });

    afterAll(async () => {
      await zygote?.close();
      await expectHostClean(before);
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(HOST_FILE, { force: true });
    });

    test('forks run inside their sandboxes with the given environment, their own random state and no fd of the host', async () => {
      const sandboxes: Sandbox[] = [await backend.fork(snapshot), await backend.fork(snapshot)];
      try {
        const reports = await Promise.all(
          sandboxes.map(async (sb) => {
            const child = sb.spawnFrom!(zygote, { cwd: join(REPO, 'test'), env });
            const { code, answer, stderr } = await obey(child, 'report');
            expect(code, stderr).toBe(0);
            return JSON.parse(answer) as Report;
          }),
        );
        for (const [i, report] of reports.entries()) {
          expect(report.greeting).toBe('set up once'); // the zygote's state, set up before the fork
          expect(report.hostname).toBe(`sf-${sandboxes[i]!.id}`);
          expect(report.pid).toBeLessThan(10); // the sandbox's PID namespace
          expect(report.cwd).toBe(join(REPO, 'test'));
          expect(report.env).toEqual(env); // exactly what was given: not the zygote's own
          expect(report.uid).toBe(0);
          // the zygote's socket is in the host's network namespace, out of reach
          expect(report.zygote).toMatch(/ECONNREFUSED|ENOENT/);
          // a host file the zygote held open is closed in the fork, and /tmp is the sandbox's own
          expect(Object.keys(report.fds)).not.toContain(String(report.heldOpen));
          expect(report.hostFileSeen).toBe(false);
          // above stdio and the channel: only the event loop's own (epoll, eventfd, pipes)
          for (const [fd, link] of Object.entries(report.fds)) {
            if (Number(fd) > 3) expect(link, `fd ${fd}`).toMatch(/^(anon_inode:|pipe:)/);
          }
          expect(report.fds['3']).toMatch(/^socket:/);
        }
        // Math.random of the main context and of a new context (a test file's) differ per fork
        expect(reports[0]!.random[0]).not.toBe(reports[1]!.random[0]);
        expect(reports[0]!.random[1]).not.toBe(reports[1]!.random[1]);
        // what a fork wrote stays in its sandbox
        expect(existsSync('/tmp/written-by-fork')).toBe(false);
        expect((await sandboxes[0]!.readFile('/tmp/written-by-fork'))?.toString()).toBeTruthy();
      } finally {
        await Promise.all(sandboxes.map((sb) => sb.kill()));
      }
    });

    test("a fork's exit code, uncaught exception and kill come back as a process's do", async () => {
      const sb = await backend.fork(snapshot);
      try {
        const exited = await obey(sb.spawnFrom!(zygote, { env }), 'exit 7');
        expect(exited.code).toBe(7);
        const thrown = await obey(sb.spawnFrom!(zygote, { env }), 'throw');
        expect(thrown.code).toBe(1);
        expect(thrown.stderr).toContain('Error: thrown in the fork');
        const hanging = sb.spawnFrom!(zygote, { env });
        const killed = obey(hanging, 'hang');
        await new Promise((done) => setTimeout(done, 200));
        expect(hanging.kill('SIGKILL')).toBe(true);
        expect((await killed).code).toBe(128 + 9);
      } finally {
        await sb.kill();
      }
    });

    test('killing the sandbox ends its fork, and closing the zygote ends the forks still running', async () => {
      const sb = await backend.fork(snapshot);
      const other = await backend.fork(snapshot);
      const inKilled = sb.spawnFrom!(zygote, { env });
      const running = obey(inKilled, 'hang');
      await new Promise((done) => setTimeout(done, 200));
      await sb.kill();
      expect((await running).code).not.toBe(0);

      const second = await ProcessZygote.start([process.execPath, PROGRAM], {
        cwd: REPO,
        env,
        input: JSON.stringify({ greeting: 'second', hostFile: HOST_FILE }),
      });
      const orphan = second.fork(['--pid', '0']); // a bad request: its helper fails, the zygote goes on
      const child = other.spawnFrom!(second, { env });
      const hanging = obey(child, 'hang');
      await new Promise((done) => setTimeout(done, 200));
      expect(child.exitCode).toBeNull();
      await second.close();
      expect((await hanging).code).not.toBeNull();
      expect(orphan.exitCode).not.toBe(0);
      expect(second.unusable).toMatch(/exited/);
      expect(() => second.fork([])).toThrow(/exited/);
      await other.kill();
    });

    test('the program is started within the call, before the caller goes on (its socket is listening by then)', async () => {
      const childrenRunningProgram = () =>
        readdirSync('/proc')
          .filter((pid) => /^\d+$/.test(pid))
          .filter((pid) => {
            try {
              const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
              const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
              return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(PROGRAM);
            } catch {
              return false; // exited meanwhile
            }
          });
      const before = childrenRunningProgram().length;
      // the caller's next work (the Jest runner imports the rest of seedfork) must not delay it
      const starting = ProcessZygote.start([process.execPath, PROGRAM], {
        cwd: REPO,
        env,
        input: JSON.stringify({ greeting: 'early', hostFile: HOST_FILE }),
      });
      expect(childrenRunningProgram().length).toBe(before + 1);
      const early = await starting;
      const sandbox = await backend.fork(snapshot);
      try {
        const { answer } = await obey(sandbox.spawnFrom!(early, { cwd: '/', env }), 'report');
        expect((JSON.parse(answer) as Report).greeting).toBe('early');
      } finally {
        await sandbox.kill();
        await early.close();
      }
    });

    test('a zygote whose program cannot start says so when asked to fork, and closes at once', async () => {
      const broken = await ProcessZygote.start(['/nonexistent/node', PROGRAM], {
        cwd: REPO,
        env,
        input: '{}',
      });
      await new Promise((done) => setTimeout(done, 200));
      expect(broken.unusable).toMatch(/could not be started: .*ENOENT/);
      expect(() => broken.fork([])).toThrow(/could not be started/);
      await broken.close();
    });
  },
);
