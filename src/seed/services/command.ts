import type { CommandServiceConfig } from '../../config/schema.js';
import { Ready, type ReadyCheck } from '../ready.js';
import { awaitReady, resumed, track } from './process.js';
import type { RunningService, ServiceContext, ServiceDriver } from './types.js';

function readyCheck(
  ctx: ServiceContext,
  config: CommandServiceConfig,
  env: Record<string, string>,
): ReadyCheck | undefined {
  const r = config.ready;
  if (!r) return undefined;
  if ('port' in r) return Ready.port(r.port);
  if ('command' in r) return Ready.command(r.command, env, ctx.cwd);
  if ('log' in r) return Ready.logMessage(r.log, ctx.logFile);
  return Ready.file(r.file);
}

async function start(ctx: ServiceContext, config: CommandServiceConfig): Promise<RunningService> {
  const env = { ...ctx.env, ...config.env, SEEDFORK_SERVICE_DATA: ctx.dataDir };
  const proc = track(
    ctx.sandbox.spawn(['sh', '-c', config.command], {
      env,
      user: config.user,
      cwd: ctx.cwd,
      logFile: ctx.logFile,
    }),
  );
  const stop = () => proc.stop('SIGTERM', 10_000);
  const check = readyCheck(ctx, config, env);
  if (check) await awaitReady(ctx, proc, check, config.readyTimeoutMs, stop);
  return { name: ctx.name, env: {}, logFile: ctx.logFile, stop };
}

/**
 * Any long-running command (`{ command, ready }`), started the same way in the seed and in forks.
 * Resumed, its readiness is checked only by a port or a file: a `ready.command` would start a
 * process, and a `ready.log` message was written to the seed's log, not the fork's.
 */
export const commandDriver: ServiceDriver<CommandServiceConfig> = {
  seed: start,
  start,
  resume(ctx, config) {
    const r = config.ready;
    const check = r && ('port' in r || 'file' in r) ? readyCheck(ctx, config, ctx.env) : undefined;
    return resumed(ctx, check, config.readyTimeoutMs, { env: {} });
  },
};
