import type { RunnerConfig } from '../config/schema.js';
import { commandAdapter } from './command.js';
import { goAdapter } from './go.js';
import { jestAdapter } from './jest.js';
import { mochaAdapter } from './mocha.js';
import { nodeAdapter } from './node.js';
import { playwrightAdapter } from './playwright.js';
import { pytestAdapter } from './pytest.js';
import type { Adapter } from './types.js';
import { vitestAdapter } from './vitest.js';

export type { Adapter, AdapterContext, ExitSemantics, ParsedReport, ResultSource } from './types.js';

/** The runners `test.runner` can name, by name. */
export const ADAPTERS = {
  node: nodeAdapter,
  vitest: vitestAdapter,
  jest: jestAdapter,
  mocha: mochaAdapter,
  playwright: playwrightAdapter,
  pytest: pytestAdapter,
  go: goAdapter,
} as const satisfies Record<string, Adapter>;

/** A runner's name, as `test.runner` takes it. */
export type RunnerName = keyof typeof ADAPTERS;

/** The adapter for `test.runner`. */
export function adapterFor(runner: RunnerConfig): Adapter {
  if (typeof runner === 'string') return ADAPTERS[runner];
  return commandAdapter(runner.command, runner.junit);
}
