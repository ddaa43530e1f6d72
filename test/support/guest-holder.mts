// Boots a microvm guest, prints "ready <pid of QEMU's watcher> <its directory> <its socket
// directory>" and waits to be killed: the test kills this process with SIGKILL and checks that
// QEMU went with it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverlay, startGuest } from '../../src/sandbox/microvm/qemu.js';
import { guestAssets, guestSpec } from '../../src/sandbox/microvm/vm-snapshot.js';

const assets = await guestAssets();
const dir = mkdtempSync(join(tmpdir(), 'seedfork-guest-holder-'));
await createOverlay(assets.image.path, 'raw', join(dir, 'disk.qcow2'));
const guest = await startGuest(
  {
    ...guestSpec(assets, { memoryMiB: 256, cpus: 1 }),
    disks: [{ id: 'root', file: join(dir, 'disk.qcow2'), format: 'qcow2' }],
    runDir: dir,
  },
  120_000,
);
console.log(`ready ${guest.process.pid} ${dir} ${guest.socketDir}`);
setInterval(() => {}, 1000);
