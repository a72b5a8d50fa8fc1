#!/bin/sh
# Installs the Debian packages edgefusion needs to build and test.
#   scripts/install_deps.sh          build + test: compiler, pkg-config, cJSON, utf8proc, libpng, libcrypto
#   scripts/install_deps.sh --dev    also clang + compiler-rt (make fuzz, sanitizers with clang)
#   scripts/install_deps.sh --cross  also the aarch64 cross compiler, qemu-user and the arm64
#                                    libraries (Debian multiarch) for make test-neon
# Runs apt-get through sudo when not root. Safe to run again.
set -eu
pkgs="build-essential g++ pkg-config libcjson-dev libutf8proc-dev libpng-dev libssl-dev"
[ "${1:-}" = "--dev" ] && pkgs="$pkgs clang libclang-rt-dev"
[ "${1:-}" = "--cross" ] && pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
    libcjson-dev:arm64 libutf8proc-dev:arm64 libpng-dev:arm64 libssl-dev:arm64"
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
if [ "${1:-}" = "--cross" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $as_root dpkg --add-architecture arm64   # the :arm64 packages; apt-get update follows
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -q
# shellcheck disable=SC2086
$as_root apt-get install -y -q --no-install-recommends $missing
