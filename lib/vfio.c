/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend: host vectors of a real PCI function through
 * VFIO_DEVICE_SET_IRQS on the MSI-X index.
 *
 * Three views of each vector, kept apart as in the core:
 *   staged    s_alloc/s_unmasked: what the engine asked for since the last
 *             commit (alloc/release/mask/unmask ops only record);
 *   committed c_alloc/c_unmasked: what the last successful commit made true;
 *   kernel    kfd: the eventfd the kernel signals for the vector now (-1: no
 *             trigger, i.e. no request_irq in the host).
 * commit() derives the fd each vector should have (none, its mask eventfd
 * or its live fd) and reconciles kfd toward it with as few SET_IRQS as the
 * kernel's rules allow, undoing every ioctl it issued if one fails.
 *
 * One event along one path: the guest unmasks vector 7 on a dynamic-MSI-X
 * kernel. The engine stages alloc(7,1) and unmask(7) and commits; want[7]
 * is 7's live eventfd, kfd[7] is -1, so one SET_IRQS start=7 count=1 runs.
 * The device rings, vfio_msihandler signals the live eventfd, the VMM's
 * poll wakes, libmsix_vfio_process() reads it and calls libmsix_notify(7),
 * and the message reaches the VMM's deliver callback.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "util.h"
#include "libmsix-vfio.h"

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

static struct libmsix_vfio *to_vfio(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_vfio, be);
}

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

static void vlog(struct libmsix_vfio *vf, int level, const char *fmt, ...)
	LIBMSIX_PRINTF(3, 4);
static void vlog(struct libmsix_vfio *vf, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmx_vlog(vf->opts.log, vf->opts.opaque, vf->opts.log_level, level,
		 vf->log_prefix, fmt, ap);
	va_end(ap);
}

/*
 * Commit failures can follow from guest actions (each unmask may fail the
 * same way), so they pass the first four times and then at powers of two.
 */
static bool err_log_allowed(struct libmsix_vfio *vf)
{
	return lmx_log_due(&vf->err_logs);
}

/* ------------------------------------------------------------------------ */
/* Eventfds                                                                  */
/* ------------------------------------------------------------------------ */

static int fdmap_add(struct libmsix_vfio *vf, int fd, uint32_t v,
		     uint32_t kind)
{
	if ((size_t)fd >= vf->fdmap_len) {
		size_t len = vf->fdmap_len ? vf->fdmap_len : 64;
		uint32_t *m;

		while (len <= (size_t)fd)
			len *= 2;
		m = realloc(vf->fdmap, len * sizeof(*m));
		if (!m)
			return -ENOMEM;
		memset(m + vf->fdmap_len, 0,
		       (len - vf->fdmap_len) * sizeof(*m));
		vf->fdmap = m;
		vf->fdmap_len = len;
	}
	vf->fdmap[fd] = (v << 2 | kind) + 1;
	vf->nr_fds++;
	vf->generation++;
	return 0;
}

/* Make sure *slot holds an eventfd of @kind for @v; return it or -errno. */
static int ensure_fd(struct libmsix_vfio *vf, uint32_t v, int *slot,
		     uint32_t kind)
{
	int fd, err;

	if (*slot >= 0)
		return *slot;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		if (err_log_allowed(vf))
			vlog(vf, LOG_ERR, "cannot create an eventfd for vector %u: %s",
			     v, strerror(-err));
		return err;
	}
	err = fdmap_add(vf, fd, v, kind);
	if (err) {
		close(fd);
		return err;
	}
	*slot = fd;
	return fd;
}

/* ------------------------------------------------------------------------ */
/* SET_IRQS                                                                  */
/* ------------------------------------------------------------------------ */

static void note_host_vectors(struct libmsix_vfio *vf)
{
	uint32_t n = 0;

	for (uint32_t v = 0; v < vf->n; v++)
		n += vf->vec[v].kfd >= 0;
	vf->st.host_vectors = n;
	if (n > vf->st.host_vectors_peak)
		vf->st.host_vectors_peak = n;
}

/* Forget every trigger: the kernel freed them all. */
static void kernel_off(struct libmsix_vfio *vf)
{
	for (uint32_t v = 0; v < vf->n; v++)
		vf->vec[v].kfd = -1;
	vf->k_on = false;
	vf->k_count = 0;
}

/* Disable the whole MSI-X index: free_irq for every trigger, MSI-X off. */
static int k_disable(struct libmsix_vfio *vf)
{
	struct vfio_irq_set *s = vf->irq_set;

	memset(s, 0, sizeof(*s));
	s->argsz = sizeof(*s);
	s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->index = VFIO_PCI_MSIX_IRQ_INDEX;
	vf->st.set_irqs++;
	if (ioctl(vf->device_fd, VFIO_DEVICE_SET_IRQS, s) < 0) {
		int err = -errno;

		vf->st.set_irqs_failed++;
		return err;
	}
	vf->st.disables++;
	for (uint32_t v = 0; v < vf->n; v++)
		vf->st.vectors_torn_down += vf->vec[v].kfd >= 0;
	kernel_off(vf);
	return 0;
}

