import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { type Inspection, inspectProject } from './inspect.js';
import { CONVENTIONAL_URL_VAR } from './services.js';

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const list = (items: string[]) => `[${items.map(q).join(', ')}]`;
/** An object key: bare when it is an identifier, else quoted. */
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : q(name));

/** The text of a commented `seedfork.config.ts` for what `inspectProject` found. */
export function renderConfig(found: Inspection): string {
  const lines: string[] = [
    "// Written by `seedfork init`; every key is explained in seedfork's README.",
    'export default {',
  ];
  lines.push('  seed: {');
  lines.push('    // The snapshot is rebuilt when these files or the steps below change.');
  lines.push(`    inputs: ${list(found.inputs)},`);
  if (found.steps.length > 0) {
    lines.push('    steps: [');
    for (const s of found.steps) lines.push(`      ${q(s.command)}, // ${s.why}`);
    lines.push('    ],');
  } else {
    lines.push('    steps: [], // commands that migrate and seed, run once with the services up');
  }
  if (found.services.length > 0) {
    lines.push('    services: {');
    for (const s of found.services) {
      lines.push(`      // from ${s.from}`);
      const conventional = CONVENTIONAL_URL_VAR[s.kind];
      const exports = s.urlVar ? `, exports: { ${conventional}: ${q(s.urlVar)} }` : '';
      if (s.urlVar)
        lines.push(`      // the code reads ${s.urlVar}, so ${conventional} is exported under that name`);
      if (s.kind === 'postgres') {
        const user = s.user ? `, user: ${q(s.user)}` : '';
        lines.push(`      ${key(s.name)}: { port: ${s.port}, database: ${q(s.database)}${user}${exports} },`);
      } else {
        lines.push(`      ${key(s.name)}: { kind: 'redis', port: ${s.port}${exports} },`);
      }
    }
    lines.push('    },');
  }
  lines.push('  },');
  lines.push('  test: {');
  if (found.runner) lines.push(`    runner: ${q(found.runner.name)}, // from ${found.runner.why}`);
  else
    lines.push(
      "    runner: 'node', // not inferred: set jest, vitest, mocha, playwright, pytest, go or { command }",
    );
  if (found.includeWhy) lines.push(`    // from ${found.includeWhy}`);
  lines.push(
    `    include: ${list(found.include.length > 0 ? found.include : ['test/**/*.test.js'])}, // ${found.matched} files today`,
  );
  if (found.env) {
    lines.push(`    // from ${found.env.why}`);
    const vars = Object.entries(found.env.vars).map(([k, v]) => `${key(k)}: ${q(v)}`);
    lines.push(`    env: { ${vars.join(', ')} },`);
  }
  lines.push('  },');
  lines.push("  // workers: 'auto', retries: 0, limits: { memory: '2GiB' },");
  lines.push('};');
  return `${lines.join('\n')}\n`;
}

/** What {@link initConfig} did. */
export interface InitResult {
  path: string;
  found: Inspection;
}

/**
 * Inspect `root` and write `seedfork.config.ts` there.
 * @throws SeedforkError when a seedfork config already exists and `force` is not set.
 */
export function initConfig(root: string, options: { force?: boolean } = {}): InitResult {
  const existing = ['ts', 'mts', 'mjs', 'js', 'json']
    .map((e) => `seedfork.config.${e}`)
    .find((f) => existsSync(join(root, f)));
  if (existing && !options.force) {
    throw new SeedforkError(`${existing} already exists in ${root}`, {
      hint: 'Run `seedfork init --force` to replace it with a fresh one.',
    });
  }
  const found = inspectProject(root);
  const path = join(root, 'seedfork.config.ts');
  writeFileSync(path, renderConfig(found));
  return { path, found };
}
