#!/usr/bin/env bash
# Fetches Debian's stock cloud kernel (linux-image-cloud-amd64, used as shipped) and
# builds an initramfs for it: busybox-static, scripts/linux/init as /init, and the
# kernel's own virtio modules (virtio-mmio, virtio-pci, blk, net, console, rng, vsock)
# with their dependencies, which /init loads in order.
#
# The result is cached outside the repository, in
#   ${VIREO_CACHE:-/var/cache/vireo}/debian/<key>/
# where <key> is the sha256 of this script, the init script, the kernel package's
# version and busybox-static's version. A run whose entry exists does no work. It holds:
#   vmlinuz         the kernel as Debian ships it (bzImage)
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
INIT=$SCRIPT_DIR/linux/init
BUSYBOX=/bin/busybox
META=linux-image-cloud-amd64
CACHE_ROOT=${VIREO_CACHE:-/var/cache/vireo}
DEB_CACHE=$CACHE_ROOT/debian
# Modules /init loads, by name; their dependencies come from the kernel's modules.dep.
MODULES=(virtio_mmio virtio_pci virtio_blk virtio_net virtio_console virtio-rng
	vmw_vsock_virtio_transport)

me=build-debian-guest
say() { echo "$me: $*" >&2; }
fail() {
	say "error: $*"
	exit 1
}

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

[ -x "$BUSYBOX" ] || fail "$BUSYBOX not found (package busybox-static; run scripts/install-deps.sh)"
command -v cpio >/dev/null || fail "cpio not found (run scripts/install-deps.sh)"

# The versioned image package the meta package points to, e.g. linux-image-6.1.0-56-cloud-amd64.
PKG=$(apt-cache depends "$META" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$PKG" ] || fail "apt-cache knows no $META (run apt-get update)"
PKG_VERSION=$(apt-cache policy "$PKG" | awk '/Candidate:/ { print $2 }')
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo unknown)

KEY=$({
	sha256sum "$SCRIPT" "$INIT" | cut -d' ' -f1
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
WORK=$(mktemp -d "$DEB_CACHE/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "downloading $PKG $PKG_VERSION"
# apt-get download writes into the current directory; _apt cannot write to a private
# temporary directory, so let it download as root without a sandbox warning.
(cd "$WORK" && apt-get -q -o APT::Sandbox::User=root download "$PKG=$PKG_VERSION" >&2) ||
	fail "apt-get download $PKG failed"
dpkg-deb -x "$WORK"/"$PKG"_*.deb "$WORK/pkg" || fail "cannot unpack $PKG"
KVER=${PKG#linux-image-}
MODDIR=$WORK/pkg/lib/modules/$KVER
[ -f "$WORK/pkg/boot/vmlinuz-$KVER" ] || fail "$PKG has no /boot/vmlinuz-$KVER"

# modules.dep is not shipped (depmod runs at install time): compute what we need from
# each module's own .modinfo "depends=" field, dependencies first.
declare -A PATH_OF=() DONE=()
while IFS= read -r f; do
	n=${f##*/}
	n=${n%.ko}
	PATH_OF[${n//-/_}]=${f#"$MODDIR"/}
done < <(find "$MODDIR" -name '*.ko')
ORDER=()
add_module() {
	local n=${1//-/_} dep
	[ -n "${DONE[$n]:-}" ] && return 0
	DONE[$n]=1
	[ -n "${PATH_OF[$n]:-}" ] || fail "module $1 is not in $PKG"
	local deps
	deps=$(/sbin/modinfo -F depends "$MODDIR/${PATH_OF[$n]}" 2>/dev/null ||
		strings "$MODDIR/${PATH_OF[$n]}" | sed -n 's/^depends=//p' | head -n 1)
	for dep in ${deps//,/ }; do add_module "$dep"; done
	ORDER+=("${PATH_OF[$n]}")
}
for m in "${MODULES[@]}"; do add_module "$m"; done
say "modules (${#ORDER[@]}): ${ORDER[*]##*/}"

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,tmp,run,root,etc}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
install -m 0755 "$INIT" "$ROOT/init"
for ko in "${ORDER[@]}"; do
	mkdir -p "$ROOT/lib/modules/$(dirname "$ko")"
	cp "$MODDIR/$ko" "$ROOT/lib/modules/$ko"
done
printf '%s\n' "${ORDER[@]}" >"$ROOT/lib/modules/load-order"
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true

STAGE=$WORK/stage
mkdir -p "$STAGE"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
	>"$STAGE/initramfs.cpio" || fail "cpio failed"
cp "$WORK/pkg/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
cp "$WORK/pkg/boot/config-$KVER" "$STAGE/config"
printf '%s\n' "${ORDER[@]}" >"$STAGE/modules.txt"
{
	echo "package: $PKG $PKG_VERSION"
	echo "busybox-static: $BUSYBOX_VERSION"
	echo "built: $(date -u +%FT%TZ)"
	for f in vmlinuz initramfs.cpio; do echo "$f: $(stat -c %s "$STAGE/$f") bytes"; done
} >"$STAGE/build-info.txt"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
say "done in $(($(date +%s) - start)) s: $OUT"
echo "$OUT"
