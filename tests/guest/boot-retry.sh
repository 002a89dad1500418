#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run guest/run-in-guest.sh; if the guest kernel died before any program
# reported a result (seen: an int3 oops in idle while a 12-vCPU TCG guest
# boots on a loaded 2-core host), boot once more. A program's own failure is
# never retried: it reports a result, and that result stands.
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for attempt in 1 2; do
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	if ((rc == 0 || rc == 77)) ||
	   ! grep -q "the guest ended without a result" "$out"; then
		exit "$rc"
	fi
	((attempt == 1)) && echo "boot-retry: the guest died before reporting a result; booting once more"
done
exit "$rc"
