// SPDX-License-Identifier: MIT
/*
 * Loading a bzImage and entering it in 64-bit mode, written from the Linux
 * x86 boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot
 * Protocol"), and the ACPI tables (ACPI 6.x: RSDP, XSDT, FADT, MADT, DSDT)
 * that tell the kernel about the vCPUs and the IOAPIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asm/bootparam.h>
#include <linux/kvm.h>

#include "boot.h"
#include "vmm.h"

/* Low memory layout (all below the 640 KiB of base memory). */
#define GDT_ADDR 0x500
#define ZERO_PAGE 0x7000
#define PML4_ADDR 0x9000
#define PDPT_ADDR 0xa000
#define PD_ADDR 0xb000		/* 4 pages: the first 4 GiB in 2 MiB pages */
#define CMDLINE_ADDR 0x20000
#define CMDLINE_MAX 0x10000
#define ACPI_ADDR 0xe0000	/* RSDP is searched for in 0xe0000-0xfffff */
#define KERNEL_ADDR 0x1000000	/* 16 MiB */
#define E820_RAM 1
#define E820_RESERVED 2

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < *len) {
		ssize_t r = read(fd, *buf + got, *len - got);
		if (r <= 0) {
			free(*buf);
			close(fd);
			return r < 0 ? -errno : -EIO;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];

	e->addr = addr;
	e->size = size;
	e->type = type;
}

/* ----------------------------------------------------------------- ACPI */

struct __attribute__((packed)) acpi_hdr {
	char sig[4];
	uint32_t len;
	uint8_t rev;
	uint8_t csum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_rev;
	char creator[4];
	uint32_t creator_rev;
};

static uint8_t csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return (uint8_t)-s;
}

static void acpi_hdr(void *p, const char *sig, uint32_t len, uint8_t rev)
{
	struct acpi_hdr *h = p;

	memcpy(h->sig, sig, 4);
	h->len = len;
	h->rev = rev;
	memcpy(h->oem, "LIBMSX", 6);
	memcpy(h->oem_table, "MSIXVMM ", 8);
	h->oem_rev = 1;
	memcpy(h->creator, "MSIX", 4);
	h->creator_rev = 1;
	h->csum = 0;
	h->csum = csum(p, len);
}

/*
 * RSDP -> XSDT -> {FADT -> DSDT, MADT}: the tables Linux needs to find the
 * vCPUs and the IOAPIC. The MADT lists one local APIC per vCPU and the
 * IOAPIC at 0xfec00000 (GSI base 0) that KVM_CREATE_IRQCHIP emulates, with
 * the PIC behind it (PCAT_COMPAT). The FADT is not "hardware-reduced"
 * (Linux would then drop the legacy PIC and ISA IRQs, and the serial
 * port's IRQ 4 with them) and has no fixed hardware at all: no SMI command
 * port, no PM1 blocks, SCI on IRQ 9 (never raised). The DSDT is empty.
 *
 * What that makes Linux do (seen on 6.1; 6.12 ends the same way): it
 * takes the CPUs and the IOAPIC from the MADT, then fails to initialise
 * the ACPI fixed events (it logs "ACPI Error"s for the missing PM1 blocks), turns the
 * ACPI interpreter off and probes PCI bus 0 through conf1 itself. With PM1
 * blocks, ACPI stays on and looks for the PCI host bridge in the DSDT,
 * which would need AML this VMM does not have.
 */
