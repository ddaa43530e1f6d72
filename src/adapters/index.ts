import type { RunnerConfig } from '../config/schema.js';
import { commandAdapter } from './command.js';
import { nodeAdapter } from './node.js';
import type { Adapter } from './types.js';
import { vitestAdapter } from './vitest.js';

export type { Adapter, AdapterContext } from './types.js';

const named: Record<string, Adapter> = { node: nodeAdapter, vitest: vitestAdapter };

/** The adapter for `test.runner`. */
export function adapterFor(runner: RunnerConfig): Adapter {
  if (typeof runner === 'string') return named[runner]!;
  return commandAdapter(runner.command, runner.junit);
}
