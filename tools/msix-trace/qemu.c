/* SPDX-License-Identifier: MIT */
/*
 * QEMU's algorithm on the same trace: a model, written from a reading of
 * QEMU's hw/pci/msix.c (vector use/release notifiers, pending bits),
 * hw/vfio/pci.c (vfio_msix_enable/disable, the per-vector use and release
 * notifiers, NORESIZE growth, the KVM route batch at enable) and
 * accel/kvm/kvm-all.c (every route commit uploads the whole table), for a
 * VFIO-assigned device whose vectors go to KVM irqfds. docs/trace.md lists
 * what is modelled and what is left out.
 *
 * The guest-visible state (MSI-X Enable, Function Mask, each entry's Mask
 * bit and message) is decoded by a libmsix device that sees the same
 * accesses, so both sides of the comparison read the trace alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

struct qvec {
	bool emask;		/* the entry's Mask bit, as last seen */
	bool use;		/* vfio: vector->use */
	bool virq;		/* vfio: vector->virq >= 0 (a route held) */
	bool irqfd;		/* its irqfd is assigned */
	bool host;		/* a host vector is allocated for it */
	bool pending;		/* msix core: PBA bit */
	bool saved_pending;
	uint32_t dm_used;	/* device model's msix_vector_use count */
};

struct qvm {
	uint32_t routes;	/* entries of the VM's table */
	struct row *r;
};

struct qdev {
	const struct libmsix_config *cfg;
	struct libmsix_recorder *rec;
	struct libmsix_dev *dec;	/* decodes the guest's accesses */
	uint32_t n;
	bool noresize;
	bool enabled, fmasked;	/* fmasked = !Enable || Function Mask */
	bool notifiers;		/* vfio's use/release notifiers are set */
	uint32_t nr_vectors;	/* vfio: vdev->nr_vectors */
	void *blob;
	size_t blob_len;
	bool saved;
	struct qvec *v;
};

static void upload(struct qvm *vm)
{
	vm->r->uploads++;
	vm->r->entries += vm->routes;
}

/* kvm_irqchip_add_msi_route: a GSI and an entry, or none when full (the
 * vector then stays on QEMU's eventfd). Returns whether one was added. */
static bool add_route(struct qvm *vm, struct qvec *x)
{
	if (vm->routes >= KVM_ROUTES)
		return false;
	vm->routes++;
	x->virq = true;
	return true;
}

static bool used(const struct qvec *x)
{
	return x->dm_used || x->use;
}

static bool is_masked(const struct qdev *d, uint32_t v)
{
	return d->fmasked || d->v[v].emask;
}

/* Host vector @v gets a trigger: dynamic MSI-X allocates it on demand. */
static void host_vector(struct qvm *vm, struct qdev *d, uint32_t v)
{
	if (!d->v[v].host) {
		d->v[v].host = true;
		vm->r->allocs++;
	}
}

/* vfio_device_irq_disable(MSIX): every host vector goes, MSI-X off. */
static void irq_disable(struct qvm *vm, struct qdev *d)
{
	vm->r->set_irqs++;
	for (uint32_t i = 0; i < d->n; i++) {
		if (d->v[i].host)
			vm->r->releases++;
		d->v[i].host = false;
	}
}

/* vfio_enable_msix_no_vec: MSI-X on with vector 0 and fd -1; the kernel
 * allocates vector 0 (pci_alloc_irq_vectors of start + count = 1). */
static void enable_no_vec(struct qvm *vm, struct qdev *d)
{
	vm->r->set_irqs++;
	host_vector(vm, d, 0);
}

/* vfio_enable_vectors(msix): [0, nr_vectors) in one SET_IRQS, after an
 * enable with no vector when the host resizes live. The SET_IRQS that turns
 * MSI-X on allocates its whole range; a dynamic host allocates the vectors
 * given a trigger. */
static void enable_vectors(struct qvm *vm, struct qdev *d)
{
	if (!d->noresize)
		enable_no_vec(vm, d);
	vm->r->set_irqs++;
	for (uint32_t i = 0; i < d->nr_vectors; i++)
		if (d->noresize || d->v[i].use)
			host_vector(vm, d, i);
}

/* vfio_msix_vector_do_use(nr, msg): the vector's use notifier (an unmask).
 * @batch: inside vfio_msix_enable's deferred route batch. Returns whether
 * a route was added (for the batch's commit). */
static bool do_use(struct qvm *vm, struct qdev *d, uint32_t v, bool batch)
{
	struct qvec *x = &d->v[v];
	bool added = false, resizing;

	if (!x->use)
		x->use = true;	/* vfio_pci_vector_init: msix_vector_use */
	if (x->virq) {
		upload(vm);	/* update_msi_route + commit_routes */
	} else {
		added = add_route(vm, x);
		if (!batch) {
			if (added)
				upload(vm);
			if (x->virq) {
				vm->r->irqfds++;
				x->irqfd = true;
			}
		}
	}
	resizing = d->nr_vectors < v + 1;
	if (resizing)
		d->nr_vectors = v + 1;
	if (!batch) {
		if (d->noresize && resizing) {
			irq_disable(vm, d);
			enable_vectors(vm, d);
			vm->r->reenables++;
		} else {
			vm->r->set_irqs++;	/* set_irq_signalling */
			host_vector(vm, d, v);
		}
	}
	return added;
}

