#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/lint.sh - static analysis that fails on any finding:
#   cppcheck over lib/ (the library: what every VMM links), tools/ (the
#   installed programs, which read untrusted files), fuzz/ and bench/;
#   cppcheck's warning classes (no style) over examples/ and tests/, the
#   code users copy and the code that judges the library;
#   and shellcheck over every shell script in git (*.sh and .ci/run);
#   and that only the core (device, engine, model, snapshot, log) includes
#   lib/internal.h.
# A finding is fixed, or suppressed where it stands with a comment saying
# why it is wrong there (cppcheck: "// cppcheck-suppress <id>" on the line
# before; shellcheck: "# shellcheck disable=SCxxxx" on the line before).
# scripts/test-all.sh runs this as its "lint" step.
#
# Exit: 0 clean; 1 findings (printed); 2 a tool is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in cppcheck shellcheck; do
	if ! command -v "$tool" >/dev/null; then
		echo "lint: $tool is not installed (scripts/install-deps.sh installs it)" >&2
		exit 2
	fi
done

rc=0

echo "lint: cppcheck $(cppcheck --version | sed 's/^Cppcheck //') on lib/ tools/ fuzz/ bench/"
# --error-exitcode makes any finding fail; --inline-suppr honours the
# justified suppressions in the code. __linux__ because the backends are
# Linux-only (VFIO, KVM, eventfd).
cppcheck --std=c11 --language=c --quiet --inline-suppr --error-exitcode=1 \
	--enable=warning,style,performance,portability \
	-D__linux__ -I include -I lib \
	--template='{file}:{line}: {severity}: {message} [{id}]' \
	lib/ tools/ fuzz/ bench/ || rc=1
echo "lint: cppcheck (warnings) on examples/ tests/"
cppcheck --std=c11 --language=c --quiet --inline-suppr --error-exitcode=1 \
	--enable=warning,performance,portability \
	-D__linux__ -I include -I tests -I tests/guest \
	--template='{file}:{line}: {severity}: {message} [{id}]' \
	examples/ tests/ || rc=1

# The backends know the library only through the public backend interface
# (libmsix.h) and lib/util.h; lib/internal.h is the core's private state.
core='lib/(device|engine|model|snapshot|log)\.c'
mapfile -t leaks < <(grep -l '^#include "internal.h"' lib/*.c | grep -Ev "^$core\$" || true)
if ((${#leaks[@]} > 0)); then
	echo "lint: backends must not include lib/internal.h: ${leaks[*]}"
	rc=1
fi

mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
echo "lint: shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} scripts"
shellcheck -x "${scripts[@]}" || rc=1

if ((rc)); then
	echo "lint: FAIL"
else
	echo "lint: clean"
fi
exit "$rc"
