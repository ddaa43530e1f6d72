// Compiles the native parts, each skipped when it is newer than its sources:
//   - seedfork-ns, the namespace helper (seedfork-ns.c, harden.c);
//   - seedfork-zygote.node, the process zygote (zygote.c, a Node-API addon that includes
//     seedfork-ns.c). It needs Node's headers (node_api.h: from Node's own include directory,
//     Debian's libnode-dev, or the node-api-headers package); without them it is left out and
//     the runner integrations start a fresh worker in each sandbox instead (they say so);
//   - seedfork-agent, the microvm guest's PID 1 (guest-agent.c), linked statically: it runs in
//     the guest before any root filesystem is mounted. Without a static libc (libc6-dev has it)
//     it is left out, and the microvm backend says so.
//
//   node native/build.mjs                          this machine's parts, into native/, with $CC or cc
//   node native/build.mjs --platform P --out DIR   platform P's parts into DIR (all three required)
//
// P is one of linux-x64-gnu, linux-arm64-gnu, linux-x64-musl, linux-arm64-musl, built with
// Debian's compilers: x86_64-linux-gnu-gcc (gcc), aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu,
// libc6-dev-arm64-cross), musl-gcc's specs (musl-tools) and, for arm64 musl, musl-dev:arm64
// unpacked under build/toolchains/ by scripts/cross-toolchains.sh. musl ships no kernel headers:
// the uapi ones (linux/, asm/, asm-generic/) come from the glibc toolchain of the same
// architecture, through a directory of links that holds nothing else.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const toolchains = join(here, '..', 'build', 'toolchains');
const flags = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter'];

/** How each platform's parts are compiled: the gcc of its architecture, and musl's sysroot. */
const TARGETS = {
  'linux-x64-gnu': { gcc: 'x86_64-linux-gnu-gcc' },
  'linux-arm64-gnu': { gcc: 'aarch64-linux-gnu-gcc' },
  'linux-x64-musl': {
    gcc: 'x86_64-linux-gnu-gcc',
    musl: 'x86_64-linux-musl',
    uapi: ['/usr/include', '/usr/include/x86_64-linux-gnu'],
  },
  'linux-arm64-musl': {
    gcc: 'aarch64-linux-gnu-gcc',
    musl: 'aarch64-linux-musl',
    uapi: ['/usr/aarch64-linux-gnu/include', '/usr/aarch64-linux-gnu/include'],
  },
};

const { values: options } = parseArgs({
  options: { platform: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
});
const target = options.platform ? TARGETS[options.platform] : undefined;
if (options.platform && !target) {
  fail(`unknown platform ${options.platform}: one of ${Object.keys(TARGETS).join(', ')}`);
}
const out = resolve(options.out ?? here);
mkdirSync(out, { recursive: true });
/** A cross build must produce every part: a package missing one would fail on its users' machines. */
const strict = Boolean(target);
const { cc, extra } = target
  ? toolchain(options.platform, target)
  : { cc: process.env.CC ?? 'cc', extra: [] };

function fail(message) {
  console.error(`seedfork: ${message}`);
  process.exit(1);
}

/** The compiler and the flags before the sources, for a cross build. */
function toolchain(platform, { gcc, musl, uapi }) {
  if (!musl) return { cc: gcc, extra: [] };
  // musl-gcc's own specs, from Debian's package (system-wide) or unpacked under build/toolchains/
  const sysroots = ['/', join(toolchains, musl)];
  const root = sysroots.find((dir) => existsSync(join(dir, 'usr/lib', musl, 'musl-gcc.specs')));
  if (!root) {
    fail(
      `no musl for ${platform}: install musl-tools (x64) or run scripts/cross-toolchains.sh (arm64), ` +
        `then build again`,
    );
  }
  const work = join(toolchains, `${platform}-build`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'uapi'), { recursive: true });
  const [generic, archSpecific] = uapi;
  symlinkSync(join(generic, 'linux'), join(work, 'uapi/linux'));
  symlinkSync(join(generic, 'asm-generic'), join(work, 'uapi/asm-generic'));
  symlinkSync(join(archSpecific, 'asm'), join(work, 'uapi/asm'));
  // the specs name /usr/... and /lib/...: point them into the sysroot (the dynamic linker keeps
  // its run-time path), and let the linker find libc.so where the arm64 package puts it
  let specs = readFileSync(join(root, 'usr/lib', musl, 'musl-gcc.specs'), 'utf8');
  if (root !== '/') {
    specs = specs
      .replaceAll(`/usr/lib/${musl}`, `${root}/usr/lib/${musl}`)
      .replaceAll(`/usr/include/${musl}`, `${root}/usr/include/${musl}`)
      .replace('*link_libgcc:\n', `*link_libgcc:\n-L${root}/lib/${musl} `);
  }
  writeFileSync(join(work, 'musl-gcc.specs'), specs);
  return { cc: gcc, extra: ['-specs', join(work, 'musl-gcc.specs'), '-isystem', join(work, 'uapi')] };
}

/** Whether `file` is missing or older than one of `inputs`. */
function stale(file, inputs) {
  if (options.force || !existsSync(file)) return true;
  const newest = Math.max(...inputs.map((f) => statSync(join(here, f)).mtimeMs));
  return statSync(file).mtimeMs < newest;
}

/** Compile; true when it succeeded. A missing compiler ends the build with what to install. */
function compile(file, args, { optional = false } = {}) {
  // a package's parts are stripped: its users have the sources, not a debugger's need for symbols
  const r = spawnSync(cc, [...flags, ...extra, ...(strict ? ['-s'] : []), '-o', file, ...args], {
    stdio: 'inherit',
    cwd: here,
  });
  if (r.error) {
    fail(
      `cannot compile ${file} with ${cc}: ${r.error.message}.\n` +
        (target
          ? 'Install the cross compilers: scripts/cross-toolchains.sh (needs root).'
          : 'Install a C compiler: apt-get install gcc (or set CC).'),
    );
  }
  if (r.status === 0) return true;
  if (!optional || strict) process.exit(r.status ?? 1);
  return false;
}

/** The directory holding node_api.h, or undefined. */
function nodeHeaders() {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  try {
    candidates.push(dirname(createRequire(import.meta.url).resolve('node-api-headers/include/node_api.h')));
  } catch {
    // not installed
  }
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
}

const helper = join(out, 'seedfork-ns');
if (stale(helper, ['seedfork-ns.c', 'harden.c', 'harden.h'])) compile(helper, ['seedfork-ns.c', 'harden.c']);

const zygote = join(out, 'seedfork-zygote.node');
if (stale(zygote, ['zygote.c', 'seedfork-ns.c', 'harden.c', 'harden.h'])) {
  const headers = nodeHeaders();
  if (headers) {
    compile(zygote, ['-shared', '-fPIC', '-Wno-unused-function', `-I${headers}`, 'zygote.c', 'harden.c']);
  } else if (strict) {
    fail('Node.js headers (node_api.h) not found: npm install node-api-headers');
  } else {
    console.error(
      'seedfork: Node.js headers (node_api.h) not found: the process zygote is left out, and the Jest ' +
        'runner starts a fresh worker in each sandbox (slower). Install them: npm install node-api-headers.',
    );
  }
}

const agent = join(out, 'seedfork-agent');
if (stale(agent, ['guest-agent.c']) && !compile(agent, ['-static', 'guest-agent.c'], { optional: true })) {
  console.error(
    'seedfork: cannot link the microvm guest agent statically: the microvm backend is left out. Install a static C library: apt-get install libc6-dev.',
  );
}
