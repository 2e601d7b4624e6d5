#!/bin/bash
# Guest reboot time: a guest that resets the machine (the i8042 reset line) as soon as it
# has printed its line, run for a while under each VMM; reboots per second, and the time
# from one reset to the guest's next line.
#   - vireo --on-reboot restart: the VM is reset in place (Vm::reset: devices, RAM, boot
#     image, irqchip, PIT and vCPUs back to power-on), no firmware;
#   - QEMU q35: system_reset, SeaBIOS runs again and boots the same -kernel.
# Usage: bench/reboot_bench.sh [--seconds N] [--memory SIZE_MIB]
# Needs build/bin/vireo, build/tests/guest/power.elf, /dev/kvm, qemu-system-x86_64.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
memory=64
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	*) echo "usage: $0 [--seconds N] [--memory MIB]" >&2; exit 2 ;;
	esac
done
vireo=build/bin/vireo
elf=build/tests/guest/power.elf
for f in "$vireo" "$elf" /dev/kvm; do
	[ -e "$f" ] || { echo "missing $f (build first; needs KVM)" >&2; exit 2; }
done

# Lines "power: i8042 reset" printed in `seconds` by the command.
count() {
	{ timeout "$seconds" "$@" 2>/dev/null || true; } | grep -c "power: i8042 reset" || true
}

report() {
	local name=$1 n=$2 secs=$3
	if [ "$n" -gt 0 ]; then
		awk -v name="$name" -v n="$n" -v s="$secs" \
			'BEGIN { printf "%-34s %8d boots in %3d s  %10.2f ms per reboot\n", name, n, s, s * 1000 / n }'
	else
		printf "%-34s %8d boots in %3d s\n" "$name" 0 "$secs"
	fi
}

echo "== guest reboot loop, ${memory} MiB, ${seconds} s per VMM (QEMU: 4x as long)"
n=$(count "$vireo" run --kernel "$elf" --cmdline via=kbd --memory "${memory}M" --on-reboot restart --quiet)
report "vireo (reset in place)" "$n" "$seconds"
if command -v qemu-system-x86_64 >/dev/null; then
	qsecs=$((seconds * 4))
	saved=$seconds
	seconds=$qsecs
	n=$(count qemu-system-x86_64 -M q35 -accel kvm -cpu host,-arch-capabilities -m "$memory" \
		-nodefaults -no-user-config -nographic -serial stdio -kernel "$elf" -append via=kbd)
	seconds=$saved
	report "QEMU q35 (system_reset, SeaBIOS)" "$n" "$qsecs"
fi
