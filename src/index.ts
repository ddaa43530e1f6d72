/**
 * seedfork's public SDK: config typing, the run entry point, and the sandbox API for
 * programs that want to fork sandboxes themselves.
 */
export { type AuditEvent, type AuditOptions, type AuditRunSelection, audit } from './audit/audit.js';
export type { Leftovers } from './audit/leftovers.js';
export type { AuditReport, Category, ClassifiedTest, CulpritSearch } from './audit/types.js';
export { defineConfig, type LoadedConfig, loadConfig, parseConfig } from './config/load.js';
export type { Config, UserConfig } from './config/schema.js';
export { CancelledError, SeedforkError } from './errors/seedfork-error.js';
export { estimateCosts, type FileCost } from './plan/cost.js';
export { mergeResults, shardBalance } from './plan/merge.js';
export { partition, type ShardStrategy } from './plan/partition.js';
export { makePlan, type Plan, predictWallMs, type ShardPlan } from './plan/plan.js';
export { parseShard, type ShardSpec } from './plan/shard-spec.js';
export { loadSuite, type Suite } from './plan/suite.js';
export { readTimings, recordTimings, type Timings, writeTimings } from './plan/timings.js';
export { readJUnit } from './report/junit-read.js';
export { writeJUnit } from './report/junit-write.js';
export { readResultFile } from './report/result-file.js';
export type { FileResult, RunResult, ShardInfo, ShardSummary, TestCaseResult } from './report/types.js';
export { type RunEvent, type RunOptions, run } from './run/run.js';
export { type BackendName, type BackendOptions, backendFor } from './sandbox/index.js';
/** @deprecated Use `backendFor('namespace', stateDir)`, which returns it as a `Backend`. */
export { NamespaceBackend } from './sandbox/namespace/backend.js';
export type {
  Backend,
  ExecOptions,
  ExecResult,
  FileChanges,
  ListeningSocket,
  ResourceLimits,
  Sandbox,
  SandboxProcess,
  Snapshot,
} from './sandbox/types.js';
export { Ready, type ReadyCheck, waitFor } from './seed/ready.js';
