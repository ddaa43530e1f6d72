import { explainDiskFull } from '../fs/disk-full.js';
import { MicrovmBackend, type MicrovmOptions } from './microvm/backend.js';
import { NamespaceBackend } from './namespace/backend.js';
import { Zygote } from './namespace/zygote.js';
import type { Backend, Confinement } from './types.js';

export type { MicrovmOptions } from './microvm/backend.js';
export { type RunningTemplate, startProcessTemplate } from './process-template.js';
export type * from './types.js';
export { DEFAULT_LIMITS, FileTooLargeError } from './types.js';

/** Options every backend takes. */
export interface BackendOptions {
  /** Directories sandboxes work in (the project): each gets a copy-on-write view of its own
   * where the backend needs one to show it. */
  ownDirs?: string[];
  /** How commands inside sandboxes are confined (default: hardened, nothing extra allowed). */
  confinement?: Confinement;
  /** The guests of the microvm backend (config `microvm`). */
  microvm?: MicrovmOptions;
  /** Told what the backend does that a user should know: something slow built before the first
   * sandbox (a guest's root filesystem), the accelerator its guests run on. */
  onNotice?: (message: string) => void;
}

/** The backends by the name `isolation` gives them. Adding one is adding a folder and a line here. */
const BACKENDS = {
  namespace: (stateDir: string, options: BackendOptions) => new NamespaceBackend(stateDir, options),
  microvm: (stateDir: string, options: BackendOptions) => new MicrovmBackend(stateDir, options),
} satisfies Record<string, (stateDir: string, options: BackendOptions) => Backend>;

/** A backend's name, as config `isolation` takes it (`none` is no backend: the shared host). */
export type BackendName = keyof typeof BACKENDS;

/** Every backend's name: `list`, `shell` and `gc` look at the state of each. */
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];

/**
 * The backend called `name`, keeping its snapshots and sandboxes under `stateDir`.
 * Callers hold it as a {@link Backend}: nothing above this folder knows an implementation.
 * Its `createSnapshot` and `fork` throw a SeedforkError that says so when a write ran out of
 * disk space (with the free space and `seedfork gc`), the backend's own error as its cause.
 */
export function backendFor(name: BackendName, stateDir: string, options: BackendOptions = {}): Backend {
  return explainingDiskFull(BACKENDS[name](stateDir, options), stateDir);
}

/**
 * Stop the helper processes the backends run for this process (the namespace backend's, which
 * forks its sandboxes and holds this process's run locks), as this process's exit would: their
 * sandboxes that were not kept are killed and the run locks are free once this resolves. A
 * backend starts its helper again when next used. Requests in flight fail.
 */
export async function stopHelpers(): Promise<void> {
  await Zygote.stop();
}

/**
 * `backend`, whose snapshots and forks, when they fail for want of space under `stateDir`, say
 * so (explainDiskFull): an overlay or a service's data that could not be written would blame
 * the command or service that hit the full disk otherwise.
 */
function explainingDiskFull(backend: Backend, stateDir: string): Backend {
  const explain = (error: unknown): never => {
    throw explainDiskFull(error, stateDir);
  };
  const createSnapshot = backend.createSnapshot.bind(backend);
  const fork = backend.fork.bind(backend);
  backend.createSnapshot = (options) => createSnapshot(options).catch(explain);
  backend.fork = (snapshot, options) => fork(snapshot, options).catch(explain);
  return backend;
}
