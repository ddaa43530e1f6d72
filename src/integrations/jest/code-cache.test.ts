import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const DIST = join(import.meta.dirname, '../../../dist/integrations');

/**
 * Run `body` in a Node process of its own (the recording replaces node:vm's compileFunction,
 * and settleHeap changes V8's flags), with `recordCompiledCode` and `settleHeap` from the build
 * and `compile(source, params?)` compiling as jest-runtime does; returns what it prints.
 */
function inNode(body: string): unknown {
  const program = `
const vm = require('node:vm');
const { recordCompiledCode } = require(${JSON.stringify(join(DIST, 'jest/code-cache.cjs'))});
const { settleHeap } = require(${JSON.stringify(join(DIST, 'forked-worker.cjs'))});
const context = vm.createContext({});
const compile = (source, params = ['module', 'exports']) =>
  vm.compileFunction(source, params, { filename: '/project/node_modules/lib/index.js', parsingContext: context });
${body}`;
  return JSON.parse(execFileSync(process.execPath, ['-e', program], { encoding: 'utf8' }));
}

const SOURCE = "exports.name = 'cached'; exports.add = (a, b) => a + b;";

test('a module compiled while recording is compiled from its cached data later, in a new context, with the same result', () => {
  const out = inNode(`
const cache = recordCompiledCode();
compile(${JSON.stringify(SOURCE)});
cache.stop();
const exports = {};
const fn = vm.compileFunction(${JSON.stringify(SOURCE)}, ['module', 'exports'], { filename: '/project/node_modules/lib/index.js', parsingContext: vm.createContext({}) });
fn({}, exports);
console.log(JSON.stringify({ stats: cache.stats(), name: exports.name, sum: exports.add(2, 3) }));`);
  expect(out).toEqual({ stats: { recorded: 1, used: 1, rejected: 0 }, name: 'cached', sum: 5 });
});

test('another source or other parameters under the same file name are compiled afresh, and nothing is recorded after stop', () => {
  const out = inNode(`
const cache = recordCompiledCode();
compile(${JSON.stringify(SOURCE)});
cache.stop();
// the same length as the recorded source: V8's own check of the data would not tell them apart
const other = ${JSON.stringify(SOURCE)}.replace('cached', 'fresh!');
const a = {};
compile(other)({}, a);
const b = {};
compile(${JSON.stringify(SOURCE)}, ['module', 'exports', 'require'])({}, b);
vm.compileFunction('exports.n = 1', [], { filename: '/project/after-stop.js' });
vm.compileFunction('exports.n = 1', [], { filename: '/project/after-stop.js' });
console.log(JSON.stringify({ stats: cache.stats(), a: a.name, b: b.name }));`);
  expect(out).toEqual({ stats: { recorded: 1, used: 0, rejected: 0 }, a: 'fresh!', b: 'cached' });
});

test("settleHeap leaves V8's flags as they were, so data recorded before it is not rejected after it", () => {
  const out = inNode(`
const cache = recordCompiledCode();
compile(${JSON.stringify(SOURCE)});
cache.stop();
settleHeap();
compile(${JSON.stringify(SOURCE)});
console.log(JSON.stringify({ stats: cache.stats(), gcExposed: typeof globalThis.gc }));`);
  expect(out).toEqual({ stats: { recorded: 1, used: 1, rejected: 0 }, gcExposed: 'undefined' });
});
