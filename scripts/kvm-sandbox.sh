#!/usr/bin/env bash
# Runs a command on a real KVM with hardware virtualization, on any machine: inside a
# throwaway Linux VM under QEMU's TCG, whose emulated CPU (-cpu max) has AMD SVM with
# nested paging, so the VM's Debian kernel loads kvm_amd and has a working /dev/kvm.
#
# Usage: scripts/kvm-sandbox.sh [OPTIONS] -- COMMAND [ARG...]
#   --timeout S     stop the sandbox after S seconds (exit 124; default: no limit)
#   --mem SIZE      the sandbox's RAM, as QEMU takes it (default 4G)
#   --stall S       no heartbeat from the sandbox for S seconds means it is stuck
#                   (exit 125 with its console log; default 180)
#   --share DIR     also make DIR writable inside (repeatable; also
#                   $VIREO_SANDBOX_SHARES, colon-separated)
#   --keep          keep the run directory (console log, QEMU log) and say where
#   --interactive   connect this terminal to COMMAND (the console of a VM run inside:
#                   Ctrl-C goes to COMMAND, Ctrl-A x quits vireo)
#
# $VIREO_QEMU names the QEMU binary (default qemu-system-x86_64).
#
# Inside, COMMAND runs as root in the same working directory with the same environment.
# The machine's root is there read-only; writable at their own absolute paths are this
# repository's work tree, the working directory, /var/tmp, the fixture caches
# (${VIREO_CACHE:-/var/cache/vireo}, ~/.cache/vireo) and the --share directories; /tmp,
# /run and /dev/shm are the sandbox's own (Unix sockets cannot be bound on 9p shares).
# COMMAND's stdout and stderr stream to ours; its stdin is /dev/null unless --interactive.
#
# Exit status: COMMAND's own, or
#   124  the --timeout ran out
#   125  the sandbox failed: QEMU or the boot image missing, the VM did not come up,
#        no /dev/kvm inside, the sandbox stuck (no heartbeat for --stall seconds) or it
#        died before COMMAND ended; one line "kvm-sandbox: ..." says which, with the
#        console log's last lines and where the whole log was kept.
# A sandbox whose heartbeat stops for 10 s gets a kick (an interrupt) every 10 s: QEMU
# 7.2's TCG can lose one; when that revived it, one "kvm-sandbox: note:" line says so.
#
# The sandbox has one CPU: with two, multi-threaded TCG hung after a few VM creations
# and single-threaded TCG let 2-vCPU guests stall (docs/kvm-sandbox.md). Guests with more
# vCPUs than that are fine. It uses one host core; run other work beside it.
set -uo pipefail
# One compound command: bash reads it whole before running it, so editing this file
# while it runs (a checkout, an edit) cannot change what an ongoing run does.
{

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SCRIPT")")
me=kvm-sandbox
SANDBOX_FAILED=125
TIMED_OUT=124

die() {
	echo "$me: $*" >&2
	exit "$SANDBOX_FAILED"
}

timeout_s=0
mem=4G
stall_s=180
interactive=0
keep_run=0
shares=()
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--stall) stall_s=${2:?}; shift 2 ;;
	--share) shares+=("${2:?}"); shift 2 ;;
	--interactive) interactive=1; shift ;;
	--keep) keep_run=1; shift ;;
	--) shift; break ;;
	-h | --help)
		sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$SCRIPT"
		exit 0
		;;
	*) die "unknown option '$1' (usage: $me [--timeout S] [--mem SIZE] -- COMMAND...)" ;;
	esac
