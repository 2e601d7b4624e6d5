#!/usr/bin/env bash
# Builds the Linux guest used by vireo's tests: a small x86_64 kernel from
# Debian's linux-source-6.1 (tinyconfig + scripts/linux/vireo-guest.config)
# and a busybox initramfs with scripts/linux/init as /init.
#
# The result is cached outside the repository, in
#   ${VIREO_CACHE:-/var/cache/vireo}/linux/<key>/
# where <key> is the sha256 of this script, the config fragment, the init
# script and the installed versions of linux-source-6.1 and busybox-static.
# A run whose entry already exists does no work. The entry holds:
#   vmlinux            uncompressed ELF kernel (PVH entry note; symbols kept)
#   bzImage            the same kernel as a bzImage (LZ4 payload)
#   initramfs.cpio.gz  busybox-static + /init, gzip-compressed cpio
#   initramfs.cpio     the same, uncompressed (no in-guest decompression)
#   config             the kernel's final .config
#   System.map         kernel symbol addresses (for debugging guest RIPs)
#   build-info.txt     inputs, tool versions, build time, sizes
#
# Usage: scripts/build-linux-guest.sh [--force] [--print-dir] [--help]
#   (no option)   build unless cached; the last line of stdout is the entry's
#                 directory (progress goes to stderr)
#   --print-dir   only print the entry's directory; exit 0 if it exists,
#                 1 if not
#   --force       rebuild even if the entry exists (replaces it atomically)
#
# Installs nothing: scripts/install-deps.sh provides the packages.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT")
FRAGMENT=$SCRIPT_DIR/linux/vireo-guest.config
INIT=$SCRIPT_DIR/linux/init
TARBALL=/usr/src/linux-source-6.1.tar.xz
BUSYBOX=/bin/busybox
PACKAGES=(linux-source-6.1 busybox-static)
CACHE_ROOT=${VIREO_CACHE:-/var/cache/vireo}
LINUX_CACHE=$CACHE_ROOT/linux

me=build-linux-guest
say() { echo "$me: $*" >&2; }
die() { echo "$me: error: $*" >&2; exit 1; }
need_deps() { die "$* -- run scripts/install-deps.sh"; }

force=0
print_dir=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--print-dir) print_dir=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SCRIPT"
		exit 0
		;;
	*) die "unknown option '$arg' (see --help)" ;;
	esac
done

# ---------------------------------------------------------------- cache key
[ -f "$FRAGMENT" ] || die "missing $FRAGMENT"
[ -f "$INIT" ] || die "missing $INIT"
command -v dpkg-query >/dev/null || die "dpkg-query not found (this script expects Debian)"
versions=""
for p in "${PACKAGES[@]}"; do
	v=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null) || v=""
	case $v in
	"install ok installed "*) versions+="$p ${v#install ok installed }"$'\n' ;;
	*) need_deps "package $p is not installed" ;;
	esac
done
key=$({
	echo "vireo-linux-guest v1"
	sha256sum "$SCRIPT" "$FRAGMENT" "$INIT" | awk '{ print $1 }'
	printf '%s' "$versions"
} | sha256sum | awk '{ print $1 }')
OUT=$LINUX_CACHE/$key

# An entry is complete iff its directory exists: it only appears by an
# atomic rename of a fully built and checked directory.
if [ "$print_dir" = 1 ]; then
	echo "$OUT"
	[ -d "$OUT" ] && exit 0
	exit 1
fi
if [ "$force" = 0 ] && [ -d "$OUT" ]; then
	echo "$OUT"
	exit 0
fi

# ---------------------------------------------------------------- tools
[ -f "$TARBALL" ] || need_deps "$TARBALL not found (package linux-source-6.1)"
[ -x "$BUSYBOX" ] || need_deps "$BUSYBOX not found (package busybox-static)"
missing=()
for t in make gcc ld bc bison flex perl tar xz lz4 gzip readelf nm flock \
	sha256sum awk sed nproc; do
	command -v "$t" >/dev/null || missing+=("$t")
done
[ "${#missing[@]}" = 0 ] || need_deps "missing tools: ${missing[*]}"
[ -f /usr/include/libelf.h ] || need_deps "libelf.h not found (package libelf-dev, needed by objtool)"

