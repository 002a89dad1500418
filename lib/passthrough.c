/* SPDX-License-Identifier: MIT */
/*
 * Passthrough: one backend made of two, for a VFIO-assigned device whose
 * interrupts go straight into a KVM guest.
 *
 *   VFIO (lib/vfio.c)  holds the host vector; its trigger, while the guest
 *                      has the vector unmasked, is the vector's irqfd
 *                      eventfd (libmsix_vfio_set_live_fd());
 *   KVM (lib/kvm.c)    holds the GSI, the MSI route and the irqfd, and
 *                      delivers replays with KVM_SIGNAL_MSI.
 *
 * One event, one path. The guest unmasks vector 7: the engine stages
 * alloc(7,1) -- KVM takes a GSI and creates 7's eventfd, VFIO is told that
 * eventfd is 7's live trigger and stages a host vector signalling it -- then
 * route(7) for KVM and unmask(7), which waits for commit; commit forwards
 * the unmask (to KVM: a fresh vector is masked by its missing irqfd) and
 * runs KVM's ioctls (upload, irqfd assign), then VFIO's one SET_IRQS. The device rings: vfio_msihandler signals the eventfd, KVM's
 * irqfd injects the route's MSI into the vCPU; no VMM thread runs.
 *
 * Masking (enum libmsix_pt_mask): a live vector is masked by a VFIO
 * trigger swap (one SET_IRQS per contiguous run), a fresh one by its
 * missing irqfd; LIBMSIX_PT_MASK_IRQFD masks live ones by KVM_IRQFD
 * deassign instead. Requests are applied at commit. Each vector remembers
 * which half masked it; unmask undoes whichever did, so a mask+unmask cycle
 * is 2 ioctls either way. poll asks both halves, so an interrupt caught in
 * either eventfd becomes the pending bit.
 *
 * Commit is all-or-nothing across both halves: KVM prepares (its ioctls,
 * holding the VM's table lock), VFIO commits, and KVM then finishes -- or,
 * if VFIO failed, undoes. Interrupts are never lost in between: a vector
 * going live has its route and irqfd before VFIO points the device at it;
 * one going masked keeps its pending interrupt in whichever eventfd the
 * device signals.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util.h"
#include "kvm-internal.h"
#include "libmsix-kvm.h"
#include "libmsix-vfio.h"
#include "vfio.h"

/* Per vector: requests recorded by mask/unmask until commit. */
#define REQ_NONE 0
#define REQ_MASK 1
#define REQ_UNMASK 2

struct ptvec {
	/* Which half keeps the vector from the guest: VFIO's trigger is
	 * the mask eventfd (vmask) / KVM's irqfd is deassigned (kmask).
	 * Staged (s_) and committed (c_). A fresh host vector has kmask. */
	bool s_vmask, s_kmask, c_vmask, c_kmask;
	uint8_t req;
	bool new_fd;	/* live fd set in this transaction */
	int live_fd;	/* what VFIO was told is the vector's live fd */
};

struct pt_counters {
	_Atomic uint64_t masks_swap, masks_irqfd, commits, rollbacks;
};

struct libmsix_passthrough {
	struct libmsix_backend be;
	struct libmsix_vfio *vfio;
	struct libmsix_kvm *kvm;
	struct libmsix_backend *vb, *kb;
	enum libmsix_pt_mask mask;
	uint32_t n;
	struct lmx_span span; /* vectors staged since the last commit */
	struct pt_counters cnt;
	struct ptvec v[];
};

static struct libmsix_passthrough *to_pt(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_passthrough, be);
}

/* Valid [start, start + count), then remembered as staged: commit and
 * abort look at the staged span only, not at all N (up to 2048). */
static bool range_ok(struct libmsix_passthrough *pt, uint32_t start,
		     uint32_t count)
{
	if (!lmx_range_ok(pt->n, start, count))
		return false;
	lmx_span_add(&pt->span, start, count);
	return true;
}

/*
 * A fresh host vector is masked by the KVM half: VFIO's trigger is already
 * the irqfd's eventfd (an interrupt waits there, and poll finds it) and the
 * irqfd is not assigned. Its first unmask is then KVM-only (route upload +
 * irqfd assign): preallocated vectors cost no SET_IRQS when the guest's
 * request_irq() unmasks them one by one, unlike QEMU's per-vector SET_IRQS.
 */
