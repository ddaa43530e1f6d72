/**
 * Mocha's `--config` when seedfork runs one file: the project's own Mocha config (found and
 * parsed by Mocha's own loader, then the package.json `mocha` key below it) without `spec`.
 * Mocha adds a config's `spec` to the files on the command line
 * (lib/cli/options.cjs, "recombine positional arguments and spec"), so a project whose
 * .mocharc lists its spec globs would run the whole suite in every sandbox.
 * Environment: SEEDFORK_MOCHA_CONFIG_LOADER (Mocha's lib/cli/config.cjs), SEEDFORK_MOCHA_ROOT.
 */
const fs = require('node:fs') as typeof import('node:fs');
const path = require('node:path') as typeof import('node:path');

const loader = require(process.env.SEEDFORK_MOCHA_CONFIG_LOADER ?? '') as {
  findConfig(cwd: string): string | undefined;
  loadConfig(file: string): Record<string, unknown>;
};
const root = process.env.SEEDFORK_MOCHA_ROOT ?? process.cwd();
let fromPackage: Record<string, unknown> = {};
try {
  fromPackage = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).mocha ?? {};
} catch {
  // no package.json, or no `mocha` key
}
const file = loader.findConfig(root);
const config: Record<string, unknown> = { ...fromPackage, ...(file ? loader.loadConfig(file) : {}) };
delete config.spec;
module.exports = config;
