import { spawn } from 'node:child_process';

/** What {@link runCommand} returns: the exit code (null when killed) and the output. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout followed by stderr. */
  out: string;
  /** The process id it ran as. */
  pid: number | undefined;
}

/**
 * Run a command to completion without blocking the test worker: Vitest's worker answers its RPC
 * within 60 s or the run reports an unhandled error, so anything that can take long (npm install,
 * a runner's whole suite, the CLI) must not use the synchronous child_process calls.
 */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; shell?: boolean } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, out: `${stdout}${stderr}`, pid: child.pid }));
  });
}

/** {@link runCommand} that throws with the output when the command fails. */
export async function runChecked(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  const r = await runCommand(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.code}:\n${r.out}`);
  return r;
}
