// Compiles the namespace helper (native/seedfork-ns.c and harden.c) with the system C compiler.
// Skips the work when the binary is newer than its sources.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sources = ['seedfork-ns.c', 'harden.c'].map((f) => join(here, f));
const headers = ['harden.h'].map((f) => join(here, f));
const out = join(here, 'seedfork-ns');
const newest = Math.max(...[...sources, ...headers].map((f) => statSync(f).mtimeMs));
if (existsSync(out) && statSync(out).mtimeMs >= newest) process.exit(0);
const cc = process.env.CC ?? 'cc';
const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-o', out, ...sources], {
  stdio: 'inherit',
});
if (r.error) {
  console.error(
    `seedfork: cannot compile native/seedfork-ns.c: ${r.error.message}.\n` +
      'Install a C compiler: apt-get install gcc (or set CC).',
  );
  process.exit(1);
}
process.exit(r.status ?? 1);
