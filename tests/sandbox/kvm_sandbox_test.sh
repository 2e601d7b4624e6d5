#!/usr/bin/env bash
# Tests of scripts/kvm-sandbox.sh itself, on the machine (it needs QEMU, not KVM): what
# COMMAND sees inside, that its status and output come back unchanged, and that every
# failure of the sandbox itself is one clear line and its own exit status, never a pass.
# One sandbox boot per case (about 6 s each).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SANDBOX=$REPO/scripts/kvm-sandbox.sh
failures=0
check() { # check NAME CONDITION-STATUS DETAIL
	if [ "$2" = 0 ]; then echo "ok: $1"; else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi
}
# The boot image first (its build, the first time, reports progress on stderr).
"$REPO/scripts/build-sandbox-image.sh" >/dev/null || { echo "FAIL: cannot build the sandbox image"; exit 1; }
scratch=$(mktemp -d /var/tmp/vireo-sandbox-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# 1. Inside: /dev/kvm on SVM, the caller's working directory and environment, the
# writable shares, the sandbox's own /tmp; status, stdout and stderr unchanged.
cd "$scratch"
export VIREO_SANDBOX_TEST_VAR="a b'c"
"$SANDBOX" --share "$scratch" -- bash -c '
	test -c /dev/kvm || echo "no /dev/kvm"
	grep -qw svm /proc/cpuinfo || echo "no svm"
	echo "pwd=$PWD"
	echo "var=$VIREO_SANDBOX_TEST_VAR"
	echo written >"$PWD/from-inside"
	touch /tmp/x && echo "tmp=$(stat -f -c %T /tmp)"
	printf "to-stderr\n" >&2
	printf "no newline at the end"
	exit 7' >"$scratch/out" 2>"$scratch/err"
status=$?
check "exit status passes through" $([ $status = 7 ]; echo $?) "status $status"
check "stdout byte for byte" $([ "$(cat "$scratch/out")" = "pwd=$scratch
var=a b'c
tmp=tmpfs
no newline at the end" ]; echo $?) "$(cat "$scratch/out")"
check "stderr separate" $([ "$(cat "$scratch/err")" = "to-stderr" ]; echo $?) "$(cat "$scratch/err")"
check "writable share" $([ "$(cat "$scratch/from-inside" 2>/dev/null)" = written ]; echo $?) "no file"
cd "$REPO"

# 2. A stuck sandbox (here: its heartbeat stopped) is caught and reported: 125.
"$SANDBOX" --stall 10 -- bash -c '
	for p in /proc/[0-9]*; do ls -l $p/fd 2>/dev/null | grep -q hvc2 && kill -STOP ${p#/proc/}; done
	sleep 300' >"$scratch/out" 2>"$scratch/err"
status=$?
check "stuck sandbox: status 125" $([ $status = 125 ]; echo $?) "status $status"
check "stuck sandbox: one clear line" $(grep -q "^kvm-sandbox: the sandbox is stuck: no heartbeat for 10 s" "$scratch/err"; echo $?) "$(cat "$scratch/err")"
check "stuck sandbox: console log shown" $(grep -q "last lines of the sandbox console" "$scratch/err"; echo $?) "$(cat "$scratch/err")"
check "stuck sandbox: CPU state shown" $(grep -q "^RIP=" "$scratch/err"; echo $?) "$(cat "$scratch/err")"

# 2b. A sandbox that goes quiet gets kicks (a byte on a console port, so an interrupt:
# QEMU 7.2's TCG can lose one) and goes on; the note says so only when a kick arrived.
# (The search can also list a short-lived child of the heartbeat, gone by the kill.)
"$SANDBOX" -- bash -c '
	hb=$(for p in /proc/[0-9]*; do ls -l $p/fd 2>/dev/null | grep -q hvc2 && echo ${p#/proc/}; done)
	kill -STOP $hb 2>/dev/null; sleep 15; kill -CONT $hb 2>/dev/null; sleep 3' >"$scratch/out" 2>"$scratch/err"
status=$?
check "quiet sandbox: goes on" $([ $status = 0 ]; echo $?) "status $status: $(cat "$scratch/err")"
check "quiet sandbox: one note line" $([ "$(wc -l <"$scratch/err")" = 1 ] &&
	grep -q "^kvm-sandbox: note: the sandbox went quiet 1 time(s) and went on after a kick" "$scratch/err"
	echo $?) "$(cat "$scratch/err")"

# 3. --timeout: 124.
"$SANDBOX" --timeout 15 -- sleep 300 >"$scratch/out" 2>"$scratch/err"
status=$?
check "time-out: status 124" $([ $status = 124 ]; echo $?) "status $status"
check "time-out: one clear line" $(grep -q "^kvm-sandbox: time-out" "$scratch/err"; echo $?) "$(cat "$scratch/err")"

# 4. The sandbox dies under COMMAND (its kernel crashes): 125, not COMMAND's status.
"$SANDBOX" -- sh -c 'echo c >/proc/sysrq-trigger; sleep 300' >"$scratch/out" 2>"$scratch/err"
status=$?
check "sandbox died: status 125" $([ $status = 125 ]; echo $?) "status $status"
check "sandbox died: one clear line" $(grep -q "^kvm-sandbox: the sandbox ended .* before COMMAND finished" "$scratch/err"; echo $?) "$(cat "$scratch/err")"
check "sandbox died: the kernel's panic in the log" $(grep -q "Kernel panic - not syncing: sysrq triggered crash" "$scratch/err"; echo $?) "$(cat "$scratch/err")"

# 5. Setup errors, before any VM: 125 and one line.
"$SANDBOX" --frobnicate -- true >"$scratch/out" 2>"$scratch/err"
status=$?
check "bad option: status 125, one line" $([ $status = 125 ] && [ "$(wc -l <"$scratch/err")" = 1 ] &&
	grep -q "unknown option '--frobnicate'" "$scratch/err"; echo $?) "status $status: $(cat "$scratch/err")"
VIREO_QEMU=/nonexistent/qemu-system-x86_64 "$SANDBOX" -- true >"$scratch/out" 2>"$scratch/err"
status=$?
check "no QEMU: status 125, one line" $([ $status = 125 ] && [ "$(wc -l <"$scratch/err")" = 1 ] &&
	grep -q "/nonexistent/qemu-system-x86_64 not found" "$scratch/err"; echo $?) "status $status: $(cat "$scratch/err")"

echo "$failures failure(s)"
[ "$failures" = 0 ]
