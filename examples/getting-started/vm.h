/* SPDX-License-Identifier: MIT */
/*
 * A KVM VM as libmsix needs it: an x86 in-kernel irqchip (routes, irqfds
 * and KVM_SIGNAL_MSI need one) and the VM's route table. One route table
 * per VM, shared by every device of the VM: KVM_SET_GSI_ROUTING replaces
 * the whole table, so libmsix keeps it (with the irqchip's default routes).
 */
#ifndef GETTING_STARTED_VM_H
#define GETTING_STARTED_VM_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <libmsix-kvm.h>

struct vm {
	int kvm_fd;
	int vm_fd;
	struct libmsix_kvm_vm *routes;
};

/* Returns 0, or 77 (skip) with a message when /dev/kvm cannot be opened. */
static inline int vm_open(struct vm *vm, libmsix_log_fn log)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0 || ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0)) {
		fprintf(stderr, "KVM_CREATE_VM/IRQCHIP: %s\n", strerror(errno));
		return 1;
	}
	struct libmsix_kvm_vm_config cfg = {
		.size = sizeof(cfg),
		.flags = LIBMSIX_KVM_VM_X86_IRQCHIP,
		.vm_fd = vm->vm_fd,
		.log = log,
	};
	int rc = libmsix_kvm_vm_create(&cfg, &vm->routes);
	if (rc) {
		fprintf(stderr, "libmsix_kvm_vm_create: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* After every device of the VM is destroyed. */
static inline void vm_close(struct vm *vm)
{
	if (libmsix_kvm_vm_destroy(vm->routes))
		fprintf(stderr, "libmsix_kvm_vm_destroy: a device still uses it\n");
	close(vm->vm_fd);
	close(vm->kvm_fd);
}

#endif