static uint64_t acpi_build(struct vmm *vm)
{
	uint8_t *base = vm->mem + ACPI_ADDR;
	uint64_t rsdp = ACPI_ADDR, xsdt = ACPI_ADDR + 0x40,
		 fadt = ACPI_ADDR + 0x100, dsdt = ACPI_ADDR + 0x300,
		 madt = ACPI_ADDR + 0x400;

	memset(base, 0, 0x1000);

	/* DSDT: a definition block with no AML in it. */
	acpi_hdr(vm->mem + dsdt, "DSDT", sizeof(struct acpi_hdr), 2);

	/* FADT, revision 6 (276 bytes). */
	uint8_t *f = vm->mem + fadt;
	uint32_t flags = 0;
	uint16_t boot_arch = (1u << 2) | (1u << 5);	/* no VGA, no RTC */
	uint16_t sci = 9;
	memcpy(f + 40, &(uint32_t){ (uint32_t)dsdt }, 4);
	memcpy(f + 46, &sci, 2);			/* SCI_INT */
	memcpy(f + 109, &boot_arch, 2);
	memcpy(f + 112, &flags, 4);
	f[131] = 5;					/* minor revision */
	memcpy(f + 140, &dsdt, 8);			/* X_DSDT */
	memcpy(f + 268, "MSIXVMM\0", 8);		/* hypervisor id */
	acpi_hdr(f, "FACP", 276, 6);

	/* MADT */
	uint8_t *m = vm->mem + madt;
	uint32_t off = 44;
	uint32_t lapic = 0xfee00000u, pcat = 1;
	memcpy(m + 36, &lapic, 4);
	memcpy(m + 40, &pcat, 4);
	for (int i = 0; i < vm->ncpus; i++) {
		uint8_t e[8] = { 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 };
		memcpy(m + off, e, 8);
		off += 8;
	}
	uint8_t io[12] = { 1, 12, (uint8_t)vm->ncpus, 0, 0, 0, 0xc0, 0xfe,
			   0, 0, 0, 0 };
	memcpy(m + off, io, 12);
	off += 12;
	uint8_t nmi[6] = { 4, 6, 0xff, 0, 0, 1 };	/* LINT1 is NMI */
	memcpy(m + off, nmi, 6);
	off += 6;
	acpi_hdr(m, "APIC", off, 5);

	/* XSDT */
	uint8_t *x = vm->mem + xsdt;
	memcpy(x + 36, &fadt, 8);
	memcpy(x + 44, &madt, 8);
	acpi_hdr(x, "XSDT", 52, 1);

	/* RSDP 2.0 */
	uint8_t *r = vm->mem + rsdp;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "LIBMSX", 6);
	r[15] = 2;
	memcpy(r + 20, &(uint32_t){ 36 }, 4);
	memcpy(r + 24, &xsdt, 8);
	r[8] = csum(r, 20);
	r[32] = csum(r, 36);
	return rsdp;
}

/* ------------------------------------------------------------ boot */

