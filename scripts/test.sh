#!/usr/bin/env bash
# Runs the whole test suite: installs dependencies, builds (Release, and an
# ASan/UBSan build), builds the cached Linux guest fixtures (our minimal kernel and
# Debian's cloud kernel), runs every test: ctest for everything but the Debian boot
# (label "slow"), which runs alongside in the background; the sanitizer pass skips it.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    Release build only (no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
JOBS=$(nproc)

scripts/install-deps.sh

echo "== build (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"

echo "== Linux guest fixture (cached)"
VIREO_LINUX_DIR=$(scripts/build-linux-guest.sh | tail -n 1)
export VIREO_LINUX_DIR
echo "Linux guest: $VIREO_LINUX_DIR"
echo "== Debian cloud kernel fixture (cached)"
VIREO_DEBIAN_DIR=$(scripts/build-debian-guest.sh | tail -n 1)
export VIREO_DEBIAN_DIR
echo "Debian guest: $VIREO_DEBIAN_DIR"

status=0
# The Debian cloud-kernel boot (label "slow") takes about 20 minutes where guest kernel
# mode is emulated, on one core: it runs in the background from here while the other
# tests and the sanitizer build use the other core, and is waited for at the end.
echo "== slow tests (Release, in the background): Debian cloud kernel to init"
SLOW_LOG=$ROOT/build/slow-tests.log
timeout 2700 build/bin/vireo_debian_tests >"$SLOW_LOG" 2>&1 &
slow_pid=$!
trap 'kill "$slow_pid" 2>/dev/null || true' EXIT

echo "== tests (Release)"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900 -LE slow || status=1

if [ "$QUICK" = 0 ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIREO_SANITIZE=ON \
    -DVIREO_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$JOBS"
  echo "== tests (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900 -LE slow || status=1
fi

echo "== slow tests (Release): waiting for the Debian cloud kernel boot"
if wait "$slow_pid"; then
  grep -A 12 "debian cloud kernel:" "$SLOW_LOG" || tail -n 4 "$SLOW_LOG"
else
  echo "FAILED: Debian cloud kernel test (exit $?; 124 = timed out after 2700 s)"
  cat "$SLOW_LOG"
  status=1
fi
exit $status
