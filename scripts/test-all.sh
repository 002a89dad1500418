#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/test-all.sh - every libmsix test, from a fresh Debian 12 machine.
# This is the README's test command; .ci/run runs exactly this.
#
#   1. installs what the build and the tests need (scripts/install-deps.sh:
#      apt-get as root; a no-op when everything is present, so reruns are
#      fast);
#   2. runs scripts/lint.sh (cppcheck on lib/ tools/ fuzz/ bench/, its
#      warning classes on examples/ tests/, shellcheck on every shell
#      script): any finding fails;
#   3. runs the CMake workflows default (Debug, -Werror: unit tests, Valgrind
#      memcheck, linkage, consumer builds), asan (ASan + UBSan) and tsan
#      (ThreadSanitizer), each in build/<preset>;
#   4. builds the Debian packages, checks them with lintian, installs them
#      and builds consumers against them (scripts/test-deb.sh);
#   5. runs the guest tests (CTest label "guest") in build/default: VFIO and
#      nested KVM in a QEMU TCG guest, and msix-vmm booting Linux there
#      (those also carry the label "linux");
#   6. prints a summary and exits 1 if anything failed, 0 otherwise.
#
# Logs: build/ci-logs/<step>.log. Environment knobs are listed under
# "Policy" below.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=$(pwd)

# ------------------------------------------------------------------ policy
# Guest tests boot a QEMU TCG guest (guest/run-in-guest.sh), which needs no
# /dev/kvm: wherever qemu-system-x86_64 is installed a guest is expected to
# boot. So a guest test that skips (exit 77) is a FAILURE when QEMU is
# installed, and only a reported skip when it is not (step 1 installs it, so
# in CI it always is).
#
# Whether having no guest test registered at all is a failure: it is, so
# that losing them (a broken tests/guest_*.cmake) fails CI.
# LIBMSIX_REQUIRE_GUEST_TESTS=0 only warns (a build without the guest
# tests configured).
REQUIRE_GUEST_TESTS=${LIBMSIX_REQUIRE_GUEST_TESTS:-1}
#
# Outside the guest step a skip means something the tests need is missing,
# and this script installs everything they need: any skip there fails the
# run. LIBMSIX_ALLOW_SKIPS=1 reports them without failing (e.g. on a
# machine where packages cannot be installed).
ALLOW_SKIPS=${LIBMSIX_ALLOW_SKIPS:-0}
#
# The workflows to run (CMakePresets.json). release is for bench/ and is not
# part of the test run.
read -ra WORKFLOWS <<<"${LIBMSIX_WORKFLOWS:-default asan tsan}"

export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$(nproc)}

logs=$top/build/ci-logs
mkdir -p "$logs"
banner() { printf '\n==== %s ====\n' "$*"; }

# Summary rows: "step|result|seconds|detail".
rows=()
failed=0
record() {
	rows+=("$1|$2|$3|$4")
	[[ $2 != FAIL ]] || failed=1
}

# skipped_tests LOG: names of the tests CTest reports as not run.
skipped_tests() {
	sed -n 's/^[[:space:]]*[0-9]\{1,\} - \(.*\) (\(Skipped\|Not Run\|Disabled\))$/\1/p' "$1" | sort -u
}
# test_totals LOG: "N tests, F failed" from CTest's closing line(s).
test_totals() {
	sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\)$/\2 tests, \1 failed/p' "$1" |
		tail -n 1
}

t_all=$SECONDS

# -------------------------------------------------------------- 1. packages
banner "packages"
t0=$SECONDS
rc=0
scripts/install-deps.sh 2>&1 </dev/null | tee "$logs/packages.log" || rc=$?
if ((rc == 0)); then
	record packages ok $((SECONDS - t0)) "$(tail -n 1 "$logs/packages.log" | sed 's/^install-deps: //')"
else
	record packages FAIL $((SECONDS - t0)) "see build/ci-logs/packages.log"
fi

# ------------------------------------------------------------------ 2. lint
banner "lint (scripts/lint.sh)"
t0=$SECONDS
rc=0
scripts/lint.sh 2>&1 </dev/null | tee "$logs/lint.log" || rc=$?
if ((rc == 0)); then
	record lint PASS $((SECONDS - t0)) "cppcheck, shellcheck: no findings"
else
	record lint FAIL $((SECONDS - t0)) "see build/ci-logs/lint.log"
fi

