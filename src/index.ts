/**
 * seedfork's public SDK: config typing, the run entry point, and the sandbox API for
 * programs that want to fork sandboxes themselves.
 */
export { defineConfig, loadConfig, parseConfig, type LoadedConfig } from './config/load.js';
export type { Config, UserConfig } from './config/schema.js';
export { SeedforkError, CancelledError } from './errors/seedfork-error.js';
export { run, type RunOptions, type RunEvent } from './run/run.js';
export type { FileResult, RunResult, TestCaseResult } from './report/types.js';
export { readJUnit } from './report/junit-read.js';
export { writeJUnit } from './report/junit-write.js';
export { NamespaceBackend } from './sandbox/namespace/backend.js';
export type { Backend, Sandbox, Snapshot, ExecOptions, ExecResult, ResourceLimits } from './sandbox/types.js';
export { Ready, waitFor, type ReadyCheck } from './seed/ready.js';