done
[ $# -gt 0 ] || die "no command (usage: $me [--timeout S] [--mem SIZE] -- COMMAND...)"
for n in "$timeout_s" "$stall_s"; do
	[[ $n =~ ^[0-9]+$ ]] || die "not a number of seconds: '$n'"
done
QEMU=${VIREO_QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null ||
	die "$QEMU not found (package qemu-system-x86; run scripts/install-deps.sh)"

image=$("$REPO/scripts/build-sandbox-image.sh" | tail -n 1) && [ -f "$image/vmlinux" ] ||
	die "cannot build the sandbox's boot image (scripts/build-sandbox-image.sh failed)"

run=$(mktemp -d /var/tmp/vireo-sandbox.XXXXXX) || die "cannot create a run directory in /var/tmp"
qemu_pid=""
tail_pids=()
stop_all() {
	[ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null
	for p in "${tail_pids[@]}"; do kill "$p" 2>/dev/null; done
}
cleanup() {
	stop_all
	if [ "$keep_run" = 1 ]; then echo "$me: kept $run" >&2; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

# ------------------------------------------------------------------ what to share
cache_home=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}
mkdir -p "$cache_home/vireo" "${VIREO_CACHE:-/var/cache/vireo}" 2>/dev/null
wanted=("$REPO" /var/tmp "${VIREO_CACHE:-/var/cache/vireo}" "$cache_home/vireo" "${shares[@]}")
IFS=: read -r -a extra <<<"${VIREO_SANDBOX_SHARES:-}"
wanted+=("${extra[@]}")
[ "$PWD" = / ] || wanted+=("$PWD")
# Canonical paths, each directory once, none inside another (that one covers it).
mapfile -t canon < <(for d in "${wanted[@]}"; do
	[ -n "$d" ] && [ -d "$d" ] && readlink -f "$d"
done | LC_ALL=C sort -u)
mounts=("tmpfs - /run" "tmpfs - /tmp")
virtfs=()
kept=()
i=0
for d in "${canon[@]}"; do
	[ "$d" = / ] && continue
	for k in "${kept[@]}"; do [[ $d == "$k"/* ]] && continue 2; done
	kept+=("$d")
	mounts+=("9p s$i $d")
	virtfs+=(-virtfs "local,path=$d,mount_tag=s$i,security_model=none,multidevs=remap")
	i=$((i + 1))
done
# Parents before children: "/tmp" sorts before "/tmp/x" (and the tmpfs mounts go
# first where a share lies below them).
printf '%s\n' "${mounts[@]}" | LC_ALL=C sort -k3,3 -k1,1r >"$run/mounts"

# ------------------------------------------------------------------ the command
{
	echo "# written by scripts/kvm-sandbox.sh"
	export -p | grep -vE '^declare -[a-zA-Z]* (PWD|OLDPWD|SHLVL|_|BASHOPTS|SHELLOPTS|BASH_[A-Z_]*|EUID|PPID|UID)(=|$)'
	printf 'cd %q || { echo "%s: cannot enter %q inside the sandbox" >&2; exit 125; }\n' \
		"$PWD" "$me" "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$run/run.sh"
if [ "$interactive" = 1 ]; then
	echo interactive >"$run/mode"
	stty size 2>/dev/null >"$run/tty" || echo "24 80" >"$run/tty"
else
	echo batch >"$run/mode"
fi

# ------------------------------------------------------------------ run it
: >"$run/console.log"
: >"$run/heartbeat"
mkfifo "$run/monitor.in" "$run/monitor.out" "$run/kick.in" "$run/kick.out" ||
	die "cannot create the FIFOs in $run"
: >"$run/stdout"
: >"$run/stderr"
qemu=("$QEMU" -accel tcg -cpu max -smp 1 -m "$mem" -nodefaults -no-user-config
	-display none -vga none -no-reboot -monitor "pipe:$run/monitor"
	-kernel "$image/vmlinux" -initrd "$image/initramfs.cpio"
	-append "console=ttyS0 quiet panic=-1 mitigations=off ${VIREO_SANDBOX_APPEND:-}"
	-serial "file:$run/console.log"
	-device virtio-serial-pci,id=vser)
if [ "$interactive" = 1 ]; then
	qemu+=(-chardev stdio,id=out,signal=off)
else
	qemu+=(-chardev "file,id=out,path=$run/stdout")
fi
qemu+=(-device virtconsole,bus=vser.0,chardev=out
	-chardev "file,id=err,path=$run/stderr" -device virtconsole,bus=vser.0,chardev=err
	-chardev "file,id=hb,path=$run/heartbeat" -device virtconsole,bus=vser.0,chardev=hb
	-chardev "pipe,id=kick,path=$run/kick" -device virtconsole,bus=vser.0,chardev=kick
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$run,mount_tag=ctl,security_model=none,multidevs=remap"
	"${virtfs[@]}")

start=$SECONDS
if [ "$interactive" = 1 ]; then
	exec 3<&0
	"${qemu[@]}" <&3 2>"$run/qemu.log" &
	qemu_pid=$!
else
	"${qemu[@]}" </dev/null >"$run/qemu.log" 2>&1 &
	qemu_pid=$!
	tail -c +1 -f -s 0.1 --pid="$qemu_pid" "$run/stdout" &
	tail_pids+=($!)
	tail -c +1 -f -s 0.1 --pid="$qemu_pid" "$run/stderr" >&2 &
	tail_pids+=($!)
fi

# Watch it: the heartbeat must keep growing, the time limit hold.
# QEMU 7.2's TCG can lose the sandbox kernel's timer interrupt while its CPU runs a
# nested guest that spins waiting for its other vCPU: the sandbox never gets its CPU back
# to run that vCPU (docs/kvm-sandbox.md). Any new interrupt for the sandbox brings the
# lost one back: after kick_s quiet seconds, and every kick_s after that, a byte goes to
# a console port that the sandbox's /init reads.
kick_s=10
recoveries=0
last_kick=0
verdict=""
last_size=0
last_progress=$SECONDS
while kill -0 "$qemu_pid" 2>/dev/null; do
	sleep 0.2
	size=$(stat -c %s "$run/heartbeat" 2>/dev/null || echo 0)
	if [ "$size" != "$last_size" ]; then
		if [ "$last_kick" -gt "$last_progress" ]; then
			recoveries=$((recoveries + 1))
			echo "$(date +%T) heartbeat again after $((SECONDS - last_progress)) s" >>"$run/kick-log"
		fi
		last_size=$size
		last_progress=$SECONDS
	fi
	if [ "$size" != 0 ] && [ $((SECONDS - last_progress)) -ge "$kick_s" ] &&
		[ $((SECONDS - last_kick)) -ge "$kick_s" ]; then
		timeout 2 sh -c 'echo k >"$1"' kick "$run/kick.in" 2>/dev/null
		echo "$(date +%T) quiet for $((SECONDS - last_progress)) s: kick" >>"$run/kick-log"
		last_kick=$SECONDS
	fi
	if [ "$timeout_s" -gt 0 ] && [ $((SECONDS - start)) -ge "$timeout_s" ]; then
		verdict=timeout
		break
	fi
	if [ $((SECONDS - last_progress)) -ge "$stall_s" ]; then
		verdict=stuck
		break
	fi
done
if [ -n "$verdict" ]; then
	# What the emulated CPU was doing, from QEMU's monitor, for the report.
	# Three looks at the CPU a second apart tell a loop from a stop; QEMU's threads say
	# whether QEMU itself is busy or blocked.
	{
		for i in 1 2 3; do
			printf '%s\n' "info registers" "x/4i \$pc" "info lapic"
			sleep 1
		done
		printf '%s\n' "info status" "info pic" "info irq"
	} >"$run/monitor.in" &
	for t in /proc/"$qemu_pid"/task/*; do
		echo "thread $(cat "$t/comm" 2>/dev/null): $(cut -d' ' -f3,14,15 "$t/stat" 2>/dev/null) (state utime stime), wchan $(cat "$t/wchan" 2>/dev/null)"
	done >"$run/qemu-threads.log"
	timeout 6 cat "$run/monitor.out" | tr -d '\033' >"$run/monitor.log" 2>/dev/null
	kill -KILL "$qemu_pid" 2>/dev/null
fi
wait "$qemu_pid" 2>/dev/null
qemu_status=$?
qemu_pid=""
for p in "${tail_pids[@]}"; do wait "$p" 2>/dev/null; done
tail_pids=()
[ "$interactive" = 1 ] && stty sane 2>/dev/null

# ------------------------------------------------------------------ the verdict
report() {
	keep_run=1
	echo "$me: $1" >&2
	# A kernel's verdict (panic, BUG, Oops) comes before a trace that is often longer
	# than the tail shown, so it is shown on its own first.
	if grep -aqE 'Kernel panic|BUG:|Oops:' "$run/console.log"; then
		echo "---- what the sandbox's kernel reported ----" >&2
		grep -aE 'Kernel panic|BUG:|Oops:' "$run/console.log" | head -n 5 >&2
	fi
	echo "---- last lines of the sandbox console ($run/console.log) ----" >&2
	tail -n 30 "$run/console.log" >&2
	if [ -s "$run/monitor.log" ]; then
		echo "---- the sandbox's CPU, from QEMU's monitor ($run/monitor.log) ----" >&2
		grep -aE '^(RIP|RAX|RSP|CS |CR0|EFER|VM status)|^0x' "$run/monitor.log" | head -n 20 >&2
	fi
	if [ -s "$run/kick-log" ]; then
		echo "---- kicks while it was quiet ($run/kick-log) ----" >&2
		tail -n 5 "$run/kick-log" >&2
	fi
	if [ -s "$run/qemu.log" ] && [ "$interactive" = 0 ]; then
		echo "---- QEMU ($run/qemu.log) ----" >&2
		tail -n 10 "$run/qemu.log" >&2
	fi
	exit "$2"
}
case $verdict in
timeout) report "time-out: COMMAND still running after $timeout_s s; sandbox stopped" "$TIMED_OUT" ;;
stuck) report "the sandbox is stuck: no heartbeat for $stall_s s; stopped it" "$SANDBOX_FAILED" ;;
esac
if [ -s "$run/error" ]; then
	report "the sandbox failed: $(head -n 1 "$run/error")" "$SANDBOX_FAILED"
fi
if [ ! -s "$run/status" ]; then
	report "the sandbox ended (QEMU exit status $qemu_status) before COMMAND finished" "$SANDBOX_FAILED"
fi
if [ "$recoveries" -gt 0 ] && [ -s "$run/kicks-received" ]; then
	echo "$me: note: the sandbox went quiet $recoveries time(s) and went on after a kick (QEMU TCG lost an interrupt; docs/kvm-sandbox.md)" >&2
fi
exit "$(cat "$run/status")"
}
