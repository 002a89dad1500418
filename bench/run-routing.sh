#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run-routing.sh BENCH STATIC_BENCH [ARGS...] - run bench_routing
# (route uploads of a bring-up, bench/bench_routing.c) where KVM is:
#   - on this machine's own /dev/kvm when it can be opened (BENCH, ARGS);
#   - otherwise in the nested KVM of the test guest (guest/run-in-guest.sh
#     --kvm, Linux 6.12 under QEMU TCG): STATIC_BENCH, the same program linked
#     statically, runs there, and the output says so on its first line.
# LIBMSIX_BENCH_NESTED=1 takes the nested path even where /dev/kvm opens
# (a host whose /dev/kvm is itself slow, or to compare the two).
# The `bench-routing` and `plots` targets of bench/CMakeLists.txt call this.
# Output: bench_routing's lines (mode=... and ratio ...), preceded in the
# nested case by a line starting with '#'. Exit: bench_routing's, or
# run-in-guest.sh's (77: no guest can boot here either).
set -euo pipefail

bench=$1 static_bench=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${LIBMSIX_BENCH_NESTED:-0} == 0 && -r /dev/kvm && -w /dev/kvm ]] &&
	: 2>/dev/null <>/dev/kvm; then
	exec "$bench" "$@"
fi

echo "# no usable /dev/kvm on this machine: measured in the nested KVM of" \
	"the test guest (guest/run-in-guest.sh --kvm, Linux 6.12 under QEMU TCG);" \
	"its times are the nested guest's, not this machine's"
exec bash "$here/../guest/run-in-guest.sh" --kernel 6.12 --kvm --timeout 3000 \
	-- "$static_bench" "$@"