static int pt_alloc(struct libmsix_backend *be, uint32_t start,
		    uint32_t count)
{
	struct libmsix_passthrough *pt = to_pt(be);
	int err;

	if (!range_ok(pt, start, count))
		return -EINVAL;
	err = pt->kb->ops->alloc(pt->kb, start, count);
	if (err)
		return err;
	for (uint32_t v = start; v < start + count; v++) {
		struct ptvec *x = &pt->v[v];
		int fd = libmsix_kvm_vector_eventfd(pt->kvm, v);

		/* The irqfd's eventfd is the device's live trigger. */
		if (fd != x->live_fd) {
			err = libmsix_vfio_set_live_fd(pt->vfio, v, fd);
			if (err)
				return err;
			x->live_fd = fd;
			x->new_fd = true;
		}
	}
	err = pt->vb->ops->alloc(pt->vb, start, count);
	for (uint32_t v = start; v < start + count && !err; v++) {
		struct ptvec *x = &pt->v[v];

		err = pt->vb->ops->unmask(pt->vb, v);
		x->s_vmask = false;
		x->s_kmask = true;
		x->req = REQ_NONE;
	}
	return err;
}

static int pt_release(struct libmsix_backend *be, uint32_t start,
		      uint32_t count)
{
	struct libmsix_passthrough *pt = to_pt(be);
	int err;

	if (!range_ok(pt, start, count))
		return -EINVAL;
	/* VFIO first: the device stops signalling before the eventfd goes. */
	err = pt->vb->ops->release(pt->vb, start, count);
	if (!err)
		err = pt->kb->ops->release(pt->kb, start, count);
	for (uint32_t v = start; v < start + count && !err; v++) {
		pt->v[v].s_vmask = pt->v[v].s_kmask = true;
		pt->v[v].req = REQ_NONE;
	}
	return err;
}

static int pt_route(struct libmsix_backend *be, uint32_t v,
		    const struct libmsix_msg *msg)
{
	struct libmsix_passthrough *pt = to_pt(be);

	if (!range_ok(pt, v, 1))
		return -EINVAL;
	return pt->kb->ops->route(pt->kb, v, msg);
}

static int pt_unroute(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_passthrough *pt = to_pt(be);

	if (!range_ok(pt, v, 1))
		return -EINVAL;
	pt->v[v].s_kmask = true; /* KVM deassigns an irqfd with its route */
	return pt->kb->ops->unroute(pt->kb, v);
}

static int pt_mask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_passthrough *pt = to_pt(be);

	if (!range_ok(pt, v, 1))
		return -EINVAL;
	pt->v[v].req = REQ_MASK;
	return 0;
}

static int pt_unmask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_passthrough *pt = to_pt(be);

	if (!range_ok(pt, v, 1))
		return -EINVAL;
	pt->v[v].req = REQ_UNMASK;
	return 0;
}

/* Hand the mask/unmask requests of this transaction to the halves. */
static int forward_masks(struct libmsix_passthrough *pt)
{
	const struct libmsix_backend_ops *vo = pt->vb->ops, *ko = pt->kb->ops;
	enum libmsix_pt_mask how = pt->mask;
	int err = 0;

	/* Measured (docs/kvm.md): the swap costs about the same as an irqfd
	 * deassign/assign on one CPU, several times less on 12 (irqfd
	 * shutdown waits for the whole machine), and a contiguous burst is
	 * one SET_IRQS each way instead of one KVM_IRQFD per vector. */
	if (how == LIBMSIX_PT_MASK_AUTO)
		how = LIBMSIX_PT_MASK_SWAP;

	for (uint32_t v = pt->span.lo; v < pt->span.hi && !err; v++) {
		struct ptvec *x = &pt->v[v];

		if (x->req == REQ_MASK && how == LIBMSIX_PT_MASK_SWAP) {
			err = vo->mask(pt->vb, v);
			x->s_vmask = true;
			atomic_fetch_add(&pt->cnt.masks_swap, 1);
		} else if (x->req == REQ_MASK) {
			err = ko->mask(pt->kb, v);
			x->s_kmask = true;
			atomic_fetch_add(&pt->cnt.masks_irqfd, 1);
		} else if (x->req == REQ_UNMASK) {
			/* KVM first in staging order too: route, then irqfd. */
			if (x->s_kmask)
				err = ko->unmask(pt->kb, v);
			if (!err && x->s_vmask)
				err = vo->unmask(pt->vb, v);
			x->s_vmask = x->s_kmask = false;
		}
		x->req = REQ_NONE;
	}
	return err;
}

