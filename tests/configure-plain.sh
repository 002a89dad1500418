#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# configure-plain.sh SRC CMAKE [GENERATOR]: `cmake -S SRC -B DIR` as a user
# who only wants to install does it, on a machine without the check unit
# test framework: it must succeed, say that the tests are off and why,
# register no test, and pick RelWithDebInfo since no CMAKE_BUILD_TYPE is
# given. check is hidden by a pkg-config search path that has libbsd (which
# the library needs) and nothing else.
set -euo pipefail
src=${1:?usage: configure-plain.sh SRC CMAKE [GENERATOR]}
cmake=${2:?usage: configure-plain.sh SRC CMAKE [GENERATOR]}
gen=${3:-}
me=configure-plain
fail() {
	printf '%s: FAIL: %s\n' "$me" "$*" >&2
	exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bsd=$(pkg-config --variable=pcfiledir libbsd) || fail "libbsd's pkg-config file not found"
mkdir "$work/pc"
ln -s "$bsd/libbsd.pc" "$work/pc/libbsd.pc"
export PKG_CONFIG_LIBDIR=$work/pc PKG_CONFIG_PATH=''
pkg-config --exists check && fail "check is still visible through $work/pc"
genopt=()
[[ -z $gen ]] || genopt=(-G "$gen")
"$cmake" -S "$src" -B "$work/b" "${genopt[@]}" >"$work/out" 2>&1 ||
	{ cat "$work/out"; fail "configuring without check failed"; }
grep -q "the check unit test framework" "$work/out" ||
	{ cat "$work/out"; fail "no message says the tests are off for want of check"; }
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$work/b/CMakeCache.txt")
[[ $type == RelWithDebInfo ]] || fail "no CMAKE_BUILD_TYPE given, but the build type is '$type'"
[[ ! -e $work/b/tests ]] || fail "the tests were configured without check"
printf '%s: ok: configured without check: tests off with a warning, build type %s\n' "$me" "$type"
