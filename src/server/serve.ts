import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { HistoryStore } from '../history/store.js';
import { historyApp } from './app.js';

/** A running history server. */
export interface HistoryServer {
  /** `http://host:port` */
  url: string;
  close(): Promise<void>;
}

/**
 * Serve the history's API (see `historyApp`) on `host:port` (port 0: any free one), judging with
 * `regressionRuns` (config `history.regressionRuns`, default 2).
 * @throws SeedforkError when the port is taken or the address cannot be bound
 */
export function serveHistory(
  store: HistoryStore,
  options: { port: number; host: string; regressionRuns?: number; dependsOn?: Record<string, string[]> },
): Promise<HistoryServer> {
  const app = historyApp(store, {
    regressionRuns: options.regressionRuns ?? 2,
    ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}),
  });
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch, port: options.port, hostname: options.host },
      (info: AddressInfo) => {
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          close: () => new Promise((done) => server.close(() => done())),
        });
      },
    );
    server.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SeedforkError(
          error.code === 'EADDRINUSE'
            ? `port ${options.port} is taken: pass another with --port`
            : `cannot serve on ${options.host}:${options.port}: ${error.message}`,
        ),
      ),
    );
  });
}
