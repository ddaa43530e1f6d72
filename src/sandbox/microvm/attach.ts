// `seedfork shell` into a microvm guest: this program talks to the guest's agent over its
// socket and runs a command there (its output and exit code passed on), or an interactive shell
// on a pseudo-terminal of the guest, fed by this terminal in raw mode.
// Usage: node attach.js <agent socket> <JSON: { cwd, env, argv, firstJob }>
import { pathToFileURL } from 'node:url';
import { AgentClient } from './agent-client.js';

/** What {@link attachArgs} hands this program. */
export interface AttachSpec {
  cwd: string;
  env: Record<string, string>;
  /** The command; empty for an interactive shell. */
  argv: string[];
  /** The first job id this connection uses: above any the guest's own run used. */
  firstJob: number;
}

async function main(socket: string, spec: AttachSpec): Promise<number> {
  const agent = await AgentClient.connect(socket, 10_000, spec.firstJob);
  const interactive = spec.argv.length === 0;
  const job = agent.start(interactive ? ['/bin/bash', '-i'] : spec.argv, {
    cwd: spec.cwd,
    env: spec.env,
    terminal: interactive,
    onOutput: (chunk, stream) => (stream === 'stderr' ? process.stderr : process.stdout).write(chunk),
  });
  if (interactive) {
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    const resize = () => job.resize(process.stdout.rows ?? 24, process.stdout.columns ?? 80);
    resize();
    process.stdout.on('resize', resize);
    process.stdin.on('data', (data: Buffer) => job.input(data));
  }
  const exit = await job.done;
  agent.close();
  return exit.exitCode;
}

const [socket, spec] = process.argv.slice(2);
// run only as a program, not when imported
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && socket && spec) {
  main(socket, JSON.parse(spec) as AttachSpec).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`seedfork shell: ${error.message}\n`);
      process.exit(1);
    },
  );
}
