/* SPDX-License-Identifier: MIT */
/*
 * Replay through libmsix. Each device of the trace gets a libmsix device
 * whose backend composes, the way lib/passthrough.c composes VFIO and KVM:
 *
 *   - the public recording backend (include/libmsix.h), which holds the
 *     engine to the backend contract (violations are reported);
 *   - the real KVM backend (lib/kvm.c) on a fake VM fd: its ioctls go to a
 *     libmsix_kvm_ioctl_fn that counts KVM_SET_GSI_ROUTING (and the entries
 *     each one carries) and KVM_IRQFD, so route counts are the library's
 *     own behaviour, not a model of it;
 *   - a model of the VFIO half of the passthrough backend: which trigger
 *     each host vector has (none, the irqfd's eventfd, the mask eventfd)
 *     and how lib/vfio.c turns a change of those into SET_IRQS ioctls (one
 *     per contiguous run of changed vectors; a NORESIZE growth is a disable
 *     and one SET_IRQS over the new prefix). VFIO has no ioctl hook, so this
 *     part is a model; it follows reconcile() in lib/vfio.c. It also counts
 *     the host vectors the kernel allocates and frees, as QEMU's model does,
 *     so the allocs and releases columns compare like with like.
 *
 * Masks follow lib/passthrough.c with LIBMSIX_PT_MASK_AUTO: a live vector is
 * masked by a VFIO trigger swap, a fresh one by its missing irqfd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include <libmsix-kvm.h>

#include "replay.h"

/* ------------------------------------------------------------------------ */
/* The fake KVM VM                                                           */
/* ------------------------------------------------------------------------ */

struct fake_kvm {
	uint64_t uploads, entries, irqfds;
};