# ------------------------------------------------------------- 3. workflows
for wf in "${WORKFLOWS[@]}"; do
	banner "workflow $wf"
	t0=$SECONDS
	log=$logs/$wf.log
	rc=0
	cmake --workflow --preset "$wf" 2>&1 </dev/null | tee "$log" || rc=$?
	secs=$((SECONDS - t0))
	totals=$(test_totals "$log")
	mapfile -t skipped < <(skipped_tests "$log")
	if ((rc != 0)); then
		record "$wf" FAIL "$secs" "${totals:-did not reach the tests}; see build/ci-logs/$wf.log"
	elif ((${#skipped[@]} > 0)); then
		if ((ALLOW_SKIPS)); then
			record "$wf" SKIP "$secs" "$totals; skipped (allowed): ${skipped[*]}"
		else
			record "$wf" FAIL "$secs" "$totals; skipped, which counts as failure here: ${skipped[*]}"
		fi
	else
		record "$wf" PASS "$secs" "$totals"
	fi
done

# ---------------------------------------------------------------- 4. debian
# LIBMSIX_DEB=0 leaves the step out (reported as a skip, not a pass).
banner "Debian packages (scripts/test-deb.sh)"
t0=$SECONDS
if [[ ${LIBMSIX_DEB:-1} == 0 ]]; then
	record deb SKIP 0 "LIBMSIX_DEB=0"
else
	rc=0
	scripts/test-deb.sh 2>&1 </dev/null | tee "$logs/deb.log" || rc=$?
	if ((rc == 0)); then
		record deb PASS $((SECONDS - t0)) "$(sed -n 's/^test-deb: built .* in \([0-9]* s\); dh_auto_test: \(.*\)/built in \1, ctest \2/p' "$logs/deb.log"); lintian clean; consumers built"
	else
		record deb FAIL $((SECONDS - t0)) "$(grep -m1 'FAIL' "$logs/deb.log" || echo 'see build/ci-logs/deb.log')"
	fi
fi

# ----------------------------------------------------------------- 5. guest
banner "guest tests (ctest -L guest in build/default)"
t0=$SECONDS
glog=$logs/guest.log
: >"$glog"
if [[ ! -f build/default/CTestTestfile.cmake ]]; then
	record guest FAIL 0 "build/default was not configured (the default workflow failed)"
else
	n_guest=$(ctest --test-dir build/default -N -L '^guest$' | sed -n 's/^Total Tests: //p')
	n_guest=${n_guest:-0}
	qemu=0
	command -v qemu-system-x86_64 >/dev/null && qemu=1
	if ((n_guest == 0)); then
		cat <<EOF

  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
  !!  0 guest tests registered: nothing ran on a real /dev/vfio device.  !!
  !!  (CTest label "guest" in build/default.)                            !!
  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
		if ((REQUIRE_GUEST_TESTS)); then
			record guest FAIL 0 "0 guest tests registered (REQUIRE_GUEST_TESTS=1)"
		else
			record guest WARN 0 "0 guest tests registered (not required: LIBMSIX_REQUIRE_GUEST_TESTS=0)"
		fi
	else
		rc=0
		ctest --test-dir build/default -L '^guest$' --output-on-failure 2>&1 </dev/null |
			tee "$glog" || rc=$?
		secs=$((SECONDS - t0))
		totals=$(test_totals "$glog")
		mapfile -t skipped < <(skipped_tests "$glog")
		if ((rc != 0)); then
			record guest FAIL "$secs" "${totals:-ctest failed}; see build/ci-logs/guest.log"
		elif ((${#skipped[@]} > 0 && qemu)); then
			record guest FAIL "$secs" "$totals; skipped although QEMU is installed (a TCG guest needs no /dev/kvm): ${skipped[*]}"
		elif ((${#skipped[@]} > 0)); then
			record guest SKIP "$secs" "$totals; skipped, no qemu-system-x86_64: ${skipped[*]}"
		else
			record guest PASS "$secs" "$totals"
		fi
	fi
fi

# --------------------------------------------------------------- 6. summary
total=$((SECONDS - t_all))
banner "libmsix test-all summary"
printf '%-9s %-5s %6s  %s\n' step result time detail
for r in "${rows[@]}"; do
	IFS='|' read -r step result secs detail <<<"$r"
	printf '%-9s %-5s %5ss  %s\n' "$step" "$result" "$secs" "$detail"
done
printf '%-9s %-5s %5ss  (%d min %d s)\n' total '' "$total" $((total / 60)) $((total % 60))
if ((failed)); then
	echo "RESULT: FAIL"
	exit 1
fi
echo "RESULT: PASS"
