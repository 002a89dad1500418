#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# /init of the guest that msix-vmm boots (an unmodified Debian kernel): the
# scenario of docs/vmm.md, every step checked. Parameters come from the
# kernel command line: msixvmm.queues=N (virtio-blk request queues the VMM
# offers), msixvmm.budget=N (the VMM's route budget, 0 none), msixvmm.io=S
# (seconds of sustained I/O).
# Prints "MSIXVMM: PASS step" / "MSIXVMM: FAIL step: why" lines, writes the
# result (0 all passed, 1 a step failed) to the VMM's port 0xf4 and resets
# (reboot=t), which ends the VMM.

/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
echo "MSIXVMM: init reached after $(cut -d' ' -f1 /proc/uptime) s"

failed=0
pass() { echo "MSIXVMM: PASS $*"; }
fail() {
	echo "MSIXVMM: FAIL $*"
	failed=1
}
finish() {
	if [ "$failed" = 0 ]; then
		echo "MSIXVMM: RESULT PASS"
	else
		echo "MSIXVMM: RESULT FAIL"
		dmesg | tail -n 60
	fi
	/bin/libmsix-debug-exit "$failed" /dev/ttyS0 2>/dev/null
	sync
	reboot -f
}

param() {
	v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^msixvmm\.$1=//p")
	echo "${v:-$2}"
}
QUEUES=$(param queues 1)
BUDGET=$(param budget 0)
IO_SECS=$(param io 4)
CPUS=$(grep -c ^processor /proc/cpuinfo)

# wait_for SECS WHAT CMD...: poll CMD every 0.1 s for at most SECS seconds.
wait_for() {
	secs=$1 what=$2
	shift 2
	i=0
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -ge $((secs * 10)) ]; then
			fail "$what: not after ${secs}s"
			return 1
		fi
		usleep 100000
	done
	return 0
}

# ------------------------------------------------------------ probe
while read -r m; do
	insmod "/lib/modules/$m" || fail "probe: insmod $m"
done </lib/modules/modules.load

wait_for 20 "probe: /dev/vda" test -b /dev/vda || finish
wait_for 20 "probe: /dev/hwrng" test -c /dev/hwrng || finish
blk=$(basename "$(readlink /sys/block/vda/device)")   # virtioN
[ -n "$blk" ] || fail "probe: no virtio device behind vda"
nq=0
for d in /sys/block/vda/mq/*; do [ -d "$d" ] && nq=$((nq + 1)); done
want=$QUEUES
[ "$want" -le "$CPUS" ] || want=$CPUS
if [ "$nq" = "$want" ]; then
	pass "probe: vda has $nq request queues ($CPUS vCPUs, $QUEUES offered)"
else
	fail "probe: vda has $nq request queues, expected $want"
fi

# vectors NAME: /proc/interrupts lines of virtio device NAME (PCI-MSI*).
vectors() { grep "PCI-MSI.*$1-" /proc/interrupts; }
# total IRQ: the sum of the per-CPU counts of IRQ.
total() {
	grep "^ *$1:" /proc/interrupts | awk -v n="$CPUS" '{s = 0; for (i = 2; i <= n + 1; i++) s += $i; print s}'
}
irqs_of() { vectors "$1" | sed 's/^ *\([0-9]*\):.*/\1/'; }

nv=$(vectors "$blk" | wc -l)
if [ "$BUDGET" -gt 0 ] && [ "$BUDGET" -lt $((want + 1)) ]; then
	# Fewer routes than Linux asks for: vp_find_vqs() falls back to one
	# vector for config and one shared by all queues.
	if [ "$nv" = 2 ] && vectors "$blk" | grep -q "$blk-virtqueues"; then
		pass "budget: $blk fell back to 2 vectors (config + shared) under a budget of $BUDGET"
	else
		fail "budget: $blk has $nv MSI-X vectors under a budget of $BUDGET, expected 2 shared"
	fi
elif [ "$nv" = $((want + 1)) ]; then
	pass "probe: $blk has $nv MSI-X vectors (config + $want queues)"
