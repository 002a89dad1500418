// SPDX-License-Identifier: MIT
/*
 * PCI bus 0 behind configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF
 * data; PCI Local Bus 3.0 §3.2.2.3.2), a host bridge at 00:00.0, and the
 * functions' 32-bit memory BARs, which the VMM places (as firmware would)
 * in the MMIO hole below 4 GiB.
 */
#include <string.h>

#include <linux/pci_regs.h>

#include "vmm.h"

static struct pci_fn host_bridge;

static uint32_t cfg_get(const uint8_t *cfg, uint32_t off, uint32_t size)
{
	uint32_t v = 0;

	memcpy(&v, cfg + off, size);
	return v;
}

void pci_init(struct vmm *vm)
{
	struct pci_fn *f = &host_bridge;
	uint8_t *c = f->cfg;

	memset(f, 0, sizeof(*f));
	c[PCI_VENDOR_ID] = 0x86; /* 8086:29c0, a host bridge */
	c[PCI_VENDOR_ID + 1] = 0x80;
	c[PCI_DEVICE_ID] = 0xc0;
	c[PCI_DEVICE_ID + 1] = 0x29;
	c[PCI_CLASS_DEVICE] = 0x00;
	c[PCI_CLASS_DEVICE + 1] = 0x06; /* bridge: host */
	vm->slot[0] = f;
	vm->mmio_next = (uint32_t)MMIO_BASE;
}

void pci_add(struct vmm *vm, int slot, struct pci_fn *f)
{
	for (int b = 0; b < 6; b++) {
		uint32_t s = f->bar_size[b];

		if (!s)
			continue;
		vm->mmio_next = (vm->mmio_next + s - 1) & ~(s - 1);
		f->bar_addr[b] = vm->mmio_next;
		vm->mmio_next += s;
	}
	vm->slot[slot] = f;
}

static uint32_t bar_read(const struct pci_fn *f, int b)
{
	/* 32-bit, non-prefetchable memory BAR: bits 3:0 are 0. */
	return f->bar_size[b] ? f->bar_addr[b] : 0;
}

static void cfg_access(struct vmm *vm, struct pci_fn *f, uint32_t off,
		       uint32_t size, bool write, uint32_t *val)
{
	uint16_t cmd;

	if (!write) {
		uint32_t v = 0;

		for (uint32_t i = 0; i < size; i++) {
			uint32_t o = off + i, b;
			uint8_t byte = f->cfg[o];

			if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 24) {
				b = (o - PCI_BASE_ADDRESS_0) / 4;
				byte = (uint8_t)(bar_read(f, (int)b) >> (8 * (o & 3)));
			}
			v |= (uint32_t)byte << (8 * i);
		}
		if (f->ops && f->ops->cfg_read)
			f->ops->cfg_read(f, off, size, &v);
		*val = v;
		return;
	}
	if (off >= PCI_BASE_ADDRESS_0 && off < PCI_BASE_ADDRESS_0 + 24) {
		/* BARs: DWORD writes only (as Linux makes them). */
		int b = (int)(off - PCI_BASE_ADDRESS_0) / 4;

		if (size == 4 && f->bar_size[b])
			f->bar_addr[b] = *val & ~(f->bar_size[b] - 1);
		return;
	}
	if (off < PCI_COMMAND + 2 && off + size > PCI_COMMAND) {
		for (uint32_t i = 0; i < size; i++)
			if (off + i == PCI_COMMAND || off + i == PCI_COMMAND + 1)
				f->cfg[off + i] = (uint8_t)(*val >> (8 * i));
		cmd = (uint16_t)(cfg_get(f->cfg, PCI_COMMAND, 2) &
				 (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				  PCI_COMMAND_INTX_DISABLE));
		memcpy(f->cfg + PCI_COMMAND, &cmd, 2);
		if (f->ops && f->ops->command)
			f->ops->command(f, cmd);
	}
	if (f->ops && f->ops->cfg_write)
		f->ops->cfg_write(f, off, size, *val);
	(void)vm;
}

bool pci_pio(struct vmm *vm, uint16_t port, bool write, uint32_t size,
	     uint32_t *val)
{
	if (port == 0xcf8 && size == 4) {
		if (write)
			vm->cf8 = *val;
		else
			*val = vm->cf8;
		return true;
	}
	if (port < 0xcfc || port > 0xcff)
		return false;
	uint32_t a = vm->cf8;
	uint32_t off = (a & 0xfc) + (port & 3u);
	unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f,
		 fn = (a >> 8) & 7;
	struct pci_fn *f = vm->slot[dev];

	if (!(a & 0x80000000u) || bus || fn || !f || off + size > 256) {
		if (!write)
			*val = 0xffffffffu;
		return true;
	}
	cfg_access(vm, f, off, size, write, val);
	return true;
}

bool pci_mmio(struct vmm *vm, uint64_t gpa, bool write, uint32_t size,
	      uint64_t *val)
{
	for (int s = 0; s < 32; s++) {
		struct pci_fn *f = vm->slot[s];

		if (!f || !f->ops)
			continue;
		if (!(f->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY))
			continue;
		for (int b = 0; b < 6; b++) {
			uint64_t base = f->bar_addr[b];

			if (!f->bar_size[b] || gpa < base ||
			    gpa + size > base + f->bar_size[b])
				continue;
			if (write)
				f->ops->bar_write(f, b, gpa - base, size, *val);
			else
				*val = f->ops->bar_read(f, b, gpa - base, size);
			return true;
		}
	}
	return false;
}
