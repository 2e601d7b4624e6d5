#!/usr/bin/env bash
# virtio-blk throughput: the virtio_blk test guest's mode=bench (tests/guest/README.md)
# under vireo and under QEMU, and fio on the host doing the same requests on the same
# image file. --transport mmio (default): vireo --transport mmio and QEMU microvm with
# virtio-blk-device; --transport pci: vireo --transport pci and QEMU q35 with a modern
# virtio-blk-pci (the guest finds both on PCI bus 0 and moves their BAR below 4 GiB). Each guest run prints `bench-start` and
# `bench-end` lines around its request loop (which runs in ring 3); the time between the
# two lines as they reach this script is what counts, so boot and setup are left out.
#
#   bench/blk_bench.sh [--image FILE] [--size BYTES] [--direct on|off] [--runs N]
#                      [--quick] [--only vireo,qemu,fio] [--transport mmio|pci]
#
#   --image    the image (default /var/tmp/vireo-blk-bench.img, made if missing or of
#              another size; its contents do not matter)
#   --size     its size (default 1G; suffixes K, M, G)
#   --direct   on (default): vireo direct=on, QEMU cache=none, fio --direct=1, no host
#              page cache; off: vireo's default, QEMU cache=writeback, fio --direct=0,
#              with the image in the page cache beforehand (a warm-up read)
#   --runs     runs per case and runner, the median counts (default 3: on our nested
#              hosts one run can be 2-3 times slower than the next)
#   --quick    a tenth of the work per case (a smoke test of the script)
#   --transport  mmio (default) or pci, as above. QEMU's q35 boots through SeaBIOS (some
#              seconds here), which the bench-start/bench-end interval leaves out.
#
# Prints a table of MiB/s and IOPS per case and runner and the ratios vireo/host and
# vireo/QEMU, and writes it to build/bench/blk_bench.tsv (blk_bench-pci.tsv for pci). Needs a Release build
# (build/bin/vireo, build/tests/guest/virtio_blk.elf), /dev/kvm, qemu-system-x86_64, fio
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

image=/var/tmp/vireo-blk-bench.img
size=1G
direct=on
quick=0
runs=3
only=vireo,qemu,fio
transport=mmio
while [ $# -gt 0 ]; do
	case $1 in
	--image) image=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--direct) direct=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--only) only=$2; shift 2 ;;
	--transport) transport=$2; shift 2 ;;
	*) echo "usage: $0 [--image FILE] [--size BYTES] [--direct on|off] [--runs N] [--quick] [--only vireo,qemu,fio] [--transport mmio|pci]" >&2; exit 2 ;;
	esac
done
case $direct in on | off) ;; *) echo "--direct must be on or off" >&2; exit 2 ;; esac
case $transport in mmio | pci) ;; *) echo "--transport must be mmio or pci" >&2; exit 2 ;; esac

vireo=build/bin/vireo
elf=build/tests/guest/virtio_blk.elf
for f in "$vireo" "$elf"; do
	[ -e "$f" ] || { echo "$f is missing: build first (cmake --build build)" >&2; exit 1; }
done
for tool in qemu-system-x86_64 fio python3; do
	command -v "$tool" >/dev/null || { echo "$tool is missing: scripts/install-deps.sh" >&2; exit 1; }
done

bytes_of() { numfmt --from=iec "$1"; }
size_bytes=$(bytes_of "$size")
mib=$((1 << 20))

# The cases: name, guest options, fio options. Totals keep each run to a few seconds on
# our nested-KVM machines (a request costs a VM exit there, tens of microseconds).
scale() { echo $(($1 * (quick ? 1 : 10) / 10)); }
cases=(
	"seqread-1M|op=read bs=1048576 qd=1 total=$(scale $((256 * mib)))|--rw=read --bs=1M --iodepth=1"
	"seqwrite-1M|op=write bs=1048576 qd=1 total=$(scale $((256 * mib)))|--rw=write --bs=1M --iodepth=1"
	"randread-4K-qd1|op=randread bs=4096 qd=1 total=$(scale $((32 * mib)))|--rw=randread --bs=4k --iodepth=1"
	"randread-4K-qd32|op=randread bs=4096 qd=32 total=$(scale $((64 * mib)))|--rw=randread --bs=4k --iodepth=32"
)

make_image() {
	if [ -f "$image" ] && [ "$(stat -c %s "$image")" = "$size_bytes" ]; then return; fi
	echo "making $image ($size, written out so that no read hits a hole)"
	rm -f "$image"
	dd if=/dev/zero of="$image" bs=1M count=$((size_bytes / mib)) conv=fsync status=none
}

warm_cache() {
	[ "$direct" = off ] || return 0
	cat "$image" >/dev/null
}

# Runs a command, stamping each output line with the time it arrived; prints
# "<seconds between the markers> <bytes> <requests>" or fails.
timed_guest() {
	local log
	log=$(mktemp /tmp/vireo-blk-bench.XXXXXX)
	set +e
	timeout 600 "$@" 2>&1 </dev/null | while IFS= read -r line; do
		printf '%s %s\n' "$EPOCHREALTIME" "$line"
	done >"$log"
	local rc=${PIPESTATUS[0]}
	set -e
	# Pass is exit value 0 on port 0xf4: status 1 under vireo and QEMU alike.
	if [ "$rc" != 1 ] || ! grep -q 'bench-end' "$log"; then
		echo "run failed (status $rc): $*" >&2
		sed 's/^[0-9.]* //' "$log" | tail -n 20 >&2
		rm -f "$log"
		return 1
	fi
	awk '/bench-start/ { start = $1 }
	     /bench-end/ {
	       for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	       printf "%.6f %s %s\n", $1 - start, v["bytes"], v["requests"]
	     }' "$log"
	rm -f "$log"
}

