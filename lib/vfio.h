/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend's state, shared by its two halves: lib/vfio-open.c
 * (finding and opening the device, reading its capability, the device
 * accessors) and lib/vfio.c (the backend ops and the SET_IRQS reconcile).
 */
#ifndef LIBMSIX_VFIO_PRIVATE_H
#define LIBMSIX_VFIO_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include "libmsix-vfio.h"
#include "util.h"

struct vvec {
	int kfd;	/* what the kernel signals now; -1: no trigger */
	int mask_fd;	/* library eventfd for the masked state, -1 until needed */
	int own_fd;	/* library live eventfd, -1 until needed */
	int ext_fd;	/* caller's live fd, -1 for none */
	bool s_alloc, s_unmasked;
	bool c_alloc, c_unmasked;
	bool force;	/* reissue: ext_fd may be a reused fd number */
};

/* What the kernel held when a commit started: the undo target. */
struct ksnap {
	bool on;
	uint32_t count;
};

struct libmsix_vfio {
	struct libmsix_backend be;
	pthread_mutex_t lock;
	struct libmsix_vfio_opts opts;
	char log_prefix[96];	/* "libmsix-vfio <address>: " */

	int container_fd, group_fd, device_fd;
	bool own_device;

	struct libmsix_vfio_info info;
	uint8_t header_type;
	uint8_t next_cap;
	enum libmsix_bar_type bar_type[6];

	/* The guest's MSI-X Enable (ops->enable), staged and committed. */
	bool s_enable, c_enable;
	/* Kernel state of the MSI-X index. */
	bool k_on;
	uint32_t k_count;	/* start + count of the enabling SET_IRQS */

	uint32_t n;		/* irq_count: vectors the backend handles */
	struct vvec *vec;
	int *want;		/* scratch: fd per vector for this commit */
	int *old;		/* scratch: kfd at the start of this commit */
	uint32_t *runs;		/* scratch: [start, count) pairs issued */
	struct vfio_irq_set *irq_set; /* scratch: header + n fds */

	/* fd -> (vector << 2 | kind) + 1, for libmsix_vfio_process(). */
	uint32_t *fdmap;
	size_t fdmap_len;
	size_t nr_fds;
	uint64_t generation;

	struct libmsix_vfio_stats st;
	uint64_t err_logs;	/* guest-triggerable errors, rate-limited */
};

static inline struct libmsix_vfio *to_vfio(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_vfio, be);
}

/* lib/vfio.c */
void lmx_vfio_log(struct libmsix_vfio *vf, int level, const char *fmt, ...)
	LIBMSIX_PRINTF(3, 4);
int lmx_vfio_vectors(struct libmsix_vfio *vf);
void lmx_vfio_vectors_free(struct libmsix_vfio *vf);
int lmx_vfio_disable(struct libmsix_vfio *vf);

#endif /* LIBMSIX_VFIO_PRIVATE_H */
