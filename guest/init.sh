#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# /init of the libmsix test guest (copied into the initramfs by run-in-guest.sh).
#
# Loads the VFIO (and with --kvm the KVM) modules, binds the ivshmem-doorbell
# device to vfio-pci, runs the test programs, and ends QEMU through
# isa-debug-exit.  The kernel log goes to ttyS0; the programs' output, this
# script's own messages about them and the result marker go to ttyS1.
# The host decides from the marker line "LIBMSIX-GUEST-RESULT rc=N":
# 0 every program exited 0, 1 some program failed, 2 setup failed.

/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

OUT=/dev/ttyS1
# KERNEL, KVM and VECTORS
# shellcheck source=/dev/null # written by run-in-guest.sh
. /etc/libmsix-guest.conf

tainted=0
finish() {
	echo "LIBMSIX-GUEST-RESULT rc=$1" >"$OUT"
	if [ "$1" -ne 0 ] || [ "$tainted" != 0 ]; then
		echo "LIBMSIX-GUEST-DMESG-BEGIN"
		dmesg
		echo "LIBMSIX-GUEST-DMESG-END"
	fi
	/bin/libmsix-debug-exit "$1" /dev/ttyS0 "$OUT"
	# Not reached unless the debug-exit port is missing: the host still has
	# the marker; a power-off (or the panic when init exits) ends QEMU.
	poweroff -f
}

setup_failed() {
	echo "libmsix-guest: setup failed: $*" >"$OUT"
	echo "libmsix-guest: setup failed: $*"
	finish 2
}

# Modules in dependency order, with their parameters.
while read -r mod params; do
	# shellcheck disable=SC2086 # params is a list of words
	insmod "/lib/modules/$mod" $params || setup_failed "insmod $mod $params"
done </etc/libmsix-guest.modules

dev=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ]; then
		dev=${d##*/}
		break
	fi
done
[ -n "$dev" ] || setup_failed "no ivshmem device (1af4:1110) in /sys/bus/pci/devices"
sysdev=/sys/bus/pci/devices/$dev
group=$(readlink "$sysdev/iommu_group") || setup_failed "$dev has no IOMMU group"
group=${group##*/}

echo vfio-pci >"$sysdev/driver_override" || setup_failed "driver_override of $dev"
if [ -e "$sysdev/driver" ]; then
	echo "$dev" >"$sysdev/driver/unbind" || setup_failed "unbind $dev"
fi
echo "$dev" >/sys/bus/pci/drivers_probe || setup_failed "drivers_probe $dev"
i=0
while [ ! -c "/dev/vfio/$group" ] && [ "$i" -lt 50 ]; do
	usleep 100000
	i=$((i + 1))
done
[ -c "/dev/vfio/$group" ] || setup_failed "/dev/vfio/$group did not appear after binding $dev"
[ -c /dev/vfio/vfio ] || setup_failed "/dev/vfio/vfio is missing"
if [ "$KVM" = 1 ]; then
	[ -c /dev/kvm ] || setup_failed "/dev/kvm is missing after loading the KVM modules"
fi

echo "libmsix-guest: $KERNEL: $dev bound to vfio-pci, /dev/vfio/$group; running the tests"
export LIBMSIX_TEST_DEVICE="$dev" LIBMSIX_TEST_KERNEL="$KERNEL"
export LIBMSIX_TEST_VECTORS="$VECTORS" LIBMSIX_TEST_KVM="$KVM"

# The kernel's default for init is 1024 open files (hard 4096): too few for
# a test holding an eventfd (and more) per vector of a 2048-vector device.
# shellcheck disable=SC3045 # busybox sh has ulimit -n
ulimit -n 65536 || setup_failed "ulimit -n 65536"

failed=0
taint0=$(cat /proc/sys/kernel/tainted)
# run NAME PATH [ARGS...]: one test program, output to $OUT.
run() {
	name=$1
	shift
	echo "libmsix-guest: running $name"
	(cd /tmp && exec "$@") >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -gt 128 ]; then
			echo "libmsix-guest: $name exited with status $rc (signal $((rc - 128)))" >"$OUT"
		else
			echo "libmsix-guest: $name exited with status $rc" >"$OUT"
		fi
		failed=$((failed + 1))
	fi
}
# shellcheck source=/dev/null # "run NAME PATH ARGS..." lines from run-in-guest.sh
. /etc/libmsix-guest.tests

# A kernel WARN/BUG/oops during the tests taints the kernel: tell the host.
taint1=$(cat /proc/sys/kernel/tainted)
if [ "$taint1" != "$taint0" ]; then
	tainted=1
	echo "LIBMSIX-GUEST-TAINTED $taint0 $taint1" >"$OUT"
fi

if [ "$failed" -eq 0 ]; then
	finish 0
fi
finish 1
