import { describe, expect, test } from 'vitest';
import { hostingRuledOut, type VitestProjectConfig } from './host.js';
import { workerEnv } from './worker-process.js';

describe('workerEnv', () => {
  const host = {
    PATH: '/usr/bin',
    DATABASE_URL: 'postgres://host/dev',
    REMOVED: 'x',
    NODE_ENV: 'development',
  };
  // what Vitest hands its workers: its process's environment, its own variables, the config's test.env
  const vitest = { ...host, VITEST: 'true', TEST: 'true', FROM_CONFIG: 'yes' };
  // the sandbox: its Postgres, and REMOVED dropped by test.env (false)
  const lease = {
    PATH: '/usr/bin',
    DATABASE_URL: 'postgres://sandbox/app',
    NODE_ENV: 'development',
    SEEDFORK_SANDBOX_ID: 'ab12cd34',
  };

  test("the sandbox's values win over the host's that Vitest copied, and what Vitest or its config set stays", () => {
    expect(workerEnv(lease, vitest, host)).toEqual({
      PATH: '/usr/bin',
      DATABASE_URL: 'postgres://sandbox/app',
      NODE_ENV: 'development',
      SEEDFORK_SANDBOX_ID: 'ab12cd34',
      VITEST: 'true',
      TEST: 'true',
      FROM_CONFIG: 'yes',
    });
  });

  test("a config value that differs from the host's wins over the sandbox's", () => {
    expect(workerEnv(lease, { ...vitest, DATABASE_URL: 'postgres://config/x' }, host).DATABASE_URL).toBe(
      'postgres://config/x',
    );
  });
});

describe('hostingRuledOut', () => {
  const config: VitestProjectConfig = {
    root: '/p',
    pool: 'forks',
    isolate: true,
    maxWorkers: 2,
    globalSetup: [],
  };
  const project = (over: Partial<VitestProjectConfig>) => ({ name: '', config: { ...config, ...over } });

  test('a single project on forks, threads or the seedfork pool can be hosted', () => {
    for (const pool of ['forks', 'threads', 'seedfork'])
      expect(hostingRuledOut({ projects: [project({ pool })] })).toBeUndefined();
  });

  test("what must run in Vitest's main process inside the sandbox, or runs differently in a forks worker, is ruled out", () => {
    expect(hostingRuledOut({ projects: [project({}), project({})] })).toBe('the config has several projects');
    expect(hostingRuledOut({ projects: [project({ globalSetup: ['/p/setup.ts'] })] })).toMatch(/globalSetup/);
    expect(hostingRuledOut({ projects: [project({ browser: { enabled: true } })] })).toBe(
      'browser mode is on',
    );
    expect(hostingRuledOut({ projects: [project({ typecheck: { enabled: true } })] })).toBe(
      'typecheck is on',
    );
    expect(hostingRuledOut({ projects: [project({ coverage: { enabled: true } })] })).toBe('coverage is on');
    expect(hostingRuledOut({ projects: [project({ pool: 'vmThreads' })] })).toBe(
      "the config's pool is 'vmThreads'",
    );
  });
});
