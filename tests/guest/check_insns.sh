#!/bin/sh
# Fails (and deletes the guest) if its ring-0 code contains an instruction that hosts
# without VT-x cannot emulate at CPL 0 (see /work/shared/host-kvm.md and README.md), or
# any SSE/AVX instruction anywhere (the guests never enable SSE).
#   check_insns.sh OBJDUMP GUEST.elf [--allow-assisted]
# --allow-assisted skips the first check: for the `assist` guest, which exists to run
# exactly those instructions (vireo completes them).
set -u
objdump=$1
elf=$2
allow_assisted=${3:-}
fail() {
  echo "$elf: $1" >&2
  rm -f "$elf"
  exit 1
}
dis=$("$objdump" -d --no-show-raw-insn "$elf") || fail "objdump failed"
# Ring-0 code: every section except .user (ring-3 code may use `int $0x80`).
ring0=$(printf '%s\n' "$dis" | awk '/^Disassembly of section/ { user = ($4 == ".user:") } !user')
bad=$(printf '%s\n' "$ring0" | grep -E -i '^ +[0-9a-f]+:[[:space:]]+(int3|int[[:space:]]|into|xsave|xrstor|popcnt|lzcnt|tzcnt|clac|stac|fwait|wait$|cmpxchg16b|v[a-z0-9]+[[:space:]]+%[xyz]mm)')
[ -z "$bad" ] || [ "$allow_assisted" = --allow-assisted ] || fail "ring-0 code uses instructions the host cannot emulate:
$bad"
# Ring-3 code (.user, 0x200000-0x3fffff) must not call or jump into the rest of the image:
# those pages are supervisor-only (a loop the compiler turned into memset() would #PF).
user=$(printf '%s\n' "$dis" | awk '/^Disassembly of section/ { user = ($4 == ".user:") } user')
out=$(printf '%s\n' "$user" | grep -E '^ +[0-9a-f]+:[[:space:]]+(call|j[a-z]+)[[:space:]]+[0-9a-f]+ <' |
  grep -v -E '(call|j[a-z]+)[[:space:]]+[23][0-9a-f]{5} <')
[ -z "$out" ] || fail "ring-3 code calls or jumps out of the .user section:
$out"
sse=$(printf '%s\n' "$dis" | grep -E '%[xyz]mm[0-9]')
[ -z "$sse" ] || fail "SSE/AVX instructions (SSE is never enabled in the guests):
$sse"
exit 0
