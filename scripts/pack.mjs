// Packs seedfork for the npm registry the way esbuild and Biome ship native code: one package
// per platform with that platform's compiled parts (@seedfork/linux-x64-gnu, linux-arm64-gnu,
// linux-x64-musl, linux-arm64-musl; `os`, `cpu` and `libc` let npm install only the one that
// fits), and seedfork itself naming them all as optional dependencies, with no install script,
// so that installing it needs no compiler. seedfork finds the installed one at run time
// (src/sandbox/native-parts.ts) and still ships its C sources and native/build.mjs for other
// platforms.
//
//   node scripts/pack.mjs [--platforms linux-x64-gnu,...] [--out DIR]
//
// Builds the platform parts (native/build.mjs --platform: the cross compilers come from
// scripts/cross-toolchains.sh), stages each package under DIR (default build/npm/), runs `npm
// pack` there and prints the tarballs' paths as JSON: { "seedfork": path, "@seedfork/…": path }.
// Run `npm run build` first: the main package carries dist/ as it is.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['seedfork-ns', 'seedfork-zygote.node', 'seedfork-agent'];
/** npm's name (package.json `libc`) for the C library part of a platform's name. */
const LIBC = { gnu: 'glibc', musl: 'musl' };

const { values } = parseArgs({ options: { platforms: { type: 'string' }, out: { type: 'string' } } });
if (!existsSync(join(root, 'dist/cli/main.js'))) fail('dist/ is missing: run npm run build first');
// the platforms and package names seedfork looks for at run time (src/sandbox/native-parts.ts)
const { PREBUILT_PLATFORMS: ALL, platformPackage } = await import(
  pathToFileURL(join(root, 'dist/sandbox/native-parts.js')).href
);
const platforms = values.platforms ? values.platforms.split(',') : ALL;
for (const p of platforms) if (!ALL.includes(p)) fail(`unknown platform ${p}: one of ${ALL.join(', ')}`);
const out = resolve(values.out ?? join(root, 'build/npm'));
const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function fail(message) {
  console.error(`pack: ${message}`);
  process.exit(1);
}

/** `npm pack` in `dir`; the tarball's path. */
function pack(dir) {
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
  });
  return join(out, name.trim().split('\n').pop());
}

rmSync(out, { recursive: true, force: true });
const tarballs = {};
for (const platform of platforms) {
  const [os, cpu, libc] = platform.split('-');
  const name = platformPackage(platform);
  const dir = join(out, name);
  execFileSync(process.execPath, [join(root, 'native/build.mjs'), '--platform', platform, '--out', dir], {
    stdio: 'inherit',
  });
  const manifest = {
    name,
    version: main.version,
    description: `seedfork's native parts (namespace helper, process zygote, microvm guest agent) for ${platform}`,
    license: main.license,
    repository: main.repository,
    os: [os],
    cpu: [cpu],
    libc: [LIBC[libc]],
    files: PARTS,
    preferUnplugged: true,
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(dir, 'README.md'),
    `# ${name}\n\nThe ${platform} build of [seedfork](https://www.npmjs.com/package/seedfork)'s native parts. ` +
      'Install `seedfork`: npm picks this package for you.\n',
  );
  tarballs[name] = pack(dir);
}

// seedfork itself: its own files, and the platform packages as exact optional dependencies
const staged = join(out, 'seedfork');
mkdirSync(staged, { recursive: true });
cpSync(join(root, 'dist'), join(staged, 'dist'), { recursive: true });
cpSync(join(root, 'native'), join(staged, 'native'), {
  recursive: true,
  filter: (src) => src === join(root, 'native') || /\.(c|h|mjs)$/.test(src),
});
cpSync(join(root, 'README.md'), join(staged, 'README.md'));
const { devDependencies, workspaces, scripts, ...published } = main;
published.optionalDependencies = Object.fromEntries(ALL.map((p) => [platformPackage(p), main.version]));
writeFileSync(join(staged, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
tarballs.seedfork = pack(staged);
console.log(JSON.stringify(tarballs, null, 2));
