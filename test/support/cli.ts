import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './project.js';

/** The environment every CLI test runs with: CI mode (plain lines), no colours, plus `env`. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, CI: 'true', NO_COLOR: '1', ...env };
}

/** A CLI process started by {@link startCli}. */
export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves with the exit code when the process has exited. */
  exited: Promise<number | null>;
}

/** Start the built CLI in `cwd`, collecting its output, for tests that interact with it (signals). */
export function startCli(cwd: string, args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cliEnv(env) });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => out, exited };
}

/**
 * Run the built CLI in `cwd` without blocking the test worker (an audit takes minutes, and a
 * blocked worker makes vitest's RPC time out).
 */
export async function runCli(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const cli = startCli(cwd, args, env);
  const code = await cli.exited;
  return { code, out: cli.output() };
}