static int fake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct fake_kvm *k = opaque;

	switch (req) {
	case KVM_CHECK_EXTENSION:
		switch ((long)arg) {
		case KVM_CAP_IRQ_ROUTING:
			return KVM_ROUTES;
		case KVM_CAP_IRQFD:
		case KVM_CAP_SIGNAL_MSI:
			return 1;
		default:
			return 0;
		}
	case KVM_SET_GSI_ROUTING:
		k->uploads++;
		k->entries += ((const struct kvm_irq_routing *)arg)->nr;
		return 0;
	case KVM_IRQFD:
		k->irqfds++;
		return 0;
	case KVM_SIGNAL_MSI:
		return 1;
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------------ */
/* The composed backend                                                      */
/* ------------------------------------------------------------------------ */

#define REQ_NONE 0
#define REQ_MASK 1
#define REQ_UNMASK 2

/* Trigger ids of the VFIO model: none, the mask eventfd, or the n-th
 * eventfd KVM created (each alloc makes a new one). */
#define FD_NONE (-1)
#define FD_MASK (-2)

struct tvec {
	bool s_alloc, c_alloc;
	bool s_vmask, c_vmask;	/* VFIO trigger is the mask eventfd */
	bool s_kmask, c_kmask;	/* KVM irqfd not assigned */
	uint8_t req;
	int64_t s_live, c_live;	/* id of the irqfd's eventfd */
	int64_t kfd;		/* trigger the kernel holds */
	int64_t want;
	bool host;		/* the kernel holds a host vector for it */
};

struct tee {
	struct libmsix_backend be;
	struct libmsix_backend *rb, *kb;
	uint32_t n;
	int64_t gen;
	bool s_enable, c_enable;/* the guest's MSI-X Enable, forwarded */
	bool k_on;		/* MSI-X on at the host */
	uint32_t k_count;	/* NORESIZE: host vectors [0, k_count) */
	uint64_t set_irqs, reenables, allocs, releases;
	struct tvec *v;
};

static struct tee *to_tee(struct libmsix_backend *be)
{
	return (struct tee *)((char *)be - offsetof(struct tee, be));
}

static int tee_alloc(struct libmsix_backend *be, uint32_t start,
		     uint32_t count)
{
	struct tee *t = to_tee(be);
	int err = t->kb->ops->alloc(t->kb, start, count);

	/* KVM first: it may refuse (no GSI, no fd), and a refused op must
	 * leave the recorder as it was. The recorder has no budget here. */
	if (!err)
		err = t->rb->ops->alloc(t->rb, start, count);
	if (err)
		return err;
	for (uint32_t i = start; i < start + count; i++) {
		struct tvec *x = &t->v[i];

		x->s_alloc = true;
		x->s_live = ++t->gen;
		x->s_vmask = false;
		x->s_kmask = true;
		x->req = REQ_NONE;
	}
	return 0;
}

static int tee_release(struct libmsix_backend *be, uint32_t start,
		       uint32_t count)
{
	struct tee *t = to_tee(be);
	int err = t->kb->ops->release(t->kb, start, count);

	if (!err)
		err = t->rb->ops->release(t->rb, start, count);
	if (err)
		return err;
	for (uint32_t i = start; i < start + count; i++) {
		t->v[i].s_alloc = false;
		t->v[i].s_vmask = t->v[i].s_kmask = true;
		t->v[i].req = REQ_NONE;
	}
	return 0;
}

static int tee_route(struct libmsix_backend *be, uint32_t v,
		     const struct libmsix_msg *msg)
{
	struct tee *t = to_tee(be);
	int err = t->kb->ops->route(t->kb, v, msg);

	return err ? err : t->rb->ops->route(t->rb, v, msg);
}

static int tee_unroute(struct libmsix_backend *be, uint32_t v)
{
	struct tee *t = to_tee(be);
	int err = t->kb->ops->unroute(t->kb, v);

	if (err)
		return err;
	t->v[v].s_kmask = true; /* KVM deassigns an irqfd with its route */
	return t->rb->ops->unroute(t->rb, v);
}

static int tee_mask(struct libmsix_backend *be, uint32_t v)
{
	struct tee *t = to_tee(be);
	int err = t->rb->ops->mask(t->rb, v);

	if (!err)
		t->v[v].req = REQ_MASK;
	return err;
}

static int tee_unmask(struct libmsix_backend *be, uint32_t v)
{
	struct tee *t = to_tee(be);
	int err = t->rb->ops->unmask(t->rb, v);

	if (!err)
		t->v[v].req = REQ_UNMASK;
	return err;
}

static void host_vector(struct tee *t, uint32_t i)
{
	if (!t->v[i].host) {
		t->v[i].host = true;
		t->allocs++;
	}
}

/*
 * One SET_IRQS over [start, start + count) of t->v[].want. The kernel
 * allocates host vectors as vfio-pci does: the SET_IRQS that turns MSI-X on
 * allocates [0, start + count) (pci_alloc_irq_vectors); later, a dynamic
 * host allocates a vector when it first gets a trigger. Either keeps its
 * vectors until MSI-X is disabled.
 */
static void k_set(struct tee *t, uint32_t start, uint32_t count)
{
	t->set_irqs++;
	for (uint32_t i = start; i < start + count; i++) {
		t->v[i].kfd = t->v[i].want;
		if (t->v[i].want != FD_NONE)
			host_vector(t, i);
	}
	if (!t->k_on) {
		t->k_on = true;
		t->k_count = start + count;
		for (uint32_t i = 0; i < start + count; i++)
			host_vector(t, i);
	}
}

/* The whole index off: every host vector is freed. */
static void k_disable(struct tee *t)
{
	t->set_irqs++;
	for (uint32_t i = 0; i < t->n; i++) {
		t->v[i].kfd = FD_NONE;
		if (t->v[i].host)
			t->releases++;
		t->v[i].host = false;
	}
	t->k_on = false;
	t->k_count = 0;
}

/* One SET_IRQS per contiguous run of vectors whose trigger changes. */
static void k_runs(struct tee *t)
{
	for (uint32_t i = 0; i < t->n;) {
		uint32_t s;

		if (t->v[i].want == t->v[i].kfd) {
			i++;
			continue;
		}
		s = i;
		while (i < t->n && t->v[i].want != t->v[i].kfd)
			i++;
		k_set(t, s, i - s);
	}
}

/* What lib/vfio.c's reconcile() does to make the kernel hold want[], with
 * MSI-X on while the guest has it on (the passthrough forwards the enable
 * op to VFIO) or some vector has a trigger. */
static void vfio_model(struct tee *t)
{
	bool noresize = t->be.flags & LIBMSIX_BE_NORESIZE;
	bool change = false;
	uint32_t top = 0;

	for (uint32_t i = 0; i < t->n; i++) {
		struct tvec *x = &t->v[i];

		x->want = !x->s_alloc ? FD_NONE
			  : x->s_vmask ? FD_MASK : x->s_live;
		if (x->want != FD_NONE)
			top = i + 1;
		change |= x->want != x->kfd;
	}
	if (!change && (t->s_enable || top > 0) == t->k_on)
		return;
	if (!t->s_enable && top == 0) {
		k_disable(t);
	} else if (!t->k_on) {
		if (noresize && top > 0) {
			k_set(t, 0, top);
		} else {
			if (t->v[0].want == FD_NONE) {
				/* enable with vector 0 and fd -1 */
				int64_t w = t->v[0].want;

				k_set(t, 0, 1);
				t->v[0].kfd = w;
			}
			k_runs(t);
		}
	} else if (noresize && top > t->k_count) {
		k_disable(t);
		k_set(t, 0, top);
		t->reenables++;
	} else {
		k_runs(t);
	}
}

static int tee_commit(struct libmsix_backend *be)
{
	struct tee *t = to_tee(be);
	int err = 0;

	for (uint32_t i = 0; i < t->n && !err; i++) {
		struct tvec *x = &t->v[i];

		if (x->req == REQ_MASK) {
			x->s_vmask = true;
		} else if (x->req == REQ_UNMASK) {
			if (x->s_kmask)
				err = t->kb->ops->unmask(t->kb, i);
			x->s_vmask = x->s_kmask = false;
		}
		x->req = REQ_NONE;
	}
	if (!err)
		err = t->kb->ops->commit(t->kb);
	if (err)
		return err;
	err = t->rb->ops->commit(t->rb);
	if (err)
		return err; /* not injected here: cannot happen */
	vfio_model(t);
	for (uint32_t i = 0; i < t->n; i++) {
		struct tvec *x = &t->v[i];

		x->c_alloc = x->s_alloc;
		x->c_vmask = x->s_vmask;
		x->c_kmask = x->s_kmask;
		x->c_live = x->s_live;
	}
	t->c_enable = t->s_enable;
	return 0;
}

static void tee_abort(struct libmsix_backend *be)
{
	struct tee *t = to_tee(be);

	t->kb->ops->abort(t->kb);
	t->rb->ops->abort(t->rb);
	t->s_enable = t->c_enable;
	for (uint32_t i = 0; i < t->n; i++) {
		struct tvec *x = &t->v[i];

		x->s_alloc = x->c_alloc;
		x->s_vmask = x->c_vmask;
		x->s_kmask = x->c_kmask;
		x->s_live = x->c_live;
		x->req = REQ_NONE;
	}
}

static int tee_deliver(struct libmsix_backend *be, uint32_t v,
		       const struct libmsix_msg *msg)
{
	struct tee *t = to_tee(be);

	return t->rb->ops->deliver(t->rb, v, msg);
}

static int tee_poll(struct libmsix_backend *be, uint32_t v)
{
	struct tee *t = to_tee(be);

	return t->rb->ops->poll(t->rb, v);
}

/* The guest's MSI-X Enable: VFIO keeps the function's MSI-X on with it. */
static int tee_enable(struct libmsix_backend *be, bool on)
{
	to_tee(be)->s_enable = on;
	return 0;
}

static const struct libmsix_backend_ops tee_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = tee_alloc,
	.release = tee_release,
	.route = tee_route,
	.unroute = tee_unroute,
	.mask = tee_mask,
	.unmask = tee_unmask,
	.commit = tee_commit,
	.abort = tee_abort,
	.deliver = tee_deliver,
	.poll = tee_poll,
	.enable = tee_enable,
};

