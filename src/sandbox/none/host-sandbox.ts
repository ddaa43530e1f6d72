import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { runToCompletion, spawnService } from '../exec.js';
import type { ExecOptions, ExecResult, Sandbox } from '../types.js';

/** Wrap argv to run as `user` (root only), with util-linux setpriv. */
function asUser(argv: string[], user: string | undefined): string[] {
  if (!user || process.getuid?.() !== 0) return argv;
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', ...argv];
}

/**
 * "No isolation": commands run directly on the host, sharing its filesystem, ports and
 * services. The baseline `--isolation none` compares against, and a diagnosis aid.
 * Every command runs in its own process group so kill() can still end what it started.
 */
export class HostSandbox implements Sandbox {
  readonly backend = 'none';
  private readonly children = new Set<ChildProcess>();
  private readonly groups = new Set<number>();

  /**
   * @param logDir host directory for service logs
   * @param groupsFile when set, the process group of every service is appended to this file, so
   *   a later run can kill what a crashed one left running
   */
  constructor(
    readonly id: string,
    readonly logDir: string,
    private readonly groupsFile?: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return runToCompletion(asUser(argv, options.user), options, { cwd: options.cwd, groupKill: true });
  }

  spawn(
    argv: string[],
    options: Omit<ExecOptions, 'timeoutMs' | 'signal'> & { logFile: string },
  ): ChildProcess {
    const child = spawnService(asUser(argv, options.user), {
      env: options.env,
      cwd: options.cwd,
      logFile: options.logFile,
      detached: true,
    });
    // Like the namespace helper's --pgroup: a signal reaches the service's whole group.
    const pid = child.pid;
    child.kill = (signal?: NodeJS.Signals | number) => {
      try {
        if (pid !== undefined) process.kill(-pid, signal ?? 'SIGTERM');
        return true;
      } catch {
        return false;
      }
    };
    this.children.add(child);
    if (child.pid) {
      this.groups.add(child.pid);
      if (this.groupsFile) appendFileSync(this.groupsFile, `${child.pid}\n`);
    }
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path);
    } catch {
      return undefined;
    }
  }

  async makeDir(path: string): Promise<void> {
    await mkdir(path, { recursive: true });
  }

  hostPath(path: string): string {
    return path;
  }

  procNet(file: string): string {
    return `/proc/net/${file}`;
  }

  async keep(): Promise<void> {
    // The host cannot be kept any more than it already is.
  }

  /** Kill the process groups of every service this "sandbox" started. */
  async kill(): Promise<void> {
    for (const pgid of this.groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // group already gone
      }
    }
    await Promise.all(
      [...this.children].map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null,
      ),
    );
  }
}
