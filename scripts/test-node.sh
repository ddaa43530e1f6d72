#!/usr/bin/env bash
# Runs the tests that depend most on the Node.js version (the CLI end to end, the runner
# integrations, the native worker zygote, runners' exit semantics) on another Node major,
# installed from the npm registry by node-version.sh. Usage: scripts/test-node.sh 24
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:?usage: test-node.sh <major>}"
bin="$(bash scripts/node-version.sh "$major")"
export PATH="$bin:$PATH"
echo "test-node: $(node --version) from $bin"
exec node node_modules/vitest/vitest.mjs run \
  test/cli.test.ts \
  test/jest-runner.test.ts \
  test/vitest-pool.test.ts \
  test/process-zygote.test.ts
