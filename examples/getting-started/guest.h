/* SPDX-License-Identifier: MIT */
/*
 * What a guest's MSI-X driver does, as a VMM's exit handlers see it. In a
 * real VMM these accesses arrive from KVM_RUN (KVM_EXIT_MMIO for the BAR,
 * the config-space emulation for the capability); the getting-started
 * programs call the same handlers directly, so they run without a guest.
 *
 * The sequence is Linux's (drivers/pci/msi/msi.c: msix_capability_init()):
 * set Enable and Function Mask, mask every entry, program the messages,
 * clear Function Mask; then request_irq() unmasks one vector at a time.
 */
#ifndef GETTING_STARTED_GUEST_H
#define GETTING_STARTED_GUEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/pci_regs.h>

/* The VMM's two exit handlers a guest reaches MSI-X through. */
struct guest {
	int (*config_write)(void *vmm, uint32_t off, uint32_t size, uint32_t v);
	int (*mmio_write)(void *vmm, uint32_t bar, uint64_t off, uint32_t size,
			  uint64_t v);
	int (*mmio_read)(void *vmm, uint32_t bar, uint64_t off, uint32_t size,
			 uint64_t *v);
	void *vmm;
	uint32_t cap;	/* capability offset in config space */
	uint32_t bar;	/* BAR holding the table and the PBA */
	uint64_t table;	/* table offset in the BAR */
	uint64_t pba;	/* PBA offset in the BAR */
};

/* Every example checks what it shows: a broken example must fail CI. */
#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			exit(1);                                              \
		}                                                             \
	} while (0)

static inline int guest_msgctl(struct guest *g, uint16_t ctl)
{
	return g->config_write(g->vmm, g->cap + PCI_MSIX_FLAGS, 2, ctl);
}

static inline int guest_vctrl(struct guest *g, uint32_t v, uint32_t ctrl)
{
	return g->mmio_write(g->vmm, g->bar,
			     g->table + v * PCI_MSIX_ENTRY_SIZE +
				     PCI_MSIX_ENTRY_VECTOR_CTRL, 4, ctrl);
}

/* An x86 MSI to local APIC 0, fixed delivery, IDT vector 0x40 + v. */
static inline uint64_t guest_addr(uint32_t v)
{
	(void)v;
	return 0xfee00000u;
}

static inline uint32_t guest_data(uint32_t v)
{
	return 0x40 + v;
}

/* Linux's bring-up of @n vectors; all stay masked. */
static inline void guest_bring_up(struct guest *g, uint32_t n)
{
	CHECK(guest_msgctl(g, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) == 0);
	for (uint32_t v = 0; v < n; v++) {
		uint64_t e = g->table + v * PCI_MSIX_ENTRY_SIZE;

		CHECK(guest_vctrl(g, v, PCI_MSIX_ENTRY_CTRL_MASKBIT) == 0);
		/* Address and Upper Address in one QWORD write (R27). */
		CHECK(g->mmio_write(g->vmm, g->bar, e + PCI_MSIX_ENTRY_LOWER_ADDR,
				    8, guest_addr(v)) == 0);
		CHECK(g->mmio_write(g->vmm, g->bar, e + PCI_MSIX_ENTRY_DATA, 4,
				    guest_data(v)) == 0);
	}
	CHECK(guest_msgctl(g, PCI_MSIX_FLAGS_ENABLE) == 0);
}

/* request_irq() / free_irq() / disable_irq(): one vector's mask bit. */
static inline int guest_unmask(struct guest *g, uint32_t v)
{
	return guest_vctrl(g, v, 0);
}

static inline int guest_mask(struct guest *g, uint32_t v)
{
	return guest_vctrl(g, v, PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* The guest reads vector @v's pending bit from the PBA. */
static inline int guest_pending(struct guest *g, uint32_t v)
{
	uint64_t q = 0;

	CHECK(g->mmio_read(g->vmm, g->bar, g->pba + v / 64 * 8, 8, &q) == 0);
	return (int)((q >> (v % 64)) & 1);
}

/*
 * A guest wired straight to libmsix: what the VMM's handlers in
 * emulated-kvm.c do, for the programs that show something else.
 */
#include <errno.h>
#include <libmsix.h>

static inline int direct_config_write(void *dev, uint32_t off, uint32_t size,
				      uint32_t v)
{
	return libmsix_config_write(dev, off, size, v);
}

static inline int direct_mmio_write(void *dev, uint32_t bar, uint64_t off,
				    uint32_t size, uint64_t v)
{
	int rc = libmsix_mmio_write(dev, bar, off, size, v);

	return rc == -ENOENT ? 0 : rc;
}

static inline int direct_mmio_read(void *dev, uint32_t bar, uint64_t off,
				   uint32_t size, uint64_t *v)
{
	int rc = libmsix_mmio_read(dev, bar, off, size, v);

	return rc == -ENOENT ? 0 : rc;
}

/* The layout every getting-started program uses: capability at 0x50, the
 * table at offset 0 of a 4 KiB BAR 1, the PBA at 0x800 of it. */
#define GS_CAP 0x50
#define GS_BAR 1
#define GS_TABLE 0x000
#define GS_PBA 0x800

static inline struct libmsix_config gs_config(uint32_t nr_vectors)
{
	struct libmsix_config cfg = {
		.size = sizeof(cfg),
		.nr_vectors = nr_vectors,
		.cap_offset = GS_CAP,
		.table_bir = GS_BAR,
		.table_offset = GS_TABLE,
		.pba_bir = GS_BAR,
		.pba_offset = GS_PBA,
	};

	cfg.bar_type[GS_BAR] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[GS_BAR] = 0x1000;
	return cfg;
}

/* A guest of @dev, created with @cfg (table and PBA in one BAR). */
static inline struct guest guest_direct(struct libmsix_dev *dev,
					const struct libmsix_config *cfg)
{
	struct guest g = {
		.config_write = direct_config_write,
		.mmio_write = direct_mmio_write,
		.mmio_read = direct_mmio_read,
		.vmm = dev,
		.cap = cfg->cap_offset,
		.bar = cfg->table_bir,
		.table = cfg->table_offset,
		.pba = cfg->pba_offset,
	};
	CHECK(cfg->pba_bir == cfg->table_bir);
	return g;
}

#endif
