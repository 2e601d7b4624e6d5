#!/usr/bin/env bash
# Process memory beside guest RAM with every device in use: our minimal Linux boots with a
# disk, a NIC on a tap, vsock and an entropy device, uses each of them (the drivers
# activate the devices: queues set up, I/O threads started, io_uring made), then idles;
# the VMM's resident memory is read from /proc/PID/smaps. Guest RAM is vireo's private
# mapping advised for huge pages (VmFlags "hg", named [anon:vireo-guest-ram] where the
# kernel keeps names) and QEMU's memfd (memory-backend-memfd); what the VMM itself costs
# is the resident memory of every other mapping, anonymous and file-backed. Runs in the
# KVM sandbox unless the host has VT-x/AMD-V.
#
#   bench/device_memory_bench.sh [--runs N]
#
# QEMU 7.2 (q35, virtio-*-pci, the same tap) runs without vsock: its vsock needs the
# host's vhost_vsock module.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
inside=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--inside) inside=1; shift ;;
	*) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
	esac
done

vireo=$PWD/build/bin/vireo
[ -x "$vireo" ] || { echo "$vireo is missing: build first" >&2; exit 1; }
linux=$(scripts/build-linux-guest.sh | tail -n 1)
if [ "$inside" = 0 ] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	exec scripts/kvm-sandbox.sh --timeout 1800 -- "$PWD/bench/device_memory_bench.sh" --inside --runs "$runs"
fi

img=/tmp/vireo-mem-bench.img
truncate -s 64M "$img"
ip tuntap add dev vmtap0 mode tap vnet_hdr 2>/dev/null || true
ip link set vmtap0 up
trap 'ip link del vmtap0 2>/dev/null || true; rm -f "$img"' EXIT

guest_cmd='dd if=/dev/vda of=/dev/null bs=1M count=8 2>/dev/null; ip link set eth0 up;
dd if=/dev/hwrng of=/dev/null bs=4096 count=4 2>/dev/null; ls /sys/bus/virtio/devices >/dev/null;
echo bench-ready-$((6*7)); sleep 6'
append="console=ttyS0 reboot=k panic=1 quiet vireo.then=poweroff vireo.cmd64=$(printf '%s' "$guest_cmd" | base64 -w0)"

# KiB resident in PID: "anon file guest": anonymous and file-backed (or shared) memory
# of the VMM's own mappings, and guest RAM.
rss() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { guest = ($0 ~ /vireo-guest-ram|\/memfd:/); next }
	     /^Rss:/ { rss = $2 } /^Anonymous:/ { anon = $2 }
	     /^VmFlags:/ {
	       if (guest || $0 ~ / hg/) g += rss; else { a += anon; f += rss - anon }
	     }
	     END { print a + 0, f + 0, g + 0 }' "/proc/$1/smaps"
}

measure() {  # runner -> prints "anon file shmem" once the guest is ready
	local out=/tmp/mem-bench.out pid
	case $1 in
	vireo-mmio | vireo-pci)
		"$vireo" run --kernel "$linux/vmlinux" --initrd "$linux/initramfs.cpio" --memory 256M \
			--transport "${1#vireo-}" --disk "path=$img" --net tap=vmtap0 \
			--vsock "cid=5,uds=/tmp/mem-bench.sock" --rng --cmdline "$append" >"$out" 2>&1 &
		pid=$! ;;
	qemu-pci)
		qemu-system-x86_64 -M q35,memory-backend=m -object memory-backend-memfd,id=m,size=256M \
			-accel kvm -cpu host -m 256M -smp 1 -nographic -nodefaults -no-reboot -serial stdio \
			-kernel "$linux/bzImage" -initrd "$linux/initramfs.cpio" -append "$append" \
			-drive "file=$img,if=none,id=d0,format=raw,aio=io_uring" -device virtio-blk-pci,drive=d0 \
			-netdev tap,id=n0,ifname=vmtap0,script=no,downscript=no -device virtio-net-pci,netdev=n0 \
			-device virtio-rng-pci >"$out" 2>&1 &
		pid=$! ;;
	esac
	for _ in $(seq 600); do
		grep -q bench-ready-42 "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	if grep -q bench-ready-42 "$out"; then rss "$pid"; else echo "$1: guest not ready" >&2; tail -5 "$out" >&2; fi
	wait "$pid" || true
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }
printf '%-11s %10s %10s %10s %12s\n' runner anon_KiB file_KiB guest_KiB beside_MiB
for runner in vireo-mmio vireo-pci qemu-pci; do
	: >/tmp/mb.anon; : >/tmp/mb.file; : >/tmp/mb.shmem
	for _ in $(seq "$runs"); do
		measure "$runner" >/tmp/mb.one
		read -r a f s </tmp/mb.one || continue
		[ -n "$a" ] || continue
		echo "$a" >>/tmp/mb.anon; echo "$f" >>/tmp/mb.file; echo "$s" >>/tmp/mb.shmem
	done
	a=$(median </tmp/mb.anon) f=$(median </tmp/mb.file) s=$(median </tmp/mb.shmem)
	printf '%-11s %10s %10s %10s %12s\n' "$runner" "$a" "$f" "$s" \
		"$(awk -v a="$a" -v f="$f" 'BEGIN{printf "%.2f", (a+f)/1024}')"
done
rm -f /tmp/mb.* /tmp/mem-bench.out
echo "(median of $runs runs; beside = anon + file: the VMM's own memory; guest = guest RAM)"
