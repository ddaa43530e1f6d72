#!/usr/bin/env bash
# Installs an official Node.js binary of the given major from the npm registry (the node-linux-*
# packages Node's release team publishes), outside the repository, and prints its bin directory.
# Usage: scripts/node-version.sh 24   (SEEDFORK_NODE_DIR overrides where it goes)
set -euo pipefail
major="${1:?usage: node-version.sh <major>}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "node-version: no official Node binary package for $(uname -m)" >&2; exit 1 ;;
esac
dir="${SEEDFORK_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/seedfork/node-$major}"
bin="$dir/node_modules/node-linux-$arch/bin"
if ! "$bin/node" --version 2>/dev/null | grep -q "^v$major\."; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error "node-linux-$arch@$major" >&2
fi
echo "$bin"
