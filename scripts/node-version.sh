#!/usr/bin/env bash
# Installs an official Node.js binary of the given major from the npm registry (the node-linux-*
# packages Node's release team publishes), outside the repository, and prints its bin directory.
# Usage: scripts/node-version.sh 24 [arm64|x64]   (default: this machine's architecture; another
# one's binary is for running under qemu-user; SEEDFORK_NODE_DIR overrides where it goes)
set -euo pipefail
major="${1:?usage: node-version.sh <major> [arch]}"
case "$(uname -m)" in
  x86_64) host=x64 ;;
  aarch64) host=arm64 ;;
  *) host="" ;;
esac
arch="${2:-$host}"
if [ -z "$arch" ]; then
  echo "node-version: no official Node binary package for $(uname -m)" >&2
  exit 1
fi
dir="${SEEDFORK_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/seedfork/node-$major-$arch}"
pkg="$dir/node_modules/node-linux-$arch"
# the installed package's version, read without running its binary (it may be another arch's)
installed="$(sed -n 's/^ *"version": *"\([0-9]*\)\..*/\1/p' "$pkg/package.json" 2>/dev/null | head -1 || true)"
if [ "$installed" != "$major" ] || [ ! -x "$pkg/bin/node" ]; then
  mkdir -p "$dir"
  # unpacked, not installed: npm refuses another architecture's package (its `cpu` field)
  rm -rf "$pkg" && mkdir -p "$pkg"
  tarball="$(cd "$dir" && npm pack --silent "node-linux-$arch@$major" | tail -1)"
  tar -xzf "$dir/$tarball" -C "$pkg" --strip-components=1 && rm -f "$dir/$tarball"
fi
echo "$pkg/bin"