/* ------------------------------------------------------------------------ */
/* One replay                                                                */
/* ------------------------------------------------------------------------ */

struct rdev {
	struct libmsix_recorder *rec;
	struct libmsix_kvm *kvm;
	struct tee *tee;
	struct libmsix_dev *dev;
	void *blob;		/* the last snapshot saved */
	size_t blob_len;
};

static void rdev_free(struct rdev *d)
{
	libmsix_dev_destroy(d->dev);
	libmsix_kvm_destroy(d->kvm);
	libmsix_recorder_destroy(d->rec);
	if (d->tee)
		free(d->tee->v);
	free(d->tee);
	free(d->blob);
	memset(d, 0, sizeof(*d));
}

/* Deferred routing and GSI exhaustion hand the VMM the eventfd of a vector
 * served through userspace; a VMM polls it. Nothing writes these here. */
static void no_poll(void *opaque, uint32_t vector, int fd)
{
}

static int rdev_init(struct rdev *d, const struct trace_device *td,
		     struct libmsix_kvm_vm *vm, bool live,
		     enum libmsix_policy policy)
{
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc),
		/* GSIs as the guest unmasks, from the VM's free ones; with
		 * none left, userspace injection, as QEMU falls back to its
		 * own eventfd when the route table is full. */
		.flags = LIBMSIX_KVM_F_IRQFD | LIBMSIX_KVM_F_FORCE |
			 LIBMSIX_KVM_F_FALLBACK,
		.nr_vectors = td->cfg.nr_vectors,
		.fallback = no_poll,
	};
	struct libmsix_config cfg = td->cfg;
	int err;

	err = libmsix_recorder_create(live ? 0 : LIBMSIX_BE_NORESIZE, 0,
				      &d->rec);
	if (!err)
		err = libmsix_kvm_create(vm, &kc, &d->kvm);
	if (err)
		return err;
	d->tee = calloc(1, sizeof(*d->tee));
	if (!d->tee)
		return -ENOMEM;
	d->tee->v = calloc(td->cfg.nr_vectors, sizeof(*d->tee->v));
	if (!d->tee->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < td->cfg.nr_vectors; i++) {
		struct tvec *x = &d->tee->v[i];

		x->s_vmask = x->c_vmask = x->s_kmask = x->c_kmask = true;
		x->kfd = x->want = FD_NONE;
	}
	d->tee->be.ops = &tee_ops;
	d->tee->be.flags = live ? 0 : LIBMSIX_BE_NORESIZE;
	d->tee->n = td->cfg.nr_vectors;
	d->tee->rb = libmsix_recorder_backend(d->rec);
	d->tee->kb = libmsix_kvm_backend(d->kvm);
	cfg.policy = policy;
	err = libmsix_dev_create(&cfg, &d->tee->be, &d->dev);
	if (err)
		return err;
	/* A device whose trace has no use/unuse lines is an assigned one:
	 * any of its vectors may fire, as a VFIO VMM declares them. */
	if (!td->has_use)
		err = libmsix_vector_use_all(d->dev);
	return err;
}

