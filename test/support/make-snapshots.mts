// Builds snapshots in another process (whose run then ends, so they are not in use):
// argv: <stateDir> <key>:<MiB> ... in order, oldest first.
import { NamespaceBackend } from '../../src/sandbox/namespace/backend.js';

const [stateDir, ...specs] = process.argv.slice(2);
const backend = new NamespaceBackend(stateDir!);
for (const spec of specs) {
  const [key, mib] = spec.split(':');
  await backend.createSnapshot({
    key: key!,
    build: async (sb) => {
      const r = await sb.exec(
        [
          'sh',
          '-c',
          `mkdir -p /srv/data && head -c ${Number(mib) * 1024 * 1024} /dev/urandom > /srv/data/blob`,
        ],
        {
          env: { PATH: '/usr/bin:/bin' },
        },
      );
      if (r.exitCode !== 0) throw new Error(r.output);
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 50)); // distinct last-used times
}
process.exit(0);
