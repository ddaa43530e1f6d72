/**
 * seedfork's sandbox SDK (`seedfork/sdk`): seed a base sandbox, snapshot it, fork a sandbox
 * per test, on the namespace or the microvm backend. See README "Sandboxes as a library".
 */
export { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
export type { LimitHit } from '../sandbox/types.js';
export { close } from './close.js';
export type { SandboxOptions } from './context.js';
export type { CommandOptions, CommandResult } from './exec.js';
export { type ForkOptions, Sandbox } from './sandbox.js';
export { keepFailed, keepForInspection, type SeededOptions, seededSnapshot, withSandbox } from './seeded.js';
export { Snapshot } from './snapshot.js';
