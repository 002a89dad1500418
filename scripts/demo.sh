#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/demo.sh - the README's main-job command: examples/msix-vfio-demo
# drives the MSI-X of a real /dev/vfio device through libmsix.
#
#   scripts/demo.sh [--device DDDD:BB:DD.F]
#                   [--policy auto|lazy|preallocate|incremental|all]
#                   [--kernel 6.1|6.12|both] [--vectors N]
#
# With --device: runs build/default/examples/msix-vfio-demo on that device of
# this host, which must be bound to vfio-pci.
# Without it: boots the bundled QEMU guest (guest/run-in-guest.sh) with an
# ivshmem-doorbell device bound to vfio-pci and runs the static build,
# build/default/examples/msix-vfio-demo-static, there: one boot per kernel
# (--kernel, default both), every chosen policy in that boot. In the guest
# the program gets `--policy P` only and finds its device in the environment
# variable LIBMSIX_TEST_DEVICE, which the guest sets.
#
# --policy defaults to all: the demo runs once per policy. --vectors (guest
# only) sizes the guest device's table (run-in-guest.sh's default is 8).
#
# Builds in build/default (the default preset), reusing it when present.
# Exit: 0 every run passed; 77 no guest can boot here (the reason is
# printed); 1 anything else, including a missing piece of the demo, which is
# named.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

me=demo
say() { printf '%s: %s\n' "$me" "$*"; }
die() {
	printf '%s: error: %s\n' "$me" "$*" >&2
	exit 1
}
usage() { sed -n '7,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//'; }

device='' policy=all kernel=both vectors=''
need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--device) need_arg "$@"; device=$2; shift 2 ;;
	--policy) need_arg "$@"; policy=$2; shift 2 ;;
	--kernel) need_arg "$@"; kernel=$2; shift 2 ;;
	--vectors) need_arg "$@"; vectors=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument $1" ;;
	esac
done

case $policy in
all) policies=(auto lazy preallocate incremental) ;;
auto | lazy | preallocate | incremental) policies=("$policy") ;;
*) die "--policy must be auto, lazy, preallocate, incremental or all" ;;
esac
case $kernel in
both) kernels=(6.1 6.12) ;;
6.1 | 6.12) kernels=("$kernel") ;;
*) die "--kernel must be 6.1, 6.12 or both" ;;
esac
if [[ -n $device ]]; then
	[[ $device =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
		die "--device must be a PCI address like 0000:01:00.0"
	[[ -z $vectors ]] || die "--vectors sizes the guest's device; a host device has its own table"
fi

# Everything the demo needs must exist; say which piece does not.
[[ -f examples/msix-vfio-demo.c ]] ||
	die "examples/msix-vfio-demo.c does not exist: the demo program has not landed in this tree yet"
if [[ -z $device ]]; then
	[[ -x guest/run-in-guest.sh ]] ||
		die "guest/run-in-guest.sh is missing or not executable: the bundled guest has not landed in this tree yet (or pass --device)"
fi

scripts/install-deps.sh </dev/null || die "cannot install what the build needs (see above)"

# Build only what this run executes, in the default preset's tree.
if [[ -z $device ]]; then target=msix-vfio-demo-static; else target=msix-vfio-demo; fi
# Configure every time (seconds when the tree exists): a Makefile tree only
# knows the example targets that existed when it was last configured.
cmake --preset default >/dev/null || die "cmake --preset default failed"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
cmake --build --preset default --target "$target" ||
	die "cannot build $target (examples/msix-vfio-demo.c; is LIBMSIX_EXAMPLES on in build/default?)"
bin=build/default/examples/$target
[[ -x $bin ]] || die "the build produced no $bin"

failed=0
if [[ -n $device ]]; then
	sys=/sys/bus/pci/devices/$device
	[[ -e $sys ]] || die "no PCI device $device on this host"
	drv=$(basename "$(readlink "$sys/driver" 2>/dev/null || echo none)")
	[[ $drv == vfio-pci ]] ||
		die "$device is bound to '$drv', not vfio-pci. Bind it first, e.g.:
  echo vfio-pci > $sys/driver_override
  echo $device > $sys/driver/unbind   # if it has a driver
  echo $device > /sys/bus/pci/drivers_probe"
	for p in "${policies[@]}"; do
		say "=== $device, policy $p ==="
		if "$bin" --device "$device" --policy "$p"; then
			say "policy $p: PASS"
		else
			say "policy $p: FAIL"
			failed=1
		fi
	done
else
	# One guest boot per kernel runs every policy; ';;' separates programs.
	args=()
	for p in "${policies[@]}"; do
		((${#args[@]} == 0)) || args+=(';;')
		args+=("$bin" --policy "$p")
	done
	vopt=()
	[[ -z $vectors ]] || vopt=(--vectors "$vectors")
	for k in "${kernels[@]}"; do
		say "=== guest Linux $k: ivshmem-doorbell on vfio-pci, policies ${policies[*]} ==="
		rc=0
		guest/run-in-guest.sh --kernel "$k" "${vopt[@]}" -- "${args[@]}" </dev/null || rc=$?
		case $rc in
		0) say "Linux $k: PASS" ;;
		77)
			say "no guest can boot here (see above); nothing was demonstrated"
			exit 77
			;;
		*)
			say "Linux $k: FAIL (run-in-guest.sh exit $rc)"
			failed=1
			;;
		esac
	done
fi

if ((failed)); then
	say "RESULT: FAIL"
	exit 1
fi
say "RESULT: PASS"
