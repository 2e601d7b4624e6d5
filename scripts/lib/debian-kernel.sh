# Shell functions shared by the scripts that use Debian's stock kernels as shipped
# (scripts/build-debian-guest.sh, scripts/build-sandbox-image.sh). Sourced, not run.
# The caller defines fail() (print one line, exit non-zero).

# debian_kernel_package META MEMO_DIR: the versioned image package a meta package points
# to and its version, as "PKG VERSION" (e.g. "linux-image-6.1.0-57-amd64 6.1.192-3").
# apt-cache takes a second here (it parses every package list), so the answer is kept
# in MEMO_DIR, keyed by the state of the package lists (an apt-get update renews it).
debian_kernel_package() {
	local meta=$1 memo_dir=$2 lists memo answer
	lists=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)
	memo=$memo_dir/.apt-$meta-$lists
	if [ -s "$memo" ]; then
		cat "$memo"
		return 0
	fi
	# "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)"
	answer=$(apt-cache show --no-all-versions "$meta" 2>/dev/null |
		sed -n 's/^Depends: \(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n 1)
	[ -n "$answer" ] || fail "apt-cache knows no $meta (run apt-get update)"
	mkdir -p "$memo_dir" 2>/dev/null && rm -f "$memo_dir/.apt-$meta-"* &&
		echo "$answer" >"$memo.tmp" && mv "$memo.tmp" "$memo"
	echo "$answer"
}

# debian_kernel_fetch PKG VERSION DIR: downloads the package into DIR and unpacks it
# into DIR/pkg. Prints the kernel release (e.g. 6.1.0-57-amd64).
debian_kernel_fetch() {
	local pkg=$1 version=$2 dir=$3 kver
	# apt-get download writes into the current directory; _apt cannot write to a private
	# temporary directory, so let it download as root without a sandbox warning.
	(cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$pkg=$version" >&2) ||
		fail "apt-get download $pkg=$version failed"
	dpkg-deb -x "$dir/${pkg}_"*.deb "$dir/pkg" || fail "cannot unpack $pkg"
	rm -f "$dir/${pkg}_"*.deb
	kver=${pkg#linux-image-}
	[ -f "$dir/pkg/boot/vmlinuz-$kver" ] || fail "$pkg has no /boot/vmlinuz-$kver"
	[ -d "$dir/pkg/lib/modules/$kver" ] || fail "$pkg has no /lib/modules/$kver"
	echo "$kver"
}

# debian_kernel_vmlinux BZIMAGE OUT: the kernel ELF inside a bzImage (its compressed
# payload, located by the setup header's payload_offset and payload_length, unpacked),
# for booting through the PVH entry without running the decompressor in the guest.
debian_kernel_vmlinux() {
	local bz=$1 out=$2 setup_sects offset length
	u() { od -An -t"u$2" -j "$1" -N "$2" "$bz" | tr -d ' '; }
	setup_sects=$(u $((0x1f1)) 1)
	offset=$(u $((0x248)) 4)
	length=$(u $((0x24c)) 4)
	[ -n "$length" ] && [ "$length" -gt 0 ] || fail "$bz: no payload in its setup header"
	local start=$(((setup_sects + 1) * 512 + offset)) decompress
	payload() { dd if="$bz" iflag=skip_bytes,count_bytes skip="$start" count="$1" bs=1M status=none; }
	case $(payload 6 | od -An -tx1 | tr -d ' ') in
	fd377a585a00) decompress="xz -dc --single-stream" ;;
	1f8b*) decompress="gzip -dc" ;;
	28b52ffd*) decompress="zstd -dc" ;;
	02214c18*) decompress="lz4 -dc" ;;
	*) fail "$bz: payload compression not known to this script" ;;
	esac
	# The kernel appends the unpacked size to the payload; some decompressors take those
	# four bytes for a truncated frame and exit non-zero after writing everything.
	payload "$length" | $decompress >"$out" 2>/dev/null || true
	[ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		fail "$bz: its payload did not unpack to an ELF file"
}

# debian_module_order MODDIR NAME...: the modules NAME... and everything they depend on,
# dependencies first, one path relative to MODDIR per line. modules.dep is not shipped
# (depmod runs at install time), so dependencies come from each module's own .modinfo
# "depends=" field.
debian_module_order() {
	local moddir=$1 f n
	shift
	declare -A path_of=() done_=()
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%.ko}
		path_of[${n//-/_}]=${f#"$moddir"/}
	done < <(find "$moddir" -name '*.ko')
	_debian_add_module() {
		local n=${1//-/_} dep deps
		[ -n "${done_[$n]:-}" ] && return 0
		done_[$n]=1
		[ -n "${path_of[$n]:-}" ] || fail "module $1 is not in $moddir"
		deps=$(objcopy -O binary --only-section=.modinfo "$moddir/${path_of[$n]}" /dev/stdout |
			tr '\0' '\n' | sed -n 's/^depends=//p') ||
			fail "cannot read the .modinfo of ${path_of[$n]}"
		for dep in ${deps//,/ }; do _debian_add_module "$dep"; done
		echo "${path_of[$n]}"
	}
	for n in "$@"; do _debian_add_module "$n"; done
}

# debian_initramfs ROOT INIT MODDIR ORDER OUT: an initramfs (uncompressed cpio, written
# to OUT) of the directory ROOT (created here; the caller may have put more in it)
# with busybox-static and its applets, INIT as /init, and the modules listed in ORDER
# (lines of paths relative to MODDIR, in load order) under /lib/modules, their order in
# /lib/modules/load-order.
debian_initramfs() {
	local root=$1 init=$2 moddir=$3 order=$4 out=$5 applet ko
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,tmp,run,root,etc}
	cp /bin/busybox "$root/bin/busybox"
	for applet in $("$root/bin/busybox" --list-full); do
		[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done
	install -m 0755 "$init" "$root/init"
	while IFS= read -r ko; do
		mkdir -p "$root/lib/modules/$(dirname "$ko")"
		cp "$moddir/$ko" "$root/lib/modules/$ko"
	done <<<"$order"
	echo "$order" >"$root/lib/modules/load-order"
	mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
		>"$out" || fail "cpio failed"
}
