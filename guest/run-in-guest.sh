#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs statically linked test programs inside a QEMU TCG guest that has an
# ivshmem-doorbell MSI-X device bound to vfio-pci (and, with --kvm, a nested
# /dev/kvm).  See guest/README.md.
#
# Exit status: 0 every program exited 0; 77 no guest can be booted here (the
# reason is printed); 1 anything else (a program failed, setup in the guest
# failed, timeout, bad usage).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: run-in-guest.sh --kernel 6.1|6.12 [--vectors N] [--kvm] [--timeout SECS]
                       [--inner-kernel] [--file PATH]...
                       [--] PROG [ARGS...] [';;' PROG [ARGS...]]...

  --kernel 6.1|6.12  Debian 12 cloud kernel to boot
  --vectors N        MSI-X vectors of the ivshmem-doorbell device, 1..2048 (8)
  --kvm              also load irqbypass, kvm, kvm-amd npt=1: /dev/kvm exists
  --timeout SECS     kill the guest after SECS seconds (300)
  --inner-kernel     also put the kernel itself and its virtio modules into
                     the guest, for a nested guest: /boot/vmlinuz,
                     /boot/modules/*.ko, load order in /boot/modules.load
  --file PATH        copy the file PATH into the guest as /f/<name>

Each PROG (a host path to a static executable) runs in the guest, in order,
with LIBMSIX_TEST_DEVICE=<sysfs address> and LIBMSIX_TEST_KERNEL=<6.1|6.12>.
Environment: LIBMSIX_GUEST_CACHE (cache dir, default guest/.cache),
LIBMSIX_GUEST_VERBOSE=1 (print the whole guest console even on success),
LIBMSIX_GUEST_APPEND (extra kernel command line, e.g. loglevel=7),
LIBMSIX_GUEST_SMP (guest CPUs, default 1; each CPU gives ~190 interrupt vectors).
Exit: 0 all programs exited 0, 77 cannot boot a guest here, 1 otherwise.
EOF
}

me=run-in-guest
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() {
	say "$*"
	exit 1
}
skip() {
	say "SKIP: $*"
	exit 77
}
trap 'say "internal error: \"$BASH_COMMAND\" failed (exit $?) at line $LINENO"; exit 1' ERR

# ---------------------------------------------------------------- arguments
kernel='' vectors=8 kvm=0 timeout_s=300 inner=0
files=()
need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--kernel) need_arg "$@"; kernel=$2; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--vectors) need_arg "$@"; vectors=$2; shift 2 ;;
	--vectors=*) vectors=${1#*=}; shift ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--kvm) kvm=1; shift ;;
	--inner-kernel) inner=1; shift ;;
	--file)
		need_arg "$@"
		[[ -f $2 ]] || die "--file $2: no such file"
		files+=("$2")
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
case $kernel in
6.1) meta=linux-image-cloud-amd64 ;;
6.12) meta=linux-image-6.12-cloud-amd64 ;;
*) die "--kernel must be 6.1 or 6.12 (see --help)" ;;
esac
if ! [[ $vectors =~ ^[0-9]{1,4}$ ]] || ((vectors < 1 || vectors > 2048)); then
	die "--vectors must be 1..2048"
fi
smp=${LIBMSIX_GUEST_SMP:-1}
if ! [[ $smp =~ ^[0-9]{1,2}$ ]] || ((smp < 1 || smp > 32)); then
	die "LIBMSIX_GUEST_SMP must be 1..32"
fi
if ! [[ $timeout_s =~ ^[0-9]{1,6}$ ]] || ((timeout_s < 1)); then
	die "--timeout must be a positive number of seconds"
fi
[[ $# -gt 0 ]] || die "no test program given (see --help)"

# Quote a word for the guest's busybox sh.
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

progs=()      # host paths, in order
tests_sh=''   # the guest's list of run commands
cur=''
end_prog() {
	[[ -n $cur ]] || die "empty program between ';;' separators"
	tests_sh+="$cur"$'\n'
	cur=''
}
for arg in "$@"; do
	if [[ $arg == ';;' ]]; then
		end_prog
	elif [[ -z $cur ]]; then
		[[ -f $arg && -x $arg ]] || die "$arg is not an executable file"
		progs+=("$arg")
		n=${#progs[@]}
		base=${arg##*/}
		cur="run $(shquote "$base") /t/$n/$(shquote "$base")"
	else
		cur+=" $(shquote "$arg")"
	fi
