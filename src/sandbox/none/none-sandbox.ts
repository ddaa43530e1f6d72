import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { runToCompletion, spawnService } from '../exec.js';
import { findFilesIn } from '../find-files.js';
import { hostFiles } from '../host-files.js';
import { commandLine, type ListeningSocket, readListeningSockets } from '../proc-net.js';
import type {
  ExecOptions,
  ExecResult,
  FileChanges,
  FoundFile,
  LimitHit,
  Sandbox,
  SandboxProcess,
  SpawnOptions,
} from '../types.js';

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
export class NoneSandbox implements Sandbox {
  readonly backend = 'none';
  /** No seccomp filter on the shared host: binds are not traced. */
  readonly tracesBinds = false;
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

  /** No cgroup and no init of its own: nothing to tell. */
  async incidents(): Promise<{ limit?: LimitHit; died?: string }> {
    return {};
  }

  spawn(argv: string[], options: SpawnOptions): ChildProcess {
    const child = spawnService(asUser(argv, options.user), {
      env: options.env,
      cwd: options.cwd,
      logFile: options.logFile,
      channel: options.channel,
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

  readFile(path: string, options?: { maxBytes?: number }): Promise<Buffer | undefined> {
    const maxBytes = options?.maxBytes;
    return maxBytes === undefined ? hostFiles.read(path) : hostFiles.read(path, maxBytes, 'throw');
  }

  writeFile(path: string, data: string | Buffer, options?: { mode?: number }): Promise<void> {
    return hostFiles.write(path, data, options);
  }

  makeDir(path: string, options?: { mode?: number; owner?: { uid: number; gid: number } }): Promise<void> {
    return hostFiles.makeDir(path, options);
  }

  exists(path: string): Promise<boolean> {
    return hostFiles.exists(path);
  }

  symlink(target: string, path: string): Promise<void> {
    return hostFiles.symlink(target, path);
  }

  async findFiles(dir: string, patterns: readonly string[]): Promise<FoundFile[]> {
    return findFilesIn(dir, patterns);
  }

  /** @throws SeedforkError: the host has no snapshot to compare with. */
  async changedFiles(): Promise<FileChanges> {
    throw new SeedforkError('without isolation there is no snapshot to compare the host with', {
      hint: 'Run with --isolation namespace to see what a test changed.',
    });
  }

  /** The host's listening sockets (it has no network namespace of its own). */
  async listeningSockets(): Promise<ListeningSocket[]> {
    return readListeningSockets('/proc/net');
  }

  /** Processes in the process groups of the services this "sandbox" started. */
  async processes(): Promise<SandboxProcess[]> {
    const out: SandboxProcess[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        if (!this.groups.has(pgrp)) continue;
        out.push({ pid: Number(entry), command: commandLine(Number(entry)) });
      } catch {
        // exited while we looked
      }
    }
    return out;
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
