#!/usr/bin/env bash
# Installs what vireo needs, builds it, builds the small Linux guest (cached), and boots
# it with the serial console on this terminal. Ctrl-A x quits.
# On a machine without /dev/kvm the VM runs inside the KVM sandbox (scripts/kvm-sandbox.sh:
# a Linux VM under QEMU's TCG whose emulated CPU has AMD SVM), same console, same keys.
#   scripts/quickstart.sh [extra 'vireo run' flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
LINUX_DIR=$(scripts/build-linux-guest.sh | tail -n 1)
run=(build/bin/vireo run --kernel "$LINUX_DIR/vmlinux" --initrd "$LINUX_DIR/initramfs.cpio.gz"
	--cpus 2 --memory 512M --cmdline "console=ttyS0 reboot=k panic=1 vireo.then=shell" "$@")
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	echo "Booting $LINUX_DIR/vmlinux with its initramfs (Ctrl-A x quits)" >&2
	exec "${run[@]}"
fi
echo "No /dev/kvm on this machine: booting the VM inside the KVM sandbox (scripts/kvm-sandbox.sh; Ctrl-A x quits)" >&2
exec scripts/kvm-sandbox.sh --interactive -- "${run[@]}"
