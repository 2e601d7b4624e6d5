#!/usr/bin/env bash
# Runs the whole test suite: installs dependencies, builds (Release, and an ASan/UBSan
# build), builds the cached fixtures (our minimal Linux guest, Debian's cloud kernel),
# and runs every test of both builds.
#
# Tests labelled "vm" need /dev/kvm. Where they run:
#   - a machine with hardware virtualization (vmx/svm) and /dev/kvm: here, like the others;
#   - no /dev/kvm: inside the KVM sandbox (scripts/kvm-sandbox.sh: a Linux VM under
#     QEMU's TCG with nested SVM, one CPU), while the tests that need no KVM and the
#     sanitizer build use the machine's other core;
#   - a KVM that emulates guest kernel mode (no vmx/svm, ../shared/host-kvm.md section 3):
#     all of them in the sandbox (the hardware-virtualization path), and also here, on
#     that KVM, so that the instruction assists and the SYSCALL repair keep being tested
#     where they are needed: the test guests in both builds, and the Linux boots of the
#     Release build but the Debian kernel (20 minutes each there), the 2-vCPU Linux
#     userspace test (docs/known-issues.md) and the virtio device tests (which test
#     devices, not this host, and run in the sandbox). A Linux boot takes 1.5 minutes
#     here: the sanitizer build boots Linux only in the sandbox, or CI would not fit.
#   VIREO_SANDBOX=auto     (default) as above
#   VIREO_SANDBOX=always   VM tests only in the sandbox, even where /dev/kvm works
#   VIREO_SANDBOX=never    VM tests only here (without /dev/kvm they skip, loudly, or
#                          fail where VIREO_REQUIRE_KVM=1)
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    Release build only (no sanitizer pass)
set -euo pipefail
# One compound command: bash reads it whole before running it, so editing this file
# while it runs (a checkout, an edit) cannot change what an ongoing run does.
{
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
JOBS=$(nproc)
T0=$SECONDS
phase() { echo "== $* ($((SECONDS - T0)) s)"; }

scripts/install-deps.sh

phase "build (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"

phase "fixtures (cached)"
VIREO_LINUX_DIR=$(scripts/build-linux-guest.sh | tail -n 1)
VIREO_DEBIAN_DIR=$(scripts/build-debian-guest.sh | tail -n 1)
export VIREO_LINUX_DIR VIREO_DEBIAN_DIR
echo "Linux guest: $VIREO_LINUX_DIR"
echo "Debian guest: $VIREO_DEBIAN_DIR"

mode=${VIREO_SANDBOX:-auto}
kvm_here=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm_here=1
hw_virt=0
grep -qwE 'vmx|svm' /proc/cpuinfo && hw_virt=1
direct=0        # VM tests on this machine's /dev/kvm
direct_skip=""  # ... but these (ctest -E)
direct_skip_asan=""  # ... and in the sanitizer build, these (default: direct_skip)
sandbox=0       # VM tests in the KVM sandbox
case $mode in
auto)
	if [ "$kvm_here" = 1 ] && [ "$hw_virt" = 1 ]; then
		direct=1
	elif [ "$kvm_here" = 1 ]; then
		echo "This KVM emulates guest kernel mode: VM tests run in the KVM sandbox, and most of them here too"
		# Linux boots take 1.5-2 min each here: the sandbox runs them, but for one (LinuxInit
		# on 1 vCPU), which goes through this host's instruction assist and SYSCALL repair.
		direct=1 sandbox=1 direct_skip='Debian|LinuxInit\.RunsCommandAndPowersOff/2|LinuxInitReboot|LinuxBootLog|LinuxVirtio|LinuxReboot|LinuxKernelApi|LinuxGoesOnTicking'
		direct_skip_asan='Debian|Linux'
	else
		echo "No usable /dev/kvm here: VM tests run inside the KVM sandbox (scripts/kvm-sandbox.sh)"
		sandbox=1
	fi
	;;
always) sandbox=1 ;;
never) direct=1 ;;
*) echo "test.sh: VIREO_SANDBOX must be auto, always or never (not '$mode')" >&2; exit 2 ;;
esac
[ "$sandbox" = 0 ] || scripts/build-sandbox-image.sh >/dev/null

status=0
ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
# direct_tests DIR [ENV...]: the tests of one build that run on this machine. The test
# of the sandbox script (label "sandbox") does not depend on the build: Release only.
direct_tests() {
	local dir=$1 filter=(-LE vm)
	shift
	[ "$dir" = build ] || filter=(-LE 'vm|sandbox')
	if [ "$direct" = 1 ]; then
		local skip=$direct_skip
		[ "$dir" = build ] || skip=${direct_skip_asan:-$direct_skip}
		filter=(-E "${skip:-^$}")
		[ "$dir" = build ] || filter+=(-LE sandbox)
	fi
	env "$@" ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 900 "${filter[@]}"
}

