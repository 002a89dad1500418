# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# tests/selftest.sh - sourced by the check scripts' --selftest modes
# (tests/man-pages.sh, tests/rules-cited.sh), which prove each of their
# checks can fail.
#
# selftest_expect WANT WHAT CMD [ARGS...]: run CMD; WANT is pass (exit 0
# expected) or fail (non-zero expected). Prints "selftest ok: WHAT", or
# "SELFTEST FAIL: WHAT" with CMD's output and sets the caller's rc=1.

selftest_expect()
{
	local want=$1 what=$2 out got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if { [ "$want" = pass ] && [ $got != 0 ]; } ||
	   { [ "$want" = fail ] && [ $got = 0 ]; }; then
		echo "SELFTEST FAIL: $what: expected $want, got rc=$got"
		printf '%s\n' "$out"
		# shellcheck disable=SC2034 # the calling selftest()'s local rc
		rc=1
	else
		echo "selftest ok: $what ($want)"
	fi
}
