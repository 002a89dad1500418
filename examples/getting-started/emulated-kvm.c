/* SPDX-License-Identifier: MIT */
/*
 * An emulated PCI device's MSI-X in a KVM VM. libmsix models the
 * capability, the table and the PBA; the KVM backend delivers each message
 * with KVM_SIGNAL_MSI. The device model calls libmsix_notify() from any
 * thread.
 *
 * Needs /dev/kvm (x86, in-kernel irqchip). Without it the program says so
 * and exits 77 (skipped). docs/getting-started.md walks through it.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <libmsix.h>
#include <libmsix-kvm.h>

#include "guest.h"
#include "vm.h"

#define NR_VECTORS 4

struct vmm {
	struct libmsix_dev *msix;
};

/*
 * The VMM's config-space handler: it owns config space, libmsix only the
 * 12 bytes of the capability. Reads: the VMM reads its own copy first,
 * then libmsix_config_read() overlays the capability's bytes.
 */
static int vmm_config_write(void *opaque, uint32_t off, uint32_t size,
			    uint32_t val)
{
	struct vmm *vmm = opaque;

	/* ... the VMM's own registers (Command: see libmsix_set_bus_master()) */
	return libmsix_config_write(vmm->msix, off, size, val);
}

/* The VMM's MMIO handler for BAR 1 (KVM_EXIT_MMIO inside the BAR). */
static int vmm_mmio_write(void *opaque, uint32_t bar, uint64_t off,
			  uint32_t size, uint64_t val)
{
	struct vmm *vmm = opaque;
	int rc = libmsix_mmio_write(vmm->msix, bar, off, size, val);

	/* -ENOENT: not the table or the PBA, but the device's own registers.
	 * A backend error (logged) still completes the guest's write. */
	return rc == -ENOENT ? 0 : rc;
}

static int vmm_mmio_read(void *opaque, uint32_t bar, uint64_t off,
			 uint32_t size, uint64_t *val)
{
	struct vmm *vmm = opaque;
	int rc = libmsix_mmio_read(vmm->msix, bar, off, size, val);

	if (rc == -ENOENT) {
		*val = 0;	/* the device's own registers */
		return 0;
	}
	return rc;
}

/* The vCPU's local APIC, software-enabled as a guest's kernel would, so that
 * KVM_SIGNAL_MSI finds a destination; returns its IRR bit for @vec. */
static int lapic_irr(int vcpu_fd, uint8_t vec, bool enable)
{
	struct kvm_lapic_state st;
	uint32_t reg;

	CHECK(ioctl(vcpu_fd, KVM_GET_LAPIC, &st) == 0);
	if (enable) {
		memcpy(&reg, &st.regs[0xf0], 4);	/* Spurious Vector */
		reg |= 0x100;				/* APIC Software Enable */
		memcpy(&st.regs[0xf0], &reg, 4);
		CHECK(ioctl(vcpu_fd, KVM_SET_LAPIC, &st) == 0);
	}
	memcpy(&reg, &st.regs[0x200 + (vec / 32) * 0x10], 4);
	return (int)((reg >> (vec % 32)) & 1);
}

static void log_line(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "libmsix[%d]: %s\n", level, msg);
}

int main(void)
{
	/* The VM, its in-kernel irqchip and its route table (vm.h). */
	struct vm vm;
	int rc = vm_open(&vm, log_line);
	if (rc)
		return rc;	/* 77: no /dev/kvm, skipped */
	struct libmsix_kvm_vm *kvm_vm = vm.routes;
	int vcpu_fd = ioctl(vm.vm_fd, KVM_CREATE_VCPU, 0);	/* APIC ID 0 */
	CHECK(vcpu_fd >= 0);
	lapic_irr(vcpu_fd, 0, true);

	/* One backend per device. No LIBMSIX_KVM_F_IRQFD: the device model
	 * raises interrupts itself, so KVM_SIGNAL_MSI needs no GSI. */
	struct libmsix_kvm_config kvm_cfg = {
		.size = sizeof(kvm_cfg),
		.nr_vectors = NR_VECTORS,
	};
	struct libmsix_kvm *kvm;
	CHECK(libmsix_kvm_create(kvm_vm, &kvm_cfg, &kvm) == 0);

	/* The geometry (guest.h, gs_config()): capability at 0x50, table at
	 * offset 0 and PBA at 0x800 of a 4 KiB memory BAR 1. next_cap 0: the
	 * last capability of the list the VMM links it into. */
	struct libmsix_config cfg = gs_config(NR_VECTORS);
	cfg.log = log_line;
	struct vmm vmm = { 0 };
	CHECK(libmsix_dev_create(&cfg, libmsix_kvm_backend(kvm), &vmm.msix) == 0);

	/* The device model: queue q signals vector q. */
	for (uint32_t v = 0; v < NR_VECTORS; v++)
		CHECK(libmsix_vector_use(vmm.msix, v) == 0);

	/* The guest reaches MSI-X through the VMM's handlers above. */
	struct guest g = guest_direct(vmm.msix, &cfg);
	g.config_write = vmm_config_write;
	g.mmio_write = vmm_mmio_write;
	g.mmio_read = vmm_mmio_read;
	g.vmm = &vmm;
	guest_bring_up(&g, NR_VECTORS);
	CHECK(guest_unmask(&g, 0) == 0);

	/* A device thread: vector 0 is live, vector 1 still masked. */
	CHECK(libmsix_notify(vmm.msix, 0) == LIBMSIX_DELIVERED);
	CHECK(libmsix_notify(vmm.msix, 1) == LIBMSIX_LATCHED);
	CHECK(guest_pending(&g, 1) == 1);
	/* The guest's request_irq() on vector 1 delivers what waited (R35). */
	CHECK(guest_unmask(&g, 1) == 0);
	CHECK(guest_pending(&g, 1) == 0);

	struct libmsix_kvm_stats ks;
	CHECK(libmsix_kvm_get_stats(kvm, &ks) == 0);
	printf("KVM_SIGNAL_MSI: %llu (%llu matched no vCPU), KVM_SET_GSI_ROUTING: %llu\n",
	       (unsigned long long)ks.signal_msi,
	       (unsigned long long)ks.signal_msi_unmatched,
	       (unsigned long long)ks.route_uploads);
	CHECK(ks.signal_msi == 2 && ks.signal_msi_unmatched == 0);
	CHECK(ks.route_uploads == 0);
	/* Both messages reached the vCPU: IDT vectors 0x40 and 0x41 wait in
	 * its local APIC's Interrupt Request Register. */
	CHECK(lapic_irr(vcpu_fd, (uint8_t)guest_data(0), false) == 1);
	CHECK(lapic_irr(vcpu_fd, (uint8_t)guest_data(1), false) == 1);
	CHECK(lapic_irr(vcpu_fd, (uint8_t)guest_data(2), false) == 0);

	libmsix_dev_destroy(vmm.msix);
	libmsix_kvm_destroy(kvm);
	close(vcpu_fd);
	vm_close(&vm);
	printf("emulated-kvm: ok\n");
	return 0;
}
