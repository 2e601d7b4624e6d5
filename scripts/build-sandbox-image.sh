#!/usr/bin/env bash
# Builds the KVM sandbox's boot image (scripts/kvm-sandbox.sh): Debian's generic kernel
# (linux-image-amd64, as shipped: it has 9p, virtio and kvm_amd as modules) and an
# initramfs with busybox-static, scripts/sandbox/init as /init and the modules that
# init loads: virtio-pci, the virtio console, 9p over virtio, kvm_amd, and the modules
# vireo's own tests use inside the sandbox (tun, veth, bridge, vhost-net, vhost-vsock).
#
# The result is cached outside the repository, in
#   ${VIREO_CACHE:-/var/cache/vireo}/sandbox/<key>/
# where <key> is the sha256 of this script, the shared library, the init script, the
# kernel package's version and busybox-static's version. It holds:
#   vmlinux         the kernel ELF from Debian's vmlinuz (booted through PVH: the
#                   decompressor would take seconds under TCG)
#   initramfs.cpio  uncompressed cpio (nothing to decompress under TCG)
#   build-info.txt  inputs and sizes
#
# Usage: scripts/build-sandbox-image.sh [--force] [--print-dir]
#   (no option)   build unless cached; the last line of stdout is the entry's directory
#   --print-dir   only print the entry's directory; exit 0 if it exists, 1 if not
#   --force       rebuild even if the entry exists
#
# Needs the Debian package registry (apt-get download) the first time.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT")
LIB=$SCRIPT_DIR/lib/debian-kernel.sh
INIT=$SCRIPT_DIR/sandbox/init
META=linux-image-amd64
CACHE_ROOT=${VIREO_CACHE:-/var/cache/vireo}
SBX_CACHE=$CACHE_ROOT/sandbox
# What /init loads, by name; dependencies come first by themselves.
MODULES=(virtio_pci virtio_console 9pnet_virtio 9p kvm_amd
	tun veth bridge vhost_net vhost_vsock)

me=build-sandbox-image
say() { echo "$me: $*" >&2; }
fail() {
	say "error: $*"
	exit 1
}
# shellcheck source=lib/debian-kernel.sh
. "$LIB"

force=0
print_dir=0
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	--print-dir) print_dir=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SCRIPT"
		exit 0
		;;
	*) fail "unknown option $a (see --help)" ;;
	esac
done

[ -x /bin/busybox ] || fail "/bin/busybox not found (package busybox-static; run scripts/install-deps.sh)"
for t in cpio objcopy apt-get dpkg-deb; do
	command -v "$t" >/dev/null || fail "$t not found (run scripts/install-deps.sh)"
done

PKG_LINE=$(debian_kernel_package "$META" "$SBX_CACHE") || exit 1
read -r PKG PKG_VERSION <<<"$PKG_LINE"
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo unknown)
KEY=$({
	sha256sum "$SCRIPT" "$LIB" "$INIT" | cut -d' ' -f1
	echo "$PKG $PKG_VERSION busybox-static $BUSYBOX_VERSION ${MODULES[*]}"
} | sha256sum | cut -d' ' -f1)
OUT=$SBX_CACHE/$KEY

if [ "$print_dir" = 1 ]; then
	echo "$OUT"
	[ -d "$OUT" ]
	exit
fi
if [ "$force" = 0 ] && [ -d "$OUT" ]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$SBX_CACHE" 2>/dev/null && [ -w "$SBX_CACHE" ] ||
	fail "cannot write to $SBX_CACHE (set VIREO_CACHE to a writable directory)"
exec 9>"$SBX_CACHE/.lock"
flock 9
if [ "$force" = 0 ] && [ -d "$OUT" ]; then
	echo "$OUT" # built by the run we waited for
	exit 0
fi
start=$(date +%s)
WORK=$(mktemp -d "$SBX_CACHE/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "downloading $PKG $PKG_VERSION"
KVER=$(debian_kernel_fetch "$PKG" "$PKG_VERSION" "$WORK")
MODDIR=$WORK/pkg/lib/modules/$KVER
ORDER=$(debian_module_order "$MODDIR" "${MODULES[@]}") || fail "cannot resolve the modules"

STAGE=$WORK/stage
mkdir -p "$STAGE" "$WORK/root/ctl" "$WORK/root/newroot"
debian_initramfs "$WORK/root" "$INIT" "$MODDIR" "$ORDER" "$STAGE/initramfs.cpio"
debian_kernel_vmlinux "$WORK/pkg/boot/vmlinuz-$KVER" "$STAGE/vmlinux"
{
	echo "package: $PKG $PKG_VERSION"
	echo "busybox-static: $BUSYBOX_VERSION"
	echo "built: $(date -u +%FT%TZ)"
	echo "modules: $(echo "$ORDER" | sed 's,.*/,,' | tr '\n' ' ')"
	for f in vmlinux initramfs.cpio; do echo "$f: $(stat -c %s "$STAGE/$f") bytes"; done
} >"$STAGE/build-info.txt"

rm -rf "$OUT"
mv -T "$STAGE" "$OUT"
say "done in $(($(date +%s) - start)) s: $OUT"
echo "$OUT"
