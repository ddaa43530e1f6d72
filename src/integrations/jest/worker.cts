// A Jest worker started afresh inside a sandbox (where no worker zygote can fork one): it waits
// for its setup and its file on fd 3 (see serve-file.cts). Started by the runner (runner.ts)
// before a file is known, so that its start-up is off the critical path.
import { serveChannel } from './serve-file.cjs';

serveChannel();
