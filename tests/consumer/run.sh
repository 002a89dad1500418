#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Consumer tests: install libmsix into a private prefix and use it from
# outside the tree, as a VMM's build would. One step per CTest test:
#
#   install    cmake --build (the library targets) + cmake --install --prefix
#              with the build tree read-only (install_manifest.txt aside)
#   pkgconfig  consumer.c built with `pkg-config --cflags --libs libmsix`, run
#   cmake      tests/consumer/ built with find_package(libmsix), run (shared
#              and static)
#   headers    every installed header compiles alone, twice, with -std=c11
#              -Wall -Wextra -Werror -pedantic, and pulls in no libbsd header
#   cxx        every installed header compiles as C++, and a C++ program that
#              references every exported function links and runs
#              (exit 77 when there is no C++ compiler)
#
# Options (all steps): --build-dir B --prefix P --libdir L (relative to P)
# --work W --src S (this directory) --src-include I (the tree's include/)
# --cc CC --cmake CMAKE --generator G --sanitize=LIST (as LIBMSIX_SANITIZE)
set -euo pipefail

step=${1:?usage: run.sh install|pkgconfig|cmake|headers|cxx OPTIONS}
shift
build='' prefix='' libdir=lib work='' src='' srcinc='' cc=cc cmake=cmake gen='' sanitize=''
while [[ $# -gt 0 ]]; do
	case $1 in
	--build-dir) build=$2; shift 2 ;;
	--prefix) prefix=$2; shift 2 ;;
	--libdir) libdir=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--src) src=$2; shift 2 ;;
	--src-include) srcinc=$2; shift 2 ;;
	--cc) cc=$2; shift 2 ;;
	--cmake) cmake=$2; shift 2 ;;
	--generator=*) gen=${1#*=}; shift ;;
	--sanitize=*) sanitize=${1#*=}; shift ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -n $prefix && -n $work ]] || { echo "run.sh: --prefix and --work are required" >&2; exit 2; }

me="consumer $step"
fail() {
	printf '%s: FAIL: %s\n' "$me" "$*" >&2
	exit 1
}
skip() {
	printf '%s: SKIP: %s\n' "$me" "$*"
	exit 77
}
ok() { printf '%s: ok: %s\n' "$me" "$*"; }

pcdir=$prefix/$libdir/pkgconfig
# A sanitized libmsix needs its runtime in every program that loads it.
san_flags=()
[[ -z $sanitize ]] || san_flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer)

# uses_installed_lib BINARY: the dynamic loader resolves libmsix.so.0 from
# the prefix under test, not from the build tree or a system install.
uses_installed_lib() {
	local got
	got=$(LD_LIBRARY_PATH=$prefix/$libdir ldd "$1" | awk '$1 == "libmsix.so.0" { print $3 }')
	[[ $got == "$prefix/$libdir/libmsix.so.0" ]] ||
		fail "$1 loads libmsix.so.0 from '${got:-nowhere}', not from $prefix/$libdir"
}

