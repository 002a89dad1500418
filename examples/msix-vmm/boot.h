/* SPDX-License-Identifier: MIT */
#ifndef MSIX_VMM_BOOT_H
#define MSIX_VMM_BOOT_H

#include <stdint.h>

struct vmm;

struct boot_entry {
	uint64_t rip, rsi;
};

/* Load @kernel (a bzImage) and @initrd (may be NULL) into guest memory with
 * @cmdline, build the zero page, e820 map, ACPI tables and page tables.
 * Returns 0 or -errno (printed). */
int boot_load(struct vmm *vm, const char *kernel, const char *initrd,
	      const char *cmdline, struct boot_entry *entry);
/* Put the boot vCPU into 64-bit mode at the kernel's 64-bit entry. */
int boot_vcpu(struct vmm *vm, int fd, const struct boot_entry *entry);

#endif