else
	fail "probe: $blk has $nv MSI-X vectors, expected $((want + 1))"
fi
vectors "$blk"

rngdev=
for d in /sys/bus/virtio/drivers/virtio_rng/virtio*; do [ -e "$d" ] && rngdev=${d##*/}; done
[ -n "$rngdev" ] || fail "probe: no device bound to virtio_rng"
before=0
for n in $(irqs_of "$rngdev"); do before=$((before + $(total "$n"))); done
if dd if=/dev/hwrng of=/tmp/rnd bs=64 count=4 2>/dev/null && [ "$(wc -c </tmp/rnd)" = 256 ]; then
	after=0
	for n in $(irqs_of "$rngdev"); do after=$((after + $(total "$n"))); done
	if [ "$after" -gt "$before" ]; then
		pass "rng: 256 bytes from $rngdev, its interrupts $before -> $after"
	else
		fail "rng: read 256 bytes but the interrupts of $rngdev did not grow ($before -> $after)"
	fi
else
	fail "rng: reading /dev/hwrng"
fi

# --------------------------------------------------------------- I/O
# One writer per CPU (pinned, so every request queue is used), each on its
# own REGION MiB region: write random data, drop the caches, read back, compare.
# MiB per writer: 4, less with more than 4 vCPUs (the data lives in tmpfs).
REGION=4
[ "$CPUS" -le 4 ] || REGION=$((16 / CPUS))
[ "$REGION" -ge 1 ] || REGION=1
IO_BOUND=60 # seconds for one 4 MiB transfer: a lost interrupt stalls it
# io_round [nopin]: without nopin, writer c runs on CPU c (so that every
# request queue is used); with it the scheduler places them (CPU hotplug
# runs meanwhile, and pinning to an offline CPU fails).
io_round() {
	c=0 pids=''
	while [ "$c" -lt "$CPUS" ]; do
		pin="taskset -c $c"
		[ "${1:-}" != nopin ] || pin=''
		(
			f=/tmp/data.$c
			dd if=/dev/urandom of="$f" bs=1M count=$REGION 2>/dev/null
			# shellcheck disable=SC2086 # pin is a list of words
			timeout "$IO_BOUND" $pin dd if="$f" of=/dev/vda bs=64k \
				seek=$((c * REGION * 16)) oflag=direct conv=fsync 2>/dev/null ||
				{ echo "MSIXVMM: write from cpu$c failed or stalled (${IO_BOUND}s): request queue of cpu$c"; exit 1; }
			# shellcheck disable=SC2086
			timeout "$IO_BOUND" $pin dd if=/dev/vda of="$f.back" bs=64k \
				skip=$((c * REGION * 16)) count=$((REGION * 16)) iflag=direct 2>/dev/null ||
				{ echo "MSIXVMM: read from cpu$c failed or stalled (${IO_BOUND}s): request queue of cpu$c"; exit 2; }
			[ "$(md5sum <"$f")" = "$(md5sum <"$f.back")" ] ||
				{ echo "MSIXVMM: data read back from cpu$c differs"; exit 3; }
			rm -f "$f.back"
		) &
		pids="$pids $!"
		c=$((c + 1))
	done
	rc=0
	for j in $pids; do wait "$j" || rc=$?; done
	return $rc
}

# Sustained I/O for IO_SECS seconds. A lost interrupt leaves a dd waiting:
# each is bounded and names the CPU, whose request queue stalled (the VMM's
# --timeout also dumps every queue's state).
io_for() {
	end=$(($(date +%s) + $1))
	rounds=0
	while [ "$(date +%s)" -lt "$end" ] || [ "$rounds" = 0 ]; do
		io_round || return 1
		rounds=$((rounds + 1))
	done
	echo "$rounds"
}

snap_counts() { for n in $(irqs_of "$blk"); do echo "$n $(total "$n")"; done; }
snap_counts >/tmp/irq.before
t0=$(cut -d' ' -f1 /proc/uptime)
if rounds=$(io_for "$IO_SECS"); then
	t1=$(cut -d' ' -f1 /proc/uptime)
	snap_counts >/tmp/irq.after
	mb=$((rounds * CPUS * REGION * 2))
	n=$(awk 'NR == FNR { a[$1] = $2; next } { s += $2 - a[$1] } END { print s }' \
		/tmp/irq.before /tmp/irq.after)
	rate=$(awk -v n="$n" -v mb="$mb" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.0f interrupts/s, %.1f MiB/s", n / (t1 - t0), mb / (t1 - t0) }')
	pass "io: $rounds rounds, $mb MiB written and read back, checksums equal; $n interrupts in $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s: $rate"
else
	snap_counts >/tmp/irq.after
	fail "io: data read back differs or dd failed"
fi
grown=0 still=""
while read -r n c0; do
	c1=$(sed -n "s/^$n //p" /tmp/irq.after)
	name=$(grep "^ *$n:" /proc/interrupts | awk '{print $NF}')
	case $name in *config) continue ;; esac
	if [ "${c1:-0}" -gt "$c0" ]; then
		grown=$((grown + 1))
	else
		still="$still $name"
	fi
done </tmp/irq.before
if [ -z "$still" ] && [ "$grown" -gt 0 ]; then
	pass "interrupts: all $grown queue vectors of $blk counted up under I/O"
else
	fail "interrupts: vectors that did not count up:$still"
fi
grep -E "CPU|virtio" /proc/interrupts

# -------------------------------------------------------- affinity
# Move every vector while I/O runs: Linux rewrites the message of a live
# vector. Managed vectors (the request queues') refuse a user affinity:
# CPU hotplug moves them instead (offline the CPU, the kernel migrates or
# shuts down the vector; online, it comes back).
io_round nopin >/tmp/io.log 2>&1 &
iopid=$!
moved=0 refused=0
for n in $(irqs_of "$blk") $(irqs_of "$rngdev"); do
	c=0
	while [ "$c" -lt "$CPUS" ]; do
		mask=$(printf '%x' $((1 << c)))
		if echo "$mask" >"/proc/irq/$n/smp_affinity" 2>/dev/null; then
			moved=$((moved + 1))
		else
			refused=$((refused + 1))
		fi
		c=$((c + 1))
	done
done
hot=0
if [ "$CPUS" -gt 1 ]; then
	c=1
	while [ "$c" -lt "$CPUS" ]; do
		echo 0 >"/sys/devices/system/cpu/cpu$c/online" || fail "affinity: offline cpu$c"
		echo 1 >"/sys/devices/system/cpu/cpu$c/online" || fail "affinity: online cpu$c"
		hot=$((hot + 1))
		c=$((c + 1))
	done
fi
if wait "$iopid"; then
	pass "affinity: $moved affinity writes, $refused refused (managed), $hot CPU offline/online cycles, I/O verified meanwhile"
else
	fail "affinity: I/O during the affinity changes failed"
	cat /tmp/io.log
fi
if io_round; then
	pass "affinity: I/O verified after the moves"
else
	fail "affinity: I/O after the moves failed"
fi

# ---------------------------------------------------- unbind / bind
drv=/sys/bus/virtio/drivers/virtio_blk
md5a=$(dd if=/dev/vda bs=64k count=16 iflag=direct 2>/dev/null | md5sum)
if echo "$blk" >"$drv/unbind"; then
	if [ -e /dev/vda ]; then
		fail "unbind: /dev/vda still there"
	elif vectors "$blk" >/dev/null; then
		fail "unbind: $blk still has MSI-X vectors"
	else
		pass "unbind: $blk released its vectors"
	fi
	echo "$blk" >"$drv/bind" || fail "bind: $blk"
	if wait_for 20 "bind: /dev/vda" test -b /dev/vda; then
		md5b=$(dd if=/dev/vda bs=64k count=16 iflag=direct 2>/dev/null | md5sum)
		if [ "$md5a" = "$md5b" ] && io_round; then
			pass "bind: $blk is back with $(vectors "$blk" | wc -l) vectors, data intact, I/O verified"
		else
			fail "bind: data or I/O after bind"
		fi
	fi
else
	fail "unbind: $blk"
fi

finish
