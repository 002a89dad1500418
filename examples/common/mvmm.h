/* SPDX-License-Identifier: MIT */
/*
 * mvmm: the smallest VMM that mirrors one real VFIO device's MSI-X through
 * libmsix. Shared by the examples and the guest tests. It plays both sides
 * a real VMM connects: the guest's accesses to the virtual capability, table
 * and PBA (mvmm_set_msgctl(), mvmm_set_mask(), ...), and the event loop that
 * polls the backend's eventfds (mvmm_pump()).
 *
 * It also knows the ivshmem-doorbell device (1af4:1110), which can raise its
 * own MSI-X vectors: writing (own id << 16) | vector to BAR0 offset 12.
 */
#ifndef LIBMSIX_EXAMPLES_MVMM_H
#define LIBMSIX_EXAMPLES_MVMM_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "libmsix-vfio.h"
#include "libmsix.h"

#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
#define IVSHMEM_IVPOSITION 8 /* BAR0: the device's own peer id */
#define IVSHMEM_DOORBELL 12  /* BAR0: (peer id << 16) | vector */

struct mvmm_opts {
	const char *address;		/* PCI address, "DDDD:BB:DD.F" */
	enum libmsix_policy policy;
	uint32_t cfg_flags;		/* LIBMSIX_F_* */
	uint32_t used;			/* device model uses 0..used-1; 0: all */
	int verbose;			/* 1: log libmsix warnings, 2: debug */
};

struct mvmm {
	struct libmsix_vfio *vfio;
	struct libmsix_dev *dev;
	struct libmsix_config cfg;
	struct libmsix_vfio_info info;
	char address[16];
	uint32_t n;			/* table size N */
	uint32_t used;
	int verbose;

	/* Deliveries seen by the deliver callback. */
	uint64_t *delivered;		/* per vector */
	struct libmsix_msg *last;	/* per vector */
	uint64_t deliveries;
	/* A delivery during libmsix_vfio_process() of another vector's fd. */
	uint64_t wrong_fd;
	int64_t in_process;		/* vector being processed, -1 none */

	/* ivshmem-doorbell */
	bool doorbell;
	uint32_t peer;

	/* Poll set, rebuilt when the backend's generation changes. */
	struct libmsix_vfio_pollfd *pfd;
	struct pollfd *pollv;
	size_t npfd, cap;
	uint64_t gen;
};

/* Open the device and create the virtual function; prints why on failure.
 * Returns 0 or -errno. */
int mvmm_open(struct mvmm *m, const struct mvmm_opts *o);
void mvmm_close(struct mvmm *m);

/* Guest side: accesses as a guest driver makes them. */
int mvmm_set_msgctl(struct mvmm *m, uint16_t bits);
int mvmm_set_mask(struct mvmm *m, uint32_t v, bool masked);
int mvmm_program(struct mvmm *m, uint32_t v, uint64_t addr, uint32_t data);
int mvmm_pba(struct mvmm *m, uint32_t v, bool *pending);
int mvmm_read_cap(struct mvmm *m, uint32_t dw, uint32_t *val);

/* The message the examples program into entry @v (and its reprogrammed
 * variant with @gen > 0). */
uint64_t mvmm_msg_addr(uint32_t v);
uint32_t mvmm_msg_data(uint32_t v, uint32_t gen);

/* VMM event loop: wait up to @timeout_ms for readable eventfds and process
 * all of them. Returns how many interrupts were consumed, or -errno. */
int mvmm_pump(struct mvmm *m, int timeout_ms);
/* Pump until vector @v has at least @count deliveries; 0 or -ETIMEDOUT. */
int mvmm_wait(struct mvmm *m, uint32_t v, uint64_t count, int timeout_ms);
/* Wait until @fd is readable without consuming it; 0 or -ETIMEDOUT. */
int mvmm_wait_readable(int fd, int timeout_ms);

/* Device side (ivshmem-doorbell only): ring vector @v. */
int mvmm_ring(struct mvmm *m, uint32_t v);
/* The physical PBA bit of @v, read through the VFIO BAR region. */
int mvmm_device_pba(struct mvmm *m, uint32_t v, bool *pending);

/* Region accesses through the device fd. */
int mvmm_region_read(struct mvmm *m, uint64_t offset, void *buf, size_t len);
int mvmm_region_write(struct mvmm *m, uint64_t offset, const void *buf,
		      size_t len);

#endif
