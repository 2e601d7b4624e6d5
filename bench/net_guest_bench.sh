#!/usr/bin/env bash
# virtio-net frame rates with the virtio_net test guest (tests/guest/README.md): raw
# Ethernet frames of 60 and 1514 bytes (a 1500-byte MTU), guest to tap (tx) and tap to
# guest (rx), under vireo --transport mmio, vireo --transport pci, QEMU microvm with
# virtio-net-device and QEMU q35 with a modern virtio-net-pci (vhost off: every VMM moves
# each frame in user space). The guest's loop runs in ring 3 and polls; it prints
# `bench-start` and `bench-end` lines around it, and the time between them as they reach
# this script is what counts. The host end is build/bin/vireo_net_pump on the tap (in a
# network namespace of its own): for tx it counts the frames that arrive, for rx it sends
# frames as fast as the tap takes them while the guest counts.
#
#   bench/net_guest_bench.sh [--here] [--runs N] [--quick] [--only RUNNERS]
#
#   --here     run on this machine's /dev/kvm even without VT-x/AMD-V (a nested KVM that
#              emulates guest ring 0: the guest's ring-3 loop still runs natively). Without
#              it, a host without VT-x/AMD-V runs the bench in the KVM sandbox
#              (scripts/kvm-sandbox.sh), where only the ratios mean anything.
#   --runs     runs per case and runner, the median counts (default 3)
#   --quick    a tenth of the frames (a smoke test of the script)
#   --only     a comma-separated subset of vireo-mmio,vireo-pci,qemu-mmio,qemu-pci
#
# Prints frames/s and MiB/s (of Ethernet frames, no header or FCS) per case and runner and
# the ratios vireo/QEMU per transport, and writes them to build/bench/net_guest_bench.tsv
# (net_guest_bench-sandbox.tsv in the sandbox). Needs a Release build (build/bin/vireo,
# build/bin/vireo_net_pump, build/tests/guest/virtio_net.elf), root (a network namespace
# and a tap), qemu-system-x86_64.
set -euo pipefail
cd "$(dirname "$0")/.."

here=0
inside=0
runs=3
quick=0
only=vireo-mmio,vireo-pci,qemu-mmio,qemu-pci
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--here) here=1; shift ;;
	--inside) inside=1; shift ;;
	--runs) runs=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: $0 [--here] [--runs N] [--quick] [--only vireo-mmio,vireo-pci,qemu-mmio,qemu-pci]" >&2; exit 2 ;;
	esac
done

vireo=$PWD/build/bin/vireo
pump=$PWD/build/bin/vireo_net_pump
elf=$PWD/build/tests/guest/virtio_net.elf
for f in "$vireo" "$pump" "$elf"; do
	[ -e "$f" ] || { echo "$f is missing: build first (cmake --build build)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is missing: scripts/install-deps.sh" >&2; exit 1; }

if [ "$here" = 0 ] && [ "$inside" = 0 ] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	exec scripts/kvm-sandbox.sh --timeout 3000 -- "$PWD/bench/net_guest_bench.sh" --inside "${args[@]}"
fi
[ -e /dev/kvm ] || { echo "no /dev/kvm" >&2; exit 1; }

# Frames per run: a few seconds each here; TCG's nested KVM in the sandbox is some ten
# times slower.
scale() {
	local n=$1
	[ "$quick" = 1 ] && n=$((n / 10))
	[ "$inside" = 1 ] && n=$((n / 10))
	echo "$n"
}
cases=(
	"tx-60|tx|60|$(scale 400000)"
	"tx-1514|tx|1514|$(scale 400000)"
	"rx-60|rx|60|$(scale 400000)"
	"rx-1514|rx|1514|$(scale 400000)"
)
mac=52:54:00:12:34:56

ns=vireo-ngb-$$
tap=ngbtap0
helper=
cleanup() {
	[ -n "$helper" ] && kill "$helper" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
nsx=(ip netns exec "$ns")
in_ns() { "${nsx[@]}" "$@"; }
in_ns ip link set lo up
in_ns ip tuntap add dev "$tap" mode tap vnet_hdr
in_ns sh -c "echo 1 > /proc/sys/net/ipv6/conf/$tap/disable_ipv6"
in_ns ip link set "$tap" up

# Runs a command, stamping each output line with the time it arrived; prints
# "<seconds between the markers> <frames> <bytes> <kicks>" or fails.
timed_guest() {
	local log
	log=$(mktemp /tmp/vireo-net-bench.XXXXXX)
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
	       printf "%.6f %s %s %s\n", $1 - start, v["frames"], v["bytes"], v["kicks"]
	     }' "$log"
	rm -f "$log"
}

