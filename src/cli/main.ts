#!/usr/bin/env node
// seedfork's command line. This entry only turns on Node's module compile cache (Node >= 22.1:
// compile-cache.cts), so that the program and the modules of the command it runs load from
// V8's cached bytecode rather than being compiled on every start, then loads the program.
import { enableCompileCache } from '../integrations/compile-cache.cjs';

enableCompileCache();
await import('./program.js');