case $step in
install)
	[[ -n $build ]] || fail "--build-dir is required"
	rm -rf "$prefix"
	# The tests depend on the library being built and current.
	"$cmake" --build "$build" --target msix msix_static
	mkdir -p "$prefix"
	# The install must not write into the build tree: a packager may build
	# as one user and install from a read-only tree. The one exception is
	# CMake's own install_manifest.txt, which every CMake writes there: it
	# stays writable. Read-only through a private bind mount when root
	# (chmod does not stop root), through chmod otherwise; without either,
	# only the check below (this test runs serially, so nothing else writes).
	manifest=$build/install_manifest.txt
	: >"$manifest"
	stamp=$work/install.stamp
	touch "$stamp"
	sleep 1 # whole-second timestamps on some file systems
	if ((EUID != 0)); then
		how="chmod -R a-w"
		chmod -R a-w "$build"
		chmod u+w "$manifest"
		chmod -R u+w "$prefix"
		rc=0
		"$cmake" --install "$build" --prefix "$prefix" || rc=$?
		chmod -R u+w "$build"
		((rc == 0)) || fail "cmake --install failed with the build tree read-only ($how)"
	elif unshare -m true 2>/dev/null; then
		how="a read-only bind mount"
		# The prefix and the manifest are bound first, so the recursive
		# bind of the tree carries them, and stay writable.
		# The script is for the inner bash: its $1..$4 are the arguments
		# after it, so single quotes are meant.
		# shellcheck disable=SC2016
		unshare -m bash -c 'set -e
			mount --bind "$2" "$2"
			mount --bind "$3" "$3"
			mount --rbind "$1" "$1"
			mount -o remount,bind,ro "$1"
			exec "$4" --install "$1" --prefix "$2"' _ "$build" "$prefix" "$manifest" "$cmake" ||
			fail "cmake --install failed with the build tree read-only ($how)"
	else
		how="no way to make it read-only here (root without mount namespaces): checked after"
		"$cmake" --install "$build" --prefix "$prefix"
	fi
	written=$(find "$build" \( -path "$prefix" -o -path "$build/Testing" \) -prune -o \
		-newer "$stamp" ! -path "$manifest" ! -path "$stamp" -print)
	[[ -z $written ]] || fail "cmake --install wrote into the build tree: $written"
	rm -f "$stamp"
	for f in "$libdir/libmsix.so.0" "$libdir/libmsix.so" "$libdir/libmsix.a" \
		"$libdir/pkgconfig/libmsix.pc" "$libdir/cmake/libmsix/libmsix-config.cmake" \
		"$libdir/cmake/libmsix/libmsix-config-version.cmake"; do
		[[ -e $prefix/$f ]] || fail "the install has no $f"
	done
	if [[ -n $srcinc ]]; then
		for h in "$srcinc"/*.h; do
			cmp -s "$h" "$prefix/include/${h##*/}" || fail "include/${h##*/} is not installed as is"
		done
	fi
	ok "installed into $prefix from a build tree kept read-only ($how)"
	;;

pkgconfig)
	command -v pkg-config >/dev/null || fail "pkg-config is not installed"
	export PKG_CONFIG_PATH=$pcdir
	pkg-config --exists --print-errors libmsix || fail "pkg-config cannot find libmsix in $pcdir"
	got=$(pkg-config --variable=prefix libmsix)
	[[ $got == "$prefix" ]] || fail "libmsix.pc says prefix=$got, but it was installed into $prefix"
	# libbsd is header-only macros used inside the library: nothing for a
	# consumer to compile against or link.
	reqs=$(pkg-config --print-requires --print-requires-private libmsix)
	if grep -qi bsd <<<"$reqs" || grep -Eiq '^(Requires|Libs|Cflags).*bsd' "$pcdir/libmsix.pc"; then
		fail "libmsix.pc asks for libbsd: $(grep -Ei 'bsd' "$pcdir/libmsix.pc")"
	fi
	read -ra cflags <<<"$(pkg-config --cflags libmsix)"
	read -ra libs <<<"$(pkg-config --libs libmsix)"
	mkdir -p "$work/pkgconfig"
	bin=$work/pkgconfig/consumer
	"$cc" -std=c11 -Wall -Wextra -Werror -pedantic "${san_flags[@]}" "${cflags[@]}" \
		-o "$bin" "$src/consumer.c" "${libs[@]}" || fail "cannot build consumer.c with pkg-config"
	uses_installed_lib "$bin"
	LD_LIBRARY_PATH=$prefix/$libdir "$bin" || fail "the pkg-config consumer failed"
	ok "built with '${cflags[*]} ${libs[*]}' and ran"
	;;

