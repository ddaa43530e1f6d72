// Preloaded (`node --require channel-preload.cjs`) into Vitest's forks worker started afresh in
// a sandbox: its IPC channel over fd 3 (channel.cts), in place before the worker loads.
import { connectChannel } from './channel.cjs';

connectChannel();
