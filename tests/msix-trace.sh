#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/msix-trace.sh - the msix-trace tool (docs/trace.md):
#   counts   every trace in DATA with a .expected file gives exactly those
#            --kv rows (see the comments in each file for how they were
#            computed or checked); every other trace there replays in all
#            18 rows; no trace gives a note (a read that differs from what
#            the guest read, a refused vector, a contract violation)
#   errors   each kind of malformed line gives "FILE:LINE: what is wrong"
#            on stderr, exit status 1, and nothing on stdout (not replayed)
#   hostile  random bytes and an endless line: exit 1, no crash
#   help     --help prints the usage and exits 0
#
# Usage: msix-trace.sh MSIX_TRACE DATA_DIR
set -euo pipefail

tool=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

bad() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# --- counts ----------------------------------------------------------------
shopt -s nullglob
traces=("$data"/*.jsonl)
((${#traces[@]} > 0)) || bad "no traces in $data"
for t in "${traces[@]}"; do
	exp=${t%.jsonl}.expected
	if ! "$tool" --kv "$t" >"$tmp/out" 2>"$tmp/err"; then
		bad "$t: exit status $?: $(cat "$tmp/err")"
		continue
	fi
	if [[ -f $exp ]]; then
		grep -v '^#' "$exp" >"$tmp/exp"
		grep '^host=' "$tmp/out" >"$tmp/rows" || true
		if ! diff -u "$tmp/exp" "$tmp/rows" >"$tmp/diff"; then
			bad "$t: counts differ from $exp:"
			cat "$tmp/diff" >&2
		fi
	else
		# A recorded trace: it must replay in all 18 rows.
		n=$(grep -c '^host=' "$tmp/out" || true)
		[[ $n == 18 ]] || bad "$t: $n rows, not 18"
	fi
	# Notes: a read that returned another value than the guest read (the
	# replay diverged from the recording), a vector a backend refused, or
	# a backend-contract violation. None is expected on any trace here.
	if grep -q '^note:' "$tmp/out"; then
		bad "$t: $(grep '^note:' "$tmp/out")"
	fi
done

# A VM whose route table cannot hold both devices' preallocation: KVM
# refuses an alloc, and the replay's composed backend must stay within the
# backend contract (no violation note), as the library does.
{
	printf '%s\n' '{"type":"trace","version":1,"source":"test"}'
	for d in 0 1; do
		printf '{"type":"device","dev":%d,"name":"big","nr_vectors":2048,"cap_offset":64,"table_bir":0,"table_offset":0,"pba_bir":2,"pba_offset":0}\n' "$d"
	done
	for d in 0 1; do
		printf '{"type":"config","dev":%d,"op":"write","off":66,"size":2,"val":49152}\n' "$d"
	done
} >"$tmp/full.jsonl"
if ! "$tool" --kv "$tmp/full.jsonl" >"$tmp/out" 2>"$tmp/err"; then
	bad "full route table: $(cat "$tmp/err")"
elif grep -q '^note:' "$tmp/out"; then
	bad "full route table: $(grep '^note:' "$tmp/out")"
fi

# --- errors ----------------------------------------------------------------
head='{"type":"trace","version":1,"source":"test"}
{"type":"device","dev":0,"name":"d","nr_vectors":4,"cap_offset":64,"table_bir":1,"table_offset":0,"pba_bir":1,"pba_offset":2048}
{"type":"config","dev":0,"op":"write","off":66,"size":2,"val":49155}
{"type":"mmio","dev":0,"op":"write","bar":1,"off":12,"size":4,"val":0}'

# check_error FILE LINE PATTERN: exit 1, nothing on stdout, and stderr
# says "FILE:LINE: PATTERN".
check_error() {
	local f=$1 line=$2 pat=$3 rc=0
	"$tool" "$f" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[[ $rc == 1 ]] || bad "$f: exit status $rc, not 1"
	[[ ! -s $tmp/out ]] || bad "$f: something was replayed: $(head -3 "$tmp/out")"
	grep -q "^$f:$line: $pat" "$tmp/err" ||
		bad "$f: expected '$f:$line: $pat', got: $(cat "$tmp/err")"
}

# expect_error NAME LINE PATTERN BAD_LINE: the trace is $head, BAD_LINE
# (line 5) and one more good line; the error must name line LINE.
expect_error() {
	local f="$tmp/$1.jsonl"
	printf '%s\n%s\n%s\n' "$head" "$4" \
		'{"type":"config","dev":0,"op":"write","off":66,"size":2,"val":32771}' >"$f"
	check_error "$f" "$2" "$3"
}

expect_error truncated 5 'unterminated string\|.*truncated' \
	'{"type":"config","dev":0,"op":"wri'
expect_error truncated_obj 5 '.*truncated JSON' \
	'{"type":"config","dev":0,"op":"write","off":66,'
expect_error missing_key 5 'missing key "size"' \
	'{"type":"config","dev":0,"op":"write","off":66,"val":0}'
expect_error bad_number 5 '"off": bad number' \
	'{"type":"config","dev":0,"op":"write","off":6x6,"size":2,"val":0}'
expect_error negative 5 '"val": bad number' \
	'{"type":"mmio","dev":0,"op":"write","bar":1,"off":0,"size":4,"val":-1}'
expect_error fraction 5 '"size": bad number (not an integer)' \
	'{"type":"config","dev":0,"op":"write","off":66,"size":2.0,"val":0}'
expect_error overflow 5 '"val": number does not fit in 64 bits' \
	'{"type":"mmio","dev":0,"op":"write","bar":1,"off":0,"size":8,"val":18446744073709551616}'
expect_error t_ns 5 '"t_ns": bad number' \
	'{"type":"unuse","dev":0,"vector":0,"t_ns":-5}'
expect_error next_cap 5 '"next_cap": 256 is out of range' \
	'{"type":"device","dev":1,"name":"x","nr_vectors":4,"cap_offset":64,"table_bir":1,"table_offset":0,"pba_bir":1,"pba_offset":2048,"next_cap":256}'
expect_error unknown_type 5 'unknown type "poke"' \
	'{"type":"poke","dev":0}'
expect_error config_off 5 '"off": 4095 + size 2 is outside config space' \
	'{"type":"config","dev":0,"op":"write","off":4095,"size":2,"val":0}'
expect_error mmio_off 5 '"off": 0x40 size 4 on BAR 1 is out of range' \
	'{"type":"mmio","dev":0,"op":"write","bar":1,"off":64,"size":4,"val":0}'
expect_error mmio_bar 5 '"off": 0x0 size 4 on BAR 2 is out of range' \
	'{"type":"mmio","dev":0,"op":"write","bar":2,"off":0,"size":4,"val":0}'
expect_error vector 5 '"vector": 4 is out of range' \
	'{"type":"notify","dev":0,"vector":4}'
expect_error size 5 '"size": 3 is not' \
	'{"type":"config","dev":0,"op":"write","off":66,"size":3,"val":0}'
expect_error wide_val 5 '"val": 0x10000 does not fit in 2 bytes' \
	'{"type":"config","dev":0,"op":"write","off":66,"size":2,"val":65536}'
expect_error undeclared 5 'device 1 is used before' \
	'{"type":"unuse","dev":1,"vector":0}'
expect_error op 5 '"op": "poke" is neither' \
	'{"type":"config","dev":0,"op":"poke","off":66,"size":2,"val":0}'
expect_error dup_key 5 'duplicate key "off"' \
	'{"type":"config","dev":0,"op":"write","off":66,"off":66,"size":2,"val":0}'
expect_error nested 5 '"val": nested objects' \
	'{"type":"config","dev":0,"op":"write","off":66,"size":2,"val":{}}'
expect_error trailing 5 'trailing data' \
	'{"type":"unuse","dev":0,"vector":0}{}'
expect_error blank 5 'empty line' ''
expect_error geometry 5 'libmsix rejects the geometry' \
	'{"type":"device","dev":1,"name":"x","nr_vectors":4,"cap_offset":64,"table_bir":1,"table_offset":4,"pba_bir":1,"pba_offset":2048}'
printf '%s\n' '{"type":"unuse","dev":0,"vector":0}' >"$tmp/header.jsonl"
check_error "$tmp/header.jsonl" 1 'line 1 must be the header'
printf '%s' '{"type":"trace","version":1,"source":"t"}' >"$tmp/nonl.jsonl"
check_error "$tmp/nonl.jsonl" 1 'last line is not terminated'
# Unknown keys and t_ns are accepted (forward compatibility).
printf '%s\n%s\n' "$head" '{"type":"notify","dev":0,"vector":1,"t_ns":5,"future":[]}' \
	>"$tmp/nested_unknown.jsonl"
rc=0; "$tool" "$tmp/nested_unknown.jsonl" >/dev/null 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] || bad "an array, even under an unknown key, is not part of the format"
printf '%s\n%s\n' "$head" '{"type":"notify","dev":0,"vector":1,"t_ns":5,"future":"x","flag":true}' \
	>"$tmp/unknown.jsonl"
"$tool" --check "$tmp/unknown.jsonl" >/dev/null 2>"$tmp/err" ||
	bad "unknown keys rejected: $(cat "$tmp/err")"

# --- hostile input -----------------------------------------------------------
head -c 65536 /dev/urandom >"$tmp/random.jsonl"
rc=0; "$tool" "$tmp/random.jsonl" >/dev/null 2>&1 || rc=$?
[[ $rc == 1 ]] || bad "random bytes: exit status $rc, not 1"
{ printf '%s\n' '{"type":"trace","version":1,"source":"t"}'; printf '{"type":"x%.0s' {1..2000}; } >"$tmp/long.jsonl"
check_error "$tmp/long.jsonl" 2 'line longer than'

# --- help --------------------------------------------------------------------
"$tool" --help | grep -q '^Usage: msix-trace' || bad "--help"
rc=0; "$tool" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || bad "no argument: exit status $rc, not 2"

if ((fails)); then
	echo "msix-trace: $fails failure(s)" >&2
	exit 1
fi
echo "msix-trace: all checks passed (${#traces[@]} traces)"
