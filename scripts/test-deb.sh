#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/test-deb.sh - the Debian packages, end to end (a step of
# scripts/test-all.sh):
#
#   1. copies the tree (without build/ and .git) into a scratch directory
#      and runs `dpkg-buildpackage -us -uc -b` there (it writes the .debs
#      into the parent directory, so never in the tree itself); its
#      dh_auto_test is a plain ctest;
#   2. runs lintian on the .changes, failing on any error or warning;
#   3. installs libmsix0, libmsix-dev and libmsix-tools: into this machine
#      with apt-get when root (and removes them again at the end), or, when
#      not root or with LIBMSIX_DEB_ROOT=scratch, unpacked into a scratch
#      root;
#   4. builds tests/consumer/ against the installed package with
#      `pkg-config libmsix` and with find_package(libmsix) (shared and
#      static), runs them, and checks that the man pages and msix-trace are
#      where the packages put them.
#
# Exit: 0 all passed; 1 a step failed (its log is printed or named).
# LIBMSIX_DEB_KEEP=1 keeps the scratch directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=$(pwd)
me=test-deb
say() { printf '%s: %s\n' "$me" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "$me" "$*" >&2
	exit 1
}

for tool in dpkg-buildpackage dpkg-parsechangelog dpkg-deb lintian pkg-config cmake cc; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
project=$(sed -n 's/^project(libmsix VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ $version == "$project" ]] ||
	fail "debian/changelog is at $version, CMakeLists.txt's project() at $project: add a changelog entry"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
pkgs=(libmsix0 libmsix-dev libmsix-tools)

mode=scratch
if ((EUID == 0)) && [[ ${LIBMSIX_DEB_ROOT:-system} != scratch ]]; then
	mode=system
	for p in "${pkgs[@]}"; do
		if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
			fail "$p is already installed on this machine: remove it first (or LIBMSIX_DEB_ROOT=scratch)"
		fi
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/libmsix-deb.XXXXXX")
installed=0
cleanup() {
	if ((installed)); then
		env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 \
			purge "${pkgs[@]}" >"$work/purge.log" 2>&1 </dev/null ||
			{ cat "$work/purge.log" >&2; say "could not remove ${pkgs[*]}"; }
	fi
	if [[ ${LIBMSIX_DEB_KEEP:-0} == 1 ]]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# ------------------------------------------------------------ 1. build
t0=$SECONDS
src=$work/libmsix-$version
mkdir -p "$src"
# What git tracks, as it is now (uncommitted edits included), and new files
# it does not ignore: not build/ nor the guest kernel cache.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		(cd "$top" && xargs -0 tar -cf - --no-recursion --ignore-failed-read) |
		tar -C "$src" -xf -
else
	tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 </dev/null; then
	tail -n 60 "$work/build.log" >&2
	fail "dpkg-buildpackage failed (last lines above)"
fi
debs=()
for p in "${pkgs[@]}"; do
	f=$work/${p}_${version}_$arch.deb
	[[ -f $f ]] || fail "dpkg-buildpackage made no $p package"
	debs+=("$f")
done
tests=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\)$/\2 tests, \1 failed/p' "$work/build.log" | tail -n 1)
[[ -n $tests ]] || fail "the package build ran no tests (dh_auto_test)"
say "built ${pkgs[*]} $version in $((SECONDS - t0)) s; dh_auto_test: $tests"

# ---------------------------------------------------------- 2. lintian
t0=$SECONDS
changes=$work/libmsix_${version}_$arch.changes
rc=0
lintian --fail-on error,warning --info --display-info "$changes" >"$work/lintian.log" 2>&1 || rc=$?
sed 's/^/  lintian: /' "$work/lintian.log"
((rc == 0)) || fail "lintian reports errors or warnings (above)"
say "lintian: no error or warning ($(grep -c '^I:' "$work/lintian.log" || true) info tags) in $((SECONDS - t0)) s"

# ---------------------------------------------------------- 3. install
if [[ $mode == system ]]; then
	installed=1
	env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 \
		install --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 </dev/null ||
		{ cat "$work/install.log" >&2; fail "apt-get could not install the packages"; }
	root=''
	prefix=/usr
	export PKG_CONFIG_PATH=''
	run=()
else
	root=$work/root
	for f in "${debs[@]}"; do dpkg-deb -x "$f" "$root"; done
	prefix=$root/usr
	export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$root/usr/lib/$multiarch/pkgconfig
	run=(env LD_LIBRARY_PATH="$root/usr/lib/$multiarch")
fi
libdir=$root/usr/lib/$multiarch
say "installed into ${root:-this machine} ($mode)"

# uses_lib BINARY: it loads libmsix.so.0 from the package's directory.
uses_lib() {
	local got
	got=$("${run[@]}" ldd "$1" | awk '$1 == "libmsix.so.0" { print $3 }')
	[[ $(readlink -f "$got") == $(readlink -f "$libdir/libmsix.so.0") ]] ||
		fail "$1 loads libmsix.so.0 from '${got:-nowhere}', not from $libdir"
}

# --------------------------------------------------------- 4. consumers
consumer=$top/tests/consumer
mkdir -p "$work/pc"
read -ra cflags <<<"$(pkg-config --cflags libmsix)"
read -ra libs <<<"$(pkg-config --libs libmsix)"
cc -std=c11 -Wall -Wextra -Werror -pedantic "${cflags[@]}" -o "$work/pc/consumer" \
	"$consumer/consumer.c" "${libs[@]}" || fail "consumer.c does not build with pkg-config"
uses_lib "$work/pc/consumer"
"${run[@]}" "$work/pc/consumer" >/dev/null || fail "the pkg-config consumer failed"
say "pkg-config: consumer built with '${cflags[*]} ${libs[*]}' and ran"

cmake -S "$consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
	-DLIBMSIX_EXPECT_PREFIX="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
	>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "find_package(libmsix) failed"; }
cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log" >&2; fail "the CMake consumer does not build"; }
uses_lib "$work/cmake/consumer"
"${run[@]}" "$work/cmake/consumer" >/dev/null || fail "the CMake consumer (libmsix::msix) failed"
if readelf -dW "$work/cmake/consumer_static" | grep -q 'libmsix\.so'; then
	fail "consumer_static links libmsix.so, not libmsix.a"
fi
"$work/cmake/consumer_static" >/dev/null || fail "the CMake consumer (libmsix::msix_static) failed"
say "cmake: find_package(libmsix) from $prefix; libmsix::msix and libmsix::msix_static built and ran"

n3=$(find "$root/usr/share/man/man3" -name 'libmsix_*.3.gz' | wc -l)
[[ -f $root/usr/share/man/man7/libmsix.7.gz ]] || fail "libmsix-dev has no libmsix(7)"
((n3 > 0)) || fail "libmsix-dev has no libmsix_*(3) page"
[[ -f $root/usr/share/man/man3/libmsix_notify.3.gz ]] || fail "libmsix-dev has no libmsix_notify(3)"
if [[ $mode == system ]] && command -v man >/dev/null; then
	man -w libmsix_notify >/dev/null || fail "man -w libmsix_notify finds no page"
fi
"${run[@]}" "$root/usr/bin/msix-trace" --help >/dev/null || fail "msix-trace --help failed"
say "ok: libmsix(7), $n3 libmsix_*(3) pages, msix-trace runs"