static void pt_abort(struct libmsix_backend *be)
{
	struct libmsix_passthrough *pt = to_pt(be);

	pt->kb->ops->abort(pt->kb);
	pt->vb->ops->abort(pt->vb);
	for (uint32_t v = pt->span.lo; v < pt->span.hi; v++) {
		struct ptvec *x = &pt->v[v];

		x->s_vmask = x->c_vmask;
		x->s_kmask = x->c_kmask;
		x->req = REQ_NONE;
		if (x->new_fd) {
			/* KVM's abort closed that eventfd: forget it. */
			x->live_fd = libmsix_kvm_vector_eventfd(pt->kvm, v);
			if (x->live_fd < 0)
				x->live_fd = -1;
			libmsix_vfio_set_live_fd(pt->vfio, v, x->live_fd);
			x->new_fd = false;
		}
	}
	lmx_span_clear(&pt->span, pt->n);
}

static int pt_commit(struct libmsix_backend *be)
{
	struct libmsix_passthrough *pt = to_pt(be);
	int err;

	atomic_fetch_add(&pt->cnt.commits, 1);
	err = forward_masks(pt);
	if (err)
		goto fail;
	/* KVM's ioctls first: a vector going live has its route and irqfd
	 * before VFIO points the device at its eventfd. */
	err = kvm_commit_prepare(pt->kb);
	if (err)
		goto fail;
	err = pt->vb->ops->commit(pt->vb);
	if (err) {
		kvm_commit_undo(pt->kb);
		goto fail;
	}
	kvm_commit_finish(pt->kb);
	for (uint32_t v = pt->span.lo; v < pt->span.hi; v++) {
		struct ptvec *x = &pt->v[v];

		x->c_vmask = x->s_vmask;
		x->c_kmask = x->s_kmask;
		x->new_fd = false;
	}
	lmx_span_clear(&pt->span, pt->n);
	return 0;
fail:
	atomic_fetch_add(&pt->cnt.rollbacks, 1);
	/* The engine calls abort next, which drops what was staged. */
	return err;
}

/* Replays and emulated notifies: the table's message, via KVM. */
static int pt_deliver(struct libmsix_backend *be, uint32_t v,
		      const struct libmsix_msg *msg)
{
	struct libmsix_passthrough *pt = to_pt(be);

	return pt->kb->ops->deliver(pt->kb, v, msg);
}

/* Either half may hold the interrupt of a masked vector: ask both. */
static int pt_poll(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_passthrough *pt = to_pt(be);
	int a, b;

	if (v >= pt->n)
		return -EINVAL;
	a = pt->kb->ops->poll(pt->kb, v);
	b = pt->vb->ops->poll(pt->vb, v);
	if (a > 0 || b > 0)
		return 1;
	return a < 0 ? a : b;
}

/*
 * The guest's MSI-X Enable, to the half that has the function's: VFIO
 * turns MSI-X on at the device even with no vector wanted, so a masked
 * vector's interrupt latches in the device's PBA instead of being dropped
 * (libmsix_backend_ops.enable). The KVM half has no function state and no
 * enable op. Staged; commit applies it, abort forgets it.
 */
static int pt_enable(struct libmsix_backend *be, bool on)
{
	struct libmsix_passthrough *pt = to_pt(be);

	return pt->vb->ops->enable(pt->vb, on);
}

static const struct libmsix_backend_ops pt_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = pt_alloc,
	.release = pt_release,
	.route = pt_route,
	.unroute = pt_unroute,
	.mask = pt_mask,
	.unmask = pt_unmask,
	.commit = pt_commit,
	.abort = pt_abort,
	.deliver = pt_deliver,
	.poll = pt_poll,
	.enable = pt_enable,
};

/*
 * A VMM's call broke a rule: log it through the VFIO device's sink (its
 * prefix names the device), and return -EINVAL.
 */
static int create_einval(struct libmsix_vfio *vfio, const char *fmt, ...)
	LIBMSIX_PRINTF(2, 3);