run_vm() {
	local runner=$1 opts="mode=bench $2"
	local qemu=(qemu-system-x86_64 -accel kvm -cpu host,-arch-capabilities -m 256 -nodefaults
		-no-user-config -nographic -serial stdio -no-reboot
		-device isa-debug-exit,iobase=0xf4,iosize=4
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off")
	case $runner in
	vireo-mmio | vireo-pci)
		timed_guest "${nsx[@]}" "$vireo" run --kernel "$elf" --memory 256M --transport "${runner#vireo-}" \
			--net "tap=$tap,mac=$mac" --cmdline "$opts" ;;
	qemu-mmio)
		# microvm announces its virtio-mmio devices on the kernel command line itself.
		timed_guest "${nsx[@]}" "${qemu[@]}" -M microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off \
			-global virtio-mmio.force-legacy=false -device "virtio-net-device,netdev=n0,mac=$mac" \
			-kernel "$elf" -append "$opts" ;;
	qemu-pci)
		# q35 (SeaBIOS places the BARs; the guest moves the virtio one). disable-legacy=on:
		# a modern device (ID 0x1041), the only kind the guest's driver takes; no option ROM.
		timed_guest "${nsx[@]}" "${qemu[@]}" -M q35 \
			-device "virtio-net-pci,netdev=n0,mac=$mac,disable-legacy=on,romfile=" \
			-kernel "$elf" -append "transport=pci $opts" ;;
	esac
}

# One run: the host end started in the namespace, the VM, the host end stopped. Prints
# "<seconds> <frames> <bytes> <kicks> <host frames>" (host frames: counted on the tap for
# tx, sent for rx).
one_run() {
	local runner=$1 dir=$2 size=$3 frames=$4 out res host
	out=$(mktemp /tmp/vireo-net-pump.XXXXXX)
	if [ "$dir" = tx ]; then
		"${nsx[@]}" "$pump" count "$tap" >"$out" &
	else
		"${nsx[@]}" "$pump" send "$tap" "$size" >"$out" &
	fi
	helper=$!
	for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.05; done
	res=$(run_vm "$runner" "dir=$dir frames=$frames size=$size") || res=
	sleep 0.1 # the last frames reach the counter
	kill -TERM "$helper" 2>/dev/null || true
	wait "$helper" || true
	helper=
	host=$(grep -o -E '(frames|sent)=[0-9]+' "$out" | head -1 | cut -d= -f2)
	if [ "$dir" = tx ] && grep -q 'bad=[1-9]' "$out"; then
		echo "$runner: the host saw frames the guest does not make: $(cat "$out")" >&2
		res=
	fi
	rm -f "$out"
	[ -n "$res" ] || return 1
	echo "$res ${host:--}"
}

median_of() {
	local all="" one
	for _ in $(seq "$runs"); do
		one=$(one_run "$@") || return 0
		all+="$one"$'\n'
	done
	sort -g <<<"${all%$'\n'}" | sed -n "$(((runs + 1) / 2))p"
}

mkdir -p build/bench
tsv=build/bench/net_guest_bench.tsv
[ "$inside" = 1 ] && tsv=build/bench/net_guest_bench-sandbox.tsv
where="this machine's /dev/kvm"
[ "$inside" = 1 ] && where="the KVM sandbox (TCG; compare ratios only)"
echo "== virtio-net guest bench on $where: raw frames, guest loop in ring 3, median of $runs runs"
echo -e "case\trunner\tseconds\tframes\tbytes\tkicks\thost_frames\tframes/s\tMiB/s" >"$tsv"
declare -A fps mibs
runners=(vireo-mmio qemu-mmio vireo-pci qemu-pci)
for c in "${cases[@]}"; do
	IFS='|' read -r name dir size frames <<<"$c"
	for runner in "${runners[@]}"; do
		[[ ,$only, == *,$runner,* ]] || continue
		res=$(median_of "$runner" "$dir" "$size" "$frames")
		if [ -z "$res" ]; then
			fps[$name,$runner]=-
			mibs[$name,$runner]=-
			continue
		fi
		read -r secs n bytes kicks host <<<"$res"
		fps[$name,$runner]=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
		mibs[$name,$runner]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }')
		echo -e "$name\t$runner\t$secs\t$n\t$bytes\t$kicks\t$host\t${fps[$name,$runner]}\t${mibs[$name,$runner]}" >>"$tsv"
		echo "  $name $runner: ${secs}s $n frames (host: $host) ${fps[$name,$runner]} frames/s ${mibs[$name,$runner]} MiB/s, $kicks kicks" >&2
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
echo
printf '%-8s | %10s %8s %10s %8s %6s | %10s %8s %10s %8s %6s\n' "" "vireo-mmio" "" "qemu-mmio" "" "ratio" \
	"vireo-pci" "" "qemu-pci" "" "ratio"
printf '%-8s | %10s %8s %10s %8s %6s | %10s %8s %10s %8s %6s\n' case frames/s MiB/s frames/s MiB/s "" \
	frames/s MiB/s frames/s MiB/s ""
for c in "${cases[@]}"; do
	name=${c%%|*}
	printf '%-8s | %10s %8s %10s %8s %6s | %10s %8s %10s %8s %6s\n' "$name" \
		"${fps[$name,vireo-mmio]:--}" "${mibs[$name,vireo-mmio]:--}" \
		"${fps[$name,qemu-mmio]:--}" "${mibs[$name,qemu-mmio]:--}" \
		"$(ratio "${fps[$name,vireo-mmio]:--}" "${fps[$name,qemu-mmio]:--}")" \
		"${fps[$name,vireo-pci]:--}" "${mibs[$name,vireo-pci]:--}" \
		"${fps[$name,qemu-pci]:--}" "${mibs[$name,qemu-pci]:--}" \
		"$(ratio "${fps[$name,vireo-pci]:--}" "${fps[$name,qemu-pci]:--}")"
done
echo "(ratio: vireo/QEMU frames per second on the same transport; also in $tsv)"
