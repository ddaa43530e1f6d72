import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { hostPlatform } from '../src/sandbox/native-platform.js';
import { runChecked, runCommand } from './support/command.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';
import { startRegistry } from './support/registry.js';

/**
 * What a new user does: the bundled example copied out of the repository as a project of their
 * own, seedfork installed into it as npm would from the registry, then `npx seedfork init` and
 * `npx seedfork run` with no edit in between, on the machine's Node and on Node 24 (an official
 * binary from the npm registry), with no C compiler on PATH.
 *
 * The packages are what scripts/pack.mjs makes for publishing: seedfork, and one package of
 * native parts per platform that seedfork names as optional dependencies. The platform packages
 * are served by a registry on 127.0.0.1 (the @seedfork scope only, through the project's
 * .npmrc), so that npm itself picks the one for this machine by its os, cpu and libc.
 */
if (!isRoot) console.warn('skipping the packed-package test: sandboxes need root (run the suite as root)');

/** Names of C compilers and build tools: none of them may be needed to install seedfork. */
const COMPILER =
  /^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|clang\+\+|tcc|make|musl-gcc)(-[\d.]+)?$|-(gcc|g\+\+|cc)(-[\d.]+)?$/;

/** A directory of links to every program on `path` except the compilers, to use as PATH. */
function pathWithoutCompilers(path: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const linked = new Set<string>();
  for (const from of path.split(':').filter(Boolean)) {
    if (!existsSync(from)) continue;
    for (const name of readdirSync(from)) {
      if (COMPILER.test(name) || linked.has(name)) continue;
      try {
        accessSync(join(from, name), constants.X_OK);
      } catch {
        continue;
      }
      symlinkSync(join(from, name), join(dir, name));
      linked.add(name);
    }
  }
  return dir;
}

describe.skipIf(!isRoot)('the packed packages in a fresh project', () => {
  let before: HostState;
  let work: string;
  let tarballs: Record<string, string>;
  let registry: { url: string; server: Server };
  let node24: string;
  beforeAll(async () => {
    before = hostState();
    work = mkdtempSync(join(tmpdir(), 'seedfork-package-'));
    const packed = await runChecked(process.execPath, [
      join(REPO, 'scripts/pack.mjs'),
      '--out',
      join(work, 'npm'),
    ]);
    tarballs = JSON.parse(packed.stdout);
    registry = await startRegistry(
      Object.entries(tarballs)
        .filter(([name]) => name.startsWith('@seedfork/'))
        .map(([name, tarball]) => ({
          manifest: JSON.parse(readFileSync(join(work, 'npm', name, 'package.json'), 'utf8')),
          tarball,
        })),
    );
    node24 = (await runChecked('bash', [join(REPO, 'scripts/node-version.sh'), '24'])).stdout.trim();
  }, 300_000);
  afterAll(async () => {
    registry?.server.close();
    rmSync(work, { recursive: true, force: true });
    await expectHostClean(before);
  });

  /** examples/todo-api copied out as `name`, its dependencies installed, seedfork not yet. */
  async function project(name: string, env: NodeJS.ProcessEnv, npmFlags: string[] = []): Promise<string> {
    const dir = join(work, name);
    cpSync(join(REPO, 'examples/todo-api'), dir, {
      recursive: true,
      filter: (src) => !/\/(node_modules|\.seedfork)(\/|$)|seedfork\.config\.ts$/.test(src),
    });
    writeFileSync(join(dir, '.npmrc'), `@seedfork:registry=${registry.url}/\n`);
    const npm = ['--no-audit', '--no-fund', '--loglevel=error', ...npmFlags];
    await runChecked('npm', ['install', ...npm], { cwd: dir, env });
    await runChecked('npm', ['install', '--save-dev', ...npm, tarballs.seedfork!], { cwd: dir, env });
    return dir;
  }

  test.each([
    ['the machine’s Node', undefined],
    ['Node 24', 'node24'],
  ])(
    'examples/todo-api as a new project: npm install -D seedfork with no compiler, init, run passes (%s)',
    async (label, which) => {
      const bin = pathWithoutCompilers(
        `${which ? `${node24}:` : ''}${process.env.PATH}`,
        join(work, `bin-${which ?? 'default'}`),
      );
      const { CC: _cc, CXX: _cxx, ...rest } = process.env;
      const env = { ...rest, PATH: bin, CI: 'true' };
      const noCompiler = await runCommand(
        'sh',
        ['-c', 'command -v cc || command -v gcc || command -v make'],
        {
          env,
        },
      );
      expect(noCompiler.code, noCompiler.out).not.toBe(0);
      const dir = await project(`todo-api-${which ?? 'default'}`, env);
      const version = await runChecked('node', ['--version'], { cwd: dir, env });
      if (which) expect(version.stdout).toMatch(/^v24\./);
      // npm chose this machine's package by its os, cpu and libc, and only that one
      expect(readdirSync(join(dir, 'node_modules/@seedfork')), label).toEqual([hostPlatform()]);
      expect(
        readdirSync(join(dir, 'node_modules/seedfork/native')).filter((f) => !/\.(c|h|mjs)$/.test(f)),
      ).toEqual([]);
      const init = await runCommand('npx', ['seedfork', 'init'], { cwd: dir, env });
      expect(init.code, init.out).toBe(0);
      expect(init.out).toMatch(/service: postgres/);
      const run = await runCommand('npx', ['seedfork', 'run'], { cwd: dir, env });
      expect(run.code, run.out).toBe(0);
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      expect(result.summary.failed).toBe(0);
      expect(result.summary.passed).toBeGreaterThanOrEqual(18);
    },
  );

  test('installed without optional dependencies, run names the missing package and how to get it', async () => {
    const env = { ...process.env, CI: 'true' };
    const dir = await project('todo-api-omit-optional', env, ['--omit=optional']);
    expect(existsSync(join(dir, 'node_modules/@seedfork'))).toBe(false);
    await runChecked('npx', ['seedfork', 'init'], { cwd: dir, env });
    const run = await runCommand('npx', ['seedfork', 'run'], { cwd: dir, env });
    expect(run.code, run.out).not.toBe(0);
    expect(run.out).toContain(`native seedfork-ns for this machine (${hostPlatform()}) is not installed`);
    expect(run.out).toContain(`@seedfork/${hostPlatform()}`);
    expect(run.out).toContain('--omit=optional');
    expect(run.out).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});
