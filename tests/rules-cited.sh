#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Every citation in the repository resolves inside it:
#  1. docs/rules.md defines R1..R42 and V1..V25, each exactly once
#     (a paragraph starting "**R12.").
#  2. Every R<n>/V<n> cited in any file of the tree is defined there.
#  3. No file cites material outside the repository (a sibling "shared"
#     directory, the notes it was written from, an absolute work path).
#  4. Every repository path with a file extension named in README.md or
#     docs/*.md exists, and so does every relative Markdown link target.
#
# Usage: rules-cited.sh SRCDIR      check the tree at SRCDIR
#        rules-cited.sh --selftest  prove each check rejects its breach
# Files: `git ls-files` (tracked, and untracked ones that are not ignored or
# build output) when SRCDIR is a git work tree, else every file outside
# .git, build*/, obj-*/ and debian/ build dirs.
set -u
# shellcheck source=tests/selftest.sh
. "$(dirname "${BASH_SOURCE[0]}")/selftest.sh"

# Built from pieces so that this file does not match its own patterns.
dotdot='\.\.'
outside_re="${dotdot}/shared|/work/(shared|notes)|reference-(anchors|msix)|(^|[^a-z])shared/[A-Za-z_-]+\\.md|seed [0-9]{3}"
cite_re='(^|[^A-Za-z0-9])[RV][0-9]+([^0-9A-Za-z]|$)'

list_files()
{
	local src=$1
	if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$src" ls-files --cached
		# New files not yet added count too, but not what a build or a
		# package build leaves in the tree (obj-*/, debian/<package>/).
		git -C "$src" ls-files --others --exclude-standard |
			grep -vE '^(build[^/]*|obj-[^/]*|debian/[^/]+)/'
	else
		(cd "$src" && find . -type f -not -path './.git/*' \
			-not -path './build*' -not -path './obj-*' \
			-not -path './debian/.debhelper/*' \
			-not -path './debian/tmp/*' | sed 's|^\./||')
	fi | sort -u | while read -r f; do
		# Only text files that exist (a listed file may be deleted).
		[ -f "$src/$f" ] && grep -Iq . "$src/$f" 2>/dev/null && printf '%s\n' "$f"
	done
}

check()
{
	local src=$1 fail=0 files id n
	local rules="$src/docs/rules.md"
	if [ ! -f "$rules" ]; then
		echo "FAIL: $rules does not exist"
		return 1
	fi
	files=$(list_files "$src")
	if [ -z "$files" ]; then
		echo "FAIL: no files found under $src"
		return 1
	fi

	# 1. Definitions: R1..R42, V1..V25, once each, nothing else.
	local defined
	defined=$(grep -oE '^\*\*[RV][0-9]+\.' "$rules" | tr -d '*.' | sort -V)
	for id in $(seq -f 'R%g' 1 42) $(seq -f 'V%g' 1 25); do
		n=$(grep -cx "$id" <<<"$defined")
		if [ "$n" != 1 ]; then
			echo "FAIL: docs/rules.md defines $id $n times (want 1)"
			fail=1
		fi
	done
	for id in $defined; do
		if ! grep -qxE 'R([1-9]|[1-3][0-9]|4[0-2])|V([1-9]|1[0-9]|2[0-5])' <<<"$id"; then
			echo "FAIL: docs/rules.md defines $id, outside R1-R42/V1-V25"
			fail=1
		fi
	done

	# 2. Citations.
	local hits
	hits=$(cd "$src" && xargs -d '\n' grep -nIoE "$cite_re" <<<"$files" \
		| sed -E 's/^([^:]*:[0-9]+):[^RV]*([RV][0-9]+).*/\1 \2/')
	while read -r where id; do
		[ -n "$id" ] || continue
		if ! grep -qx "$id" <<<"$defined"; then
			echo "FAIL: $where cites $id, which docs/rules.md does not define"
			fail=1
		fi
	done <<<"$hits"

	# 3. Nothing outside the repository.
	local self
	self=$(cd "$src" && xargs -d '\n' grep -nIE "$outside_re" <<<"$files" \
		| grep -v '^tests/rules-cited\.sh:')
	if [ -n "$self" ]; then
		echo "FAIL: cites material outside the repository:"
		printf '  %s\n' "$self"
		fail=1
	fi

	# 4. Paths and links in the user documentation.
	local doc path target
	for doc in README.md docs/*.md; do
		[ -f "$src/$doc" ] || continue
		while read -r path; do
			if [ -n "$path" ] && [ ! -e "$src/$path" ]; then
				echo "FAIL: $doc names $path, which does not exist"
				fail=1
			fi
		done < <(grep -oE '\b(docs|lib|include|tests|examples|guest|scripts|bench|fuzz|debian)/[A-Za-z0-9_./-]*\.(c|h|md|sh|cmake|txt|map|json|in)\b' "$src/$doc" | sort -u)
		while read -r target; do
			case $target in
			"" | *:*) continue ;;	# a URL scheme: not a file
			esac
			if [ ! -e "$(dirname "$src/$doc")/$target" ]; then
				echo "FAIL: $doc links to $target, which does not exist"
				fail=1
			fi
		done < <(grep -oE '\]\([^)#[:space:]]+' "$src/$doc" | sed 's/^](//' | sort -u)
	done

	if [ "$fail" = 0 ]; then
		echo "ok: $(wc -l <<<"$hits") R/V citations in $(wc -l <<<"$files") files, all defined; nothing cited from outside"
	fi
	return $fail
}

selftest()
{
	local rc=0 i
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	mk()
	{
		rm -rf "$tmp/t" && mkdir -p "$tmp/t/docs" "$tmp/t/lib"
		{
			for i in $(seq 1 42); do echo "**R$i. rule"; echo; done
			for i in $(seq 1 25); do echo "**V$i. class"; echo; done
		} >"$tmp/t/docs/rules.md"
		echo '/* R41, V25 */' >"$tmp/t/lib/a.c"
		echo 'See docs/rules.md and [rules](docs/rules.md).' >"$tmp/t/README.md"
	}
	expect() { selftest_expect "$1" "$2" check "$tmp/t"; }
	mk; expect pass "a clean tree"
	mk; echo "/* see R$((42 + 1)) */" >>"$tmp/t/lib/a.c"; expect fail "an undefined rule cited"
	mk; echo "test_V$((25 + 1))_x" >>"$tmp/t/lib/a.c"; expect fail "an undefined class in a test name"
	mk; sed -i '/^\*\*R7\./d' "$tmp/t/docs/rules.md"; expect fail "a rule not defined"
	mk; echo '**R3. again' >>"$tmp/t/docs/rules.md"; expect fail "a rule defined twice"
	# The fixtures are spelled in pieces, so this file cites nothing itself.
	local up=${dotdot//\\/} sh="sha""red" ref="refer""ence"
	mk; echo "(see $up/$sh/notes.md)" >>"$tmp/t/lib/a.c"; expect fail "a citation outside the repo"
	mk; echo "from $ref-anchors.md" >>"$tmp/t/lib/a.c"; expect fail "an outside note cited"
	mk; echo 'see lib/missing.c' >>"$tmp/t/README.md"; expect fail "a missing path in the README"
	mk; echo '[x](docs/nope.md)' >>"$tmp/t/README.md"; expect fail "a broken Markdown link"
	return $rc
}

case ${1:-} in
--selftest) selftest ;;
"" | -*) echo "usage: $0 SRCDIR | --selftest" >&2; exit 2 ;;
*) check "$1" ;;
esac
