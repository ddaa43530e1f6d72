import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { type HostFacts, restrictionError } from '../src/sandbox/namespace/restrictions.js';
import { runChecked, runCommand } from './support/command.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { CLI, makeProject, REPO } from './support/project.js';

/**
 * Where users' CI runs, sandboxes can be refused in three ways; preflight must name which, and
 * the fix. Two are simulated here for real, on seedfork's own CLI: a container's root without
 * CAP_SYS_ADMIN (setpriv drops it from the bounding set, as Docker's default does) and a seccomp
 * filter refusing unshare(2) and namespace clones (a runtime's default profile; a small program
 * of this test's installs it). The sysctls (AppArmor's, Ubuntu 24.04's default on GitHub's
 * runners; Debian's unprivileged_userns_clone) are not in this kernel, so their wording is
 * checked on the facts a machine with them would give.
 */
const facts = (over: Partial<HostFacts>): HostFacts => ({
  uid: 1001,
  capSysAdmin: false,
  seccompFilters: 0,
  probe: { ok: false, error: 'unshare: write failed /proc/self/uid_map: Operation not permitted' },
  ...over,
});

describe('the restriction that refuses sandboxes is named, with its fix', () => {
  test('AppArmor’s restriction of unprivileged user namespaces (GitHub-hosted Ubuntu 24.04)', () => {
    const error = restrictionError(facts({ apparmorRestrict: 1, maxUserNs: 63_000 }))!;
    expect(error.message).toMatch(
      /AppArmor restricts unprivileged user namespaces .*apparmor_restrict_unprivileged_userns = 1/,
    );
    expect(error.hint).toContain('sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0');
    expect(error.hint).toContain('sudo -E npx seedfork run');
    expect(error.hint).toMatch(/--isolation microvm .*--isolation none \(no sandboxes/);
  });

  test.each([
    [{ unprivilegedClone: 0 }, 'kernel.unprivileged_userns_clone = 0', 'kernel.unprivileged_userns_clone=1'],
    [{ maxUserNs: 0 }, 'user.max_user_namespaces = 0', 'user.max_user_namespaces=15000'],
  ])('a kernel that disables unprivileged user namespaces (%o)', (over, named, fix) => {
    const error = restrictionError(facts(over))!;
    expect(error.message).toContain(named);
    expect(error.hint).toContain(`sudo sysctl -w ${fix}`);
  });

  test('a probe that made the namespaces is no restriction, whatever the sysctls say', () => {
    expect(restrictionError(facts({ apparmorRestrict: 1, probe: { ok: true } }))).toBeUndefined();
  });
});

if (!isRoot)
  console.warn('skipping the simulated CI restrictions: they start as root and take privileges away');

describe.skipIf(!isRoot)('seedfork run under a simulated CI restriction', () => {
  let before: HostState;
  let noUnshare: string;
  let dir: string;
  beforeAll(async () => {
    before = hostState();
    noUnshare = join(REPO, 'test-output', `no-unshare-${process.pid}`);
    await runChecked('cc', [
      '-O2',
      '-Wall',
      '-o',
      noUnshare,
      join(REPO, 'test/fixtures/restrictions/no-unshare.c'),
    ]);
    dir = makeProject('restricted', {
      'seedfork.config.mjs': "export default { test: { include: ['*.test.js'] } };\n",
      'a.test.js': "import { test } from 'node:test';\ntest('runs', () => {});\n",
    });
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  const seedfork = (wrapper: string[], args: string[] = ['run']) =>
    runCommand(wrapper[0]!, [...wrapper.slice(1), process.execPath, CLI, ...args], {
      cwd: dir,
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    });

  test('root without CAP_SYS_ADMIN (a Docker or GitLab Docker-executor container): named, with --privileged', async () => {
    const r = await seedfork(['setpriv', '--bounding-set=-sys_admin', '--inh-caps=-sys_admin']);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(/seedfork runs as root without CAP_SYS_ADMIN/);
    expect(r.out).toMatch(/hint: .*docker run --privileged .*privileged = true under \[runners\.docker\]/);
    expect(r.out).toMatch(/--isolation microvm .*--isolation none/);
    expect(r.out).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, '.seedfork/results.json'))).toBe(false);
  });

  test('a seccomp filter refusing unshare: named, with the profile to use; --isolation none still runs', async () => {
    const r = await seedfork([noUnshare]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(/a seccomp filter refuses this process the calls that create namespaces/);
    expect(r.out).toMatch(/hint: Run the job container with --security-opt seccomp=unconfined/);
    const none = await seedfork([noUnshare], ['run', '--isolation', 'none']);
    expect(none.code, none.out).toBe(0);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(result.isolation).toBe('none');
  });
});