/*
 * One SET_IRQS over [start, start + count) with fds[]. On success kfd
 * follows. On failure the kernel has released the triggers of the vectors
 * it had reached (vfio_msi_set_block unwinds them to -1) and, when this call
 * was turning MSI-X on, disabled the index again; we cannot tell how far it
 * got, so the whole range is marked unknown for the caller to undo.
 */
static int k_set(struct libmsix_vfio *vf, uint32_t start, uint32_t count,
		 const int *fds)
{
	struct vfio_irq_set *s = vf->irq_set;
	size_t bytes = sizeof(*s) + (size_t)count * sizeof(int);
	bool enabling = !vf->k_on;

	memset(s, 0, sizeof(*s));
	s->argsz = (uint32_t)bytes;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->index = VFIO_PCI_MSIX_IRQ_INDEX;
	s->start = start;
	s->count = count;
	memcpy(s->data, fds, (size_t)count * sizeof(int));
	vf->st.set_irqs++;
	if (ioctl(vf->device_fd, VFIO_DEVICE_SET_IRQS, s) < 0) {
		int err = -errno;

		vf->st.set_irqs_failed++;
		if (enabling) {
			kernel_off(vf);
		} else {
			for (uint32_t v = start; v < start + count; v++)
				vf->vec[v].kfd = -1;
		}
		return err;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct vvec *e = &vf->vec[start + i];

		vf->st.vectors_torn_down += e->kfd >= 0;
		vf->st.vectors_set_up += fds[i] >= 0;
		e->kfd = fds[i];
	}
	if (enabling) {
		vf->k_on = true;
		vf->k_count = start + count;
	}
	return 0;
}

static const int no_fd = -1;

/*
 * Turn MSI-X on and give every vector of @fds its fd, from a kernel that has
 * MSI-X off. An enabling SET_IRQS makes the kernel allocate host vectors for
 * all of [0, start + count). NORESIZE needs exactly that prefix, @top. With
 * dynamic MSI-X, starting the first run anywhere but 0 would allocate
 * vectors nobody asked for, so the index is first enabled with vector 0 and
 * fd -1 (one vector allocated, nothing requested; QEMU does the same), and
 * then each run is added alone. With no vector wanted at all (the guest
 * enabled MSI-X, every vector still masked) that first call is all: the
 * function has MSI-X on and latches what its masked vectors raise.
 */
