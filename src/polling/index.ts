/** `seedfork/test`: helpers for tests inside (or outside) a sandbox. */
export { type EventuallyOptions, eventually } from './eventually.js';
