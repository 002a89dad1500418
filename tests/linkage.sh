#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Linkage test: what libmsix.so exports is exactly what the public headers
# declare with LIBMSIX_EXPORT, every export carries a version node of
# lib/libmsix.map, and nothing libmsix defines collides with QEMU's msix_*
# (a VMM links both).
#
#   linkage.sh --cc CC --include DIR --map FILE --so LIB [--archive LIB.a]
#              [--sanitize=LIST]   (as LIBMSIX_SANITIZE: the archive's runtime)
#              [--symbols debian/libmsix0.symbols]
#   linkage.sh --cc CC --selftest
#
# Every include/*.h is read, so new public headers are covered without
# touching this file. --selftest builds small libraries that break each rule
# and checks that the test rejects every one of them (a test that cannot fail
# is a defect).
set -euo pipefail

me=linkage
say() { printf '%s: %s\n' "$me" "$*"; }
die() {
	printf '%s: error: %s\n' "$me" "$*" >&2
	exit 2
}

# QEMU's public MSI-X functions and data, from include/hw/pci/msix.h at
# qemu/qemu commit 08cf3dc611991e9697f62458107e13f2c582869a (names only).
# libmsix must never define one of them: a VMM that links QEMU's hw/pci and
# libmsix (shared or static) would bind to the wrong one.
QEMU_MSIX_NAMES=(
	msix_set_message msix_get_message msix_init msix_init_exclusive_bar
	msix_write_config msix_uninit msix_uninit_exclusive_bar
	msix_nr_vectors_allocated msix_save msix_load msix_enabled msix_present
	msix_is_masked msix_set_pending msix_clr_pending msix_vector_use
	msix_vector_unuse msix_unuse_all_vectors msix_set_mask msix_notify
	msix_reset msix_set_vector_notifiers msix_unset_vector_notifiers
	vmstate_msix
)

cc='' incdir='' map='' so='' archive='' sanitize='' symbols='' selftest=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--cc) cc=$2; shift 2 ;;
	--include) incdir=$2; shift 2 ;;
	--map) map=$2; shift 2 ;;
	--so) so=$2; shift 2 ;;
	--archive) archive=$2; shift 2 ;;
	--sanitize=*) sanitize=${1#*=}; shift ;;
	--symbols) symbols=$2; shift 2 ;;
	--selftest) selftest=1; shift ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ -n $cc ]] || die "--cc is required"
for tool in nm readelf perl ld objcopy; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# declared_exports DIR: "name header" for every declaration in DIR/*.h that
# carries LIBMSIX_EXPORT. The headers are preprocessed as the library's own
# build sees them (LIBMSIX_BUILDING), so the macro has expanded to
# visibility("default"): comments, line breaks and other attribute macros
# (LIBMSIX_PRINTF) are then no obstacle. Only declarations whose text comes
# from DIR itself count, not what the headers include from the system.
declared_exports() {
	local dir=$1 h
	for h in "$dir"/*.h; do
		"$cc" -E -std=c11 -D_GNU_SOURCE -DLIBMSIX_BUILDING -I"$dir" -x c "$h" |
			D=$dir perl -e '
			use strict; use warnings;
			my ($file, %text) = ("");
			while (my $l = <STDIN>) {
				if ($l =~ /^# \d+ "([^"]*)"/) {
					$file = index($1, "$ENV{D}/") == 0 ? substr($1, length($ENV{D}) + 1) : "";
					next;
				}
				$text{$file} .= $l if $file ne "";
			}
			my $mark = qr/__attribute__\s*\(\(\s*visibility\s*\(\s*"default"\s*\)\s*\)\)/;
			for my $hdr (sort keys %text) {
				my $t = $text{$hdr};
				while ($t =~ /$mark/g) {
					my $rest = substr($t, pos($t));
					# Drop further attributes, balanced parentheses included.
					1 while $rest =~ s/^\s*__attribute__\s*(\((?:[^()]++|(?1))*\))//;
					my $decl = $rest =~ /^([^;{]*)/ ? $1 : "";
					my $name;
					if ($decl =~ /\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\(/) {
						$name = $1;	# a function pointer object
					} elsif ($decl =~ /([A-Za-z_]\w*)\s*\(/) {
						$name = $1;	# a function
					} elsif ($decl =~ /([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?:=.*)?$/s) {
						$name = $1;	# an object
					}
					defined $name or die "cannot parse the declaration after LIBMSIX_EXPORT in $hdr: $decl\n";
					print "$name $hdr\n";
				}
			}'
	done | sort -u
}

# declared_functions DIR: "name header" for every non-static function
# prototype in DIR/*.h as the compiler sees it (gcc -aux-info), to find the
# ones declared without the macro.
declared_functions() {
	local dir=$1 h aux
	aux=$(mktemp)
	for h in "$dir"/*.h; do
		"$cc" -fsyntax-only -std=c11 -D_GNU_SOURCE -DLIBMSIX_BUILDING -I"$dir" \
			-aux-info "$aux" -x c "$h" || { rm -f "$aux"; return 1; }
		D=$dir perl -ne '
			next unless m{^/\* (\S+):\d+:\w+ \*/ (.*)};
			my ($file, $proto) = ($1, $2);
			next unless index($file, "$ENV{D}/") == 0;
			next if $proto =~ /^static\b/;
			print "$1 ", substr($file, length($ENV{D}) + 1), "\n"
				if $proto =~ /([A-Za-z_]\w*) \(/;
		' "$aux"
	done | sort -u
	rm -f "$aux"
}

