/* SPDX-License-Identifier: MIT */
/*
 * A fake vfio-pci device for unit tests, in place of /dev/vfio.
 *
 * A test program that links fake_vfio.c gets ioctl(), pread() and pwrite()
 * of its own; libmsix.so's calls resolve to them first (the executable is
 * first in the symbol search order). Calls on the fake device's fd are
 * answered here; any other fd goes straight to the system call. One fake
 * device per process: the global fk (the fake kernel's state, readable and
 * writable by the tests: fault injection, the SET_IRQS log).
 *
 * The model follows drivers/vfio/pci/vfio_pci_intrs.c as observed on 6.1
 * and 6.12 (docs/vfio.md): an enabling SET_IRQS allocates host vectors for
 * [0, start + count); NORESIZE refuses vectors beyond that; a dynamic kernel
 * allocates them one at a time; a block that fails part-way releases the
 * triggers it had reached (and disables MSI-X if the call was enabling);
 * DATA_NONE with count 0 disables, and is EINVAL when MSI-X is off; only
 * eventfds are accepted; an interrupt raised on a vector without a trigger
 * waits in the device's PBA until the vector gets one. The device is
 * ivshmem-like: MSI-X table in BAR 1, PBA at FAKE_PBA_OFFSET in BAR 1, a
 * 64-bit BAR 2, and a vendor capability before MSI-X in the list.
 */
#ifndef LIBMSIX_TEST_FAKE_VFIO_H
#define LIBMSIX_TEST_FAKE_VFIO_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#define FAKE_MAX 2048
#define FAKE_CAP 0x40u
#define FAKE_TABLE_BIR 1u
#define FAKE_PBA_OFFSET 0x8000u

/* One VFIO_DEVICE_SET_IRQS as the fake saw it (the first 16 fds). */
struct fake_call {
	uint32_t flags, start, count;
	int fds[16];
	int err;
};

struct fake_vfio {
	int fd;
	bool noresize;
	uint32_t count;		/* MSI-X IRQ count */
	bool no_cap;		/* config space without the MSI-X capability */
	uint8_t config[256];
	uint64_t bar_size[6];
	/* Kernel state. */
	bool on;
	uint32_t nvec;		/* vectors allocated by the enabling call */
	bool allocated[FAKE_MAX];
	int trig[FAKE_MAX];	/* our dup of the eventfd; -1 none */
	int trig_num[FAKE_MAX];	/* the fd number the caller passed */
	bool dev_pending[FAKE_MAX];
	/* Fault injection: the fail_at-th SET_IRQS fails at block index
	 * fail_index (or at once, before touching anything, if negative). */
	unsigned fail_at;
	int fail_index;
	int fail_err;
	/* Limit of triggers the "host" can hold (x86 vector space). */
	uint32_t host_limit;
	/* Call log. */
	unsigned calls;
	struct fake_call log[4096];
	unsigned mask_actions;
};

/* The fake kernel and device; fk.fd is the device fd (0: none open). */
extern struct fake_vfio fk;

/* A fresh device of @count MSI-X vectors (1..FAKE_MAX); @noresize: the
 * kernel cannot add vectors while MSI-X is on (VFIO_IRQ_INFO_NORESIZE). */
void fake_vfio_init(uint32_t count, bool noresize);
/* Disable MSI-X (closing every trigger) and close the device fd. */
void fake_vfio_fini(void);
/* Raise @v at the device: into its trigger, or into the device's PBA. */
void fake_vfio_raise(uint32_t v);
/* Triggers the kernel holds now. */
uint32_t fake_vfio_triggers(void);
/* SET_IRQS calls since fk.calls was @mark. */
unsigned fake_vfio_set_irqs_since(unsigned mark);

#endif /* LIBMSIX_TEST_FAKE_VFIO_H */
