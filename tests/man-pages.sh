#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The man pages cover the API and render cleanly:
#  - every function declared with LIBMSIX_EXPORT in INCDIR/*.h has
#    MANDIR/man3/<name>.3, and no page exists for anything else;
#  - each page is that function's own: its NAME line starts with the name
#    and its SYNOPSIS holds the prototype;
#  - each page says which threads may call the function (CONTEXT) and,
#    unless it returns void, what it returns (RETURN VALUE): the header's
#    doc comment has "Context:" and "Return:";
#  - every page, and MANDIR/man7/libmsix.7, renders with no warning from
#    `man --warnings` (groff's -ww: what lintian checks too), and
#    libmsix(7) names every function.
# The function list is read here with the C preprocessor, independently of
# scripts/man-pages.py, so a function the generator skips is caught.
#
# Usage: man-pages.sh --cc CC --include INCDIR --man MANDIR
#        man-pages.sh --cc CC --selftest GENERATOR PANDOC
# Exit 77 (skip) when neither man nor groff is installed.
set -u
# shellcheck source=tests/selftest.sh
. "$(dirname "${BASH_SOURCE[0]}")/selftest.sh"

cc='' incdir='' mandir='' selftest=0 gen='' pandoc=''
while (($#)); do
	case $1 in
	--cc) cc=$2; shift 2 ;;
	--include) incdir=$2; shift 2 ;;
	--man) mandir=$2; shift 2 ;;
	--selftest) selftest=1; gen=$2; pandoc=$3; shift 3 ;;
	*) echo "usage: $0 --cc CC (--include DIR --man DIR | --selftest GEN PANDOC)" >&2; exit 2 ;;
	esac
done

