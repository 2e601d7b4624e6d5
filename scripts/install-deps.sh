#!/usr/bin/env bash
# Installs everything vireo needs to build, test and benchmark on Debian 12.
set -euo pipefail
PKGS=(
  build-essential g++ cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  liburing-dev
  # the REST API (--api-sock): HTTP/1.1 requests parsed by http-parser; its fuzz target
  # (tests/fuzz) is built with clang and libFuzzer
  libhttp-parser-dev clang libclang-rt-14-dev
  liblz4-dev libzstd-dev liblzma-dev zlib1g-dev libbz2-dev liblzo2-dev libxxhash-dev
  # Linux guest fixtures (scripts/build-linux-guest.sh)
  linux-source-6.1 busybox-static bc bison flex libelf-dev libssl-dev cpio xz-utils lz4 zstd
  # disk images for the virtio-blk tests (mkfs.ext4, e2fsck, debugfs)
  e2fsprogs
  # iasl: the ACPI unit tests disassemble the tables vireo builds
  acpica-tools
  # comparison and measurement
  qemu-system-x86 hyperfine python3 tmux
  # the API tests drive vireo as Firecracker's guide does: curl --unix-socket
  curl
  # bench/blk_bench.sh: the host side of the virtio-blk comparison
  fio
)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
