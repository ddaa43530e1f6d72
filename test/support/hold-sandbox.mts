// A stand-in for a seedfork run: forks one sandbox under the state directory given as argv[2],
// prints its id, then waits until killed. Tests SIGKILL it to leave what a crashed run leaves.
import { NamespaceBackend } from '../../src/sandbox/namespace/backend.js';

const backend = new NamespaceBackend(process.argv[2]!);
const sandbox = await backend.fork(undefined);
process.stdout.write(`${sandbox.id}\n`);
setInterval(() => {}, 60_000);
