import { type CliProcess, startCli } from './cli.js';

/**
 * Start `seedfork serve --port 0` in `dir` (its embedded history) and wait up to 10 s for the
 * URL it prints. `url` is '' when it never said one (the output tells why).
 */
export async function startHistoryServer(dir: string): Promise<{ server: CliProcess; url: string }> {
  const server = startCli(dir, ['serve', '--port', '0']);
  let url = '';
  for (let i = 0; i < 100 && !url; i++) {
    url = /on (http:\/\/\S+);/.exec(server.output())?.[1] ?? '';
    if (!url) await new Promise((done) => setTimeout(done, 100));
  }
  return { server, url };
}