# ---------------------------------------------------------------- build
mkdir -p "$LINUX_CACHE" 2>/dev/null && [ -w "$LINUX_CACHE" ] ||
	die "cannot write to $LINUX_CACHE (set VIREO_CACHE to a writable directory)"
exec 9>"$LINUX_CACHE/.lock"
if ! flock -n 9; then
	say "another build holds $LINUX_CACHE/.lock, waiting"
	flock 9
fi
if [ "$force" = 0 ] && [ -d "$OUT" ]; then
	# Built by the run we waited for.
	echo "$OUT"
	exit 0
fi
# Holding the lock, any leftover work dir is from an interrupted run.
rm -rf "$LINUX_CACHE"/.work.* "$LINUX_CACHE"/.old.*

WORK=$(mktemp -d "$LINUX_CACHE/.work.XXXXXX")
LOG=$WORK/build.log
child=""
cleanup() { rm -rf "$WORK"; }
# Long steps run in the background so that a signal is handled at once:
# stop the step, then the EXIT trap removes the work dir.
on_signal() {
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	say "interrupted; nothing was added to the cache"
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

fail() {
	echo "$me: error: $*" >&2
	if [ -s "$LOG" ]; then
		cp "$LOG" "$LINUX_CACHE/last-failed-build.log"
		echo "---- last lines of the build log ($LINUX_CACHE/last-failed-build.log) ----" >&2
		tail -n 40 "$LOG" >&2
	fi
	exit 1
}
# run DESCRIPTION CMD...: run CMD with its output appended to the log.
run() {
	local what=$1 rc=0
	shift
	echo "+ $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 </dev/null &
	child=$!
	wait "$child" || rc=$?
	child=""
	[ "$rc" = 0 ] || fail "$what failed (exit status $rc)"
}

start=$(date +%s)
jobs=$(nproc)
SRC=$WORK/linux
STAGE=$WORK/out
mkdir -p "$SRC" "$STAGE"
say "building into $OUT"
say "work dir $WORK, log $LOG"

# Skip what an x86 build never reads: other architectures (but their
# crypto/, whose Kconfig crypto/Kconfig sources), the docs (but their
# Kconfig), perf and selftests. A third fewer files to write and delete.
say "extracting $TARBALL"
run "extracting the kernel source" tar -xf "$TARBALL" -C "$SRC" --strip-components=1 \
	--anchored --wildcards --no-wildcards-match-slash \
	--exclude='linux-source-6.1/arch/[!x]*/[!c]*' \
	--exclude='linux-source-6.1/arch/[!x]*/c[!r]*' \
	--exclude='linux-source-6.1/Documentation/[!K]*' \
	--exclude='linux-source-6.1/tools/perf' \
	--exclude='linux-source-6.1/tools/testing'

# Settings a caller's environment could slip into the kernel build.
unset KBUILD_OUTPUT O CROSS_COMPILE LLVM LLVM_IAS KCFLAGS KCPPFLAGS KAFLAGS \
	LOCALVERSION KCONFIG_CONFIG KCONFIG_ALLCONFIG MAKEFLAGS MFLAGS MAKEOVERRIDES \
	MAKELEVEL
export ARCH=x86_64
export KBUILD_BUILD_USER=vireo KBUILD_BUILD_HOST=vireo KBUILD_BUILD_VERSION=1
say "configuring (tinyconfig + $(basename "$FRAGMENT"))"
run "make tinyconfig" make -C "$SRC" tinyconfig
run "merge_config.sh" bash -c 'cd "$1" && scripts/kconfig/merge_config.sh -m .config "$2"' \
	_ "$SRC" "$FRAGMENT"
run "make olddefconfig" make -C "$SRC" olddefconfig

# Every option of the fragment must have ended up as written there.
bad=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" "$SRC/.config" ||
			bad+=("want '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" "$SRC/.config" || echo unset)'")
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -qE "^$opt=" "$SRC/.config"; then
			bad+=("want '$line', got '$(grep -E "^$opt=" "$SRC/.config")'")
		fi
		;;
	esac
done <"$FRAGMENT"
if [ "${#bad[@]}" -gt 0 ]; then
	printf '%s: config: %s\n' "$me" "${bad[@]}" >&2
	fail "${#bad[@]} option(s) of $FRAGMENT did not survive make olddefconfig (unmet dependencies?)"
fi

say "compiling the kernel (make -j$jobs bzImage; takes minutes)"
run "kernel build" make -C "$SRC" -j"$jobs" bzImage

cp "$SRC/vmlinux" "$STAGE/vmlinux"
cp "$SRC/arch/x86/boot/bzImage" "$STAGE/bzImage"
cp "$SRC/.config" "$STAGE/config"
cp "$SRC/System.map" "$STAGE/System.map"

# The PVH entry point: ELF note owner "Xen", type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY).
readelf -n "$STAGE/vmlinux" >"$WORK/notes.txt" 2>&1 || fail "readelf -n vmlinux failed"
awk '$1 == "Xen" && ($0 ~ /0x0*12\)/ || $0 ~ /PHYS32/) { found = 1 } END { exit !found }' \
	"$WORK/notes.txt" || {
	cat "$WORK/notes.txt" >>"$LOG"
	fail "vmlinux has no Xen PHYS32_ENTRY (0x12) ELF note: PVH entry missing"
}

say "building the initramfs (busybox-static + /init)"
run "compiling gen_init_cpio" gcc -O2 -o "$WORK/gen_init_cpio" "$SRC/usr/gen_init_cpio.c"
ETC=$WORK/etc
mkdir -p "$ETC"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ETC/passwd"
printf 'root:x:0:\n' >"$ETC/group"
LIST=$WORK/initramfs.list
{
	for d in /bin /sbin /usr /usr/bin /usr/sbin /etc /proc /sys /dev /run /mnt; do
		echo "dir $d 0755 0 0"
	done
	echo "dir /root 0700 0 0"
	echo "dir /tmp 1777 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /etc/passwd $ETC/passwd 0644 0 0"
	echo "file /etc/group $ETC/group 0644 0 0"
	echo "file /bin/busybox $BUSYBOX 0755 0 0"
	echo "file /init $INIT 0755 0 0"
	"$BUSYBOX" --list-full | LC_ALL=C sort -u | while IFS= read -r applet; do
		case $applet in
		"" | bin/busybox | */) continue ;;
		esac
		echo "slink /$applet /bin/busybox 0777 0 0"
	done
} >"$LIST"
grep -q '^slink /bin/sh ' "$LIST" || fail "busybox has no sh applet"
grep -q '^slink /usr/bin/setsid \|^slink /bin/setsid ' "$LIST" || fail "busybox has no setsid applet"
# Fixed timestamp for the entries gen_init_cpio creates (files keep theirs).
"$WORK/gen_init_cpio" -t 0 "$LIST" >"$STAGE/initramfs.cpio" 2>>"$LOG" ||
	fail "gen_init_cpio failed"
