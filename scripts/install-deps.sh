#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/install-deps.sh - install, with apt-get, the Debian 12 packages
# that building libmsix, its tests and the test guest need. Does nothing
# (and needs neither root nor the network) when all are already installed.
# Used by scripts/test-all.sh and scripts/demo.sh.
#
# Exit: 0 all present or installed; 1 something is missing and could not be
# installed (not root, or apt-get failed; its log is printed).
set -euo pipefail

# gcc's Recommends (libc6-dev) are skipped by --no-install-recommends, so it
# is named; g++ checks the public headers from C++; the last five are what
# guest/run-in-guest.sh boots and packs.
PACKAGES=(cmake make gcc g++ libc6-dev binutils pkg-config check libsubunit-dev
	libbsd-dev valgrind qemu-system-x86 busybox-static cpio xz-utils zstd)
# scripts/lint.sh's static analysers.
PACKAGES+=(cppcheck shellcheck)

me=install-deps
say() { printf '%s: %s\n' "$me" "$*"; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
	say "no dpkg/apt-get: not Debian. Install these (or equivalents) yourself: ${PACKAGES[*]}"
	exit 1
fi

declare -A have=()
while read -r status pkg; do
	[[ $status != ii ]] || have[${pkg%%:*}]=1
done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do [[ -n ${have[$p]:-} ]] || missing+=("$p"); done

if ((${#missing[@]} == 0)); then
	say "all ${#PACKAGES[@]} packages present"
	exit 0
fi
if ((EUID != 0)); then
	say "missing: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
	exit 1
fi

say "installing: ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600)
if "${apt[@]}" update >"$log" 2>&1 </dev/null &&
	"${apt[@]}" install --no-install-recommends "${missing[@]}" >>"$log" 2>&1 </dev/null; then
	say "installed: ${missing[*]}"
	exit 0
fi
cat "$log" >&2
say "apt-get failed to install: ${missing[*]}"
exit 1
