import { describe, expect, test } from 'vitest';
import { filterHostEnv, withheldNotice } from './host-env.js';

const HOST = {
  PATH: '/usr/bin:/bin',
  HOME: '/root',
  CI: 'true',
  LANG: 'C.UTF-8',
  NODE_OPTIONS: '--max-old-space-size=4096',
  JEST_WORKER_ID: '1',
  VITEST_POOL_ID: '1',
  GITHUB_ACTIONS: 'true',
  GIT_AUTHOR_NAME: 'someone',
  KEYBOARD: 'us',
  SEEDFORK_TOKEN: 't',
  SEEDFORK_DB: 'postgres://u:p@h/db',
  GITHUB_TOKEN: 'g',
  github_token: 'lower',
  NPM_TOKEN: 'n',
  AWS_ACCESS_KEY_ID: 'a',
  AWS_SECRET_ACCESS_KEY: 's',
  AWS_SESSION_TOKEN: 'st',
  AWS_REGION: 'eu-west-1',
  GOOGLE_APPLICATION_CREDENTIALS: '/k.json',
  AZURE_CLIENT_SECRET: 'az',
  STRIPE_API_KEY: 'sk',
  DB_PASSWORD: 'pw',
  SIGNING_KEY: 'k',
  NPM_CONFIG__AUTH: 'x',
  SSH_AUTH_SOCK: '/run/ssh.sock',
};

describe('filterHostEnv', () => {
  test('withholds secret-looking names and seedfork credentials, keeps what suites need', () => {
    const { env, withheld } = filterHostEnv(HOST);
    expect(withheld).toEqual(
      [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'AZURE_CLIENT_SECRET',
        'DB_PASSWORD',
        'GITHUB_TOKEN',
        'GOOGLE_APPLICATION_CREDENTIALS',
        'NPM_CONFIG__AUTH',
        'NPM_TOKEN',
        'SEEDFORK_DB',
        'SEEDFORK_TOKEN',
        'SIGNING_KEY',
        'SSH_AUTH_SOCK',
        'STRIPE_API_KEY',
        'github_token',
      ].sort(),
    );
    // controls: the same filter keeps the ordinary ones, with their values
    for (const name of ['PATH', 'HOME', 'CI', 'LANG', 'NODE_OPTIONS', 'JEST_WORKER_ID', 'VITEST_POOL_ID'])
      expect(env[name]).toBe(HOST[name as keyof typeof HOST]);
    for (const name of ['GITHUB_ACTIONS', 'GIT_AUTHOR_NAME', 'KEYBOARD', 'AWS_REGION'])
      expect(env).toHaveProperty(name);
  });

  test('pass lets a secret-looking name through, never seedfork credentials; deny withholds more', () => {
    const { env, withheld } = filterHostEnv(HOST, {
      pass: ['NPM_TOKEN', 'SEEDFORK_*', 'aws_*'],
      deny: ['GIT_*'],
    });
    expect(env.NPM_TOKEN).toBe('n');
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('s');
    expect(env).not.toHaveProperty('SEEDFORK_TOKEN');
    expect(env).not.toHaveProperty('SEEDFORK_DB');
    expect(withheld).toContain('GIT_AUTHOR_NAME');
    expect(withheld).not.toContain('NPM_TOKEN');
    expect(env.GITHUB_ACTIONS).toBe('true');
  });

  test('pass: ["*"] lets everything through but seedfork credentials', () => {
    const { withheld } = filterHostEnv(HOST, { pass: ['*'], deny: [] });
    expect(withheld).toEqual(['SEEDFORK_DB', 'SEEDFORK_TOKEN']);
  });
});

describe('withheldNotice', () => {
  test('names the withheld variables, how to pass them, and seedfork credentials apart', () => {
    expect(withheldNotice([])).toBeUndefined();
    expect(withheldNotice(['GITHUB_TOKEN', 'SEEDFORK_TOKEN'])).toBe(
      "withheld from the tests: GITHUB_TOKEN (their names look like secrets: list those the tests need in sandbox.env.pass); SEEDFORK_TOKEN (seedfork's own, never passed)",
    );
  });
});
