import { spawn } from 'node:child_process';
import { CLI } from './project.js';

/**
 * Run the built CLI in `cwd` without blocking the test worker (an audit takes minutes, and a
 * blocked worker makes vitest's RPC time out). CI mode, no colours.
 */
export function runCli(cwd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}
