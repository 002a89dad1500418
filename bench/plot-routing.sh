#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Plot the output of bench_routing (one "mode=M policy=P n=N uploads=U
# entries=E ioctls=I ms=T" line per run) with gnuplot:
#   OUTDIR/routing-entries.png  route entries uploaded by a bring-up vs N
#   OUTDIR/routing-time.png     bring-up wall time vs N
# one line per mode and policy, QEMU's algorithm and the floor included.
#
# Usage: plot-routing.sh BENCH_OUTPUT OUTDIR
set -euo pipefail

if (($# != 2)); then
	echo "usage: $0 BENCH_OUTPUT OUTDIR" >&2
	exit 2
fi
in=$1
out=$2
command -v gnuplot >/dev/null || {
	echo "plot-routing.sh: gnuplot is not installed" >&2
	exit 1
}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per series, "mode-policy.dat": N, entries, ms.
awk -v dir="$tmp" '
/^mode=/ {
	delete f
	for (i = 1; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
	name = f["mode"] "-" f["policy"]
	print f["n"], f["entries"], f["ms"] >> (dir "/" name ".dat")
}' "$in"

series=()
for mode in deferred immediate qemu floor; do
	for f in "$tmp/$mode"-*.dat; do
		[[ -e $f ]] && series+=("$f")
	done
done
if ((${#series[@]} == 0)); then
	echo "plot-routing.sh: no bench_routing lines in $in" >&2
	exit 1
fi

# plot COLUMN: the gnuplot "plot" clause of every series, titled
# "mode, policy"; QEMU's and the floor's without a policy.
plot_clause() {
	local col=$1 sep='' f name title style
	for f in "${series[@]}"; do
		name=$(basename "$f" .dat)
		case $name in
		qemu-*) title='QEMU algorithm'; style='lw 3 dt 2 lc rgb "#c00000"' ;;
		floor-*) title='floor (1 upload + N KVM_IRQFD)'; style='lw 3 dt 3 lc rgb "#000000"' ;;
		deferred-*) title="deferred, ${name#deferred-}"; style='lw 2' ;;
		*) title="immediate, ${name#immediate-}"; style='lw 1' ;;
		esac
		printf '%s"%s" using 1:%s with linespoints title "%s" %s' \
			"$sep" "$f" "$col" "$title" "$style"
		sep=', '
	done
}

gnuplot <<EOF
set terminal pngcairo size 900,600 font "sans,11" noenhanced
set logscale xy
set xtics (8, 64, 512, 2048)
set xlabel "vectors brought up (N)"
set key top left
set grid

set output "$out/routing-entries.png"
set title "Route entries uploaded by a Linux bring-up (KVM_SET_GSI_ROUTING)"
set ylabel "route entries (device MSI routes)"
plot $(plot_clause 2)

set output "$out/routing-time.png"
set title "Bring-up time on /dev/kvm (fastest run)"
set ylabel "ms"
plot $(plot_clause 3)
EOF
echo "plot-routing.sh: wrote $out/routing-entries.png and $out/routing-time.png"
