#!/bin/sh
# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# Runs inside the libmsix test guest (guest/run-in-guest.sh --kvm
# --inner-kernel --file msix-vmm --file guest-init.sh): builds the inner
# guest's initramfs from busybox, guest-init.sh and the kernel's own virtio
# modules, makes a disk image, and boots the same kernel in msix-vmm on the
# nested KVM.
#
#   nested.sh [--cpus N] [--queues N] [--io SECS] [MSIX-VMM OPTIONS...]
#
# --cpus and --queues go to msix-vmm and to the guest script (which checks
# what Linux made of them); --append replaces "quiet" on the kernel command
# line; --dump-trace records the MSI-X trace (msix-vmm --trace) and prints it
# between the lines MSIXVMM-TRACE-BEGIN and MSIXVMM-TRACE-END; everything
# else is passed to msix-vmm as is.
# Exit status: msix-vmm's.
set -eu
cpus=1 queues=1 io=4 budget=0 append=quiet trace=0
args=''
while [ $# -gt 0 ]; do
	case $1 in
	--cpus) cpus=$2; shift 2 ;;
	--queues) queues=$2; shift 2 ;;
	--io) io=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--dump-trace) trace=1; shift ;;
	--route-budget) budget=$2; args="$args $1 $2"; shift 2 ;;
	*) args="$args $1"; shift ;;
	esac
done

root=/tmp/inner.$$
rm -rf "$root"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/lib/modules"
cp /bin/busybox "$root/bin/"
cp /bin/libmsix-debug-exit "$root/bin/"
cp /f/guest-init.sh "$root/init"
chmod 755 "$root/init"
while read -r m; do cp "/boot/modules/$m" "$root/lib/modules/"; done </boot/modules.load
cp /boot/modules.load "$root/lib/modules/"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null) >"$root.cpio"
rm -rf "$root"
dd if=/dev/zero of="$root.disk" bs=1M count=$((4 * cpus + 8)) 2>/dev/null

[ "$trace" = 0 ] || args="$args --trace $root.trace"
echo "nested: msix-vmm --cpus $cpus --queues $queues$args"
rc=0
# shellcheck disable=SC2086 # args is a list of words
/f/msix-vmm --kernel /boot/vmlinuz --initrd "$root.cpio" --disk "$root.disk" \
	--cpus "$cpus" --queues "$queues" --mem 192 \
	--append "$append msixvmm.queues=$queues msixvmm.budget=$budget msixvmm.io=$io" \
	$args || rc=$?
if [ "$trace" = 1 ]; then
	echo MSIXVMM-TRACE-BEGIN
	cat "$root.trace"
	echo MSIXVMM-TRACE-END
fi
rm -f "$root.cpio" "$root.disk" "$root.trace"
exit "$rc"
