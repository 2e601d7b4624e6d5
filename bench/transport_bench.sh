#!/usr/bin/env bash
# virtio transports compared with a Linux guest: the project's minimal kernel reads and
# writes its virtio disk with dd (O_DIRECT in the guest) under
#   vireo --transport mmio, vireo --transport pci, QEMU q35 with virtio-blk-pci,
# and each boot's time to /init is noted. Linux guests need a real KVM, so this runs in
# the KVM sandbox (scripts/kvm-sandbox.sh) unless already inside it or on a host with
# hardware virtualization. The disk image lives in the sandbox's tmpfs (both VMMs use the
# host page cache), so the numbers are the virtio data path: kicks, interrupts, copies.
#
#   bench/transport_bench.sh [--runs N] [--quick]
#
# Prints a table (median of N runs, default 3) and writes build/bench/transport_bench.tsv.
# Absolute numbers inside the sandbox are those of an emulated CPU: read the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
quick=0
inside=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--inside) inside=1; shift ;;
	*) echo "usage: $0 [--runs N] [--quick]" >&2; exit 2 ;;
	esac
done

vireo=$PWD/build/bin/vireo
[ -x "$vireo" ] || { echo "$vireo is missing: build first" >&2; exit 1; }
linux=$(scripts/build-linux-guest.sh | tail -n 1)

hw_virt() { grep -qwE 'vmx|svm' /proc/cpuinfo; }
if [ "$inside" = 0 ] && ! hw_virt; then
	exec scripts/kvm-sandbox.sh --timeout 3000 -- "$PWD/bench/transport_bench.sh" --inside \
		--runs "$runs" $([ "$quick" = 1 ] && echo --quick)
fi

small=20000 big=256
[ "$quick" = 1 ] && small=2000 big=32
img=/tmp/vireo-transport-bench.img
truncate -s 512M "$img"
out_dir=build/bench
mkdir -p "$out_dir" 2>/dev/null || out_dir=/tmp
tsv=$out_dir/transport_bench.tsv

# Guest command: three timed dd runs; /proc/uptime has 10 ms steps, runs last seconds.
read -r -d '' guest_cmd <<EOF || true
t() { cut -d' ' -f1 /proc/uptime; }
a=\$(t); dd if=/dev/vda of=/dev/null bs=4096 count=$small iflag=direct 2>/dev/null; b=\$(t)
echo bench-r4k=\$a,\$b
a=\$(t); dd if=/dev/vda of=/dev/null bs=1M count=$big iflag=direct 2>/dev/null; b=\$(t)
echo bench-r1m=\$a,\$b
a=\$(t); dd if=/dev/zero of=/dev/vda bs=1M count=$big oflag=direct 2>/dev/null; b=\$(t)
echo bench-w1m=\$a,\$b
EOF
cmd64=$(printf '%s' "$guest_cmd" | base64 -w0)
append="console=ttyS0 reboot=k panic=1 quiet vireo.then=poweroff vireo.cmd64=$cmd64"

run_one() {
	case $1 in
	vireo-mmio | vireo-pci)
		"$vireo" run --kernel "$linux/vmlinux" --initrd "$linux/initramfs.cpio" --memory 512M \
			--transport "${1#vireo-}" --disk "path=$img" --cmdline "$append" ;;
	qemu-pci)
		qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 1 -nographic -nodefaults \
			-no-reboot -serial stdio -kernel "$linux/bzImage" -initrd "$linux/initramfs.cpio" \
			-append "$append" -drive "file=$img,if=none,id=d0,format=raw,cache=writeback" \
			-device virtio-blk-pci,drive=d0 ;;
	esac
}

# value from "bench-X=a,b" lines: seconds b-a
secs() { grep -o "bench-$1=[0-9.]*,[0-9.]*" | head -1 | cut -d= -f2 | awk -F, '{printf "%.2f", $2-$1}'; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }

printf 'runner\tinit_s\tr4k_iops\tr1m_mibs\tw1m_mibs\n' >"$tsv"
for runner in vireo-mmio vireo-pci qemu-pci; do
	: >/tmp/tb.init; : >/tmp/tb.r4k; : >/tmp/tb.r1m; : >/tmp/tb.w1m
	for _ in $(seq "$runs"); do
		out=$(run_one "$runner" 2>&1 || true)
		grep -o 'VIREO-INIT: uptime=[0-9.]*' <<<"$out" | cut -d= -f2 >>/tmp/tb.init || true
		s=$(secs r4k <<<"$out"); [ -n "$s" ] && awk -v s="$s" -v n="$small" 'BEGIN{printf "%.0f\n", n/s}' >>/tmp/tb.r4k
		s=$(secs r1m <<<"$out"); [ -n "$s" ] && awk -v s="$s" -v n="$big" 'BEGIN{printf "%.1f\n", n/s}' >>/tmp/tb.r1m
		s=$(secs w1m <<<"$out"); [ -n "$s" ] && awk -v s="$s" -v n="$big" 'BEGIN{printf "%.1f\n", n/s}' >>/tmp/tb.w1m
		grep -q bench-w1m <<<"$out" || { echo "$runner: no result; its output:" >&2; tail -20 <<<"$out" >&2; }
	done
	printf '%s\t%s\t%s\t%s\t%s\n' "$runner" "$(median </tmp/tb.init)" "$(median </tmp/tb.r4k)" \
		"$(median </tmp/tb.r1m)" "$(median </tmp/tb.w1m)" >>"$tsv"
done
rm -f "$img" /tmp/tb.*
column -t "$tsv"
echo "(median of $runs runs; init_s: kernel clock at /init; table in $tsv)"
