#!/usr/bin/env bash
# virtio-net throughput with a Linux guest: TCP streams through a tap, guest to host and
# host to guest, under vireo --transport mmio, vireo --transport pci and QEMU 7.2 (q35,
# virtio-net-pci on the same tap, vhost off: both VMMs move every frame in user space).
# The host end (a Python server on the tap's address) times each stream from its first
# to its last byte; the guest reports its interface's packet counters, so frames per
# second come out too. Runs in the KVM sandbox unless the host has VT-x/AMD-V; there
# only the ratios mean anything.
#
#   bench/net_bench.sh [--runs N] [--mib M]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
mib=64
inside=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--mib) mib=$2; shift 2 ;;
	--inside) inside=1; shift ;;
	*) echo "usage: $0 [--runs N] [--mib M]" >&2; exit 2 ;;
	esac
done

vireo=$PWD/build/bin/vireo
[ -x "$vireo" ] || { echo "$vireo is missing: build first" >&2; exit 1; }
linux=$(scripts/build-linux-guest.sh | tail -n 1)
if [ "$inside" = 0 ] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	exec scripts/kvm-sandbox.sh --timeout 3000 -- "$PWD/bench/net_bench.sh" --inside --runs "$runs" --mib "$mib"
fi

ip tuntap add dev nbtap0 mode tap vnet_hdr
ip addr add 10.0.3.1/24 dev nbtap0
ip link set nbtap0 up
trap 'ip link del nbtap0 2>/dev/null || true' EXIT

bytes=$((mib * 1024 * 1024))
# Guest to host is far slower in the sandbox (every VMM alike): a quarter of the bytes.
up_bytes=$((bytes / 4))
# Port 5001: receive `bytes` (guest to host); port 5002: send them (host to guest).
# Prints "up SECONDS" and "down SECONDS".
server=$(cat <<'EOF'
import socket, sys, time
n, n_up = int(sys.argv[1]), int(sys.argv[2])
def listener(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('10.0.3.1', port)); s.listen(1); s.settimeout(300); return s
up, down = listener(5001), listener(5002)
print('listening', flush=True)
c, _ = up.accept(); got = 0; t0 = None
while got < n_up:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    got += len(b)
print('up %.3f %d' % (time.monotonic() - t0, got), flush=True); c.close()
c, _ = down.accept(); buf = b'\0' * (1 << 20); t0 = time.monotonic(); sent = 0
while sent < n:
    sent += c.send(buf[:min(len(buf), n - sent)])
c.shutdown(socket.SHUT_WR); c.recv(1)
print('down %.3f %d' % (time.monotonic() - t0, sent), flush=True); c.close()
EOF
)

guest_cmd="ip link set eth0 up; ip addr add 10.0.3.2/24 dev eth0; sleep 1;
s=/sys/class/net/eth0/statistics; echo pk0=\$(cat \$s/tx_packets),\$(cat \$s/rx_packets);
dd if=/dev/zero bs=64k count=$((up_bytes / 65536)) 2>/dev/null | nc 10.0.3.1 5001;
echo pk1=\$(cat \$s/tx_packets),\$(cat \$s/rx_packets);
nc 10.0.3.1 5002 </dev/null >/dev/null;
echo pk2=\$(cat \$s/tx_packets),\$(cat \$s/rx_packets)"
append="console=ttyS0 reboot=k panic=1 quiet vireo.then=poweroff vireo.cmd64=$(printf '%s' "$guest_cmd" | base64 -w0)"

run_vm() {
	case $1 in
	vireo-mmio | vireo-pci)
		"$vireo" run --kernel "$linux/vmlinux" --initrd "$linux/initramfs.cpio" --memory 512M \
			--transport "${1#vireo-}" --net tap=nbtap0,mac=52:54:00:00:03:02 --cmdline "$append" ;;
	qemu-pci)
		qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 1 -nographic -nodefaults \
			-no-reboot -serial stdio -kernel "$linux/bzImage" -initrd "$linux/initramfs.cpio" \
			-append "$append" -netdev tap,id=n0,ifname=nbtap0,script=no,downscript=no,vhost=off \
			-device virtio-net-pci,netdev=n0,mac=52:54:00:00:03:02 ;;
	esac
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }
field() { grep -o "$1=[0-9]*,[0-9]*" | head -1 | cut -d= -f2; }

printf '%-11s %12s %12s %12s %12s\n' runner up_MiB/s up_frames/s down_MiB/s down_frames/s
for runner in vireo-mmio vireo-pci qemu-pci; do
	: >/tmp/nb.umb; : >/tmp/nb.ufs; : >/tmp/nb.dmb; : >/tmp/nb.dfs
	for _ in $(seq "$runs"); do
		python3 -c "$server" "$bytes" "$up_bytes" >/tmp/nb.srv 2>&1 &
		srv=$!
		for _ in $(seq 50); do grep -q listening /tmp/nb.srv && break; sleep 0.1; done
		out=$(run_vm "$runner" 2>&1 || true)
		wait "$srv" || true
		up=$(awk '/^up /{print $2}' /tmp/nb.srv) down=$(awk '/^down /{print $2}' /tmp/nb.srv)
		p0=$(field pk0 <<<"$out") p1=$(field pk1 <<<"$out") p2=$(field pk2 <<<"$out")
		if [ -z "$up" ] || [ -z "$down" ] || [ -z "$p2" ]; then
			echo "$runner: no result" >&2; tail -5 <<<"$out" >&2; cat /tmp/nb.srv >&2; continue
		fi
		awk -v s="$up" -v m="$mib" 'BEGIN{printf "%.2f\n", m/4/s}' >>/tmp/nb.umb
		awk -v s="$down" -v m="$mib" 'BEGIN{printf "%.1f\n", m/s}' >>/tmp/nb.dmb
		# Frames the guest sent while sending (up), received while receiving (down).
		awk -v s="$up" -v a="${p0%,*}" -v b="${p1%,*}" 'BEGIN{printf "%.0f\n", (b-a)/s}' >>/tmp/nb.ufs
		awk -v s="$down" -v a="${p1#*,}" -v b="${p2#*,}" 'BEGIN{printf "%.0f\n", (b-a)/s}' >>/tmp/nb.dfs
	done
	printf '%-11s %12s %12s %12s %12s\n' "$runner" "$(median </tmp/nb.umb)" "$(median </tmp/nb.ufs)" \
		"$(median </tmp/nb.dmb)" "$(median </tmp/nb.dfs)"
done
rm -f /tmp/nb.*
echo "(median of $runs runs; $mib MiB host to guest (down), a quarter of that guest to host (up))"