/* vfio_msix_vector_release: trigger swapped to QEMU's eventfd. */
static void do_release(struct qvm *vm, struct qdev *d, uint32_t v)
{
	if (d->v[v].virq)
		vm->r->set_irqs++;
}

/* msix_handle_mask_update() */
static void mask_update(struct qvm *vm, struct qdev *d, uint32_t v,
			bool was, bool is)
{
	struct qvec *x = &d->v[v];

	if (was == is)
		return;
	if (d->notifiers) {
		if (is)
			do_release(vm, d, v);
		else
			do_use(vm, d, v, false);
	}
	if (!is && x->pending) {
		x->pending = false;
		if (used(x))
			vm->r->replays++;
	}
}

/* vfio_msix_enable(): notifiers set inside one route batch. */
static void msix_enable(struct qvm *vm, struct qdev *d)
{
	bool changes = false;

	d->notifiers = true;
	if (!d->fmasked)
		for (uint32_t i = 0; i < d->n; i++)
			if (!d->v[i].emask)
				changes |= do_use(vm, d, i, true);
	if (changes)
		upload(vm);
	for (uint32_t i = 0; i < d->nr_vectors; i++) {
		if (d->v[i].virq && !d->v[i].irqfd) {
			vm->r->irqfds++;
			d->v[i].irqfd = true;
		}
	}
	if (d->nr_vectors)
		enable_vectors(vm, d);
	else
		enable_no_vec(vm, d);
}

static void unuse(struct qvec *x)
{
	if (!used(x))
		x->pending = false;
}

/* vfio_msix_disable() */
static void msix_disable(struct qvm *vm, struct qdev *d)
{
	d->notifiers = false;
	for (uint32_t i = 0; i < d->nr_vectors; i++) {
		if (d->v[i].use) {
			do_release(vm, d, i);
			if (d->v[i].dm_used)	/* msix_vector_unuse */
				d->v[i].dm_used--;
		}
	}
	if (d->nr_vectors)
		irq_disable(vm, d);
	for (uint32_t i = 0; i < d->nr_vectors; i++) {
		struct qvec *x = &d->v[i];

		if (x->use && x->virq) {
			if (x->irqfd)
				vm->r->irqfds++;	/* irqfd removed */
			vm->routes--;			/* no commit */
		}
		x->use = x->virq = x->irqfd = false;
		unuse(x);
	}
	d->nr_vectors = 0;
}

/* The entry's Mask bit and the function's state, from the decoder. */
static bool entry_masked(struct qdev *d, uint32_t v)
{
	struct libmsix_vector_info info;

	return libmsix_get_vector_info(d->dec, v, &info) || info.masked;
}

static void config_write(struct qvm *vm, struct qdev *d,
			 const struct trace_event *e)
{
	bool en0 = d->enabled, fm0 = d->fmasked;

	libmsix_config_write(d->dec, e->arg, e->size, (uint32_t)e->val);
	d->enabled = libmsix_enabled(d->dec);
	d->fmasked = !d->enabled || libmsix_function_masked(d->dec);
	/* msix_write_config: nothing more while disabled or unchanged */
	if (d->enabled && d->fmasked != fm0)
		for (uint32_t i = 0; i < d->n; i++)
			mask_update(vm, d, i, fm0 || d->v[i].emask,
				    d->fmasked || d->v[i].emask);
	/* vfio_pci_write_config: the enable edges */
	if (!en0 && d->enabled)
		msix_enable(vm, d);
	else if (en0 && !d->enabled)
		msix_disable(vm, d);
}

/* A table write: the entries it touched may change their Mask bit. */
static void table_write(struct qvm *vm, struct qdev *d,
			const struct trace_event *e)
{
	const struct libmsix_config *g = d->cfg;
	uint64_t end = (uint64_t)e->arg + e->size;
	uint32_t first, last;

	libmsix_mmio_write(d->dec, e->bar, e->arg, e->size, e->val);
	if (e->bar != g->table_bir || end <= g->table_offset ||
	    e->arg >= g->table_offset + 16ull * d->n)
		return;
	first = e->arg > g->table_offset
			? (uint32_t)((e->arg - g->table_offset) / 16) : 0;
	last = (uint32_t)((end - 1 - g->table_offset) / 16);
	if (last >= d->n)
		last = d->n - 1;
	for (uint32_t i = first; i <= last; i++) {
		bool was = is_masked(d, i);

		d->v[i].emask = entry_masked(d, i);
		mask_update(vm, d, i, was, is_masked(d, i));
	}
}