# render PAGE: the page as text; its warnings (and nothing else) on stderr.
if command -v man >/dev/null; then
	render() { LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1"; }
elif command -v groff >/dev/null; then
	render() { LC_ALL=C.UTF-8 groff -man -ww -Tutf8 -rLL=80n "$1"; }
else
	echo "SKIP: neither man (man-db) nor groff is installed: pages cannot be rendered"
	exit 77
fi

# exported_functions DIR: the name of every LIBMSIX_EXPORT function.
exported_functions()
{
	local h
	for h in "$1"/*.h; do
		# -fpreprocessed: drop the comments, expand nothing.
		"$cc" -fpreprocessed -dD -E -P -x c "$h" 2>/dev/null | tr '\n' ' ' |
			grep -oE 'LIBMSIX_EXPORT[^;{}]*\(' |
			grep -oE '\blibmsix_[A-Za-z0-9_]+[[:space:]]*\($' |
			tr -d '( \t'
	done | sort -u
}

check()
{
	local inc=$1 man=$2 fail=0 f out warn funcs overview
	funcs=$(exported_functions "$inc")
	if [ -z "$funcs" ]; then
		echo "FAIL: no LIBMSIX_EXPORT functions found in $inc"
		return 1
	fi
	for f in $funcs; do
		local page=$man/man3/$f.3
		if [ ! -f "$page" ]; then
			echo "FAIL: $f has no page ($page)"
			fail=1
			continue
		fi
		out=$(render "$page" 2>"$man/.warn") || {
			echo "FAIL: $page does not render"; fail=1; }
		warn=$(cat "$man/.warn")
		if [ -n "$warn" ]; then
			echo "FAIL: $page: warnings:"
			printf '  %s\n' "$warn"
			fail=1
		fi
		if ! grep -A1 -x 'NAME' <<<"$out" | grep -qE "^ +$f +- "; then
			echo "FAIL: $page: NAME is not \"$f - ...\""
			fail=1
		fi
		if ! grep -q "$f(" <<<"$out"; then
			echo "FAIL: $page: no prototype of $f"
			fail=1
		fi
		if ! grep -qx 'CONTEXT' <<<"$out"; then
			echo "FAIL: $f: its doc comment has no \"Context:\" (which threads)"
			fail=1
		fi
		if ! grep -qE "(^|[^*])\<void +$f\(" <<<"$out" &&
		   ! grep -qx 'RETURN VALUE' <<<"$out"; then
			echo "FAIL: $f: its doc comment has no \"Return:\""
			fail=1
		fi
	done
	for page in "$man"/man3/*.3; do
		[ -e "$page" ] || continue
		f=$(basename "$page" .3)
		if ! grep -qx "$f" <<<"$funcs"; then
			echo "FAIL: $page documents $f, which no header declares"
			fail=1
		fi
	done
	overview=$man/man7/libmsix.7
	if [ ! -f "$overview" ]; then
		echo "FAIL: $overview missing"
		fail=1
	else
		out=$(render "$overview" 2>"$man/.warn")
		warn=$(cat "$man/.warn")
		if [ -n "$warn" ]; then
			echo "FAIL: $overview: warnings:"
			printf '  %s\n' "$warn"
			fail=1
		fi
		# Pages are wrapped; compare with the line breaks taken out.
		out=$(tr -s ' \n' '  ' <<<"$out" | sed 's/‐ //g')
		for f in $funcs; do
			grep -qF "$f(3)" <<<"$out" || {
				echo "FAIL: libmsix(7) does not list $f"; fail=1; }
		done
	fi
	rm -f "$man/.warn"
	[ $fail = 0 ] && echo "ok: $(wc -w <<<"$funcs") function pages and libmsix(7), no warnings"
	return $fail
}

selftest()
{
	local tmp rc=0
	tmp=$(mktemp -d) || exit 1
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	mkdir -p "$tmp/inc"
	cat >"$tmp/inc/a.h" <<-'EOF'
	/** libmsix_one() - the first. @x: a value. Return: 0.
	 * Context: any thread. */
	LIBMSIX_EXPORT int libmsix_one(int x);
	/** libmsix_two() - the second.
	 * Context: any thread. */
	LIBMSIX_EXPORT void
	libmsix_two(void);
	/* LIBMSIX_EXPORT int libmsix_in_a_comment(void); */
	EOF
	gen_pages() { "${PYTHON:-python3}" "$gen" --pandoc "$pandoc" --out "$tmp/man" "$tmp/inc/a.h" >/dev/null; }
	expect() { selftest_expect "$1" "$2" check "$tmp/inc" "$tmp/man"; }
	gen_pages; expect pass "generated pages"
	gen_pages; rm "$tmp/man/man3/libmsix_two.3"; expect fail "a page missing"
	gen_pages; cp "$tmp/man/man3/libmsix_one.3" "$tmp/man/man3/libmsix_gone.3"
	expect fail "a page for no function"
	gen_pages; cp "$tmp/man/man3/libmsix_one.3" "$tmp/man/man3/libmsix_two.3"
	expect fail "a page that is another function's"
	gen_pages; printf '.bogusrequest x\n\\fQ\n' >>"$tmp/man/man3/libmsix_one.3"
	expect fail "a page with troff warnings"
	gen_pages; sed -i 's/libmsix_two/libmsix_twx/g' "$tmp/man/man7/libmsix.7"
	expect fail "libmsix(7) missing a function"
	cp "$tmp/inc/a.h" "$tmp/a.h.orig"
	sed -i 's/ \* Context: any thread\. \*\// *\//' "$tmp/inc/a.h"
	gen_pages; expect fail "a function whose doc says no Context"
	cp "$tmp/a.h.orig" "$tmp/inc/a.h"
	sed -i 's/ Return: 0\.$//' "$tmp/inc/a.h"
	gen_pages; expect fail "an int function whose doc says no Return"
	cp "$tmp/a.h.orig" "$tmp/inc/a.h"
	return $rc
}

[ -n "$cc" ] || { echo "--cc is required" >&2; exit 2; }
if [ $selftest = 1 ]; then
	selftest
else
	check "$incdir" "$mandir"
fi
