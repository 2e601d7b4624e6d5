#!/usr/bin/env bash
# Boots the cached Linux guest (scripts/build-linux-guest.sh) under QEMU with
# pure software emulation (TCG) and checks /init's marker lines; a reference
# for what vireo must reproduce. Each boot takes a few seconds.
#
# Usage: scripts/linux/qemu-smoke.sh [ENTRY_DIR]
#   ENTRY_DIR defaults to the cache entry for the current inputs (it must
#   have been built). Logs go to $SMOKE_LOGDIR (default: a temp dir).
# Boots:
#   pc-bzImage     -M pc, bzImage + initramfs.cpio.gz (SeaBIOS, ACPI poweroff)
#   pc-pvh         -M pc, vmlinux (PVH entry) + initramfs.cpio
#   microvm-pvh    -M microvm, vmlinux (PVH), virtio-mmio blk+rng from ACPI
#                  (tsc_early_khz: TCG has no kvmclock, microvm no HPET/PM timer)
# Ends with the line "N passed, N failed"; exit status 1 if any failed.
set -uo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
dir=${1:-}
if [ -z "$dir" ]; then
	dir=$("$here/../build-linux-guest.sh" --print-dir) || {
		echo "qemu-smoke: no cache entry $dir; run scripts/build-linux-guest.sh" >&2
		exit 1
	}
fi
for f in bzImage vmlinux initramfs.cpio.gz initramfs.cpio; do
	[ -f "$dir/$f" ] || { echo "qemu-smoke: missing $dir/$f" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || {
	echo "qemu-smoke: qemu-system-x86_64 not found -- run scripts/install-deps.sh" >&2
	exit 1
}
logdir=${SMOKE_LOGDIR:-$(mktemp -d /tmp/vireo-qemu-smoke.XXXXXX)}
mkdir -p "$logdir"

passed=0
failed=0
# boot NAME QEMU-ARGS... : boot with vireo.cmd printing a computed value,
# expect the markers, 2 CPUs and a clean poweroff (QEMU exits 0).
boot() {
	local name=$1 log=$logdir/$1.log rc t0 t1
	shift
	t0=$(date +%s.%N)
	timeout 180 qemu-system-x86_64 -accel tcg -m 256 -smp 2 -nographic -no-reboot \
		"$@" </dev/null >"$log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	local ok=1 want
	[ "$rc" = 0 ] || ok=0
	for want in "VIREO-INIT: started" "VIREO-INIT: cpus=2" "smoke-42" \
		"VIREO-INIT: cmd-exit=0" "VIREO-INIT: done"; do
		grep -qF -- "$want" "$log" || { ok=0; echo "  $name: no '$want' in $log"; }
	done
	printf '%s %s (qemu exit %s, %.1f s)\n' "$([ $ok = 1 ] && echo PASS || echo FAIL)" \
		"$name" "$rc" "$(echo "$t1 - $t0" | bc)"
	if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

cmd='vireo.cmd="echo smoke-$((6*7))" vireo.then=poweroff'
boot pc-bzImage -M pc -kernel "$dir/bzImage" -initrd "$dir/initramfs.cpio.gz" \
	-append "console=ttyS0 $cmd"
boot pc-pvh -M pc -kernel "$dir/vmlinux" -initrd "$dir/initramfs.cpio" \
	-append "console=ttyS0 $cmd"
disk=$logdir/disk.img
rm -f "$disk"
truncate -s 16M "$disk"
boot microvm-pvh -M microvm -kernel "$dir/vmlinux" -initrd "$dir/initramfs.cpio.gz" \
	-drive id=d0,file="$disk",format=raw,if=none -device virtio-blk-device,drive=d0 \
	-device virtio-rng-device \
	-append "console=ttyS0 tsc_early_khz=2000000 $cmd"
grep -q "virtio_blk virtio0" "$logdir/microvm-pvh.log" ||
	echo "  microvm-pvh: note: virtio-blk did not probe"

echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
