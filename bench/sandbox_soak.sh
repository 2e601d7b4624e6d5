#!/usr/bin/env bash
# How dependable the KVM sandbox (scripts/kvm-sandbox.sh) is: in one sandbox, N back-to-back
# runs of a test guest (default 200), then M boots of Debian's stock cloud kernel with 2
# vCPUs to power-off (default 20). Every run must end with its expected status; a hang is
# caught by the sandbox's own watchdog (exit 125) or by the per-run time limit. Prints
# counts and times, exits non-zero on any failure.
#   bench/sandbox_soak.sh [RUNS [BOOTS]]     (after a Release build and the fixtures)
set -euo pipefail
# One compound command: bash reads it whole before running it, so editing this file
# while it runs (a checkout, an edit) cannot change what an ongoing run does.
{
cd "$(dirname "$0")/.."
runs=${1:-200}
boots=${2:-20}
VIREO_DEBIAN_DIR=${VIREO_DEBIAN_DIR:-$(scripts/build-debian-guest.sh | tail -n 1)}
export VIREO_DEBIAN_DIR
inner=$(mktemp /var/tmp/vireo-soak.XXXXXX.sh)
trap 'rm -f "$inner"' EXIT
cat >"$inner" <<EOS
set -u
fail=0
t0=\$(date +%s.%N)
for i in \$(seq 1 $runs); do
	out=\$(timeout 60 build/bin/vireo run --kernel build/tests/guest/hello.elf --memory 64M 2>&1)
	rc=\$?
	if [ \$rc != 1 ] || [[ \$out != *"Hello from vireo test guest"* ]]; then
		fail=\$((fail + 1)); echo "test-guest run \$i: status \$rc"
	fi
done
t1=\$(date +%s.%N)
[ $runs = 0 ] || echo "test guest: $runs runs, \$fail failed, \$(echo "(\$t1 - \$t0) / $runs" | bc -l | cut -c1-5) s each"
dfail=0
for i in \$(seq 1 $boots); do
	s=\$(date +%s.%N)
	timeout 300 build/bin/vireo run --kernel \$VIREO_DEBIAN_DIR/vmlinux \
		--initrd \$VIREO_DEBIAN_DIR/initramfs.cpio --cpus 2 --memory 256M \
		--cmdline "console=ttyS0 vireo.then=poweroff" >/var/tmp/vireo-soak-boot.log 2>&1
	rc=\$?
	e=\$(date +%s.%N)
	if [ \$rc != 0 ] || ! grep -q "reboot: Power down" /var/tmp/vireo-soak-boot.log; then
		dfail=\$((dfail + 1)); echo "debian boot \$i: status \$rc"; tail -n 5 /var/tmp/vireo-soak-boot.log
	fi
	echo "debian boot \$i: \$(echo "\$e - \$s" | bc | cut -c1-5) s"
done
echo "debian 2-vCPU boots: $boots, \$dfail failed"
[ \$fail = 0 ] && [ \$dfail = 0 ]
EOS
start=$SECONDS
scripts/kvm-sandbox.sh --stall 180 -- bash "$inner"
echo "soak: $((SECONDS - start)) s in one sandbox"
}