static int from_off(struct libmsix_vfio *vf, const int *fds, uint32_t top,
		    uint32_t *nruns)
{
	int err;

	if ((vf->be.flags & LIBMSIX_BE_NORESIZE) && top > 0)
		return k_set(vf, 0, top, fds);
	if (fds[0] < 0) {
		err = k_set(vf, 0, 1, &no_fd);
		if (err)
			return err;
		vf->st.enable_no_vec++;
	}
	for (uint32_t v = 0; v < vf->n;) {
		uint32_t s;

		if (fds[v] == vf->vec[v].kfd) {
			v++;
			continue;
		}
		s = v;
		while (v < vf->n && fds[v] != vf->vec[v].kfd)
			v++;
		if (nruns) {
			vf->runs[2 * *nruns] = s;
			vf->runs[2 * *nruns + 1] = v - s;
			(*nruns)++;
		}
		err = k_set(vf, s, v - s, fds + s);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Put the kernel back where @snap and vf->old say it was. Returns 0 or the
 * -errno of an undo ioctl that failed; then the index is disabled, so the
 * host at least holds nothing the engine does not know about.
 */
static int undo(struct libmsix_vfio *vf, const struct ksnap *snap,
		uint32_t nruns)
{
	int err = 0;

	vf->st.rollbacks++;
	if (!snap->on) {
		if (vf->k_on)
			err = k_disable(vf);
	} else if (!vf->k_on) {
		/* A NORESIZE growth disabled the index, or the kernel did. */
		if (!(vf->be.flags & LIBMSIX_BE_NORESIZE))
			err = from_off(vf, vf->old, 0, NULL);
		else
			err = k_set(vf, 0, snap->count, vf->old);
		if (!err)
			vf->k_count = snap->count;
	} else {
		while (nruns-- > 0 && !err) {
			uint32_t s = vf->runs[2 * nruns];
			uint32_t c = vf->runs[2 * nruns + 1];

			err = k_set(vf, s, c, vf->old + s);
		}
	}
	if (err) {
		vf->st.rollback_failures++;
		vlog(vf, LOG_ERR,
		     "could not undo a failed SET_IRQS (%s); MSI-X disabled at the host",
		     strerror(-err));
		if (vf->k_on && k_disable(vf) < 0)
			kernel_off(vf);
	}
	return err;
}

/* The fd @v should have after this commit; -errno if one cannot be made. */
static int want_fd(struct libmsix_vfio *vf, uint32_t v, bool staged)
{
	struct vvec *e = &vf->vec[v];
	bool alloc = staged ? e->s_alloc : e->c_alloc;
	bool unmasked = staged ? e->s_unmasked : e->c_unmasked;

	if (!alloc)
		return -1;
	if (!unmasked)
		return ensure_fd(vf, v, &e->mask_fd, LIBMSIX_VFIO_FD_MASK);
	if (e->ext_fd >= 0)
		return e->ext_fd;
	return ensure_fd(vf, v, &e->own_fd, LIBMSIX_VFIO_FD_LIVE);
}

static bool differs(const struct libmsix_vfio *vf, uint32_t v)
{
	const struct vvec *e = &vf->vec[v];

	return vf->want[v] != e->kfd ||
	       (e->force && e->ext_fd >= 0 && vf->want[v] == e->ext_fd);
}

/*
 * Make the kernel hold vf->want[], with MSI-X on while the guest has it on
 * (@enable) or any vector has a trigger. One SET_IRQS per contiguous run of
 * vectors that change, except where the kernel's rules force otherwise:
 * turning MSI-X on (from_off), turning it off (one disable instead of runs
 * of -1), and NORESIZE growth (disable, then one SET_IRQS over the whole
 * new prefix). All-or-nothing.
 */
static int reconcile(struct libmsix_vfio *vf, bool enable)
{
	struct ksnap snap = { vf->k_on, vf->k_count };
	bool noresize = vf->be.flags & LIBMSIX_BE_NORESIZE;
	uint32_t top = 0, nruns = 0;
	bool change = false, on;
	int err;

	for (uint32_t v = 0; v < vf->n; v++) {
		vf->old[v] = vf->vec[v].kfd;
		if (vf->want[v] >= 0)
			top = v + 1;
		change |= differs(vf, v);
	}
	on = enable || top > 0;
	if (!change && on == vf->k_on)
		return 0;

	if (!on) {
		err = k_disable(vf);
	} else if (!vf->k_on) {
		err = from_off(vf, vf->want, top, &nruns);
	} else if (noresize && top > vf->k_count) {
		err = k_disable(vf);
		if (!err) {
			err = k_set(vf, 0, top, vf->want);
			if (!err)
				vf->st.reenables++;
		}
	} else {
		err = 0;
		for (uint32_t v = 0; v < vf->n && !err;) {
			uint32_t s;

			if (!differs(vf, v)) {
				v++;
				continue;
			}
			s = v;
			while (v < vf->n && differs(vf, v))
				v++;
			vf->runs[2 * nruns] = s;
			vf->runs[2 * nruns + 1] = v - s;
			nruns++;
			err = k_set(vf, s, v - s, vf->want + s);
		}
	}
	if (err) {
		if (err_log_allowed(vf))
			vlog(vf, LOG_ERR,
			     "VFIO_DEVICE_SET_IRQS failed: %s; rolling back",
			     strerror(-err));
		undo(vf, &snap, nruns);
	} else {
		for (uint32_t v = 0; v < vf->n; v++)
			vf->vec[v].force = false;
	}
	note_host_vectors(vf);
	return err;
}

static int compute_want(struct libmsix_vfio *vf, bool staged)
{
	for (uint32_t v = 0; v < vf->n; v++) {
		int fd = want_fd(vf, v, staged);

		if (fd < -1)
			return fd;
		vf->want[v] = fd;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Backend ops                                                               */
/* ------------------------------------------------------------------------ */

static int stage_alloc(struct libmsix_vfio *vf, uint32_t start,
		       uint32_t count, bool on)
{
	if (!lmx_range_ok(vf->n, start, count))
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	for (uint32_t v = start; v < start + count; v++) {
		vf->vec[v].s_alloc = on;
		if (!on)
			vf->vec[v].s_unmasked = false;
	}
	pthread_mutex_unlock(&vf->lock);
	return 0;
}

static int op_alloc(struct libmsix_backend *be, uint32_t start, uint32_t count)
{
	return stage_alloc(to_vfio(be), start, count, true);
}

static int op_release(struct libmsix_backend *be, uint32_t start,
		      uint32_t count)
{
	return stage_alloc(to_vfio(be), start, count, false);
}

static int stage_mask(struct libmsix_vfio *vf, uint32_t v, bool unmasked)
{
	if (v >= vf->n)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	vf->vec[v].s_unmasked = unmasked;
	pthread_mutex_unlock(&vf->lock);
	return 0;
}

static int op_mask(struct libmsix_backend *be, uint32_t vector)
{
	return stage_mask(to_vfio(be), vector, false);
}

static int op_unmask(struct libmsix_backend *be, uint32_t vector)
{
	return stage_mask(to_vfio(be), vector, true);
}

static int op_commit(struct libmsix_backend *be)
{
	struct libmsix_vfio *vf = to_vfio(be);
	int err;

	pthread_mutex_lock(&vf->lock);
	err = compute_want(vf, true);
	if (!err)
		err = reconcile(vf, vf->s_enable);
	if (!err) {
		vf->c_enable = vf->s_enable;
		for (uint32_t v = 0; v < vf->n; v++) {
			struct vvec *e = &vf->vec[v];

			e->c_alloc = e->s_alloc;
			e->c_unmasked = e->s_unmasked && e->s_alloc;
		}
	}
	pthread_mutex_unlock(&vf->lock);
	return err;
}

static void op_abort(struct libmsix_backend *be)
{
	struct libmsix_vfio *vf = to_vfio(be);

	pthread_mutex_lock(&vf->lock);
	vf->s_enable = vf->c_enable;
	for (uint32_t v = 0; v < vf->n; v++) {
		vf->vec[v].s_alloc = vf->vec[v].c_alloc;
		vf->vec[v].s_unmasked = vf->vec[v].c_unmasked;
	}
	pthread_mutex_unlock(&vf->lock);
}

static int op_deliver(struct libmsix_backend *be, uint32_t vector,
		      const struct libmsix_msg *msg)
{
	struct libmsix_vfio *vf = to_vfio(be);

	if (!vf->opts.deliver)
		return -EOPNOTSUPP;
	return vf->opts.deliver(vf->opts.opaque, vector, msg);
}

/*
 * Called for a blocked vector on a PBA read and just before a vector goes
 * live. Both library eventfds are drained: the mask eventfd holds what
 * arrived while masked; the own live eventfd may hold an interrupt that
 * arrived just before the mask and was not processed yet -- the vector is
 * blocked, so it latches either way, and taking it here keeps the PBA exact
 * and the replay single.
 */
static int op_poll(struct libmsix_backend *be, uint32_t vector)
{
	struct libmsix_vfio *vf = to_vfio(be);
	int a, b;

	if (vector >= vf->n)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	a = lmx_eventfd_drain(vf->vec[vector].mask_fd);
	b = lmx_eventfd_drain(vf->vec[vector].own_fd);
	if (a > 0)
		vf->st.masked_irqs++;
	if (b > 0)
		vf->st.live_irqs++;
	pthread_mutex_unlock(&vf->lock);
	if (a < 0)
		return a;
	if (b < 0)
		return b;
	return a > 0 || b > 0;
}

/*
 * The guest's MSI-X Enable: the function keeps MSI-X on at the host while
 * it is set, with or without vectors, as a physical device with MSI-X off
 * drops what its masked vectors raise instead of latching it (observed on
 * ivshmem; QEMU commits b0223e29 and 5ebffa4e for PF/VF firmware).
 */
static int op_enable(struct libmsix_backend *be, bool on)
{
	struct libmsix_vfio *vf = to_vfio(be);

	pthread_mutex_lock(&vf->lock);
	vf->s_enable = on;
	pthread_mutex_unlock(&vf->lock);
	return 0;
}

static const struct libmsix_backend_ops vfio_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = op_alloc,
	.release = op_release,
	.mask = op_mask,
	.unmask = op_unmask,
	.commit = op_commit,
	.abort = op_abort,
	.deliver = op_deliver,
	.poll = op_poll,
	.enable = op_enable,
};

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

static int cfg_read(struct libmsix_vfio *vf, uint32_t off, void *buf,
		    size_t len)
{
	ssize_t r = pread(vf->device_fd, buf, len,
			  (off_t)(vf->info.config_offset + off));

	if (r == (ssize_t)len)
		return 0;
	return r < 0 ? -errno : -EIO;
}

static int cfg_write(struct libmsix_vfio *vf, uint32_t off, const void *buf,
		     size_t len)
{
	ssize_t r = pwrite(vf->device_fd, buf, len,
			   (off_t)(vf->info.config_offset + off));

	if (r == (ssize_t)len)
		return 0;
	return r < 0 ? -errno : -EIO;
}

static int region_info(struct libmsix_vfio *vf, uint32_t index,
		       struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(vf->device_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -errno
									 : 0;
}

#define OPEN_FAIL(vf, e, ...)                         \
	do {                                          \
		vlog(vf, LOG_ERR, __VA_ARGS__);       \
		return (e);                           \
	} while (0)

/* Walk the capability list for MSI-X; 0 when the device has none. */
static int find_msix(struct libmsix_vfio *vf, uint8_t *pos)
{
	uint16_t status;
	uint8_t ptr, hdr[2];
	int err;

	*pos = 0;
	err = cfg_read(vf, PCI_STATUS, &status, 2);
	if (err)
		return err;
	if (!(status & PCI_STATUS_CAP_LIST))
		return 0;
	err = cfg_read(vf, PCI_CAPABILITY_LIST, &ptr, 1);
	if (err)
		return err;
	/* 48 capabilities fill 0x40..0xff: more means a loop. */
	for (int i = 0; i < 48 && ptr >= 0x40; i++) {
		ptr &= ~3u;
		err = cfg_read(vf, ptr, hdr, 2);
		if (err)
			return err;
		if (hdr[0] == PCI_CAP_ID_MSIX) {
			*pos = ptr;
			vf->next_cap = hdr[1];
			return 0;
		}
		ptr = hdr[1];
	}
	return 0;
}

static int read_bars(struct libmsix_vfio *vf)
{
	uint32_t nbars = vf->header_type == PCI_HEADER_TYPE_BRIDGE ? 2 : 6;

	for (uint32_t i = 0; i < nbars; i++) {
		struct vfio_region_info ri;
		uint32_t bar;
		int err;

		if (region_info(vf, VFIO_PCI_BAR0_REGION_INDEX + i, &ri) < 0 ||
		    ri.size == 0)
			continue;
		vf->info.bar_offset[i] = ri.offset;
		vf->info.bar_size[i] = ri.size;
		vf->info.bar_flags[i] = ri.flags;
		err = cfg_read(vf, PCI_BASE_ADDRESS_0 + 4 * i, &bar, 4);
		if (err)
			return err;
		if (bar & PCI_BASE_ADDRESS_SPACE_IO) {
			vf->bar_type[i] = LIBMSIX_BAR_IO;
		} else if ((bar & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
				   PCI_BASE_ADDRESS_MEM_TYPE_64 &&
			   i + 1 < nbars) {
			vf->bar_type[i] = LIBMSIX_BAR_MEM64;
			i++; /* the upper half stays LIBMSIX_BAR_NONE */
		} else {
			vf->bar_type[i] = LIBMSIX_BAR_MEM32;
		}
	}
	return 0;
}

/* Everything after the device fd exists; shared by open and adopt. */
static int init_device(struct libmsix_vfio *vf)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii),
				    .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_region_info ri;
	uint8_t pos = 0, hdr;
	int err;

	if (ioctl(vf->device_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_DEVICE_GET_INFO failed (%s): not a VFIO device fd",
			  strerror(-err));
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    di.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX ||
	    di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		OPEN_FAIL(vf, -ENOTSUP, "not a vfio-pci device (flags 0x%x)",
			  di.flags);
	err = region_info(vf, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (err)
		OPEN_FAIL(vf, err, "no config region: %s", strerror(-err));
	vf->info.config_offset = ri.offset;
	if (ioctl(vf->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_DEVICE_GET_IRQ_INFO(MSI-X) failed: %s",
			  strerror(-err));
	}
	if (ii.count == 0 || ii.count > LIBMSIX_MAX_VECTORS)
		OPEN_FAIL(vf, -ENOTSUP,
			  "the device has no MSI-X (VFIO reports %u MSI-X vectors)",
			  ii.count);
	vf->info.irq_count = ii.count;
	vf->info.irq_flags = ii.flags;
	vf->info.live_resize = !(ii.flags & VFIO_IRQ_INFO_NORESIZE);

	err = cfg_read(vf, PCI_HEADER_TYPE, &hdr, 1);
	if (!err)
		err = cfg_read(vf, PCI_COMMAND, &vf->info.command, 2);
	if (!err)
		err = find_msix(vf, &pos);
	if (err)
		OPEN_FAIL(vf, -EIO, "cannot read config space: %s",
			  strerror(-err));
	vf->header_type = hdr & 0x7f;
	if (pos == 0)
		OPEN_FAIL(vf, -ENOTSUP,
			  "VFIO reports MSI-X but config space has no MSI-X capability");
	vf->info.cap_offset = pos;
	if (cfg_read(vf, pos + PCI_MSIX_FLAGS, &vf->info.msgctl, 2) ||
	    cfg_read(vf, pos + PCI_MSIX_TABLE, &vf->info.table, 4) ||
	    cfg_read(vf, pos + PCI_MSIX_PBA, &vf->info.pba, 4))
		OPEN_FAIL(vf, -EIO, "cannot read the MSI-X capability at 0x%x",
			  pos);
	vf->info.table_size = (vf->info.msgctl & PCI_MSIX_FLAGS_QSIZE) + 1u;
	if (vf->info.table_size != ii.count)
		vlog(vf, LOG_WARNING,
		     "table size %u differs from the VFIO MSI-X count %u",
		     vf->info.table_size, ii.count);
	err = read_bars(vf);
	if (err)
		OPEN_FAIL(vf, -EIO, "cannot read the BARs: %s", strerror(-err));
	if (vf->info.msgctl & PCI_MSIX_FLAGS_ENABLE)
		vlog(vf, LOG_WARNING,
		     "MSI-X is already enabled in the device (another user?)");
	return 0;
}

static struct libmsix_vfio *vf_new(const struct libmsix_vfio_opts *opts,
				   const char *name)
{
	struct libmsix_vfio *vf = calloc(1, sizeof(*vf));

	if (!vf)
		return NULL;
	vf->opts = *opts;
	vf->opts.size = sizeof(vf->opts);
	snprintf(vf->log_prefix, sizeof(vf->log_prefix), "libmsix-vfio %.63s: ",
		 name);
	vf->container_fd = vf->group_fd = vf->device_fd = -1;
	pthread_mutex_init(&vf->lock, NULL);
	return vf;
}

/* Per-vector state once the count is known. */
static int vf_vectors(struct libmsix_vfio *vf)
{
	uint32_t n = vf->info.irq_count;

	vf->n = n;
	vf->vec = calloc(n, sizeof(*vf->vec));
	vf->want = calloc(n, sizeof(int));
	vf->old = calloc(n, sizeof(int));
	vf->runs = calloc(2 * (size_t)n, sizeof(uint32_t));
	vf->irq_set = calloc(1, sizeof(struct vfio_irq_set) +
				       (size_t)n * sizeof(int));
	if (!vf->vec || !vf->want || !vf->old || !vf->runs || !vf->irq_set)
		return -ENOMEM;
	for (uint32_t v = 0; v < n; v++) {
		vf->vec[v].kfd = vf->vec[v].mask_fd = -1;
		vf->vec[v].own_fd = vf->vec[v].ext_fd = -1;
	}
	vf->be.ops = &vfio_ops;
	vf->be.flags = vf->info.live_resize ? 0 : LIBMSIX_BE_NORESIZE;
	vf->be.max_vectors = n;
	return 0;
}

static void vf_free(struct libmsix_vfio *vf)
{
	if (vf->vec) {
		for (uint32_t v = 0; v < vf->n; v++) {
			if (vf->vec[v].mask_fd >= 0)
				close(vf->vec[v].mask_fd);
			if (vf->vec[v].own_fd >= 0)
				close(vf->vec[v].own_fd);
		}
	}
	if (vf->own_device && vf->device_fd >= 0)
		close(vf->device_fd);
	if (vf->group_fd >= 0)
		close(vf->group_fd);
	if (vf->container_fd >= 0)
		close(vf->container_fd);
	pthread_mutex_destroy(&vf->lock);
	free(vf->vec);
	free(vf->want);
	free(vf->old);
	free(vf->runs);
	free(vf->irq_set);
	free(vf->fdmap);
	free(vf);
}

static int check_opts(const struct libmsix_vfio_opts *opts, const void *out)
{
	if (!opts || !out || opts->size < sizeof(*opts))
		return -EINVAL;
	if (opts->flags)
		return -EINVAL;
	return 0;
}

/*
 * Both ways of opening end here, with the device fd in @vf (@err: how
 * getting it went): read the device, size the vectors, hand it out -- or
 * free it.
 */
static int vf_finish(struct libmsix_vfio *vf, int err,
		     struct libmsix_vfio **out)
{
	if (!err)
		err = init_device(vf);
	if (!err)
		err = vf_vectors(vf);
	if (err) {
		vf_free(vf);
		return err;
	}
	*out = vf;
	return 0;
}

int libmsix_vfio_adopt(int device_fd, const char *name,
		       const struct libmsix_vfio_opts *opts,
		       struct libmsix_vfio **out)
{
	struct libmsix_vfio *vf;
	char buf[32];
	int err = check_opts(opts, out);

	if (err)
		return err;
	if (device_fd < 0)
		return -EINVAL;
	if (!name) {
		snprintf(buf, sizeof(buf), "fd %d", device_fd);
		name = buf;
	}
	vf = vf_new(opts, name);
	if (!vf)
		return -ENOMEM;
	vf->device_fd = device_fd;
	return vf_finish(vf, 0, out);
}

/* "DDDD:BB:DD.F", lowercase or uppercase hex, nothing else. */
static bool address_ok(const char *a)
{
	static const char shape[] = "xxxx:xx:xx.x";

	if (strlen(a) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !strchr("0123456789abcdefABCDEF", a[i])
				    : a[i] != shape[i])
			return false;
	}
	return true;
}

/* Name of the driver @address is bound to, or "no driver". */
static void bound_driver(const char *address, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", address);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		snprintf(buf, len, "no driver");
		return;
	}
	link[n] = '\0';
	/* A driver name is short; bound it so the message cannot truncate. */
	snprintf(buf, len, "driver %.64s",
		 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

static int open_group(struct libmsix_vfio *vf, const char *address)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[PATH_MAX], link[PATH_MAX], group[16];
	const char *base;
	ssize_t n;
	int err, api;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", address);
	if (access(path, F_OK) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "no such PCI device (%s: %s)", path,
			  strerror(-err));
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 address);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		OPEN_FAIL(vf, -ENODEV,
			  "no IOMMU group (%s missing): VFIO needs an IOMMU (intel_iommu=on / amd_iommu=on)",
			  path);
	link[n] = '\0';
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	/* Group names are numbers; anything else is not a group we can open. */
	if (!*base || strlen(base) >= sizeof(group) ||
	    strspn(base, "0123456789") != strlen(base))
		OPEN_FAIL(vf, -ENODEV, "unexpected IOMMU group link %s", link);
	memcpy(group, base, strlen(base) + 1);

	vf->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (vf->container_fd < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "cannot open /dev/vfio/vfio: %s%s",
			  strerror(-err),
			  err == -ENOENT ? " (is the vfio module loaded?)" : "");
	}
	api = ioctl(vf->container_fd, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION)
		OPEN_FAIL(vf, -EPROTO, "VFIO API version %d, expected %d", api,
			  VFIO_API_VERSION);
	if (ioctl(vf->container_fd, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) != 1)
		OPEN_FAIL(vf, -ENOTSUP,
			  "the host offers no VFIO_TYPE1v2_IOMMU (vfio_iommu_type1 not loaded?)");

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	vf->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vf->group_fd < 0) {
		err = -errno;
		if (err == -ENOENT) {
			char drv[96];

			bound_driver(address, drv, sizeof(drv));
			OPEN_FAIL(vf, -ENODEV,
				  "%s does not exist: the device is not bound to vfio-pci (it has %s)",
				  path, drv);
		}
		OPEN_FAIL(vf, err, "cannot open %s: %s%s", path,
			  strerror(-err),
			  err == -EBUSY ? " (the group is already open)" : "");
	}
	if (ioctl(vf->group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_GET_STATUS on %s: %s", path,
			  strerror(-err));
	}
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		OPEN_FAIL(vf, -EBUSY,
			  "IOMMU group %s is not viable: bind every device in /sys/kernel/iommu_groups/%s/devices to vfio-pci or unbind it",
			  group, group);
	if (ioctl(vf->group_fd, VFIO_GROUP_SET_CONTAINER, &vf->container_fd) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_SET_CONTAINER: %s",
			  strerror(-err));
	}
	if (ioctl(vf->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_SET_IOMMU(TYPE1v2): %s%s",
			  strerror(-err),
			  err == -EPERM ? " (no interrupt remapping? see vfio_iommu_type1 allow_unsafe_interrupts)" : "");
	}
	vf->device_fd = ioctl(vf->group_fd, VFIO_GROUP_GET_DEVICE_FD, address);
	if (vf->device_fd < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_GET_DEVICE_FD(%s): %s", address,
			  strerror(-err));
	}
	vf->own_device = true;
	return 0;
}

