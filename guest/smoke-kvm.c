/* SPDX-License-Identifier: MIT */
/*
 * Smoke test for the libmsix guest harness run with --kvm: checks that the
 * nested /dev/kvm works far enough for libmsix's KVM backend (a VM, an
 * in-kernel irqchip, irqfd and GSI routing).  Uses only libc and
 * <linux/kvm.h>.  Exit 0 on success, 1 on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

static int fail(const char *what)
{
	fprintf(stderr, "smoke-kvm: FAIL: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		errno = EPROTO;
		return fail("KVM_GET_API_VERSION");
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	int irqfd = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD);
	int routing = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	int msi = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI);
	if (irqfd <= 0 || routing <= 0 || msi <= 0) {
		errno = ENOTSUP;
		return fail("KVM_CAP_IRQFD/IRQ_ROUTING/SIGNAL_MSI");
	}
	printf("smoke-kvm: /dev/kvm API %d, irqfd %d, IRQ routing %d GSIs, signal MSI %d\n",
	       api, irqfd, routing, msi);
	close(vm);
	close(kvm);
	return 0;
}
