#!/usr/bin/env bash
# Installs what `node scripts/pack.mjs` needs to build seedfork's native parts for every
# platform it publishes (linux-{x64,arm64}-{gnu,musl}), and what its tests need to run them:
#   - Debian packages: gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (arm64 glibc),
#     musl-tools (x64 musl), qemu-user-static (runs arm64 binaries here), libstdc++6-arm64-cross
#     (for arm64 Node under qemu, in the tests);
#   - musl for arm64 (musl and musl-dev, arch arm64), which has no cross package in Debian:
#     downloaded from Debian's archive and unpacked under build/toolchains/aarch64-linux-musl,
#     without adding arm64 to dpkg's architectures.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then
  echo "cross-toolchains: written for an amd64 Debian/Ubuntu machine (this is $(uname -m)); build each platform's parts on that platform: node native/build.mjs --platform <platform> --out <dir>" >&2
  exit 1
fi
need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need+=(libstdc++6-arm64-cross)
musl_arm64=build/toolchains/aarch64-linux-musl
if [ "${#need[@]}" -gt 0 ] || [ ! -e "$musl_arm64/usr/lib/aarch64-linux-musl/musl-gcc.specs" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "cross-toolchains: need root to install ${need[*]:-musl for arm64} (run with sudo)" >&2
    exit 1
  fi
fi
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -e "$musl_arm64/usr/lib/aarch64-linux-musl/musl-gcc.specs" ]; then
  # apt reads arm64's package lists only when asked to for this command
  arches=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
  apt-get "${arches[@]}" update -qq
  debs="$(mktemp -d)"
  trap 'rm -rf "$debs"' EXIT
  # apt's sandbox user must be able to write where it downloads
  chmod 755 "$debs" && chown _apt "$debs" 2>/dev/null || true
  (cd "$debs" && apt-get "${arches[@]}" download -qq musl:arm64 musl-dev:arm64)
  rm -rf "$musl_arm64" && mkdir -p "$musl_arm64"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$musl_arm64"; done
fi