# sandbox_start NAME DIR [-E REGEX --] [ENV...]: the VM tests of one build (but those
# matching REGEX) in a KVM sandbox of their own, in the background, output to
# build/vm-tests-NAME.log; sandbox_wait NAME prints that log and fails if they did. One
# CPU in a sandbox: one test at a time. A stuck sandbox ends as a failure with its
# console log (kvm-sandbox.sh), never as a silent time-out.
declare -A vm_pids=()
sandbox_start() {
	local name=$1 dir=$2 exclude=(-E '^$')
	shift 2
	if [ "${1:-}" = -E ]; then
		exclude=(-E "$2")
		shift 3
	fi
	phase "VM tests ($name) in the KVM sandbox, in the background"
	env "$@" scripts/kvm-sandbox.sh --timeout 2400 -- \
		ctest --test-dir "$dir" --output-on-failure --timeout 900 -L vm "${exclude[@]}" \
		>"$ROOT/build/vm-tests-$name.log" 2>&1 &
	vm_pids[$name]=$!
}
sandbox_wait() {
	local name=$1 vm_status=0
	phase "VM tests ($name): waiting for the sandbox"
	wait "${vm_pids[$name]}" || vm_status=$?
	unset "vm_pids[$name]"
	cat "$ROOT/build/vm-tests-$name.log"
	if [ "$vm_status" != 0 ]; then
		echo "FAILED: VM tests ($name) in the KVM sandbox, exit status $vm_status (124: time-out, 125: the sandbox failed)"
		status=1
	fi
}
trap 'for p in "${vm_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

# Each sandbox takes one core. The sanitizer build goes beside the first sandbox, so that
# the second (the longest part of a run) starts as early as it can; the tests on this
# machine go beside the sandboxes.
[ "$sandbox" = 0 ] || sandbox_start Release build
if [ "$QUICK" = 0 ]; then
	phase "build (ASan + UBSan)"
	# -O1 and line tables only (-g1): what the sanitizers' reports need, and much less to
	# compile than -O2 -g (the build beside the Release sandbox was on CI's critical path).
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIREO_SANITIZE=ON \
		-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
		-DVIREO_BUILD_BENCH=OFF >/dev/null
	# What the VM tests need first, so that their sandbox (the longest part of a run)
	# starts early; the unit tests are built beside it.
	cmake --build build-asan -j "$JOBS" --target vireo vireo_integration_tests vireo_kvm_tests
	# Debian's kernel boots are a third of a sandbox's time and take mostly the paths
	# through vireo that the minimal kernel's boots take: the sanitizer build's sandbox
	# leaves them to the Release one, and of our kernel's device tests it runs those over
	# virtio-pci (the mmio transport's are the test guests' there, and both in Release).
	# Of the other Linux boots, the sanitizer build keeps ext4 on virtio-blk over pci and
	# /init on 1 vCPU (net, vsock and console run under the sanitizers in the direct unit
	# tests and the test guests, and as Linux in Release); the reboots (LinuxReboot,
	# LinuxInitReboot), the boot log, the rng, balloon and transport comparisons, the
	# balloon API and the Linux snapshot stay in Release: the paths they take run under the
	# sanitizers with the test guests (GuestPower.*, VirtioGuest.* with the rng, VmSnapshot.*).
	[ "$sandbox" = 0 ] || sandbox_start ASan+UBSan build-asan \
		-E 'Debian|LinuxVirtio.*/mmio|LinuxReboot|LinuxGoesOnTicking|LinuxBootLog|LinuxInitReboot|LinuxVirtioRng|LinuxVirtioTransport|LinuxVirtioBalloon|LinuxKernelApi|LinuxVirtioNetOn|LinuxVirtioVsockOn|LinuxVirtioConsole|LinuxVirtioPci|LinuxInit\.RunsCommandAndPowersOff/2' \
		-- "${ASAN_ENV[@]}"
	cmake --build build-asan -j "$JOBS"
fi
phase "tests on this machine (Release)"
direct_tests build || status=1
if [ "$QUICK" = 0 ]; then
	phase "tests on this machine (ASan + UBSan)"
	direct_tests build-asan "${ASAN_ENV[@]}" || status=1
	# The API's fuzz target (tests/fuzz: libFuzzer, clang), for a bounded time from the
	# seed corpus in the repository (new inputs go to a scratch copy); a crash fails.
	phase "fuzzing the API's request parser and configuration model (${VIREO_FUZZ_SECONDS:-60} s)"
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DVIREO_FUZZ=ON -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF >/dev/null
	cmake --build build-fuzz -j "$JOBS" --target vireo_api_fuzz
	fuzz_dir=$(mktemp -d /tmp/vireo-fuzz.XXXXXX)
	cp tests/fuzz/corpus/api/* "$fuzz_dir/"
	if ! (cd "$fuzz_dir" && "$ROOT/build-fuzz/bin/vireo_api_fuzz" . \
		-max_total_time="${VIREO_FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 >fuzz.log 2>&1); then
		tail -n 40 "$fuzz_dir/fuzz.log"
		echo "FAILED: the fuzz target found a crash (the input is in $fuzz_dir)"
		status=1
	else
		grep -E "stat::number_of_executed_units" "$fuzz_dir/fuzz.log" || true
		rm -rf "$fuzz_dir"
	fi
fi

if [ "$sandbox" = 1 ]; then
	sandbox_wait Release
	[ "$QUICK" = 1 ] || sandbox_wait ASan+UBSan
fi

phase "done: $([ "$status" = 0 ] && echo passed || echo FAILED)"
exit $status
}
