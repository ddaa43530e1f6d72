#!/usr/bin/env bash
# Installs what seedfork needs on a fresh Debian/Ubuntu machine, then builds it.
# Debian packages: a C compiler (for the namespace helper), PostgreSQL server binaries (for the
# example's and the tests' postgres service), util-linux (setpriv). Then `npm ci` and the build.
# With --test, also what seedfork's own tests need: Chromium (the audit's HTML report, the Playwright
# fixture), Go and pytest (the go and pytest adapter fixtures), redis-server (the redis service),
# QEMU, qemu-utils, mmdebstrap and lz4 (the microvm backend), and the cross compilers, musl and
# qemu-user that build and run the per-platform native packages (scripts/cross-toolchains.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
  command -v go >/dev/null 2>&1 || need+=(golang-go)
  command -v pytest >/dev/null 2>&1 || python3 -c 'import pytest' >/dev/null 2>&1 || need+=(python3-pytest)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  # the microvm backend's tests: QEMU, qcow2 overlays, the guest image builder, the kernel's lz4
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
  command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
  command -v lz4 >/dev/null 2>&1 || need+=(lz4)
fi
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install ${need[*]} (run with sudo)" >&2
    exit 1
  fi
  # Install PostgreSQL's binaries without starting a system cluster on port 5432.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ "${1:-}" = "--test" ]; then
  bash scripts/cross-toolchains.sh
fi
node -e 'const [major] = process.versions.node.split("."); if (+major < 20) { console.error(`seedfork needs Node >= 20 (this is ${process.version})`); process.exit(1); }'
# The lock file lists every platform's optional packages (biome, rollup, esbuild), so `npm ci`
# installs exactly it and leaves it untouched.
npm ci --no-audit --no-fund
npm run build