gzip -9 -n -c "$STAGE/initramfs.cpio" >"$STAGE/initramfs.cpio.gz" || fail "gzip failed"

end=$(date +%s)
size() { stat -c %s "$1"; }
{
	echo "key: $key"
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((end - start)) s with make -j$jobs"
	printf '%s' "$versions" | sed 's/^/package: /'
	echo "kernel: $(make -s -C "$SRC" kernelrelease 2>/dev/null)"
	echo "gcc: $(gcc --version | head -n 1)"
	echo "busybox: $("$BUSYBOX" | head -n 1)"
	for f in vmlinux bzImage initramfs.cpio.gz initramfs.cpio; do
		echo "size $f: $(size "$STAGE/$f")"
	done
	echo "inputs (sha256):"
	sha256sum "$SCRIPT" "$FRAGMENT" "$INIT" | sed 's/^/  /'
} >"$STAGE/build-info.txt"

# Publish atomically: the entry appears complete or not at all.
if [ -d "$OUT" ]; then
	OLD=$(mktemp -u "$LINUX_CACHE/.old.XXXXXX")
	mv -T "$OUT" "$OLD"
	mv -T "$STAGE" "$OUT"
	rm -rf "$OLD"
else
	mv -T "$STAGE" "$OUT"
fi
say "done in $((end - start)) s: vmlinux $(size "$OUT/vmlinux") B, bzImage $(size "$OUT/bzImage") B, initramfs.cpio.gz $(size "$OUT/initramfs.cpio.gz") B"
echo "$OUT"