cmake)
	rm -rf "$work/cmake"
	genopt=()
	[[ -z $gen ]] || genopt=(-G "$gen")
	flags="${san_flags[*]}"
	"$cmake" -S "$src" -B "$work/cmake" "${genopt[@]}" \
		-DCMAKE_C_COMPILER="$cc" \
		-DCMAKE_PREFIX_PATH="$prefix" -DLIBMSIX_EXPECT_PREFIX="$prefix" \
		-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
		-DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" ||
		fail "find_package(libmsix) failed with CMAKE_PREFIX_PATH=$prefix"
	"$cmake" --build "$work/cmake" || fail "cannot build the CMake consumer"
	# The build tree's RPATH points at the imported library's directory.
	uses_installed_lib "$work/cmake/consumer"
	"$work/cmake/consumer" || fail "the CMake consumer (libmsix::msix) failed"
	if readelf -dW "$work/cmake/consumer_static" | grep -q 'libmsix\.so'; then
		fail "consumer_static links libmsix.so, not libmsix.a"
	fi
	"$work/cmake/consumer_static" || fail "the CMake consumer (libmsix::msix_static) failed"
	ok "find_package(libmsix) from $prefix: libmsix::msix and libmsix::msix_static built and ran"
	;;

headers)
	mkdir -p "$work/headers"
	n=0
	for h in "$prefix"/include/*.h; do
		name=${h##*/}
		# Twice: the include guard must hold.
		printf '#include <%s>\n#include <%s>\n' "$name" "$name" >"$work/headers/$name.c"
		"$cc" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only \
			-I"$prefix/include" "$work/headers/$name.c" ||
			fail "$name does not compile alone with -std=c11 -Wall -Wextra -Werror -pedantic"
		deps=$("$cc" -std=c11 -M -I"$prefix/include" "$work/headers/$name.c")
		if grep -q '/bsd/' <<<"$deps"; then
			fail "$name includes libbsd headers; consumers would need libbsd-dev"
		fi
		n=$((n + 1))
	done
	((n > 0)) || fail "no headers in $prefix/include"
	ok "$n installed headers compile alone as C11, pedantic, without libbsd"
	;;

cxx)
	cxx=${CXX:-g++}
	command -v "$cxx" >/dev/null || skip "no C++ compiler ($cxx) to check the headers from C++"
	mkdir -p "$work/cxx"
	n=0
	for h in "$prefix"/include/*.h; do
		name=${h##*/}
		printf '#include <%s>\n' "$name" >"$work/cxx/$name.cc"
		"$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only \
			-I"$prefix/include" "$work/cxx/$name.cc" ||
			fail "$name does not compile as C++11"
		n=$((n + 1))
	done
	# A missing extern "C" only shows at link time: reference every exported
	# function through the headers from C++ and link against the install.
	tu=$work/cxx/link.cc
	{
		for h in "$prefix"/include/*.h; do printf '#include <%s>\n' "${h##*/}"; done
		printf 'static void (*volatile sink)();\nint main()\n{\n'
		nm -D --defined-only "$prefix/$libdir/libmsix.so" |
			awk '$2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); printf "\tsink = reinterpret_cast<void (*)()>(&%s);\n", $3 }'
		printf '\treturn 0;\n}\n'
	} >"$tu"
	funcs=$(grep -c 'sink =' "$tu" || true)
	((funcs > 0)) || fail "$prefix/$libdir/libmsix.so exports no function"
	"$cxx" -std=c++11 -Wall -Wextra -Werror "${san_flags[@]}" -I"$prefix/include" \
		-o "$work/cxx/link" "$tu" -L"$prefix/$libdir" -lmsix ||
		fail "a C++ program cannot link the exported functions (extern \"C\" missing?)"
	LD_LIBRARY_PATH=$prefix/$libdir "$work/cxx/link" || fail "the C++ program failed to run"
	ok "$n headers compile as C++11; $funcs exported functions link from C++"
	;;

*)
	echo "run.sh: unknown step $step" >&2
	exit 2
	;;
esac