static void mismatch(struct row *r, const struct trace_event *e)
{
	if (!r->read_mismatch++)
		r->first_mismatch = e->line;
}

/* One replay: the VM all devices share, and what it counts. */
struct run {
	const struct trace *t;
	struct libmsix_kvm_vm *vm;
	struct fake_kvm *fk;
	bool live;
	enum libmsix_policy policy;
	struct row *r;
	FILE *err;
	struct rdev *devs;	/* TRACE_MAX_DEVICES */
};

static void collect(struct rdev *d, struct row *r);

/*
 * A snapshot load, modelled as an incoming migration, as the QEMU rows model
 * it: the source's device goes with the source (its teardown is not
 * counted), and a fresh device on the same VM restores the blob (counted).
 */
static int migrate(struct run *run, struct rdev *d,
		   const struct trace_device *td)
{
	struct fake_kvm before = *run->fk;
	void *blob = d->blob;
	size_t len = d->blob_len;
	int err;

	collect(d, run->r);
	d->blob = NULL;
	rdev_free(d);
	*run->fk = before;
	err = rdev_init(d, td, run->vm, run->live, run->policy);
	d->blob = blob;
	d->blob_len = len;
	if (err) {
		fprintf(run->err, "%s:%u: cannot set up the device a snapshot loads into: %s\n",
			run->t->path, td->line, strerror(-err));
		return -1;
	}
	/* A backend refusal leaves vectors blocked: counted as faults. */
	libmsix_load(d->dev, blob, len);
	return 0;
}

static int replay_event(struct run *run, const struct trace_event *e)
{
	struct rdev *d = &run->devs[e->dev];
	struct row *r = run->r;
	uint32_t v32;
	uint64_t v64;
	long len;

	switch (e->kind) {
	case EV_CONFIG_READ:
		v32 = (uint32_t)e->val;
		libmsix_config_read(d->dev, e->arg, e->size, &v32);
		if (v32 != e->val)
			mismatch(r, e);
		break;
	case EV_CONFIG_WRITE:
		libmsix_config_write(d->dev, e->arg, e->size, (uint32_t)e->val);
		break;
	case EV_MMIO_READ:
		v64 = 0;
		if (libmsix_mmio_read(d->dev, e->bar, e->arg, e->size, &v64) ||
		    v64 != e->val)
			mismatch(r, e);
		break;
	case EV_MMIO_WRITE:
		libmsix_mmio_write(d->dev, e->bar, e->arg, e->size, e->val);
		break;
	case EV_USE:
		libmsix_vector_use(d->dev, e->arg);
		break;
	case EV_UNUSE:
		libmsix_vector_unuse(d->dev, e->arg);
		break;
	case EV_NOTIFY:
		libmsix_notify(d->dev, e->arg);
		break;
	case EV_SAVE:
		if (!d->blob) {
			d->blob_len = libmsix_save_size(d->dev);
			d->blob = malloc(d->blob_len);
			if (!d->blob)
				break;
		}
		len = libmsix_save(d->dev, d->blob, d->blob_len);
		if (len < 0) {
			free(d->blob);
			d->blob = NULL;
		}
		break;
	case EV_LOAD:
		/* A load with no save before it restores nothing. */
		if (d->blob)
			return migrate(run, d, &run->t->dev[e->dev]);
		break;
	}
	return 0;
}