static int create_einval(struct libmsix_vfio *vfio, const char *fmt, ...)
{
	char buf[LMX_LOG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lmx_vfio_log(vfio, LOG_ERR, "libmsix_passthrough_create(): %s", buf);
	return -EINVAL;
}

int libmsix_passthrough_create(struct libmsix_vfio *vfio,
			       struct libmsix_kvm *kvm,
			       const struct libmsix_passthrough_config *ucfg,
			       struct libmsix_passthrough **out)
{
	struct libmsix_passthrough_config c;
	const struct libmsix_passthrough_config *cfg = &c;
	struct libmsix_passthrough *pt;
	struct libmsix_vfio_info info;
	struct libmsix_backend *vb, *kb;
	uint32_t n;

	int err;

	if (!vfio)
		return -EINVAL;
	if (!kvm)
		return create_einval(vfio, "kvm is NULL");
	if (!ucfg)
		return create_einval(vfio, "cfg is NULL");
	if (!out)
		return create_einval(vfio, "out is NULL");
	err = LMX_STRUCT_IN(&c, ucfg);
	if (err == -EINVAL)
		return create_einval(vfio, "cfg->size %zu is below sizeof(size_t)",
				 ucfg->size);
	if (err)
		return err;
	if (cfg->flags)
		return create_einval(vfio, "flags 0x%x: none are defined",
				 cfg->flags);
	if ((unsigned)cfg->mask > LIBMSIX_PT_MASK_IRQFD)
		return create_einval(vfio, "mask %d is not an enum libmsix_pt_mask",
				 (int)cfg->mask);
	vb = libmsix_vfio_backend(vfio);
	kb = libmsix_kvm_backend(kvm);
	if (!kvm_is_irqfd_backend(kb))
		return create_einval(vfio, "kvm was not created with LIBMSIX_KVM_F_IRQFD");
	err = libmsix_vfio_get_info(vfio, &info);
	if (err)
		return err;
	n = info.irq_count;
	/* KVM must cover every vector VFIO can hand out. */
	if (n == 0)
		return create_einval(vfio, "the VFIO device has no MSI-X vectors");
	if (libmsix_kvm_vector_eventfd(kvm, n - 1) == -EINVAL)
		return create_einval(vfio, "kvm has fewer vectors than the VFIO device's %u",
				 n);
	pt = calloc(1, sizeof(*pt) + n * sizeof(pt->v[0]));
	if (!pt)
		return -ENOMEM;
	pt->vfio = vfio;
	pt->kvm = kvm;
	pt->vb = vb;
	pt->kb = kb;
	pt->mask = cfg->mask;
	pt->n = n;
	lmx_span_clear(&pt->span, n);
	for (uint32_t v = 0; v < n; v++) {
		pt->v[v].live_fd = -1;
		pt->v[v].s_vmask = pt->v[v].s_kmask = true;
		pt->v[v].c_vmask = pt->v[v].c_kmask = true;
	}
	pt->be.ops = &pt_ops;
	pt->be.flags = vb->flags;
	pt->be.max_vectors = vb->max_vectors;
	if (kb->max_vectors &&
	    (pt->be.max_vectors == 0 || kb->max_vectors < pt->be.max_vectors))
		pt->be.max_vectors = kb->max_vectors;
	*out = pt;
	return 0;
}

void libmsix_passthrough_destroy(struct libmsix_passthrough *pt)
{
	if (!pt)
		return;
	/* Do not leave VFIO pointing at eventfds KVM will close. */
	for (uint32_t v = 0; v < pt->n; v++)
		if (pt->v[v].live_fd >= 0)
			libmsix_vfio_set_live_fd(pt->vfio, v, -1);
	free(pt);
}

struct libmsix_backend *
libmsix_passthrough_backend(struct libmsix_passthrough *pt)
{
	return pt ? &pt->be : NULL;
}

int libmsix_passthrough_get_stats(struct libmsix_passthrough *pt,
				  struct libmsix_passthrough_stats *out)
{
	if (!pt)
		return -EINVAL;
	if (!out) {
		lmx_vfio_log(pt->vfio, LOG_ERR,
			     "libmsix_passthrough_get_stats(): out is NULL");
		return -EINVAL;
	}
	out->masks_swap = atomic_load(&pt->cnt.masks_swap);
	out->masks_irqfd = atomic_load(&pt->cnt.masks_irqfd);
	out->commits = atomic_load(&pt->cnt.commits);
	out->rollbacks = atomic_load(&pt->cnt.rollbacks);
	return 0;
}
