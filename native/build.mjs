// Compiles the native parts with the system C compiler, each skipped when it is newer than its
// sources:
//   - seedfork-ns, the namespace helper (seedfork-ns.c, harden.c);
//   - seedfork-zygote.node, the process zygote (zygote.c, a Node-API addon that includes
//     seedfork-ns.c). It needs Node's headers (node_api.h: from Node's own include directory,
//     Debian's libnode-dev, or the node-api-headers package); without them it is left out and
//     the runner integrations start a fresh worker in each sandbox instead (they say so);
//   - seedfork-agent, the microvm guest's PID 1 (guest-agent.c), linked statically: it runs in
//     the guest before any root filesystem is mounted. Without a static libc (libc6-dev has it)
//     it is left out, and the microvm backend says so.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cc = process.env.CC ?? 'cc';
const flags = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter'];

/** Whether `out` is missing or older than one of `inputs`. */
function stale(out, inputs) {
  if (!existsSync(out)) return true;
  const newest = Math.max(...inputs.map((f) => statSync(join(here, f)).mtimeMs));
  return statSync(out).mtimeMs < newest;
}

function compile(out, args) {
  const r = spawnSync(cc, [...flags, '-o', out, ...args], { stdio: 'inherit', cwd: here });
  if (r.error) {
    console.error(
      `seedfork: cannot compile ${out}: ${r.error.message}.\nInstall a C compiler: apt-get install gcc (or set CC).`,
    );
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
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

const helper = join(here, 'seedfork-ns');
if (stale(helper, ['seedfork-ns.c', 'harden.c', 'harden.h'])) compile(helper, ['seedfork-ns.c', 'harden.c']);

const zygote = join(here, 'seedfork-zygote.node');
if (stale(zygote, ['zygote.c', 'seedfork-ns.c', 'harden.c', 'harden.h'])) {
  const headers = nodeHeaders();
  if (headers) {
    compile(zygote, ['-shared', '-fPIC', '-Wno-unused-function', `-I${headers}`, 'zygote.c', 'harden.c']);
  } else {
    console.error(
      'seedfork: Node.js headers (node_api.h) not found: the process zygote is left out, and the Jest ' +
        'runner starts a fresh worker in each sandbox (slower). Install them: npm install node-api-headers.',
    );
  }
}

const agent = join(here, 'seedfork-agent');
if (stale(agent, ['guest-agent.c'])) {
  const r = spawnSync(cc, [...flags, '-static', '-o', agent, 'guest-agent.c'], {
    stdio: 'inherit',
    cwd: here,
  });
  if (r.status !== 0)
    console.error(
      'seedfork: cannot link the microvm guest agent statically: the microvm backend is left out. Install a static C library: apt-get install libc6-dev.',
    );
}