static void collect(struct rdev *d, struct row *r)
{
	struct libmsix_stats c;

	libmsix_get_stats(d->dev, &c);
	r->reenables += c.disruptive_reenables;
	r->replays += c.replayed;
	r->spurious += c.spurious_replays;
	r->faults += c.faults;
	r->violations += libmsix_recorder_violations(d->rec);
	r->set_irqs += d->tee->set_irqs;
	r->allocs += d->tee->allocs;
	r->releases += d->tee->releases;
}

/*
 * Where a VMM's event loop would flush the deferred batch: before a notify
 * (the guest runs its workload, so the loop runs), where the trace's clock
 * shows an idle gap, and after the last line.
 */
static int flush(struct libmsix_kvm_vm *vm, const struct trace *t, FILE *err)
{
	int e = libmsix_kvm_vm_flush(vm);

	if (e < 0) {
		fprintf(err, "%s: deferred route flush failed: %s\n",
			t->path, strerror(-e));
		return -1;
	}
	return 0;
}

int replay_libmsix(const struct trace *t, bool live,
		   enum libmsix_policy policy, bool deferred, struct row *r,
		   FILE *err)
{
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt),
		.mode = deferred ? LIBMSIX_KVM_ROUTING_DEFERRED :
				   LIBMSIX_KVM_ROUTING_IMMEDIATE,
	};
	struct fake_kvm fk = { 0 };
	struct libmsix_kvm_vm_config vc = {
		.size = sizeof(vc),
		.flags = LIBMSIX_KVM_VM_X86_IRQCHIP,
		.vm_fd = 0, /* never used: every ioctl goes to fake_ioctl */
		.ioctl = fake_ioctl,
		.ioctl_opaque = &fk,
	};
	struct run run = {
		.t = t, .fk = &fk, .live = live, .policy = policy, .r = r,
		.err = err,
	};
	int ret = 0, e;

	run.devs = calloc(TRACE_MAX_DEVICES, sizeof(*run.devs));
	if (!run.devs) {
		fprintf(err, "%s: out of memory\n", t->path);
		return -1;
	}
	e = libmsix_kvm_vm_create(&vc, &run.vm);
	if (e) {
		fprintf(err, "%s: cannot create the KVM route table: %s\n",
			t->path, strerror(-e));
		free(run.devs);
		return -1;
	}
	/* Always explicit: a new VM defers with a time bound, which would
	 * make the counts depend on how fast the replay runs. */
	e = libmsix_kvm_vm_set_routing(run.vm, &rt);
	if (e) {
		fprintf(err, "%s: cannot set the %s routing: %s\n", t->path,
			deferred ? "deferred" : "immediate", strerror(-e));
		ret = -1;
	}
	for (unsigned i = 0; i < TRACE_MAX_DEVICES && !ret; i++) {
		if (!t->dev[i].declared)
			continue;
		e = rdev_init(&run.devs[i], &t->dev[i], run.vm, live, policy);
		if (e) {
			fprintf(err, "%s:%u: cannot set up device %u: %s\n",
				t->path, t->dev[i].line, i, strerror(-e));
			ret = -1;
		}
	}
	for (size_t i = 0; i < t->nr_ev && !ret; i++) {
		const struct trace_event *ev = &t->ev[i];

		if (deferred && (ev->kind == EV_NOTIFY ||
				 (ev->flags & EVF_IDLE_BEFORE)))
			ret = flush(run.vm, t, err);
		if (!ret)
			ret = replay_event(&run, ev);
	}
	if (!ret && deferred)
		ret = flush(run.vm, t, err);
	if (!ret) {
		/* Counted before teardown: the trace's cost only. */
		for (unsigned i = 0; i < TRACE_MAX_DEVICES; i++)
			if (run.devs[i].dev)
				collect(&run.devs[i], r);
		r->uploads = fk.uploads;
		r->entries = fk.entries;
		r->irqfds = fk.irqfds;
	}
	for (unsigned i = 0; i < TRACE_MAX_DEVICES; i++)
		rdev_free(&run.devs[i]);
	libmsix_kvm_vm_destroy(run.vm);
	free(run.devs);
	return ret;
}
