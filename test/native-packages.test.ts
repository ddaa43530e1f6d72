import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PREBUILT_PLATFORMS } from '../src/sandbox/native-parts.js';
import { binaryPlatform } from '../src/sandbox/native-platform.js';
import { runChecked } from './support/command.js';
import { REPO } from './support/project.js';

/**
 * The per-platform native packages (scripts/pack.mjs): each platform's parts are built by
 * native/build.mjs with Debian's cross compilers and musl, are for that platform (ELF machine,
 * dynamic loader, the libc a shared object needs), and run: the x64 ones here, the arm64 ones
 * under qemu-user — the helper lists the same refused calls whatever its libc, the glibc addon
 * loads into an official arm64 Node, and a musl addon needs nothing but musl and Node's own
 * napi_/uv_ functions (a musl Node is not published on the npm registry).
 */
const TOOLS = ['aarch64-linux-gnu-gcc', 'musl-gcc', 'qemu-aarch64-static'];
const MUSL_ARM64 = join(REPO, 'build/toolchains/aarch64-linux-musl');
const missing = [
  ...TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0),
  ...(spawnSync('test', ['-e', join(MUSL_ARM64, 'lib/ld-musl-aarch64.so.1')]).status === 0
    ? []
    : ['musl for arm64']),
];
if (missing.length)
  console.warn(
    `skipping the native-package tests: ${missing.join(', ')} missing (run scripts/cross-toolchains.sh as root)`,
  );

/** How to run each platform's binaries on this x86-64 machine, and musl's dynamic loader. */
const RUN: Record<string, { prefix: string[]; loader?: string }> = {
  'linux-x64-gnu': { prefix: [] },
  'linux-x64-musl': { prefix: [], loader: '/lib/ld-musl-x86_64.so.1' },
  'linux-arm64-gnu': { prefix: ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'] },
  'linux-arm64-musl': {
    prefix: ['qemu-aarch64-static', '-L', MUSL_ARM64],
    loader: join(MUSL_ARM64, 'lib/ld-musl-aarch64.so.1'),
  },
};

function run(platform: string, argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const [command, ...args] = [...RUN[platform]!.prefix, ...argv];
  return spawnSync(command!, args, { encoding: 'utf8' });
}

describe.skipIf(missing.length > 0)('per-platform native packages', () => {
  let out: string;
  const dir = (platform: string) => join(out, platform);
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'seedfork-native-'));
    for (const platform of PREBUILT_PLATFORMS) {
      await runChecked(process.execPath, [
        join(REPO, 'native/build.mjs'),
        '--platform',
        platform,
        '--out',
        dir(platform),
      ]);
    }
  }, 120_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test.each(PREBUILT_PLATFORMS)('%s: every part is built for that platform', (platform) => {
    expect(readdirSync(dir(platform)).sort()).toEqual([
      'seedfork-agent',
      'seedfork-ns',
      'seedfork-zygote.node',
    ]);
    for (const part of ['seedfork-ns', 'seedfork-zygote.node', 'seedfork-agent']) {
      // the agent is static: its libc is whatever the judge assumes, so judge it from both sides
      const path = join(dir(platform), part);
      expect(binaryPlatform(path, 'linux-x64-gnu'), part).toBe(
        part === 'seedfork-agent' ? `${platform.split('-').slice(0, 2).join('-')}-gnu` : platform,
      );
    }
  });

  test.each(PREBUILT_PLATFORMS)(
    '%s: the helper runs and refuses the same calls as this machine’s',
    (platform) => {
      const listed = run(platform, [join(dir(platform), 'seedfork-ns'), 'syscalls']);
      expect(listed.status, listed.stderr).toBe(0);
      const calls = listed.stdout.trim().split('\n');
      // the calls every architecture has (x86-64 adds its legacy ones: iopl, uselib, _sysctl…)
      for (const call of [
        'mount',
        'pivot_root',
        'bpf',
        'perf_event_open',
        'userfaultfd',
        'quotactl_fd',
        'kexec_load',
      ])
        expect(calls, call).toContain(call);
      const sameArch = PREBUILT_PLATFORMS.find(
        (p) => p !== platform && p.split('-')[1] === platform.split('-')[1],
      )!;
      const other = run(sameArch, [join(dir(sameArch), 'seedfork-ns'), 'syscalls']);
      expect(calls, `${platform} vs ${sameArch}`).toEqual(other.stdout.trim().split('\n'));
    },
  );

  test('the arm64 glibc addon loads into an official arm64 Node (under qemu-user)', async () => {
    const bin = (
      await runChecked('bash', [join(REPO, 'scripts/node-version.sh'), '24', 'arm64'])
    ).stdout.trim();
    const loaded = run('linux-arm64-gnu', [
      join(bin, 'node'),
      '-p',
      `process.arch + ' ' + Object.keys(require(${JSON.stringify(join(dir('linux-arm64-gnu'), 'seedfork-zygote.node'))})).join(',')`,
    ]);
    expect(loaded.status, loaded.stderr).toBe(0);
    expect(loaded.stdout.trim()).toBe('arm64 serve,exit');
  }, 120_000);

  test.each(['linux-x64-musl', 'linux-arm64-musl'])(
    '%s: the addon needs musl’s libc and nothing but Node’s own functions besides',
    (platform) => {
      const loader = RUN[platform]!.loader!;
      const listed = run(platform, [loader, '--list', join(dir(platform), 'seedfork-zygote.node')]);
      const output = listed.stdout + listed.stderr;
      expect(output).toMatch(/libc\.so => .*ld-musl-/);
      const unresolved = [...output.matchAll(/Error relocating [^:]+: (\S+): symbol not found/g)].map(
        (m) => m[1]!,
      );
      expect(unresolved).toContain('napi_create_function');
      expect(unresolved.filter((symbol) => !/^(napi_|uv_)/.test(symbol))).toEqual([]);
      // a glibc build names glibc's libc, which a musl system (without gcompat) does not have
      const gnu = platform.replace('musl', 'gnu');
      const glibc = run(platform, [loader, '--list', join(dir(gnu), 'seedfork-zygote.node')]);
      expect(glibc.stdout + glibc.stderr).toMatch(/libc\.so\.6 =>/);
    },
  );
});