/* msix_notify() */
static void notify(struct qdev *d, uint32_t v)
{
	if (used(&d->v[v]) && is_masked(d, v))
		d->v[v].pending = true;
}

static void save(struct qdev *d)
{
	if (!d->blob) {
		d->blob_len = libmsix_save_size(d->dec);
		d->blob = malloc(d->blob_len);
		if (!d->blob)
			return;
	}
	d->saved = libmsix_save(d->dec, d->blob, d->blob_len) > 0;
	for (uint32_t i = 0; i < d->n; i++)
		d->v[i].saved_pending = d->v[i].pending;
}

/*
 * A load is modelled as an incoming migration: a fresh destination (the
 * source's host state goes with the source, uncounted), msix_load()'s
 * replay of pending unmasked vectors, then vfio_msix_enable() with its
 * route batch when the function is enabled.
 */
static void load(struct qvm *vm, struct qdev *d)
{
	if (!d->saved)
		return;
	for (uint32_t i = 0; i < d->n; i++) {
		struct qvec *x = &d->v[i];

		if (x->virq)
			vm->routes--;
		x->use = x->virq = x->irqfd = x->host = false;
	}
	d->notifiers = false;
	d->nr_vectors = 0;
	libmsix_load(d->dec, d->blob, d->blob_len);
	d->enabled = libmsix_enabled(d->dec);
	d->fmasked = !d->enabled || libmsix_function_masked(d->dec);
	for (uint32_t i = 0; i < d->n; i++) {
		d->v[i].emask = entry_masked(d, i);
		d->v[i].pending = d->v[i].saved_pending;
		mask_update(vm, d, i, true, is_masked(d, i));
	}
	if (d->enabled)
		msix_enable(vm, d);
}

static void qdev_free(struct qdev *d)
{
	libmsix_dev_destroy(d->dec);
	libmsix_recorder_destroy(d->rec);
	free(d->v);
	free(d->blob);
	memset(d, 0, sizeof(*d));
}

static int qdev_init(struct qdev *d, const struct trace_device *td, bool live)
{
	int err;

	d->cfg = &td->cfg;
	d->n = td->cfg.nr_vectors;
	d->noresize = !live;
	d->fmasked = true;
	d->v = calloc(d->n, sizeof(*d->v));
	if (!d->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n; i++)
		d->v[i].emask = true;	/* reset: every entry masked */
	err = libmsix_recorder_create(LIBMSIX_RECORDER_DELIVER_ONLY, 0,
				      &d->rec);
	if (!err)
		err = libmsix_dev_create(&td->cfg,
					 libmsix_recorder_backend(d->rec),
					 &d->dec);
	return err;
}

int replay_qemu(const struct trace *t, bool live, struct row *r, FILE *err)
{
	struct qvm vm = { .routes = IRQCHIP_ROUTES, .r = r };
	struct qdev *devs;
	int ret = 0, e;

	devs = calloc(TRACE_MAX_DEVICES, sizeof(*devs));
	if (!devs) {
		fprintf(err, "%s: out of memory\n", t->path);
		return -1;
	}
	for (unsigned i = 0; i < TRACE_MAX_DEVICES && !ret; i++) {
		if (!t->dev[i].declared)
			continue;
		e = qdev_init(&devs[i], &t->dev[i], live);
		if (e) {
			fprintf(err, "%s:%u: cannot set up device %u: %s\n",
				t->path, t->dev[i].line, i, strerror(-e));
			ret = -1;
		}
	}
	for (size_t i = 0; i < t->nr_ev && !ret; i++) {
		const struct trace_event *ev = &t->ev[i];
		struct qdev *d = &devs[ev->dev];
		uint32_t v32;
		uint64_t v64 = 0;

		switch (ev->kind) {
		case EV_CONFIG_READ:
			v32 = (uint32_t)ev->val;
			libmsix_config_read(d->dec, ev->arg, ev->size, &v32);
			break;
		case EV_CONFIG_WRITE:
			config_write(&vm, d, ev);
			break;
		case EV_MMIO_READ:
			libmsix_mmio_read(d->dec, ev->bar, ev->arg, ev->size,
					  &v64);
			break;
		case EV_MMIO_WRITE:
			table_write(&vm, d, ev);
			break;
		case EV_USE:
			d->v[ev->arg].dm_used++;
			break;
		case EV_UNUSE:
			if (d->v[ev->arg].dm_used) {
				d->v[ev->arg].dm_used--;
				unuse(&d->v[ev->arg]);
			}
			break;
		case EV_NOTIFY:
			notify(d, ev->arg);
			break;
		case EV_SAVE:
			save(d);
			break;
		case EV_LOAD:
			load(&vm, d);
			break;
		}
	}
	for (unsigned i = 0; i < TRACE_MAX_DEVICES; i++)
		qdev_free(&devs[i]);
	free(devs);
	return ret;
}