# map_entries MAP: "node NODE -" for every version node of the script and
# "SECTION NODE NAME" for every entry (SECTION global or local); comments
# removed.
map_entries() {
	perl -e '
		use strict; use warnings;
		local $/; my $t = <>;
		$t =~ s{/\*.*?\*/}{}gs;
		$t =~ s/#[^\n]*//g;
		while ($t =~ /([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*[\w.]*\s*;/gs) {
			my ($node, $body, $sec) = ($1, $2, "global");
			print "node $node -\n";
			for my $tok (split /;/, $body) {
				$tok =~ s/^\s+|\s+$//g;
				$sec = $1 if $tok =~ s/^(global|local)\s*:\s*//;
				print "$sec $node $tok\n" if $tok ne "";
			}
		}' "$1"
}

# check_archive: the static library defines, as global symbols, only
# libmsix_* names (and none of QEMU's), and a program that defines every
# other name the archive has (kvm_commit_prepare, lmx_*, static helpers)
# links against it statically: the names libmsix uses between its own files
# do not collide with a VMM's. Uses $archive, $cc and the qemu table of
# check_linkage. 0 when both hold, else 1 after printing each breach.
check_archive() {
	local sym bad=0 work
	[[ -f $archive ]] || die "no static library $archive"
	while read -r sym; do
		[[ -n $sym ]] || continue
		if [[ -n ${qemu[$sym]:-} ]]; then
			say "FAIL: $archive defines $sym, a name QEMU's hw/pci/msix.h defines"
			bad=1
		elif [[ $sym != libmsix_* ]]; then
			say "FAIL: $archive defines the global $sym: a program defining its own $sym cannot link libmsix statically"
			bad=1
		fi
	done < <(nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u)

	# The program: one definition per non-libmsix_ name the archive
	# defines, local or not (except the names it also takes from elsewhere,
	# e.g. libc's, and those with a leading _, reserved to the compiler and
	# the C library), and a reference to one libmsix_ function. Every member is linked
	# (--whole-archive): a linker that finds a name already defined does not
	# pull the member defining it, and the library would silently call the
	# program's function instead of its own.
	local first locals undef
	first=$(nm -g --defined-only "$archive" | awk 'NF == 3 && $2 == "T" { print $3; exit }')
	[[ -n $first ]] || { say "FAIL: $archive defines no global function"; return 1; }
	undef=$(nm -u "$archive" | awk 'NF == 2 { print $2 }' | sort -u)
	locals=$(nm --defined-only "$archive" |
		awk 'NF == 3 && $2 ~ /^[tdbrTDBR]$/ && $3 ~ /^[A-Za-z][A-Za-z0-9_]*$/ && $3 !~ /^libmsix_/ { print $3 }' |
		sort -u | comm -23 - <(printf '%s\n' "$undef"))
	work=$(mktemp -d)
	{
		printf 'extern char %s[];\n' "$first"
		while read -r sym; do
			[[ -z $sym ]] || printf 'char %s[1];\n' "$sym"
		done <<<"$locals"
		printf 'int main(void)\n{\n\treturn %s == 0;\n}\n' "$first"
	} >"$work/vmm.c"
	local san=()
	[[ -z $sanitize ]] || san=(-fsanitize="$sanitize")
	if ! "$cc" "${san[@]}" -o "$work/vmm" "$work/vmm.c" \
		-Wl,--whole-archive "$archive" -Wl,--no-whole-archive -lpthread >"$work/ld.out" 2>&1; then
		say "FAIL: a program defining the archive's $(grep -c . <<<"$locals") internal names cannot link $archive statically:"
		sed 's/^/    /' "$work/ld.out" | head -n 20
		bad=1
	fi
	rm -rf "$work"
	((bad)) || say "ok: $archive: only libmsix_* global; a program defining its $(grep -c . <<<"$locals") internal names (e.g. $(grep -v "^__" <<<"$locals" | head -n 3 | tr '\n' ' ')) links"
	return "$bad"
}

# check_linkage: 0 when every rule holds, else 1 after printing each breach.
check_linkage() {
	local failed=0 name hdr ver type nodes
	local -A marked=() exported=() node=() qemu=()
	local n

	[[ -d $incdir ]] || die "no include directory $incdir"
	incdir=$(cd "$incdir" && pwd)
	[[ -f $map ]] || die "no version script $map"
	[[ -f $so ]] || die "no shared library $so"
	compgen -G "$incdir/*.h" >/dev/null || die "no headers in $incdir"

	for n in "${QEMU_MSIX_NAMES[@]}"; do qemu[$n]=1; done

	# Version nodes the script defines.
	nodes=$(map_entries "$map" | awk '$1 == "node" { print $2 }')
	[[ -n $nodes ]] || die "$map defines no version node"
	for n in $nodes; do node[$n]=1; done

	local decl
	decl=$(declared_exports "$incdir") || die "cannot preprocess the headers in $incdir"
	while read -r name hdr; do
		[[ -n $name ]] || continue
		marked[$name]=$hdr
		if [[ $name != libmsix_* ]]; then
			say "FAIL: $hdr declares $name with LIBMSIX_EXPORT: public names start with libmsix_"
			failed=1
		fi
	done <<<"$decl"
	((${#marked[@]} > 0)) || {
		say "FAIL: no LIBMSIX_EXPORT declaration found in $incdir/*.h"
		failed=1
	}

	# The version script lists every LIBMSIX_EXPORT name, by name, and
	# nothing else: a header declaring a function the script does not
	# export is caught here, before a program fails to link it.
	local -A listed=()
	local sec nd
	while read -r sec nd name; do
		[[ $sec == global && -n $name ]] || continue
		if [[ $name == *[\*\?\[]* ]]; then
			say "FAIL: $map exports the pattern '$name' in $nd: list every symbol by name"
			failed=1
		elif [[ -n ${listed[$name]:-} ]]; then
			say "FAIL: $map lists $name in both ${listed[$name]} and $nd"
			failed=1
		else
			listed[$name]=$nd
		fi
	done < <(map_entries "$map")
	for name in "${!marked[@]}"; do
		[[ -n ${listed[$name]:-} ]] ||
			say "FAIL: ${marked[$name]} declares $name with LIBMSIX_EXPORT, but $map lists it in no node (add it to the next release's)"
		[[ -n ${listed[$name]:-} ]] || failed=1
	done
	for name in "${!listed[@]}"; do
		[[ -n ${marked[$name]:-} ]] ||
			say "FAIL: $map lists $name, which no $incdir/*.h declares with LIBMSIX_EXPORT"
		[[ -n ${marked[$name]:-} ]] || failed=1
	done

	local protos
	protos=$(declared_functions "$incdir") || die "cannot compile the headers in $incdir"
	while read -r name hdr; do
		[[ -n $name ]] || continue
		if [[ -z ${marked[$name]:-} ]]; then
			say "FAIL: $hdr declares $name without LIBMSIX_EXPORT: it is hidden and no program can link it"
			failed=1
		fi
	done <<<"$protos"

	local dyn
	dyn=$(nm -D --defined-only "$so") || die "nm cannot read $so"
	# Older binutils print versions only on request.
	if ! grep -q '@' <<<"$dyn"; then
		dyn=$(nm -D --defined-only --with-symbol-versions "$so")
	fi
	while read -r _ type name; do
		[[ -n $name ]] || continue
		ver=''
		if [[ $name == *@* ]]; then
			ver=${name##*@}
			[[ $name == *@@* ]] || {
				say "FAIL: $name is a non-default (hidden) version: every export must be name@@NODE"
				failed=1
			}
			name=${name%%@*}
		fi
		if [[ $type == A && -z $ver && -n ${node[$name]:-} ]]; then
			node[$name]=seen
			continue
		fi
		exported[$name]=1
		if [[ -n ${qemu[$name]:-} ]]; then
			say "FAIL: $so exports $name, a name QEMU's hw/pci/msix.h defines"
			failed=1
		fi
		if [[ $name != libmsix_* ]]; then
			say "FAIL: $so exports $name: only libmsix_* may be exported"
			failed=1
		fi
		if [[ -z $ver ]]; then
			say "FAIL: $so exports $name without a version: lib/libmsix.map must cover it"
			failed=1
		elif [[ -z ${node[$ver]:-} ]]; then
			say "FAIL: $so exports $name@@$ver, but $map defines no node $ver"
			failed=1
		elif [[ -n ${listed[$name]:-} && ${listed[$name]} != "$ver" ]]; then
			say "FAIL: $so exports $name@@$ver, but $map lists it in ${listed[$name]}"
			failed=1
		fi
		if [[ -z ${marked[$name]:-} ]]; then
			say "FAIL: $so exports $name, which no $incdir/*.h declares with LIBMSIX_EXPORT"
			failed=1
		fi
	done <<<"$dyn"

	for n in "${!node[@]}"; do
		if [[ ${node[$n]} != seen ]]; then
			say "FAIL: $map defines $n, but $so has no version definition $n"
			failed=1
		fi
	done
	for name in "${!marked[@]}"; do
		if [[ -z ${exported[$name]:-} ]]; then
			say "FAIL: ${marked[$name]} declares $name with LIBMSIX_EXPORT but $so does not export it"
			failed=1
		fi
	done

	local soname
	soname=$(readelf -dW "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	if [[ $soname != libmsix.so.0 ]]; then
		say "FAIL: $so has SONAME '$soname', expected libmsix.so.0"
		failed=1
	fi
	# libbsd is used only through the <bsd/bitstring.h> macros; libmsix.pc
	# promises consumers nothing to link, so the library must not need it.
	if readelf -dW "$so" | grep '(NEEDED)' | grep -q 'libbsd'; then
		say "FAIL: $so needs libbsd at run time, but libmsix.pc does not declare it"
		failed=1
	fi

	if [[ -n $archive ]]; then
		check_archive || failed=1
	fi

	# The Debian symbols file lists the same NAME@NODE pairs as the map
	# (dpkg-gensymbols enforces it in a package build; this says it sooner).
	if [[ -n $symbols ]]; then
		[[ -f $symbols ]] || die "no symbols file $symbols"
		local want have
		want=$(for name in "${!listed[@]}"; do echo "$name@${listed[$name]}"; done
			for n in $nodes; do echo "$n@$n"; done)
		have=$(sed -n 's/^ \([^ ]*@[^ ]*\) .*/\1/p' "$symbols")
		while read -r name; do
			[[ -z $name ]] || {
				say "FAIL: $symbols lacks $name (add ' $name <first version>', docs/abi.md)"
				failed=1
			}
		done < <(comm -23 <(sort <<<"$want") <(sort <<<"$have"))
		while read -r name; do
			[[ -z $name ]] || {
				say "FAIL: $symbols lists $name, which $map does not export"
				failed=1
			}
		done < <(comm -13 <(sort <<<"$want") <(sort <<<"$have"))
	fi

	if ((failed == 0)); then
		local headers=("$incdir"/*.h)
		say "ok: ${#marked[@]} LIBMSIX_EXPORT declarations in ${#headers[@]} headers," \
			"${#exported[@]} exports, all versioned (${nodes//$'\n'/ }), none of QEMU's ${#QEMU_MSIX_NAMES[@]} msix_* names"
	fi
	return "$failed"
}

# ------------------------------------------------------------------ selftest
# Each case: a header and a source built into libmsix.so.0 with a version
# script; the test must pass the good case and fail every bad one.
selftest() {
	local work
	work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	local export='#define LIBMSIX_EXPORT __attribute__((visibility("default")))'

	# build_case NAME HEADER SOURCE MAP
	build_case() {
		local d=$work/$1
		mkdir -p "$d/include"
		printf '%s\n' "$export" "$2" >"$d/include/libmsix.h"
		printf '#include "libmsix.h"\n%s\n' "$3" >"$d/lib.c"
		# An empty MAP: link without a version script (the check still
		# reads a valid one).
		local script=()
		# shellcheck disable=SC2054 # one linker option, commas and all
		[[ -z $4 ]] || script=(-Wl,--version-script="$d/libmsix.map")
		printf '%s\n' "${4:-$good_map}" >"$d/libmsix.map"
		"$cc" -shared -fPIC -fvisibility=hidden -DLIBMSIX_BUILDING -I"$d/include" \
			"${script[@]}" -Wl,-soname,libmsix.so.0 -o "$d/libmsix.so" "$d/lib.c"
	}
	# map_of NAME...: a version script with one node listing NAMEs.
	map_of() { printf 'LIBMSIX_0.1 { global: %s local: *; };' "$(printf '%s; ' "$@")"; }
	local good_map any_map='LIBMSIX_0.1 { global: *; };'
	good_map=$(map_of libmsix_a)

	build_case good $'LIBMSIX_EXPORT int libmsix_a(int x);\nLIBMSIX_EXPORT const char *\n  libmsix_b(void) __attribute__((pure));' \
		'int libmsix_a(int x) { return x; } const char *libmsix_b(void) { return ""; }' \
		"$(map_of libmsix_a libmsix_b)"
	# Two releases: libmsix_b added in the second node.
	build_case good2 $'LIBMSIX_EXPORT int libmsix_a(void);\nLIBMSIX_EXPORT int libmsix_b(void);' \
		'int libmsix_a(void) { return 0; } int libmsix_b(void) { return 1; }' \
		'LIBMSIX_0.1 { global: libmsix_a; local: *; }; LIBMSIX_0.2 { global: libmsix_b; } LIBMSIX_0.1;'
	# Every libmsix_ name exported by a pattern, not by name.
	build_case wildcard 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; }' 'LIBMSIX_0.1 { global: libmsix_*; local: *; };'
	# A header declares a function that the script does not list.
	build_case unlisted $'LIBMSIX_EXPORT int libmsix_a(void);\nLIBMSIX_EXPORT int libmsix_new(void);' \
		'int libmsix_a(void) { return 0; } int libmsix_new(void) { return 1; }' "$good_map"
	build_case undeclared 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; } __attribute__((visibility("default"))) int libmsix_extra(void) { return 1; }' \
		"$(map_of libmsix_a libmsix_extra)"
	build_case missing $'LIBMSIX_EXPORT int libmsix_a(void);\nLIBMSIX_EXPORT int libmsix_gone(void);' \
		'int libmsix_a(void) { return 0; }' "$good_map"
	build_case unmarked $'LIBMSIX_EXPORT int libmsix_a(void);\nint libmsix_plain(void);' \
		'int libmsix_a(void) { return 0; } int libmsix_plain(void) { return 1; }' "$good_map"
	build_case qemu $'LIBMSIX_EXPORT int libmsix_a(void);\nLIBMSIX_EXPORT void msix_notify(void);' \
		'int libmsix_a(void) { return 0; } void msix_notify(void) { }' "$any_map"
	build_case unversioned 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; }' ''
	build_case othernode 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; }' "$good_map"
	printf 'LIBMSIX_0.2 { global: libmsix_a; local: *; };\n' >"$work/othernode/libmsix.map.other"
	build_case leak 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; } __attribute__((visibility("default"))) int helper(void) { return 1; }' "$any_map"

	# Static archives. archive: an internal helper has one of QEMU's
	# names; archiveleak: an internal helper is global (what `ar` of the
	# plain objects gives); the good case's archive is built as the library's
	# is (ld -r + objcopy --localize-hidden) from a file with a hidden global
	# helper and a static one.
	build_case archive 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int libmsix_a(void) { return 0; } int msix_present(void); int msix_present(void) { return 1; }' "$good_map"
	"$cc" -c -fPIC -I"$work/archive/include" -o "$work/archive/lib.o" "$work/archive/lib.c"
	ar rcs "$work/archive/libmsix.a" "$work/archive/lib.o"
	build_case archiveleak 'LIBMSIX_EXPORT int libmsix_a(void);' \
		'int kvm_commit_prepare(void); int kvm_commit_prepare(void) { return 1; } int libmsix_a(void) { return kvm_commit_prepare(); }' "$good_map"
	"$cc" -c -fPIC -fvisibility=hidden -DLIBMSIX_BUILDING -I"$work/archiveleak/include" \
		-o "$work/archiveleak/lib.o" "$work/archiveleak/lib.c"
	ar rcs "$work/archiveleak/libmsix.a" "$work/archiveleak/lib.o"
	local g=$work/good
	printf '%s\n' 'int kvm_commit_prepare(void); int kvm_commit_prepare(void) { return 1; }' \
		'static int lmx_static(void) { return 2; }' \
		'int libmsix_c(void); int libmsix_c(void) { return kvm_commit_prepare() + lmx_static(); }' >"$g/helper.c"
	"$cc" -c -fPIC -fvisibility=hidden -DLIBMSIX_BUILDING -I"$g/include" -o "$g/lib.o" "$g/lib.c"
	"$cc" -c -fPIC -fvisibility=hidden -o "$g/helper.o" "$g/helper.c"
	ld -r -o "$g/all.o" "$g/lib.o" "$g/helper.o"
	objcopy --localize-hidden "$g/all.o" "$g/all.l.o"
	ar rcs "$g/libmsix.a" "$g/all.l.o"

	local c rc bad=0
	for c in good good2 wildcard unlisted undeclared missing unmarked qemu unversioned othernode \
		leak archive archiveleak; do
		incdir=$work/$c/include so=$work/$c/libmsix.so map=$work/$c/libmsix.map archive=''
		[[ $c != good ]] || archive=$work/$c/libmsix.a
		[[ $c != archiveleak ]] || archive=$work/$c/libmsix.a
		[[ $c != othernode ]] || map=$work/$c/libmsix.map.other
		[[ $c != archive ]] || archive=$work/$c/libmsix.a
		rc=0
		(check_linkage) >"$work/$c.out" 2>&1 || rc=$?
		if [[ $c == good* ]] && ((rc != 0)); then
			say "selftest FAIL: the good library was rejected:"
			cat "$work/$c.out"
			bad=1
		elif [[ $c != good* ]] && ((rc != 1)); then
			say "selftest FAIL: case '$c' was not rejected (rc=$rc):"
			cat "$work/$c.out"
			bad=1
		else
			say "selftest ok: $c"
			grep -E 'FAIL|ok:' "$work/$c.out" | sed -e "s|$work/||g" -e 's/^/    /'
		fi
	done
	return "$bad"
}

if ((selftest)); then
	selftest
	exit $?
fi
[[ -n $incdir && -n $map && -n $so ]] || die "--include, --map and --so are required"
check_linkage
