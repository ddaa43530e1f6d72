import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { startHistoryServer } from './support/history-server.js';
import { makeProject, REPO } from './support/project.js';

const SAMPLE = join(REPO, 'test/fixtures/junit/jest-junit.xml');

describe('seedfork serve: the ingest API and its tokens', () => {
  test('a service token ingests for its service only; no token or a wrong one is refused; a server that is down is retried, then named', async () => {
    const dir = makeProject('history-server', { '.keep': '' });
    const token = async (args: string[]) => {
      const r = await runCli(dir, ['token', 'create', ...args]);
      expect(r.code, r.out).toBe(0);
      return r.out.split('\n')[0]!.trim();
    };
    const api = await token(['--service', 'api']);
    const web = await token(['--service', 'web']);
    expect(api).toMatch(/^sft_[\w-]{40,}$/);
    expect((await runCli(dir, ['token', 'create'])).out).toMatch(/needs --service/);

    const { server, url } = await startHistoryServer(dir);
    expect(url, server.output()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    try {
      const job = ['ingest', SAMPLE, '--service', 'api', '--build', '1', '--server', url, '--gate'];
      const first = await runCli(dir, job, { SEEDFORK_TOKEN: api });
      expect(first.code, first.out).toBe(1); // the sample has a failing test: the gate says so
      expect(first.out).toMatch(/stored 2 test result\(s\), 1 failed/);
      expect((await runCli(dir, job, { SEEDFORK_TOKEN: api })).out).toMatch(/already in the history/);
      // another service's token
      const wrong = await runCli(dir, job, { SEEDFORK_TOKEN: web });
      expect(wrong.code).toBe(2);
      expect(wrong.out).toMatch(/answered 403: this token may ingest for web only, not api/);
      // no token, an unknown token
      expect((await runCli(dir, job)).out).toMatch(/--server needs a token: set SEEDFORK_TOKEN/);
      expect((await runCli(dir, job, { SEEDFORK_TOKEN: 'sft_forged' })).out).toMatch(/answered 401/);
      // the same job with other reports: 409, the reason passed on
      const other = await runCli(
        dir,
        [...job.slice(0, 1), join(REPO, 'test/fixtures/junit/pytest.xml'), ...job.slice(2)],
        {
          SEEDFORK_TOKEN: api,
        },
      );
      expect(other.out).toMatch(/answered 409: .*--replace/);
      // reading: open to this machine
      const verdicts = (await (await fetch(`${url}/api/v1/flaky?since=3650d`)).json()) as {
        service: string;
      }[];
      expect(verdicts.length).toBe(2);
      expect(new Set(verdicts.map((v) => v.service))).toEqual(new Set(['api']));
      // a bad request body
      const bad = await fetch(`${url}/api/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api}` },
        body: 'not json',
      });
      expect(bad.status).toBe(400);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    // the server is gone: the client retries with backoff, then says what happened
    const started = Date.now();
    const down = await runCli(dir, [
      'ingest',
      SAMPLE,
      '--service',
      'api',
      '--build',
      '2',
      '--server',
      url,
      '--token',
      api,
    ]);
    expect(down.code).toBe(2);
    expect(down.out).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: .*gave up after 4 attempts/);
    expect(Date.now() - started).toBeGreaterThan(3000);
  });
});
