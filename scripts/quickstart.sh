#!/usr/bin/env bash
# Installs what vireo needs, builds it, builds the small Linux guest (cached), and boots
# it with the serial console on this terminal. Ctrl-A x quits.
#   scripts/quickstart.sh [extra 'vireo run' flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
LINUX_DIR=$(scripts/build-linux-guest.sh | tail -n 1)
echo "Booting $LINUX_DIR/vmlinux with its initramfs (Ctrl-A x quits)" >&2
exec build/bin/vireo run --kernel "$LINUX_DIR/vmlinux" --initrd "$LINUX_DIR/initramfs.cpio.gz" \
  --cpus 2 --memory 512M --cmdline "console=ttyS0 reboot=k panic=1 vireo.then=shell" "$@"
