#!/usr/bin/env bash
# Fetches Debian's stock cloud kernel (linux-image-cloud-amd64, used as shipped) and
# builds an initramfs for it: busybox-static, scripts/linux/init as /init, and the
# kernel's own virtio modules (virtio-mmio, virtio-pci, blk, net, console, rng, vsock)
# with their dependencies, which /init loads in order.
#
# The result is cached outside the repository, in
#   ${VIREO_CACHE:-/var/cache/vireo}/debian/<key>/
# where <key> is the sha256 of this script, the shared library, the init script, the
# kernel package's version and busybox-static's version. A run whose entry exists does
# no work. It holds:
#   vmlinuz         the kernel as Debian ships it (bzImage)
#   vmlinux         the kernel ELF inside it (for the PVH entry)
#   config          its configuration
#   initramfs.cpio  uncompressed cpio (no in-guest decompression)
#   modules.txt     the modules in load order
#   build-info.txt  inputs and sizes
#
# Usage: scripts/build-debian-guest.sh [--force] [--print-dir]
#   (no option)   build unless cached; the last line of stdout is the entry's directory
#   --print-dir   only print the entry's directory; exit 0 if it exists, 1 if not
#   --force       rebuild even if the entry exists
#
# Needs network access to the Debian package registry (apt-get download) the first time.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT")
LIB=$SCRIPT_DIR/lib/debian-kernel.sh
INIT=$SCRIPT_DIR/linux/init
META=linux-image-cloud-amd64
CACHE_ROOT=${VIREO_CACHE:-/var/cache/vireo}
DEB_CACHE=$CACHE_ROOT/debian
# Modules /init loads, by name; their dependencies come first by themselves.
MODULES=(virtio_mmio virtio_pci virtio_blk virtio_net virtio_console virtio-rng
	vmw_vsock_virtio_transport)

me=build-debian-guest
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
		sed -n '2,22p' "$SCRIPT" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) fail "unknown option $a (see --help)" ;;
	esac
done

[ -x /bin/busybox ] || fail "/bin/busybox not found (package busybox-static; run scripts/install-deps.sh)"
for t in cpio objcopy apt-get dpkg-deb; do
	command -v "$t" >/dev/null || fail "$t not found (run scripts/install-deps.sh)"
done

PKG_LINE=$(debian_kernel_package "$META" "$DEB_CACHE") || exit 1
read -r PKG PKG_VERSION <<<"$PKG_LINE"
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo unknown)

KEY=$({
	sha256sum "$SCRIPT" "$LIB" "$INIT" | cut -d' ' -f1
	echo "$PKG $PKG_VERSION busybox-static $BUSYBOX_VERSION ${MODULES[*]}"
} | sha256sum | cut -d' ' -f1)
OUT=$DEB_CACHE/$KEY

if [ "$print_dir" = 1 ]; then
	echo "$OUT"
	[ -f "$OUT/initramfs.cpio" ]
	exit
fi
if [ "$force" = 0 ] && [ -f "$OUT/initramfs.cpio" ]; then
	say "cached: $OUT"
	echo "$OUT"
	exit 0
fi

start=$(date +%s)
mkdir -p "$DEB_CACHE"
exec 9>"$DEB_CACHE/.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$OUT/initramfs.cpio" ]; then
	echo "$OUT" # built by the run we waited for
	exit 0
fi
WORK=$(mktemp -d "$DEB_CACHE/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "downloading $PKG $PKG_VERSION"
KVER=$(debian_kernel_fetch "$PKG" "$PKG_VERSION" "$WORK")
MODDIR=$WORK/pkg/lib/modules/$KVER
ORDER_LINES=$(debian_module_order "$MODDIR" "${MODULES[@]}") || fail "cannot resolve the modules"
mapfile -t ORDER <<<"$ORDER_LINES"
say "modules (${#ORDER[@]}): ${ORDER[*]##*/}"

STAGE=$WORK/stage
mkdir -p "$STAGE"
debian_initramfs "$WORK/root" "$INIT" "$MODDIR" "$ORDER_LINES" "$STAGE/initramfs.cpio"
cp "$WORK/pkg/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
debian_kernel_vmlinux "$STAGE/vmlinuz" "$STAGE/vmlinux"
cp "$WORK/pkg/boot/config-$KVER" "$STAGE/config"
printf '%s\n' "${ORDER[@]}" >"$STAGE/modules.txt"
{
	echo "package: $PKG $PKG_VERSION"
	echo "busybox-static: $BUSYBOX_VERSION"
	echo "built: $(date -u +%FT%TZ)"
	for f in vmlinuz vmlinux initramfs.cpio; do echo "$f: $(stat -c %s "$STAGE/$f") bytes"; done
} >"$STAGE/build-info.txt"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
say "done in $(($(date +%s) - start)) s: $OUT"
echo "$OUT"