done
end_prog

# ------------------------------------------------------- host prerequisites
cache=${LIBMSIX_GUEST_CACHE:-$here/.cache}
mkdir -p "$cache/kernels" "$cache/bin" || skip "cannot create the cache directory $cache"
cache=$(cd "$cache" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/libmsix-guest.XXXXXX")
timeout_pid='' server_pid=''
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
	set +e
	if [[ -n $timeout_pid ]]; then
		kill -TERM "$timeout_pid" 2>/dev/null # timeout passes it on to QEMU
		wait "$timeout_pid" 2>/dev/null
	fi
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work" "$cache/kernels/.tmp.$$"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Serialise cache population (and apt) between concurrent runs.
exec {lockfd}>"$cache/.lock"
flock "$lockfd"

apt_log=$work/apt.log
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@" >>"$apt_log" 2>&1
}
# install PKG...: apt-get install, running apt-get update first if that fails.
install_pkgs() {
	((EUID == 0)) || skip "need the packages $* but am not root to install them"
	if ! apt_get install -y --no-install-recommends "$@"; then
		if ! { apt_get update && apt_get install -y --no-install-recommends "$@"; }; then
			cat "$apt_log" >&2
			skip "cannot install $*"
		fi
	fi
}
is_static() {
	local headers
	headers=$(LC_ALL=C readelf -lW "$1" 2>/dev/null) || true
	[[ $headers != *'program interpreter'* ]]
}

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
command -v xz >/dev/null || missing+=(xz-utils)
command -v gcc >/dev/null || missing+=(gcc)
command -v readelf >/dev/null || missing+=(binutils)
[[ $(gcc -print-file-name=libc.a 2>/dev/null) == /* ]] || missing+=(libc6-dev)
busybox=$(command -v busybox || true)
if [[ -z $busybox ]] || ! is_static "$busybox"; then missing+=(busybox-static); fi
((${#missing[@]} == 0)) || install_pkgs "${missing[@]}"
busybox=$(command -v busybox) || skip "no busybox after installing busybox-static"
is_static "$busybox" || skip "$busybox is not statically linked"

for p in "${progs[@]}"; do
	is_static "$p" || die "$p is not statically linked (build it with gcc -static)"
done

# build VAR NAME [GCC FLAGS...]: compile guest/NAME.c once per source
# version into the cache and set VAR to the binary.
build() {
	local -n result=$1
	local name=$2 src=$here/$2.c hash
	shift 2
	hash=$(sha256sum "$src")
	result=$cache/bin/$name-${hash:0:16}
	if [[ ! -x $result ]]; then
		if ! gcc -O2 -Wall -Wextra "$@" -o "$result.tmp" "$src" >"$work/gcc.log" 2>&1; then
			cat "$work/gcc.log" >&2
			die "cannot build $src"
		fi
		mv -f "$result.tmp" "$result"
	fi
}
debug_exit='' ivshmem_server=''
build debug_exit debug-exit -static
build ivshmem_server ivshmem-server

# ----------------------------------------------------------------- kernels
# The metapackage names the ABI-versioned image package; its -unsigned twin
# holds the same kernel.  Resolving costs two apt-cache calls (about 2 s when
# apt keeps no binary cache), so the answer is kept until the apt lists change.
lists_key() { { stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* 2>/dev/null || true; } | cksum; }
resolve_image() {
	local img ver
	img=$(apt-cache depends "$meta" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^<?linux-image-/ { if (!p) p = $2 } END { gsub(/[<>]/, "", p); print p }')
	[[ -n $img ]] || return 1
	ver=$(apt-cache show --no-all-versions "$img-unsigned" 2>/dev/null |
		awk '$1 == "Version:" { if (!v) v = $2 } END { print v }')
	[[ -n $ver ]] || return 1
	printf '%s_%s\n' "$img-unsigned" "$ver"
}

# Modules unpacked from the package: the L1 guest's (VFIO, KVM) and the
# virtio drivers a nested guest loads (--inner-kernel).
roots=(vfio_pci vfio_iommu_type1 kvm_amd virtio_pci virtio_blk virtio_rng)

# modinfo_depends KO: the module's own dependency list (what depmod puts in
# modules.dep; the .deb ships no modules.dep and the host may lack kmod).
modinfo_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | tr ',-' ' _'; }

# fetch_kernel PKG_VERSION DIR: download the image package and unpack vmlinuz,
# the config and the closure of the modules we load, into DIR.
fetch_kernel() {
	local pkgver=$1 dir=$2 pkg=${1%%_*} ver=${1#*_}
	local tmp=$cache/kernels/.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp/x" "$tmp/new/modules"
	# As root, apt would fetch as _apt, which cannot write into our 0700 dir.
	local sandbox=()
	((EUID != 0)) || sandbox=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && apt-get -q "${sandbox[@]}" download "$pkg=$ver") >>"$apt_log" 2>&1; then
		rm -rf "$tmp"
		return 1
	fi
	local debs=("$tmp"/*.deb)
	dpkg-deb --fsys-tarfile "${debs[0]}" >"$tmp/fs.tar"
	rm -f "${debs[@]}"
	tar -tf "$tmp/fs.tar" >"$tmp/list"
	local vmlinuz config builtin
	vmlinuz=$(grep -m1 '^\./boot/vmlinuz-' "$tmp/list") || die "$pkg has no vmlinuz"
	config=$(grep -m1 '^\./boot/config-' "$tmp/list") || die "$pkg has no config"
	builtin=$(grep -m1 '/modules\.builtin$' "$tmp/list") || die "$pkg has no modules.builtin"
	tar -xf "$tmp/fs.tar" -C "$tmp/x" "$vmlinuz" "$config" "$builtin"
	mv "$tmp/x/$vmlinuz" "$tmp/new/vmlinuz"
	mv "$tmp/x/$config" "$tmp/new/config"

	local -A member=() is_builtin=() seen=()
	local m n
	while read -r m; do
		n=${m##*/}
		n=${n%%.ko*}
		member[${n//-/_}]=$m
	done < <(grep -E '\.ko(\.xz|\.zst|\.gz)?$' "$tmp/list")
	while read -r m; do
		n=${m##*/}
		n=${n%%.ko*}
		is_builtin[${n//-/_}]=1
	done <"$tmp/x/$builtin"

	# Breadth-first over the dependency graph, one tar pass per level.
	# ccp comes in through kvm_amd's depends= on the kernels that need it.
	# Built-in roots (the virtio drivers may be) need nothing.
	local todo=("${roots[@]}") next extract deps
	: >"$tmp/new/deps"
	while ((${#todo[@]})); do
		extract=() next=()
		for n in "${todo[@]}"; do
			[[ -z ${seen[$n]:-} ]] || continue
			seen[$n]=1
			if [[ -n ${member[$n]:-} ]]; then
				extract+=("$n")
			elif [[ -z ${is_builtin[$n]:-} ]]; then
				die "$pkg has no module $n"
			fi
		done
		((${#extract[@]})) || break
		local paths=()
		for n in "${extract[@]}"; do paths+=("${member[$n]}"); done
		tar -xf "$tmp/fs.tar" -C "$tmp/x" "${paths[@]}"
		for n in "${extract[@]}"; do
			m=$tmp/x/${member[$n]}
			case $m in
			*.ko.xz) xz -dc "$m" ;;
			*.ko.zst) zstd -qdc "$m" ;;
			*.ko.gz) gzip -dc "$m" ;;
			*) cat "$m" ;;
			esac >"$tmp/new/modules/$n.ko"
			deps=$(modinfo_depends "$tmp/new/modules/$n.ko")
			# Built-in dependencies need no loading.
			local d kept=()
			for d in $deps; do
				[[ -n ${is_builtin[$d]:-} && -z ${member[$d]:-} ]] || kept+=("$d")
			done
			printf '%s: %s\n' "$n" "${kept[*]}" >>"$tmp/new/deps"
			next+=("${kept[@]}")
		done
		todo=("${next[@]}")
	done
	printf '%s\n' "${roots[*]}" >"$tmp/new/roots"
	printf '%s\n' "$pkgver" >"$tmp/new/package"
	rm -rf "$dir"
	mv "$tmp/new" "$dir"
	rm -rf "$tmp"
}

# A cached kernel is complete when it was unpacked for the same module roots
# (an older cache without the inner guest's virtio modules is unpacked again).
cache_ok() { [[ -f $1/package && -f $1/roots && $(<"$1/roots") == "${roots[*]}" ]]; }

# The metapackage is resolved again only when the apt lists change.  Stale
# lists can name a package the mirror no longer has: then update and retry.
pointer=$cache/kernels/resolved-$kernel
key=$(lists_key)
old_key='' cached=''
if [[ -f $pointer ]] && read -r old_key cached <"$pointer"; then
	cache_ok "$cache/kernels/$cached" || cached=''
fi
pkgver=''
if [[ -n $cached && $old_key == "${key%% *}" ]]; then
	pkgver=$cached
else
	for attempt in 1 2; do
		if pkgver=$(resolve_image); then
			! cache_ok "$cache/kernels/$pkgver" || break
			fetch_kernel "$pkgver" "$cache/kernels/$pkgver" && break
		fi
		pkgver=''
		if ((attempt == 2 || EUID != 0)) || ! apt_get update; then
			break
		fi
	done
	if [[ -n $pkgver ]]; then
		key=$(lists_key)
		printf '%s %s\n' "${key%% *}" "$pkgver" >"$pointer"
	elif [[ -n $cached ]]; then
		say "warning: cannot resolve or download $meta with apt; using the cached $cached"
		pkgver=$cached
	else
		cat "$apt_log" >&2
		skip "cannot resolve and download the kernel of $meta with apt"
	fi
fi
kdir=$cache/kernels/$pkgver

exec {lockfd}>&-

# --------------------------------------------------------------- initramfs
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules,t}
cp "$busybox" "$root/bin/busybox"
cp "$debug_exit" "$root/bin/libmsix-debug-exit"
cp "$here/init.sh" "$root/init"
chmod 0755 "$root/init"
printf 'KERNEL=%s\nKVM=%s\nVECTORS=%s\n' "$kernel" "$kvm" "$vectors" >"$root/etc/libmsix-guest.conf"
printf '%s' "$tests_sh" >"$root/etc/libmsix-guest.tests"
for i in "${!progs[@]}"; do
	mkdir -p "$root/t/$((i + 1))"
	cp "${progs[$i]}" "$root/t/$((i + 1))/"
done

# Modules to load, dependencies first, from the cached dependency list.
declare -A dep_of=() loaded=()
while IFS=: read -r n deps; do dep_of[$n]=$deps; done <"$kdir/deps"
modlist=$root/etc/libmsix-guest.modules
: >"$modlist"
load() {
	local n=$1 d
	[[ -z ${loaded[$n]:-} ]] || return 0
	loaded[$n]=1
	[[ -v dep_of[$n] ]] || die "module $n is not in $kdir/deps"
	for d in ${dep_of[$n]}; do load "$d"; done
	cp "$kdir/modules/$n.ko" "$root/lib/modules/"
	case $n in
	kvm_amd) printf '%s.ko npt=1\n' "$n" ;;
	*) printf '%s.ko\n' "$n" ;;
	esac >>"$modlist"
}
load vfio
load vfio_iommu_type1
load vfio_pci
((kvm == 0)) || load kvm_amd

# The nested guest's kernel and virtio modules (not loaded here).
if ((inner)); then
	mkdir -p "$root/boot/modules"
	cp "$kdir/vmlinuz" "$root/boot/vmlinuz"
	: >"$root/boot/modules.load"
	declare -A inner_loaded=()
	inner_load() {
		local n=$1 d
		[[ -z ${inner_loaded[$n]:-} ]] || return 0
		inner_loaded[$n]=1
		[[ -v dep_of[$n] ]] || return 0 # built in
		for d in ${dep_of[$n]}; do inner_load "$d"; done
		cp "$kdir/modules/$n.ko" "$root/boot/modules/"
		printf '%s.ko\n' "$n" >>"$root/boot/modules.load"
	}
	for m in virtio_pci virtio_blk virtio_rng; do inner_load "$m"; done
fi
if ((${#files[@]})); then
	mkdir -p "$root/f"
	for f in "${files[@]}"; do cp "$f" "$root/f/"; done
fi

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd"

# -------------------------------------------------------------------- boot
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # QEMU holds one eventfd per vector
sock=$work/ivshmem.sock
mkfifo "$work/ready"
"$ivshmem_server" "$sock" "$vectors" "$$" >"$work/ready" 2>"$work/server.log" &
server_pid=$!
# QEMU must not start before the server listens.
if ! read -r -t 10 ready <"$work/ready" || [[ $ready != ready ]]; then
	cat "$work/server.log" >&2
	die "the ivshmem server did not start"
fi

mem=512
((vectors <= 512)) || mem=768
# no_timer_check: on a loaded host the TCG guest can miss the IO-APIC timer
# check and panic ("timer doesn't work through Interrupt-remapped IO-APIC").
append="console=ttyS0 intel_iommu=on no_timer_check panic=-1 quiet ${LIBMSIX_GUEST_APPEND:-}"
: >"$work/console.log"
: >"$work/out.log"
start=$SECONDS
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-nodefaults -no-user-config -display none -no-reboot \
	-machine q35 -accel tcg -cpu max -smp "$smp" -m "$mem" \
	-serial "file:$work/console.log" -serial "file:$work/out.log" \
	-device intel-iommu,intremap=on \
	-chardev "socket,id=ivshmem,path=$sock" \
	-device "ivshmem-doorbell,chardev=ivshmem,vectors=$vectors" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kdir/vmlinuz" -initrd "$work/initrd" -append "$append" \
	</dev/null >"$work/qemu.log" 2>&1 &
timeout_pid=$!
qemu_rc=0
wait "$timeout_pid" || qemu_rc=$?
timeout_pid=''
elapsed=$((SECONDS - start))

# ------------------------------------------------------------------ result
tr -d '\r' <"$work/out.log" >"$work/out.txt"
marker=$(sed -n 's/.*LIBMSIX-GUEST-RESULT rc=\([0-9]*\)$/\1/p' "$work/out.txt" | tail -n 1)
taint=$(sed -n 's/.*LIBMSIX-GUEST-TAINTED \([0-9]* [0-9]*\)$/\1/p' "$work/out.txt" | tail -n 1)
# Program output without the markers (which may follow a line with no newline).
sed -e '/^LIBMSIX-GUEST-[A-Z]* [a-z=0-9 ]*$/d' \
	-e 's/LIBMSIX-GUEST-\(RESULT rc=[0-9]*\|TAINTED [0-9]* [0-9]*\)$//' "$work/out.txt"

show_logs() {
	echo "----- guest kernel console (ttyS0) -----"
	tr -d '\r' <"$work/console.log"
	if [[ -s $work/qemu.log ]]; then
		echo "----- qemu -----"
		cat "$work/qemu.log"
	fi
	if [[ -s $work/server.log ]]; then
		echo "----- ivshmem server -----"
		cat "$work/server.log"
	fi
	echo "-----"
}

if [[ $marker == 0 ]]; then
	if [[ -n $taint ]]; then
		show_logs
		say "warning: the guest kernel became tainted during the tests (${taint% *} -> ${taint#* }): a WARN, BUG or oops? See the kernel log above."
	elif [[ ${LIBMSIX_GUEST_VERBOSE:-0} != 0 ]]; then
		show_logs
	fi
	exit 0
fi
if [[ -n $marker ]]; then
	show_logs
	case $marker in
	1) die "FAIL: a test program failed in the $kernel guest" ;;
	*) die "FAIL: guest setup failed on $kernel (rc=$marker)" ;;
	esac
fi
if ((qemu_rc == 124 || qemu_rc == 137)); then
	show_logs
	die "FAIL: timed out after ${timeout_s}s; the guest was killed"
fi
if [[ ! -s $work/console.log ]] && ((qemu_rc != 0)); then
	cat "$work/qemu.log" >&2
	skip "QEMU could not start a guest (exit $qemu_rc after ${elapsed}s)"
fi
show_logs
die "FAIL: the guest ended without a result (QEMU exit $qemu_rc after ${elapsed}s)"
