import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // fixture projects' own tests, run by their runners under seedfork
    exclude: ['**/node_modules/**', 'test/fixtures/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests fork real sandboxes and share the machine's 2 cores.
    fileParallelism: false,
    reporters: ['default'],
    // Names any test that blocks its worker long enough to make Vitest's RPC time out, and
    // removes each file's throwaway projects (and their snapshots) when it ends.
    setupFiles: ['test/support/worker-watch.ts', 'test/support/project-cleanup.ts'],
  },
});
