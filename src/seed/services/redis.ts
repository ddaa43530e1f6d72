import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisServiceConfig } from '../../config/schema.js';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { Ready } from '../ready.js';
import { awaitReady, resumed, track } from './process.js';
import type { RunningService, ServiceContext, ServiceDriver } from './types.js';

/**
 * redis.conf for a throwaway test server: loopback only, no periodic snapshots or append-only
 * file (the seed saves once, explicitly, before the snapshot is taken), data in the service's
 * own directory. Source: redis.io, "Redis configuration" and "Redis persistence".
 */
function redisConf(dataDir: string, config: RedisServiceConfig): string {
  const settings: Record<string, string | number> = {
    bind: '127.0.0.1',
    port: config.port,
    'protected-mode': 'no',
    daemonize: 'no',
    dir: dataDir,
    dbfilename: 'dump.rdb',
    save: '""',
    appendonly: 'no',
    ...config.settings,
  };
  return `${Object.entries(settings)
    .map(([k, v]) => `${k} ${v}`)
    .join('\n')}\n`;
}

/**
 * The redis-server binary: `config.bin`, else the first on PATH, else Debian's.
 * @throws SeedforkError telling how to install it
 */
export function findRedisServer(config: RedisServiceConfig, path = process.env.PATH ?? ''): string {
  if (config.bin) {
    if (!existsSync(config.bin))
      throw new SeedforkError(`no redis-server at ${config.bin}`, {
        hint: 'Point seed.services.<name>.bin at the redis-server binary, or leave it out to use the one on PATH.',
      });
    return config.bin;
  }
  for (const dir of [...path.split(':').filter(Boolean), '/usr/bin'])
    if (existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  throw new SeedforkError('redis-server not found (a redis service is declared in seed.services)', {
    hint: 'Install it with `apt-get install redis-server` (Debian/Ubuntu), or set seed.services.<name>.bin.',
  });
}

function connectionEnv(name: string, port: number): Record<string, string> {
  const url = `redis://127.0.0.1:${port}`;
  return { [`${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`]: url, REDIS_URL: url };
}

/**
 * Start redis-server on the data in `ctx.dataDir` (none in the seed, the seed's dump in a
 * fork). In the seed, stopping it saves the data first (SAVE), so the snapshot holds it.
 */
async function startServer(
  ctx: ServiceContext,
  config: RedisServiceConfig,
  seeding: boolean,
): Promise<RunningService> {
  const server = findRedisServer(config, ctx.env.PATH);
  await ctx.sandbox.makeDir(ctx.dataDir, { mode: 0o700 });
  const conf = join(ctx.dataDir, 'redis.conf');
  await ctx.sandbox.writeFile(conf, redisConf(ctx.dataDir, config));
  const proc = track(ctx.sandbox.spawn([server, conf], { env: ctx.env, cwd: '/', logFile: ctx.logFile }));
  const kill = () => proc.stop('SIGTERM', 10_000);
  await awaitReady(
    ctx,
    proc,
    Ready.logMessage('Ready to accept connections', ctx.logFile),
    config.readyTimeoutMs,
    kill,
  );
  const save = async () => {
    const cli = join(server, '..', 'redis-cli');
    const r = await ctx.sandbox.exec(
      [existsSync(cli) ? cli : 'redis-cli', '-p', String(config.port), 'SAVE'],
      {
        env: ctx.env,
        cwd: '/',
        timeoutMs: 60_000,
      },
    );
    if (r.exitCode !== 0 || !/OK/.test(r.output))
      throw new SeedforkError(`service ${ctx.name}: redis SAVE failed, so the snapshot would lose its data`, {
        details: r.output,
      });
  };
  const env = connectionEnv(ctx.name, config.port);
  return {
    name: ctx.name,
    env,
    url: env.REDIS_URL,
    logFile: ctx.logFile,
    stop: seeding
      ? async () => {
          try {
            await save();
          } finally {
            await kill();
          }
        }
      : kill,
  };
}

/** Redis from the host's redis-server: filled by the seed steps, saved into the snapshot. */
export const redisDriver: ServiceDriver<RedisServiceConfig> = {
  seed: (ctx, config) => startServer(ctx, config, true),
  start: (ctx, config) => startServer(ctx, config, false),
  resume(ctx, config) {
    const env = connectionEnv(ctx.name, config.port);
    return resumed(ctx, Ready.port(config.port), config.readyTimeoutMs, { env, url: env.REDIS_URL });
  },
};