int boot_load(struct vmm *vm, const char *kernel, const char *initrd,
	      const char *cmdline, struct boot_entry *entry)
{
	uint8_t *img;
	size_t len;
	int r = read_file(kernel, &img, &len);

	if (r < 0) {
		fprintf(stderr, "msix-vmm: %s: %s\n", kernel, strerror(-r));
		return r;
	}
	/* The setup header starts at 0x1f1 (boot.rst, "The Real-Mode
	 * Kernel Header"); its length is 0x202 + the byte at 0x201 - 0x1f1. */
	struct setup_header hdr;
	if (len < 0x250 || memcmp(img + 0x202, "HdrS", 4) != 0) {
		fprintf(stderr, "msix-vmm: %s is not a bzImage\n", kernel);
		free(img);
		return -EINVAL;
	}
	size_t hlen = 0x202 + img[0x201] - 0x1f1;
	if (hlen > sizeof(hdr))
		hlen = sizeof(hdr);
	memset(&hdr, 0, sizeof(hdr));
	memcpy(&hdr, img + 0x1f1, hlen);
	if (hdr.version < 0x20c || !(hdr.xloadflags & XLF_KERNEL_64)) {
		fprintf(stderr,
			"msix-vmm: %s: boot protocol %#x has no 64-bit entry\n",
			kernel, hdr.version);
		free(img);
		return -EINVAL;
	}
	uint32_t setup_sects = hdr.setup_sects ? hdr.setup_sects : 4;
	size_t koff = (setup_sects + 1) * 512;
	if (koff >= len || KERNEL_ADDR + (uint64_t)hdr.init_size > vm->mem_size) {
		fprintf(stderr, "msix-vmm: %s does not fit\n", kernel);
		free(img);
		return -EINVAL;
	}
	memcpy(vm->mem + KERNEL_ADDR, img + koff, len - koff);
	free(img);

	struct boot_params *bp = (void *)(vm->mem + ZERO_PAGE);
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, &hdr, hlen);
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP | LOADED_HIGH;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.code32_start = KERNEL_ADDR;

	size_t clen = strlen(cmdline);
	if (clen >= CMDLINE_MAX || clen >= hdr.cmdline_size) {
		fprintf(stderr, "msix-vmm: command line too long\n");
		return -EINVAL;
	}
	memcpy(vm->mem + CMDLINE_ADDR, cmdline, clen + 1);
	bp->hdr.cmd_line_ptr = CMDLINE_ADDR;

	if (initrd) {
		uint8_t *rd;
		size_t rlen;

		r = read_file(initrd, &rd, &rlen);
		if (r < 0) {
			fprintf(stderr, "msix-vmm: %s: %s\n", initrd,
				strerror(-r));
			return r;
		}
		uint64_t top = vm->mem_size;
		if (top > (uint64_t)hdr.initrd_addr_max + 1)
			top = (uint64_t)hdr.initrd_addr_max + 1;
		uint64_t at = (top - rlen) & ~0xfffull;
		if (rlen > top || at < KERNEL_ADDR + hdr.init_size) {
			fprintf(stderr, "msix-vmm: initrd does not fit\n");
			free(rd);
			return -EINVAL;
		}
		memcpy(vm->mem + at, rd, rlen);
		free(rd);
		bp->hdr.ramdisk_image = (uint32_t)at;
		bp->hdr.ramdisk_size = (uint32_t)rlen;
	}

	e820_add(bp, 0, 0x9fc00, E820_RAM);
	e820_add(bp, 0x9fc00, 0x400, E820_RESERVED);
	e820_add(bp, 0xe0000, 0x20000, E820_RESERVED);
	e820_add(bp, 0x100000, vm->mem_size - 0x100000, E820_RAM);
	bp->acpi_rsdp_addr = acpi_build(vm);

	/* GDT: null, null, code 0x10 (64-bit), data 0x18 (boot.rst). */
	uint64_t *gdt = (void *)(vm->mem + GDT_ADDR);
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull;
	gdt[3] = 0x00cf93000000ffffull;

	/* Identity map of the first 4 GiB with 2 MiB pages. */
	uint64_t *pml4 = (void *)(vm->mem + PML4_ADDR);
	uint64_t *pdpt = (void *)(vm->mem + PDPT_ADDR);
	uint64_t *pd = (void *)(vm->mem + PD_ADDR);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = PDPT_ADDR | 3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (PD_ADDR + i * 4096ull) | 3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */

	entry->rip = KERNEL_ADDR + 0x200; /* 64-bit entry point */
	entry->rsi = ZERO_PAGE;
	return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool l)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = l;
	s->db = !l;
}

int boot_vcpu(struct vmm *vm, int fd, const struct boot_entry *entry)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;

	(void)vm;
	if (ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	seg(&sr.cs, 0x10, 0xb, true);
	seg(&sr.ds, 0x18, 0x3, false);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.gdt.base = GDT_ADDR;
	sr.gdt.limit = 4 * 8 - 1;
	sr.cr3 = PML4_ADDR;
	sr.cr4 = 1u << 5;			/* PAE */
	sr.cr0 = 0x80000011u;			/* PG | ET | PE */
	sr.efer = (1u << 8) | (1u << 10);	/* LME | LMA */
	if (ioctl(fd, KVM_SET_SREGS, &sr) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = entry->rip;
	regs.rsi = entry->rsi;
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
