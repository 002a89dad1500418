/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend: host vectors of a real PCI function through
 * VFIO_DEVICE_SET_IRQS on the MSI-X index. (Opening the device is
 * lib/vfio-open.c; the state both share is lib/vfio.h.)
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
#include <errno.h>
#include <fcntl.h>
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
#include "vfio.h"

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

void lmx_vfio_log(struct libmsix_vfio *vf, int level, const char *fmt, ...)
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
			lmx_vfio_log(vf, LOG_ERR, "cannot create an eventfd for vector %u: %s",
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
		lmx_vfio_log(vf, LOG_ERR,
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
			lmx_vfio_log(vf, LOG_ERR,
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
/* Lifetime of the per-vector state (lib/vfio-open.c creates the device)    */
/* ------------------------------------------------------------------------ */

/* Per-vector state once the count is known (open and adopt). */
int lmx_vfio_vectors(struct libmsix_vfio *vf)
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

/* Close the library's eventfds and free the per-vector state. */
void lmx_vfio_vectors_free(struct libmsix_vfio *vf)
{
	if (vf->vec) {
		for (uint32_t v = 0; v < vf->n; v++) {
			if (vf->vec[v].mask_fd >= 0)
				close(vf->vec[v].mask_fd);
			if (vf->vec[v].own_fd >= 0)
				close(vf->vec[v].own_fd);
		}
	}
	free(vf->vec);
	free(vf->want);
	free(vf->old);
	free(vf->runs);
	free(vf->irq_set);
	free(vf->fdmap);
}

/* MSI-X off at the host, if it is on (close). Return: 0 or -errno. */
int lmx_vfio_disable(struct libmsix_vfio *vf)
{
	int err = 0;

	pthread_mutex_lock(&vf->lock);
	if (vf->k_on)
		err = k_disable(vf);
	pthread_mutex_unlock(&vf->lock);
	return err;
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