int libmsix_vfio_open(const char *address,
		      const struct libmsix_vfio_opts *opts,
		      struct libmsix_vfio **out)
{
	struct libmsix_vfio *vf;
	int err = check_opts(opts, out);

	if (err || !address)
		return -EINVAL;
	if (!address_ok(address)) {
		vf = vf_new(opts, "?");
		if (!vf)
			return -ENOMEM;
		vlog(vf, LOG_ERR,
		     "malformed PCI address \"%.32s\": expected DDDD:BB:DD.F",
		     address);
		vf_free(vf);
		return -EINVAL;
	}
	vf = vf_new(opts, address);
	if (!vf)
		return -ENOMEM;
	return vf_finish(vf, open_group(vf, address), out);
}

void libmsix_vfio_close(struct libmsix_vfio *vf)
{
	int err = 0;

	if (!vf)
		return;
	pthread_mutex_lock(&vf->lock);
	if (vf->k_on)
		err = k_disable(vf);
	pthread_mutex_unlock(&vf->lock);
	if (err)
		vlog(vf, LOG_ERR, "cannot disable MSI-X at close: %s",
		     strerror(-err));
	vf_free(vf);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

struct libmsix_backend *libmsix_vfio_backend(struct libmsix_vfio *vf)
{
	return vf ? &vf->be : NULL;
}

int libmsix_vfio_device_fd(const struct libmsix_vfio *vf)
{
	return vf ? vf->device_fd : -1;
}

int libmsix_vfio_get_info(struct libmsix_vfio *vf,
			  struct libmsix_vfio_info *info)
{
	if (!vf || !info)
		return -EINVAL;
	*info = vf->info;
	return 0;
}

int libmsix_vfio_fill_config(struct libmsix_vfio *vf,
			     struct libmsix_config *cfg)
{
	if (!vf || !cfg)
		return -EINVAL;
	cfg->nr_vectors = vf->info.table_size;
	cfg->header_type = vf->header_type;
	cfg->cap_offset = vf->info.cap_offset;
	cfg->next_cap = vf->next_cap;
	cfg->table_bir = vf->info.table & PCI_MSIX_TABLE_BIR;
	cfg->table_offset = vf->info.table & PCI_MSIX_TABLE_OFFSET;
	cfg->pba_bir = vf->info.pba & PCI_MSIX_PBA_BIR;
	cfg->pba_offset = vf->info.pba & PCI_MSIX_PBA_OFFSET;
	for (int i = 0; i < 6; i++) {
		cfg->bar_type[i] = vf->bar_type[i];
		cfg->bar_size[i] = vf->bar_type[i] == LIBMSIX_BAR_NONE
					   ? 0
					   : vf->info.bar_size[i];
	}
	return 0;
}

int libmsix_vfio_set_bus_master(struct libmsix_vfio *vf, bool on)
{
	uint16_t cmd;
	int err;

	if (!vf)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	err = cfg_read(vf, PCI_COMMAND, &cmd, 2);
	if (!err) {
		cmd = on ? (uint16_t)(cmd | PCI_COMMAND_MASTER)
			 : (uint16_t)(cmd & ~PCI_COMMAND_MASTER);
		err = cfg_write(vf, PCI_COMMAND, &cmd, 2);
	}
	pthread_mutex_unlock(&vf->lock);
	if (err) {
		vlog(vf, LOG_ERR, "cannot %s Bus Master: %s",
		     on ? "set" : "clear", strerror(-err));
		return -EIO;
	}
	return 0;
}

size_t libmsix_vfio_poll_fds(struct libmsix_vfio *vf,
			     struct libmsix_vfio_pollfd *fds, size_t max)
{
	size_t n = 0;

	if (!vf)
		return 0;
	pthread_mutex_lock(&vf->lock);
	for (uint32_t v = 0; v < vf->n; v++) {
		const struct vvec *e = &vf->vec[v];
		const int fd[2] = { e->own_fd, e->mask_fd };
		const uint32_t kind[2] = { LIBMSIX_VFIO_FD_LIVE,
					   LIBMSIX_VFIO_FD_MASK };

		for (int k = 0; k < 2; k++) {
			if (fd[k] < 0)
				continue;
			if (fds && n < max) {
				fds[n].fd = fd[k];
				fds[n].vector = v;
				fds[n].kind = kind[k];
			}
			n++;
		}
	}
	pthread_mutex_unlock(&vf->lock);
	return n;
}

uint64_t libmsix_vfio_poll_generation(struct libmsix_vfio *vf)
{
	uint64_t g;

	if (!vf)
		return 0;
	pthread_mutex_lock(&vf->lock);
	g = vf->generation;
	pthread_mutex_unlock(&vf->lock);
	return g;
}

int libmsix_vfio_process(struct libmsix_vfio *vf, struct libmsix_dev *dev,
			 int fd)
{
	uint32_t slot = 0, v, kind;
	int got;

	if (!vf || !dev)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	if (fd >= 0 && (size_t)fd < vf->fdmap_len)
		slot = vf->fdmap[fd];
	if (slot == 0) {
		pthread_mutex_unlock(&vf->lock);
		return -ENOENT;
	}
	v = (slot - 1) >> 2;
	kind = (slot - 1) & 3;
	got = lmx_eventfd_drain(fd);
	if (got > 0) {
		if (kind == LIBMSIX_VFIO_FD_LIVE)
			vf->st.live_irqs++;
		else
			vf->st.masked_irqs++;
	}
	pthread_mutex_unlock(&vf->lock);
	if (got <= 0)
		return got;
	/* Delivered, latched or dropped: libmsix decides from the vector. */
	libmsix_notify(dev, v);
	return 1;
}

int libmsix_vfio_set_live_fd(struct libmsix_vfio *vf, uint32_t vector, int fd)
{
	if (!vf || vector >= vf->n || fd < -1)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	vf->vec[vector].ext_fd = fd;
	vf->vec[vector].force = true;
	pthread_mutex_unlock(&vf->lock);
	return 0;
}

int libmsix_vfio_apply(struct libmsix_vfio *vf)
{
	int err;

	if (!vf)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	err = compute_want(vf, false);
	if (!err)
		err = reconcile(vf, vf->c_enable);
	pthread_mutex_unlock(&vf->lock);
	return err;
}

int libmsix_vfio_host_fd(struct libmsix_vfio *vf, uint32_t vector)
{
	int fd;

	if (!vf || vector >= vf->n)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	fd = vf->vec[vector].kfd;
	pthread_mutex_unlock(&vf->lock);
	return fd;
}

int libmsix_vfio_get_stats(struct libmsix_vfio *vf,
			   struct libmsix_vfio_stats *out)
{
	if (!vf || !out)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	*out = vf->st;
	out->msix_on = vf->k_on;
	out->enabled_count = vf->k_count;
	pthread_mutex_unlock(&vf->lock);
	return 0;
}