run_vireo() {
	local opts=$1 disk="path=$image,serial=bench"
	[ "$direct" = on ] && disk+=",direct=on"
	timed_guest "$vireo" run --kernel "$elf" --memory 512M --transport "$transport" \
		--disk "$disk" --cmdline "mode=bench ring=3 $opts"
}

run_qemu() {
	local opts=$1 cache=writeback
	[ "$direct" = on ] && cache=none
	local drive="file=$image,format=raw,if=none,id=d0,cache=$cache,aio=threads"
	if [ "$transport" = pci ]; then
		# q35 (SeaBIOS places the BARs; the guest moves the virtio one). disable-legacy=on:
		# a modern device (ID 0x1042), the only kind the guest's driver takes.
		timed_guest qemu-system-x86_64 -M q35 \
			-accel kvm -cpu host,-arch-capabilities -m 512 -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot \
			-device isa-debug-exit,iobase=0xf4,iosize=4 \
			-drive "$drive" -device virtio-blk-pci,drive=d0,serial=bench,disable-legacy=on \
			-kernel "$elf" -append "mode=bench ring=3 transport=pci $opts"
		return
	fi
	# microvm announces its virtio-mmio devices on the kernel command line itself.
	timed_guest qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off \
		-accel kvm -cpu host,-arch-capabilities -m 512 -nodefaults -no-user-config \
		-nographic -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false \
		-drive "$drive" \
		-device virtio-blk-device,drive=d0,serial=bench \
		-kernel "$elf" -append "mode=bench ring=3 $opts"
}

# fio doing the same requests: the guest's total, sequential from offset 0 or at random
# over the whole image.
run_fio() {
	local opts=$1 fio_opts=$2 total engine=psync
	total=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' <<<"$opts")
	[[ $fio_opts == *iodepth=1 ]] || engine=libaio
	# Like the guests, fio finds the image in the page cache with direct=off (by default
	# it would drop the file's cached pages first).
	local d=0 invalidate=0
	[ "$direct" = on ] && d=1 invalidate=1
	# shellcheck disable=SC2086
	fio --name=blk --filename="$image" --size="$size_bytes" --io_size="$total" \
		--ioengine=$engine --direct=$d --invalidate=$invalidate $fio_opts --randrepeat=1 \
		--output-format=json 2>/dev/null |
		python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] else job["write"]
secs = side["runtime"] / 1000.0
print("%.6f %d %d" % (secs, side["io_bytes"], side["total_ios"]))'
}

# One case for one runner `runs` times: prints the median run's line ("" if any failed).
median_of() {
	local runner=$1 opts=$2 fio_opts=$3 all="" one
	for _ in $(seq "$runs"); do
		warm_cache
		if [ "$runner" = fio ]; then
			one=$(run_fio "$opts" "$fio_opts") || return 0
		else
			one=$(run_"$runner" "$opts") || return 0
		fi
		all+="$one"$'\n'
	done
	sort -g <<<"${all%$'\n'}" | sed -n "$(((runs + 1) / 2))p"
}

make_image
mkdir -p build/bench
tsv=build/bench/blk_bench.tsv
[ "$transport" = mmio ] || tsv=build/bench/blk_bench-$transport.tsv
qemu_machine="QEMU microvm, virtio-blk-device"
[ "$transport" = mmio ] || qemu_machine="QEMU q35, virtio-blk-pci"
echo "== virtio-blk bench: $image ($size), direct=$direct, transport $transport ($qemu_machine), guest loops in ring 3, median of $runs runs"
echo -e "case\trunner\tseconds\tbytes\trequests\tMiB/s\tIOPS" >"$tsv"
declare -A mibs iops
for c in "${cases[@]}"; do
	IFS='|' read -r name opts fio_opts <<<"$c"
	for runner in vireo qemu fio; do
		[[ ,$only, == *,$runner,* ]] || continue
		res=$(median_of "$runner" "$opts" "$fio_opts")
		if [ -z "$res" ]; then
			mibs[$name,$runner]=-
			iops[$name,$runner]=-
			continue
		fi
		read -r secs bytes reqs <<<"$res"
		mibs[$name,$runner]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }')
		iops[$name,$runner]=$(awk -v r="$reqs" -v s="$secs" 'BEGIN { printf "%.0f", r / s }')
		echo -e "$name\t$runner\t$secs\t$bytes\t$reqs\t${mibs[$name,$runner]}\t${iops[$name,$runner]}" >>"$tsv"
		echo "  $name $runner: ${secs}s ${mibs[$name,$runner]} MiB/s ${iops[$name,$runner]} IOPS" >&2
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
echo
printf '%-18s %10s %9s %10s %9s %10s %9s %11s %11s\n' case "vireo MiB/s" IOPS "QEMU MiB/s" IOPS \
	"host MiB/s" IOPS vireo/host vireo/QEMU
for c in "${cases[@]}"; do
	name=${c%%|*}
	printf '%-18s %10s %9s %10s %9s %10s %9s %11s %11s\n' "$name" \
		"${mibs[$name,vireo]:--}" "${iops[$name,vireo]:--}" \
		"${mibs[$name,qemu]:--}" "${iops[$name,qemu]:--}" \
		"${mibs[$name,fio]:--}" "${iops[$name,fio]:--}" \
		"$(ratio "${mibs[$name,vireo]:--}" "${mibs[$name,fio]:--}")" \
		"$(ratio "${mibs[$name,vireo]:--}" "${mibs[$name,qemu]:--}")"
done
echo "(also in $tsv)"
