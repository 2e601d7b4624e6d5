#!/usr/bin/env bash
# Runs the benchmarks (bench/) where KVM is: on this machine's /dev/kvm, or inside the KVM
# sandbox (scripts/kvm-sandbox.sh) where there is none, QEMU (-accel kvm) beside vireo in
# the same place. In the sandbox absolute times are those of QEMU's TCG: compare ratios.
# What needs no KVM (decompressing kernels in-process, guest memory access) runs on the
# machine itself.
#   scripts/bench.sh [--soak]   --soak: also the sandbox's own soak test (bench/sandbox_soak.sh)
# Builds first (Release) and uses the cached fixtures; results go to stdout and
# build/bench/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
VIREO_LINUX_DIR=$(scripts/build-linux-guest.sh | tail -n 1)
VIREO_DEBIAN_DIR=$(scripts/build-debian-guest.sh | tail -n 1)
export VIREO_LINUX_DIR VIREO_DEBIAN_DIR
mkdir -p build/bench
in_kvm=()
where="this machine's /dev/kvm"
if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || [ "${VIREO_SANDBOX:-auto}" = always ]; then
	in_kvm=(scripts/kvm-sandbox.sh --)
	where="the KVM sandbox (QEMU TCG with nested SVM: ratios only)"
fi
echo "== kernel payloads unpacked in-process, guest memory access (this machine)"
build/bin/vireo_unpack_bench '--benchmark_filter=^BM_(Unpack|GuestMemory)' \
	--benchmark_out=build/bench/unpack.json
echo "== boot latency, memory, Linux to power-off: vireo and QEMU on $where"
"${in_kvm[@]}" build/bin/vireo_boot_bench --benchmark_out=build/bench/boot.json
"${in_kvm[@]}" build/bin/vireo_unpack_bench --benchmark_filter=^BM_Banner \
	--benchmark_out=build/bench/banner.json
if [ "${1:-}" = --soak ]; then
	echo "== KVM sandbox soak test"
	bench/sandbox_soak.sh
fi
