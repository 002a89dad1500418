/* SPDX-License-Identifier: MIT */
/*
 * KVM backend: a VM-wide GSI route table and, per device, the libmsix
 * backend ops mapped onto KVM_SET_GSI_ROUTING, KVM_IRQFD and KVM_SIGNAL_MSI.
 *
 * One event, one path. The guest unmasks vector 7 of an irqfd device:
 *   engine: alloc(7,1) -> take a GSI from the pool, create the eventfd;
 *           route(7,msg) -> stage an MSI entry for the GSI;
 *           unmask(7) -> stage "irqfd assigned";
 *           commit -> (deassign nothing) -> one KVM_SET_GSI_ROUTING with
 *           every route of the VM -> drain the eventfd, KVM_IRQFD assign.
 *   then the engine polls (poll(): what the drain caught is a pending bit)
 *   and replays through deliver() = KVM_SIGNAL_MSI.
 *
 * Each vector keeps two copies of its state: the committed one (what KVM
 * has) and the staged one. Staging ops change only the staged copy, except
 * that GSIs and eventfds are taken at once (other devices of the VM stage
 * concurrently and must not get the same GSI) and given back by abort.
 * Invariant: outside a transaction the staged copy equals the committed one.
 *
 * The order of ioctls in a commit is what keeps hosts alive and interrupts
 * from getting lost:
 *   1. KVM_IRQFD deassign of every irqfd that goes away or moves, before the
 *      upload that may remove its route (cloud-hypervisor #3827: an AMD host
 *      panicked in svm_update_pi_irte when a route vanished under an irqfd).
 *   2. One KVM_SET_GSI_ROUTING, only if this device's routes changed.
 *   3. KVM_IRQFD assign, only once the route exists (#6348); an eventfd
 *      signalled while its GSI has no route is consumed and lost (observed
 *      on 6.1 and 6.12), so an irqfd never points at a GSI without a route.
 * A failure at any step undoes the earlier steps in reverse order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <bsd/bitstring.h>

#include "libmsix-kvm.h"
#include "util.h"
#include "pool.h"
#include "kvm-internal.h"

/* Per-vector flags, staged (st_fl) and committed (fl). */
#define KV_HOST 0x1u	 /* holds a host vector: an eventfd, and a GSI */
#define KV_FALLBACK 0x2u /* ... without a GSI: userspace injection */
#define KV_ROUTED 0x4u	 /* an MSI route for the GSI */
#define KV_IRQFD 0x8u	 /* live at the host: the irqfd is assigned, or ... */
/* ... (committed state only, never staged) it waits for the deferred route
 * batch: the irqfd is not assigned and the VMM serves the eventfd. */
#define KV_DEFER 0x10u

/* Scratch marks of one commit: for undo, and for the fallback callback. */
#define DONE_DEASSIGN 0x1u
#define DONE_ASSIGN 0x2u
#define DONE_NOTE 0x4u
#define DONE_DEFER 0x8u /* goes (or stays) live waiting for the batch */

/* The x86 in-kernel irqchip: IOAPIC pins 0-23, PIC pins for GSIs 0-15. */
#define X86_IRQCHIP_GSIS 24u
#define X86_PIC_GSIS 16u

struct kvec {
	int32_t gsi, st_gsi; /* -1: none */
	int efd, st_efd;     /* -1: none */
	uint8_t fl, st_fl;
	uint8_t done;
	atomic_bool caught; /* drained from the eventfd, not yet polled */
	struct libmsix_msg msg, st_msg;
};

struct kvm_counters {
	_Atomic uint64_t route_uploads, irqfd_assign, irqfd_deassign;
	_Atomic uint64_t signal_msi, signal_msi_unmatched, caught;
	_Atomic uint64_t exhausted, errors;
};

struct libmsix_kvm {
	struct libmsix_backend be;
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *next; /* the VM's device list */
	uint32_t flags;
	uint32_t n;
	struct lmx_share share;	  /* GSIs taken from the pool, staged or not */
	uint32_t fallback_count;  /* vectors in fallback, committed */
	libmsix_kvm_fallback_fn fallback;
	void *opaque;
	bool logged_exhausted;
	bool uploaded;		     /* this commit uploaded the table */
	bool stales;		     /* this commit adds a route it does not upload */
	uint32_t deferred;	     /* vectors with KV_DEFER */
	struct lmx_span span;	     /* vectors staged since commit */
	bitstr_t *dirty;
	struct kvm_counters cnt;
	/* Bumped by every commit that changes a committed eventfd. */
	_Atomic uint64_t efd_gen;
	struct kvec v[];
};

struct libmsix_kvm_vm {
	struct libmsix_kvm_vm_config cfg;
	pthread_mutex_t lock;
	/* Deferred routing (libmsix_kvm_vm_set_routing()). */
	struct libmsix_kvm_routing rt;
	bool table_stale;	/* a committed route KVM does not have yet */
	uint32_t nr_deferred;	/* vectors with KV_DEFER, all devices */
	uint64_t first_deferred_ns; /* CLOCK_MONOTONIC when the batch began */
	uint64_t flushes;
	uint32_t cap;		/* GSIs 0..cap-1, at most cap entries */
	bitstr_t *taken;	/* GSIs the VMM or a device holds */
	bitstr_t *vmm;		/* GSIs reserved by the VMM */
	uint32_t nr_vmm_gsis;
	struct kvm_irq_routing_entry *vmm_routes;
	uint32_t nr_vmm_routes;
	struct kvm_irq_routing *buf; /* upload buffer for cap entries */
	struct libmsix_kvm *devs;
	struct lmx_pool pool;	/* devices' GSIs (lib/pool.h) */
	uint64_t exhausted, fallbacks, uploads, upload_errors;
	uint64_t log_count;
};

/* ------------------------------------------------------------------------ */
/* Plumbing                                                                  */
/* ------------------------------------------------------------------------ */

static int vm_ioctl(struct libmsix_kvm_vm *vm, unsigned long req, void *arg)
{
	int r;

	if (vm->cfg.ioctl)
		return vm->cfg.ioctl(vm->cfg.ioctl_opaque, vm->cfg.vm_fd, req,
				     arg);
	r = ioctl(vm->cfg.vm_fd, req, arg);
	return r < 0 ? -errno : r;
}

/* First four messages, then every 2^k-th: a guest can cause exhaustion. */
static void vm_log(struct libmsix_kvm_vm *vm, int level, const char *fmt, ...)
	LIBMSIX_PRINTF(3, 4);
static void vm_log(struct libmsix_kvm_vm *vm, int level, const char *fmt, ...)
{
	va_list ap;

	if (!lmx_log_due(&vm->log_count))
		return;
	va_start(ap, fmt);
	lmx_vlog(vm->cfg.log, vm->cfg.opaque, vm->cfg.log_level, level, "",
		 fmt, ap);
	va_end(ap);
}

/*
 * A VMM's call broke a rule of the API: log it through a VM's or, before
 * there is one, its config's sink (lmx_sink_einval()). Not with the VM
 * lock held.
 */
#define cfg_einval(cfg, ...)                                              \
	lmx_sink_einval((cfg)->log, (cfg)->opaque, (cfg)->log_level,      \
			"libmsix-kvm: ", __VA_ARGS__)

#define VM_EINVAL(vm, ...) cfg_einval(&(vm)->cfg, __VA_ARGS__)

static struct libmsix_kvm *to_kvm(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_kvm, be);
}

/* GSIs devices may hold together: the table minus what the VMM uses. */
static uint32_t dev_capacity(const struct libmsix_kvm_vm *vm)
{
	uint32_t vmm = lmx_max_u32(vm->nr_vmm_gsis, vm->nr_vmm_routes);

	return vm->cap > vmm ? vm->cap - vmm : 0;
}

static uint32_t available(const struct libmsix_kvm_vm *vm)
{
	return lmx_pool_available(&vm->pool, dev_capacity(vm));
}

static void mark_dirty(struct libmsix_kvm *k, uint32_t v)
{
	bit_set(k->dirty, (int)v);
	lmx_span_add(&k->span, v, 1);
}

#define FOR_DIRTY(k, v)                                        \
	for (uint32_t v = (k)->span.lo; v < (k)->span.hi; v++) \
		if (bit_test((k)->dirty, (int)v))

/* ------------------------------------------------------------------------ */
/* The GSI pool (VM lock held)                                               */
/* ------------------------------------------------------------------------ */

/* Take a GSI for device @k, as the pool's rules allow (lib/pool.h). */
static int gsi_take(struct libmsix_kvm_vm *vm, struct libmsix_kvm *k)
{
	int gsi;

	if (!lmx_pool_may_take(&vm->pool, dev_capacity(vm), &k->share, 1))
		return -ENOSPC;
	bit_ffc(vm->taken, (int)vm->cap, &gsi);
	if (gsi < 0)
		return -ENOSPC;
	bit_set(vm->taken, gsi);
	lmx_pool_set_held(&vm->pool, &k->share, k->share.held + 1);
	return gsi;
}

static void gsi_put(struct libmsix_kvm_vm *vm, struct libmsix_kvm *k, int gsi)
{
	bit_clear(vm->taken, gsi);
	lmx_pool_set_held(&vm->pool, &k->share, k->share.held - 1);
}

/* ------------------------------------------------------------------------ */
/* Uploads and irqfds                                                        */
/* ------------------------------------------------------------------------ */

static bool routed(uint8_t fl, int32_t gsi)
{
	return (fl & KV_ROUTED) && gsi >= 0;
}

/* Committed state: KVM holds the vector's irqfd. */
static bool assigned(uint8_t fl)
{
	return (fl & (KV_IRQFD | KV_DEFER)) == KV_IRQFD;
}

/* The VMM serves the eventfd (libmsix_kvm_consume() + libmsix_notify()). */
static bool served(uint8_t fl)
{
	return fl & (KV_FALLBACK | KV_DEFER);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Device @k defers new routes: the VM is in deferred mode, and the VMM
 * serves the eventfds of waiting vectors (it gave a fallback callback). */
static bool defers(const struct libmsix_kvm *k)
{
	return k->vm->rt.mode == LIBMSIX_KVM_ROUTING_DEFERRED && k->fallback;
}

/*
 * Upload the whole table: the VMM's routes, every device's committed routes,
 * and @staged's staged routes in place of its committed ones (NULL: only
 * committed state, e.g. to undo a failed commit). VM lock held.
 */
static int upload(struct libmsix_kvm_vm *vm, struct libmsix_kvm *staged)
{
	struct kvm_irq_routing *t = vm->buf;
	uint32_t nr = vm->nr_vmm_routes;
	int r;

	if (nr) /* vmm_routes is NULL when the VMM keeps none (UBSan) */
		memcpy(t->entries, vm->vmm_routes,
		       nr * sizeof(t->entries[0]));
	for (struct libmsix_kvm *d = vm->devs; d; d = d->next) {
		for (uint32_t v = 0; v < d->n; v++) {
			const struct kvec *x = &d->v[v];
			bool st = d == staged;
			uint8_t fl = st ? x->st_fl : x->fl;
			int32_t gsi = st ? x->st_gsi : x->gsi;
			const struct libmsix_msg *m = st ? &x->st_msg : &x->msg;
			struct kvm_irq_routing_entry *e;

			if (!routed(fl, gsi))
				continue;
			if (nr == vm->cap) /* the pool makes this impossible */
				return -ENOSPC;
			e = &t->entries[nr++];
			memset(e, 0, sizeof(*e));
			e->gsi = (uint32_t)gsi;
			e->type = KVM_IRQ_ROUTING_MSI;
			e->u.msi.address_lo = (uint32_t)m->address;
			e->u.msi.address_hi = (uint32_t)(m->address >> 32);
			e->u.msi.data = m->data;
		}
	}
	t->nr = nr;
	t->flags = 0;
	r = vm_ioctl(vm, KVM_SET_GSI_ROUTING, t);
	if (r < 0) {
		vm->upload_errors++;
		vm_log(vm, LOG_ERR,
		       "libmsix-kvm: KVM_SET_GSI_ROUTING of %u entries failed: %s",
		       nr, strerror(-r));
		return r;
	}
	vm->uploads++;
	if (!staged) /* the committed table: KVM has every route now */
		vm->table_stale = false;
	if (staged)
		cnt_inc(&staged->cnt.route_uploads);
	return 0;
}

static int irqfd(struct libmsix_kvm *k, int efd, int32_t gsi, bool assign)
{
	struct kvm_irqfd req;
	int r;

	memset(&req, 0, sizeof(req));
	req.fd = (uint32_t)efd;
	req.gsi = (uint32_t)gsi;
	req.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN;
	r = vm_ioctl(k->vm, KVM_IRQFD, &req);
	cnt_inc(assign ? &k->cnt.irqfd_assign : &k->cnt.irqfd_deassign);
	if (r < 0) {
		cnt_inc(&k->cnt.errors);
		vm_log(k->vm, LOG_ERR,
		       "libmsix-kvm: KVM_IRQFD %s of GSI %d failed: %s",
		       assign ? "assign" : "deassign", gsi, strerror(-r));
	}
	return r < 0 ? r : 0;
}

static bool same_irqfd(const struct kvec *x)
{
	return assigned(x->fl) && (x->st_fl & KV_IRQFD) &&
	       x->gsi == x->st_gsi && x->efd == x->st_efd;
}

static bool same_route(const struct kvec *x)
{
	bool a = routed(x->fl, x->gsi), b = routed(x->st_fl, x->st_gsi);

	if (a != b)
		return false;
	return !a || (x->gsi == x->st_gsi &&
		      x->msg.address == x->st_msg.address &&
		      x->msg.data == x->st_msg.data);
}

static const struct libmsix_backend_ops kvm_irqfd_ops;

/* ------------------------------------------------------------------------ */
/* Staging ops (device lock held)                                            */
/* ------------------------------------------------------------------------ */

/* Give back what vector @x took in this transaction (VM lock held). */
static void unstage_host(struct libmsix_kvm *k, struct kvec *x)
{
	if (x->st_gsi >= 0 && x->st_gsi != x->gsi)
		gsi_put(k->vm, k, x->st_gsi);
	if (x->st_efd >= 0 && x->st_efd != x->efd) {
		close(x->st_efd);
		atomic_store(&x->caught, false);
	}
	x->st_gsi = -1;
	x->st_efd = -1;
	x->st_fl = 0;
}

static void note_exhausted(struct libmsix_kvm *k, uint32_t v, bool fallback)
{
	struct libmsix_kvm_vm *vm = k->vm;

	cnt_inc(&k->cnt.exhausted);
	vm->exhausted++;
	if (k->logged_exhausted)
		return;
	k->logged_exhausted = true;
	vm_log(vm, LOG_WARNING,
	       "libmsix-kvm: no GSI for vector %u (device reserve %u, %u held, "
	       "%u of %u GSIs available to devices): %s; counted from now on",
	       v, k->share.reserve, k->share.held, available(vm),
	       dev_capacity(vm),
	       fallback ? "userspace injection (fallback)"
			: "the vector stays blocked");
}

static int kvm_alloc(struct libmsix_backend *be, uint32_t start,
		     uint32_t count)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct libmsix_kvm_vm *vm = k->vm;
	int err = 0;

	if (!lmx_range_ok(k->n, start, count))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	for (uint32_t v = start; v < start + count && !err; v++) {
		struct kvec *x = &k->v[v];
		int gsi;

		if (x->st_fl & KV_HOST) {
			err = -EINVAL; /* contract: alloc of a held vector */
			break;
		}
		mark_dirty(k, v);
		if (x->fl & KV_HOST) {
			/* Released earlier in this transaction: keep it. */
			x->st_gsi = x->gsi;
			x->st_efd = x->efd;
			x->st_fl = x->fl & (KV_HOST | KV_FALLBACK);
			continue;
		}
		gsi = gsi_take(vm, k);
		if (gsi == -ENOSPC) {
			bool fb = k->flags & LIBMSIX_KVM_F_FALLBACK;

			note_exhausted(k, v, fb);
			if (!fb) {
				err = -ENOSPC;
				break;
			}
		}
		x->st_gsi = gsi >= 0 ? gsi : -1;
		x->st_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (x->st_efd < 0) {
			err = -errno;
			x->st_efd = -1;
			unstage_host(k, x);
			vm_log(vm, LOG_ERR, "libmsix-kvm: eventfd: %s",
			       strerror(-err));
			break;
		}
		x->st_fl = KV_HOST | (gsi < 0 ? KV_FALLBACK : 0);
	}
	pthread_mutex_unlock(&vm->lock);
	return err;
}

static int kvm_release(struct libmsix_backend *be, uint32_t start,
		       uint32_t count)
{
	struct libmsix_kvm *k = to_kvm(be);

	if (!lmx_range_ok(k->n, start, count))
		return -EINVAL;
	for (uint32_t v = start; v < start + count; v++)
		if (!(k->v[v].st_fl & KV_HOST))
			return -EINVAL;
	pthread_mutex_lock(&k->vm->lock);
	for (uint32_t v = start; v < start + count; v++) {
		/* Also drops a route and irqfd left staged: the commit orders
		 * the deassign before the upload either way. */
		mark_dirty(k, v);
		unstage_host(k, &k->v[v]);
	}
	pthread_mutex_unlock(&k->vm->lock);
	return 0;
}

static int kvm_route(struct libmsix_backend *be, uint32_t v,
		     const struct libmsix_msg *msg)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct kvec *x;

	if (v >= k->n || !msg || !(k->v[v].st_fl & KV_HOST))
		return -EINVAL;
	x = &k->v[v];
	mark_dirty(k, v);
	x->st_msg = *msg;
	x->st_fl |= KV_ROUTED;
	return 0;
}

static int kvm_unroute(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_kvm *k = to_kvm(be);

	if (v >= k->n)
		return -EINVAL;
	mark_dirty(k, v);
	/* An irqfd cannot outlive its route (#3827). */
	k->v[v].st_fl &= (uint8_t)~(KV_ROUTED | KV_IRQFD);
	return 0;
}

static int kvm_mask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_kvm *k = to_kvm(be);

	if (v >= k->n)
		return -EINVAL;
	mark_dirty(k, v);
	k->v[v].st_fl &= (uint8_t)~KV_IRQFD;
	return 0;
}

static int kvm_unmask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct kvec *x;

	if (v >= k->n)
		return -EINVAL;
	x = &k->v[v];
	if (!(x->st_fl & KV_HOST))
		return -EINVAL;
	if (x->st_fl & KV_FALLBACK)
		return 0; /* live through libmsix_notify(): nothing to assign */
	if (!(x->st_fl & KV_ROUTED))
		return -EINVAL; /* assign only after the route exists (#6348) */
	mark_dirty(k, v);
	x->st_fl |= KV_IRQFD;
	return 0;
}

/* Staged state back to committed: what abort and a failed commit leave. */
static void unstage_all(struct libmsix_kvm *k)
{
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];

		unstage_host(k, x);
		x->st_gsi = x->gsi;
		x->st_efd = x->efd;
		x->st_fl = x->fl & (uint8_t)~KV_DEFER;
		x->st_msg = x->msg;
		x->done = 0;
		bit_clear(k->dirty, (int)v);
	}
	lmx_span_clear(&k->span, k->n);
}

static void kvm_abort(struct libmsix_backend *be)
{
	struct libmsix_kvm *k = to_kvm(be);

	pthread_mutex_lock(&k->vm->lock);
	unstage_all(k);
	pthread_mutex_unlock(&k->vm->lock);
}

/*
 * Undo a failed commit in reverse order: deassign what step 3 assigned,
 * upload the committed table again if step 2 changed it, re-assign what
 * step 1 deassigned. VM lock held.
 */
static void undo_commit(struct libmsix_kvm *k, bool uploaded)
{
	struct libmsix_kvm_vm *vm = k->vm;
	bool table_ok = true;

	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];

		if (x->done & DONE_ASSIGN)
			irqfd(k, x->st_efd, x->st_gsi, false);
		x->done &= (uint8_t)~DONE_ASSIGN;
	}
	if (uploaded && upload(vm, NULL) < 0) {
		table_ok = false;
		vm->table_stale = true; /* KVM keeps this commit's routes */
		vm_log(vm, LOG_CRIT,
		       "libmsix-kvm: cannot restore the route table after a "
		       "failed commit; KVM keeps the new routes");
	}
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];

		if (!(x->done & DONE_DEASSIGN))
			continue;
		x->done = 0;
		/* Never assign onto a GSI whose route KVM no longer has. */
		if ((table_ok || (routed(x->st_fl, x->st_gsi) &&
				  x->st_gsi == x->gsi)) &&
		    irqfd(k, x->efd, x->gsi, true) == 0)
			continue;
		vm_log(vm, LOG_CRIT,
		       "libmsix-kvm: vector %u lost its irqfd in a rollback; "
		       "its interrupts wait in its eventfd", v);
		x->fl &= (uint8_t)~KV_IRQFD;
	}
}

/* KVM_SIGNAL_MSI of @msg; counted as kvm_deliver() counts it. */
static int signal_msi(struct libmsix_kvm *k, const struct libmsix_msg *msg)
{
	struct kvm_msi m;
	int r;

	memset(&m, 0, sizeof(m));
	m.address_lo = (uint32_t)msg->address;
	m.address_hi = (uint32_t)(msg->address >> 32);
	m.data = msg->data;
	r = vm_ioctl(k->vm, KVM_SIGNAL_MSI, &m);
	cnt_inc(&k->cnt.signal_msi);
	if (r < 0) {
		cnt_inc(&k->cnt.errors);
		return r;
	}
	if (r == 0)
		cnt_inc(&k->cnt.signal_msi_unmatched);
	return 0;
}

/*
 * A live vector that waited for the batch gets its irqfd; its route is in
 * KVM. The VMM served its eventfd until now, reading it under the VM lock
 * (libmsix_kvm_consume()), so what it read it delivers. What still sits in
 * the eventfd is injected by KVM at the assign, once, and stays readable
 * (tests/guest/kvm_facts.c); every later write is consumed by the irqfd's
 * wakeup. Such a stale count is dropped before any deassign (step 1 of a
 * commit), so no later poll replays it. VM lock held.
 */
static int go_direct(struct libmsix_kvm *k, struct kvec *x)
{
	return irqfd(k, x->efd, x->gsi, true);
}

/* The deferred batch is due: a bound is reached. VM lock held. */
static bool flush_due(const struct libmsix_kvm_vm *vm)
{
	const struct libmsix_kvm_routing *rt = &vm->rt;

	if (!vm->nr_deferred)
		return false;
	if (rt->mode != LIBMSIX_KVM_ROUTING_DEFERRED)
		return true; /* left over from a failed flush */
	if (rt->max_routes && vm->nr_deferred >= rt->max_routes)
		return true;
	return rt->max_delay_ns &&
	       now_ns() - vm->first_deferred_ns >= rt->max_delay_ns;
}

/*
 * Upload the batch (one KVM_SET_GSI_ROUTING of the whole table, if a
 * committed route is not in KVM yet), then give every waiting vector of
 * every device its irqfd. VM lock held. Return: vectors switched, or the
 * first -errno (those that failed keep waiting: nothing is lost).
 */
static int flush_locked(struct libmsix_kvm_vm *vm)
{
	int err = 0, n = 0;

	if (!vm->nr_deferred)
		return 0;
	if (vm->table_stale) {
		err = upload(vm, NULL);
		if (err)
			return err;
	}
	vm->flushes++;
	for (struct libmsix_kvm *d = vm->devs; d; d = d->next) {
		for (uint32_t v = 0; v < d->n && d->deferred; v++) {
			struct kvec *x = &d->v[v];
			int r;

			if (!(x->fl & KV_DEFER))
				continue;
			r = go_direct(d, x);
			if (r) {
				err = err ? err : r;
				continue;
			}
			x->fl &= (uint8_t)~KV_DEFER;
			d->deferred--;
			vm->nr_deferred--;
			n++;
			if (d->fallback)
				d->fallback(d->opaque, v, -1);
		}
	}
	if (vm->nr_deferred) /* failed ones: the bound starts again */
		vm->first_deferred_ns = now_ns();
	return err ? err : n;
}

/*
 * Two-phase commit, so that a composing backend (passthrough) can undo the
 * KVM half when its other half fails: prepare issues every ioctl and keeps
 * the VM lock (other devices' uploads must not see, or erase, routes that
 * are in KVM but not yet committed here); then exactly one of finish (make
 * it committed) or undo (put KVM back) releases the lock. On a prepare
 * failure everything is already undone and the lock released.
 *
 * Deferred routing (defers(k)): a vector that goes live with a route KVM
 * does not have yet -- new, changed, or not uploaded since -- does not wait
 * for an upload. It goes live at once with DONE_DEFER, and the VMM serves
 * its eventfd until flush_locked() uploads the batch and assigns its irqfd.
 * Such a commit never uploads; a live vector whose route changes loses its
 * irqfd until the flush, so that its interrupts carry the new message.
 */
int kvm_commit_prepare(struct libmsix_backend *be)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct libmsix_kvm_vm *vm = k->vm;
	bool defer = defers(k), table_changed = false;
	int err = 0;

	pthread_mutex_lock(&vm->lock);
	k->uploaded = false;
	k->stales = false;
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];
		bool live = x->st_fl & KV_IRQFD, same = same_route(x);
		bool waits = (x->fl & KV_DEFER) && x->gsi == x->st_gsi &&
			     x->efd == x->st_efd;
		/* KVM has the route: an assigned irqfd's route is in KVM;
		 * otherwise only when no committed route waits for upload. */
		bool in_kvm = same && (assigned(x->fl) || !vm->table_stale);

		x->done = 0;
		if (defer) {
			if (live && (waits || !in_kvm))
				x->done = DONE_DEFER;
			if (!same && routed(x->st_fl, x->st_gsi))
				k->stales = true;
		} else if (!same ||
			   (live && vm->table_stale && !same_irqfd(x))) {
			table_changed = true;
		}
	}

	/* 1. Deassign before any route can disappear, and where the vector
	 * will wait for the batch instead. While the irqfd is assigned, every
	 * write is consumed by its wakeup: a count readable now is one an
	 * assign injected and left behind (go_direct()). Drop it, or the
	 * next poll would make it a pending bit and replay it. */
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];

		if (!assigned(x->fl) ||
		    (same_irqfd(x) && !(x->done & DONE_DEFER)))
			continue;
		lmx_eventfd_drain(x->efd);
		err = irqfd(k, x->efd, x->gsi, false);
		if (err)
			goto fail;
		x->done |= DONE_DEASSIGN;
	}

	/* 2. One upload of the whole table, only if it changed. */
	if (table_changed) {
		err = upload(vm, k);
		if (err) {
			cnt_inc(&k->cnt.errors);
			goto fail;
		}
		k->uploaded = true;
	}

	/* 3. Assign once the route exists. What the eventfd holds from while
	 * the vector was masked is read first and handed to poll(), so the
	 * engine replays it exactly once (assign would inject it and leave the
	 * eventfd readable: a stale pending bit for the next poll). A vector
	 * that goes live waiting for the batch is not drained: the VMM reads
	 * its eventfd from now on and delivers what it finds, once. */
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];
		bool was_live = (x->fl & KV_IRQFD) && x->efd == x->st_efd;

		if (!(x->st_fl & KV_IRQFD) || same_irqfd(x))
			continue;
		if ((x->fl & KV_DEFER) && x->gsi == x->st_gsi && was_live &&
		    !(x->done & DONE_DEFER)) {
			/* It waited; the table is uploaded now. */
			err = go_direct(k, x);
			if (err)
				goto fail;
			x->done |= DONE_ASSIGN;
			continue;
		}
		if (x->done & DONE_DEFER)
			continue;
		if (!was_live && lmx_eventfd_drain(x->st_efd) > 0) {
			atomic_store(&x->caught, true);
			cnt_inc(&k->cnt.caught);
		}
		err = irqfd(k, x->st_efd, x->st_gsi, true);
		if (err)
			goto fail;
		x->done |= DONE_ASSIGN;
	}
	return 0;

fail:
	kvm_commit_undo(be);
	return err;
}

void kvm_commit_undo(struct libmsix_backend *be)
{
	struct libmsix_kvm *k = to_kvm(be);

	undo_commit(k, k->uploaded);
	unstage_all(k);
	pthread_mutex_unlock(&k->vm->lock);
}

void kvm_commit_finish(struct libmsix_backend *be)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct libmsix_kvm_vm *vm = k->vm;

	/* Give back what the committed state no longer holds. */
	FOR_DIRTY(k, v) {
		if (k->v[v].efd != k->v[v].st_efd) {
			atomic_fetch_add(&k->efd_gen, 1);
			break;
		}
	}
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];
		uint8_t nfl = x->st_fl | ((x->done & DONE_DEFER) ? KV_DEFER : 0);
		bool fb_was = x->fl & KV_FALLBACK, fb_now = nfl & KV_FALLBACK;
		bool df_was = x->fl & KV_DEFER, df_now = nfl & KV_DEFER;

		x->done = 0;
		if (x->gsi >= 0 && x->gsi != x->st_gsi)
			gsi_put(vm, k, x->gsi);
		if (x->efd >= 0 && x->efd != x->st_efd) {
			close(x->efd);
			atomic_store(&x->caught, false);
		}
		if (fb_now && !fb_was) {
			vm->fallbacks++;
			k->fallback_count++;
		} else if (fb_was && !fb_now) {
			k->fallback_count--;
		}
		if (df_now && !df_was) {
			if (!vm->nr_deferred)
				vm->first_deferred_ns = now_ns();
			vm->nr_deferred++;
			k->deferred++;
		} else if (df_was && !df_now) {
			vm->nr_deferred--;
			k->deferred--;
		}
		if (served(nfl) != served(x->fl) ||
		    (served(nfl) && x->efd != x->st_efd))
			x->done = DONE_NOTE;
		x->gsi = x->st_gsi;
		x->efd = x->st_efd;
		x->fl = nfl;
		x->msg = x->st_msg;
	}
	if (k->uploaded)
		vm->table_stale = false;
	if (k->stales)
		vm->table_stale = true;

	/* Tell the VMM which eventfds to poll now. Under the VM lock, so that
	 * a flush on another thread cannot tell it "stop" before this says
	 * "start". */
	FOR_DIRTY(k, v) {
		struct kvec *x = &k->v[v];

		if ((x->done & DONE_NOTE) && k->fallback)
			k->fallback(k->opaque, v, served(x->fl) ? x->efd : -1);
		x->done = 0;
		bit_clear(k->dirty, (int)v);
	}
	lmx_span_clear(&k->span, k->n);
	if (flush_due(vm))
		flush_locked(vm);
	pthread_mutex_unlock(&vm->lock);
}

static int kvm_commit(struct libmsix_backend *be)
{
	int err = kvm_commit_prepare(be);

	if (!err)
		kvm_commit_finish(be);
	return err;
}

bool kvm_is_irqfd_backend(const struct libmsix_backend *be)
{
	return be && be->ops == &kvm_irqfd_ops;
}

/* ------------------------------------------------------------------------ */
/* Delivery and polling                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Notify path: the table's message as the engine read it (R41: a message
 * rewritten while unmasked takes effect for emulated delivery at once), not
 * the route's, which changes only at the next unmask. KVM_SIGNAL_MSI returns
 * 0 when no vCPU matches the destination. A real device's MSI to nobody is
 * lost as well and the device is not told, so 0 counts as delivered: making
 * it an error would latch the pending bit and replay it forever.
 */
static int kvm_deliver(struct libmsix_backend *be, uint32_t v,
		       const struct libmsix_msg *msg)
{
	return signal_msi(to_kvm(be), msg);
}

/* A masked vector: did its producer signal it meanwhile? Under the VM
 * lock: a flush must not assign the irqfd between the check and the read. */
static int kvm_poll(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_kvm *k = to_kvm(be);
	struct kvec *x;
	int r = 0;

	if (v >= k->n)
		return -EINVAL;
	x = &k->v[v];
	if (atomic_exchange(&x->caught, false))
		return 1;
	pthread_mutex_lock(&k->vm->lock);
	/* An assigned irqfd: KVM consumes the eventfd; a vector waiting for
	 * the batch is live, and the VMM reads its eventfd. */
	if ((x->fl & KV_HOST) && x->efd >= 0 && !(x->fl & KV_IRQFD))
		r = lmx_eventfd_drain(x->efd);
	pthread_mutex_unlock(&k->vm->lock);
	if (r > 0)
		cnt_inc(&k->cnt.caught);
	return r;
}

static const struct libmsix_backend_ops kvm_irqfd_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = kvm_alloc,
	.release = kvm_release,
	.route = kvm_route,
	.unroute = kvm_unroute,
	.mask = kvm_mask,
	.unmask = kvm_unmask,
	.commit = kvm_commit,
	.abort = kvm_abort,
	.deliver = kvm_deliver,
	.poll = kvm_poll,
};

/* Emulated device models: no GSI, no route; masking is libmsix's own. */
static const struct libmsix_backend_ops kvm_msi_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.deliver = kvm_deliver,
};

/* ------------------------------------------------------------------------ */
/* VM objects                                                                */
/* ------------------------------------------------------------------------ */

static void x86_irqchip_routes(struct kvm_irq_routing_entry *e)
{
	uint32_t n = 0;

	for (uint32_t gsi = 0; gsi < X86_IRQCHIP_GSIS; gsi++) {
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi;
		n++;
		if (gsi >= X86_PIC_GSIS)
			continue;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip =
			gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		e[n].u.irqchip.pin = gsi % 8;
		n++;
	}
}

static void vm_free(struct libmsix_kvm_vm *vm)
{
	free(vm->taken);
	free(vm->vmm);
	free(vm->vmm_routes);
	free(vm->buf);
	free(vm);
}

/*
 * Whether the VM has an in-kernel irqchip (full or split), without which
 * KVM_SIGNAL_MSI, KVM_IRQFD and KVM_SET_GSI_ROUTING all fail with a bare
 * -EINVAL: every notify would fail, and nothing would say why. On x86,
 * KVM_IRQ_LINE checks exactly that first (-ENXIO without one). Probed at
 * level 0 on the table's last GSI, @top: at creation nothing routes it,
 * and level 0 never injects (an MSI route fires only at level 1). Other
 * answers, e.g. from a VMM's ioctl filter, are not taken as a no.
 */
static bool irqchip_missing(struct libmsix_kvm_vm *vm, uint32_t top)
{
#if defined(__x86_64__) || defined(__i386__)
	struct kvm_irq_level l;

	memset(&l, 0, sizeof(l));
	l.irq = top;
	return vm_ioctl(vm, KVM_IRQ_LINE, &l) == -ENXIO;
#else
	(void)vm;
	(void)top;
	return false;
#endif
}

int libmsix_kvm_vm_create(const struct libmsix_kvm_vm_config *ucfg,
			  struct libmsix_kvm_vm **out)
{
	struct libmsix_kvm_vm_config c;
	const struct libmsix_kvm_vm_config *cfg = &c;
	struct libmsix_kvm_vm *vm;
	int cap, r;

	if (!ucfg || !out)
		return -EINVAL;
	r = LMX_STRUCT_IN(&c, ucfg);
	if (r)
		return r;
	if (cfg->flags & ~LIBMSIX_KVM_VM_X86_IRQCHIP)
		return cfg_einval(cfg, "libmsix_kvm_vm_create(): flags 0x%x: unknown bits 0x%x",
				  cfg->flags,
				  cfg->flags & ~LIBMSIX_KVM_VM_X86_IRQCHIP);
	if (cfg->vm_fd < 0)
		return cfg_einval(cfg, "libmsix_kvm_vm_create(): vm_fd %d is not a file descriptor",
				  cfg->vm_fd);
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->rt = (struct libmsix_kvm_routing){
		.size = sizeof(vm->rt),
		.mode = LIBMSIX_KVM_ROUTING_DEFERRED,
		.max_delay_ns = LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS,
	};
	cap = vm_ioctl(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_IRQ_ROUTING);
	if (cap <= 0) {
		r = cap < 0 ? cap : -ENOTSUP;
		goto fail;
	}
	r = vm_ioctl(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_IRQFD);
	if (r > 0)
		r = vm_ioctl(vm, KVM_CHECK_EXTENSION,
			     (void *)(long)KVM_CAP_SIGNAL_MSI);
	if (r <= 0) {
		r = r < 0 ? r : -ENOTSUP;
		goto fail;
	}
	if (irqchip_missing(vm, (uint32_t)cap - 1)) {
		vm_log(vm, LOG_ERR,
		       "libmsix-kvm: the VM has no in-kernel irqchip (KVM_IRQ_LINE: %s): "
		       "create one (KVM_CREATE_IRQCHIP, or KVM_CAP_SPLIT_IRQCHIP) "
		       "before libmsix_kvm_vm_create(); without it KVM refuses every "
		       "MSI, route and irqfd",
		       strerror(ENXIO));
		r = -ENXIO;
		goto fail;
	}
	vm->cap = (uint32_t)cap;
	if (cfg->max_routes && cfg->max_routes < vm->cap)
		vm->cap = cfg->max_routes;
	vm->taken = bit_alloc((int)vm->cap);
	vm->vmm = bit_alloc((int)vm->cap);
	vm->buf = calloc(1, sizeof(*vm->buf) +
				    vm->cap * sizeof(vm->buf->entries[0]));
	r = -ENOMEM;
	if (!vm->taken || !vm->vmm || !vm->buf)
		goto fail;
	if (cfg->flags & LIBMSIX_KVM_VM_X86_IRQCHIP) {
		uint32_t nr = X86_IRQCHIP_GSIS + X86_PIC_GSIS;

		r = -ENOSPC;
		if (vm->cap < nr)
			goto fail;
		r = -ENOMEM;
		vm->vmm_routes = calloc(nr, sizeof(*vm->vmm_routes));
		if (!vm->vmm_routes)
			goto fail;
		x86_irqchip_routes(vm->vmm_routes);
		vm->nr_vmm_routes = nr;
		bit_nset(vm->taken, 0, (int)X86_IRQCHIP_GSIS - 1);
		bit_nset(vm->vmm, 0, (int)X86_IRQCHIP_GSIS - 1);
		vm->nr_vmm_gsis = X86_IRQCHIP_GSIS;
	}
	pthread_mutex_init(&vm->lock, NULL);
	*out = vm;
	return 0;
fail:
	vm_free(vm);
	return r;
}

int libmsix_kvm_vm_destroy(struct libmsix_kvm_vm *vm)
{
	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	if (vm->devs) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_destroy(&vm->lock);
	vm_free(vm);
	return 0;
}

int libmsix_kvm_vm_reserve(struct libmsix_kvm_vm *vm, uint32_t first,
			   uint32_t count)
{
	int err = 0;

	if (!vm)
		return -EINVAL;
	if (!lmx_range_ok(vm->cap, first, count))
		return VM_EINVAL(vm, "libmsix_kvm_vm_reserve(): GSIs [%u, +%u): not a non-empty range of the table's 0..%u",
				 first, count, vm->cap - 1);
	pthread_mutex_lock(&vm->lock);
	for (uint32_t g = first; g < first + count && !err; g++)
		if (bit_test(vm->taken, (int)g))
			err = -EBUSY;
	/* Device reservations are guaranteed: the VMM cannot take them. */
	if (!err && lmx_max_u32(vm->nr_vmm_gsis + count, vm->nr_vmm_routes) >
			    vm->cap - vm->pool.claimed)
		err = -ENOSPC;
	if (!err) {
		bit_nset(vm->taken, (int)first, (int)(first + count - 1));
		bit_nset(vm->vmm, (int)first, (int)(first + count - 1));
		vm->nr_vmm_gsis += count;
	}
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int libmsix_kvm_vm_set_routes(struct libmsix_kvm_vm *vm,
			      const struct kvm_irq_routing_entry *entries,
			      uint32_t nr)
{
	struct kvm_irq_routing_entry *copy = NULL, *old;
	uint32_t old_nr;
	int err;

	if (!vm)
		return -EINVAL;
	if (nr && !entries)
		return VM_EINVAL(vm, "libmsix_kvm_vm_set_routes(): entries is NULL with nr %u",
				 nr);
	for (uint32_t i = 0; i < nr; i++)
		if (entries[i].gsi >= vm->cap ||
		    !bit_test(vm->vmm, (int)entries[i].gsi))
			return VM_EINVAL(vm, "libmsix_kvm_vm_set_routes(): entries[%u].gsi %u was not reserved with libmsix_kvm_vm_reserve()",
					 i, entries[i].gsi);
	if (nr) {
		copy = malloc(nr * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, entries, nr * sizeof(*copy));
	}
	pthread_mutex_lock(&vm->lock);
	err = -ENOSPC;
	if (lmx_max_u32(vm->nr_vmm_gsis, nr) > vm->cap - vm->pool.claimed)
		goto out;
	old = vm->vmm_routes;
	old_nr = vm->nr_vmm_routes;
	if (old_nr == nr && (nr == 0 || !memcmp(old, copy, nr * sizeof(*copy)))) {
		err = 0; /* unchanged: no upload */
		goto out;
	}
	vm->vmm_routes = copy;
	vm->nr_vmm_routes = nr;
	err = upload(vm, NULL);
	if (err) {
		vm->vmm_routes = old;
		vm->nr_vmm_routes = old_nr;
		goto out;
	}
	copy = old;
out:
	pthread_mutex_unlock(&vm->lock);
	free(copy);
	return err;
}

int libmsix_kvm_vm_get_stats(struct libmsix_kvm_vm *vm,
			     struct libmsix_kvm_vm_stats *out)
{
	if (!vm || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->lock);
	out->capacity = vm->cap;
	out->vmm_gsis = vm->nr_vmm_gsis;
	out->vmm_entries = vm->nr_vmm_routes;
	out->reserved = vm->pool.reserved;
	out->demand = vm->pool.demand;
	out->held = vm->pool.held;
	out->peak = vm->pool.peak;
	out->available = available(vm);
	out->overcommit = lmx_pool_overcommit(&vm->pool, dev_capacity(vm));
	out->exhausted = vm->exhausted;
	out->fallbacks = vm->fallbacks;
	out->uploads = vm->uploads;
	out->upload_errors = vm->upload_errors;
	out->deferred = vm->nr_deferred;
	out->flushes = vm->flushes;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* Longest time bound accepted: longer is a VMM bug, not a choice. */
#define MAX_DELAY_NS 10000000000ull

int libmsix_kvm_vm_set_routing(struct libmsix_kvm_vm *vm,
			       const struct libmsix_kvm_routing *urt)
{
	struct libmsix_kvm_routing r, *rt = &r;
	int err = 0;

	if (!vm || !urt)
		return -EINVAL;
	err = LMX_STRUCT_IN(&r, urt);
	if (err)
		return err;
	if (rt->mode != LIBMSIX_KVM_ROUTING_IMMEDIATE &&
	    rt->mode != LIBMSIX_KVM_ROUTING_DEFERRED)
		return VM_EINVAL(vm, "libmsix_kvm_vm_set_routing(): mode %d is unknown",
				 (int)rt->mode);
	if (rt->max_delay_ns > MAX_DELAY_NS)
		return VM_EINVAL(vm, "libmsix_kvm_vm_set_routing(): max_delay_ns %llu is beyond %llu",
				 (unsigned long long)rt->max_delay_ns,
				 (unsigned long long)MAX_DELAY_NS);
	pthread_mutex_lock(&vm->lock);
	/* Leaving deferred mode: nothing may keep waiting for a flush. */
	if (rt->mode == LIBMSIX_KVM_ROUTING_IMMEDIATE) {
		err = flush_locked(vm);
		err = err < 0 ? err : 0;
	}
	if (!err) {
		vm->rt = *rt;
		vm->rt.size = sizeof(vm->rt);
		if (flush_due(vm))
			flush_locked(vm);
	}
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int libmsix_kvm_vm_flush(struct libmsix_kvm_vm *vm)
{
	int r;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	r = flush_locked(vm);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int libmsix_kvm_vm_flush_deadline(struct libmsix_kvm_vm *vm,
				  uint64_t *deadline_ns)
{
	int r = -ENOENT;

	if (!vm || !deadline_ns)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->nr_deferred &&
	    vm->rt.mode != LIBMSIX_KVM_ROUTING_DEFERRED) {
		*deadline_ns = vm->first_deferred_ns; /* overdue */
		r = 0;
	} else if (vm->nr_deferred && vm->rt.max_delay_ns) {
		*deadline_ns = vm->first_deferred_ns + vm->rt.max_delay_ns;
		r = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */
/* ------------------------------------------------------------------------ */

#define KVM_F_ALL \
	(LIBMSIX_KVM_F_IRQFD | LIBMSIX_KVM_F_FORCE | LIBMSIX_KVM_F_FALLBACK)

static int check_config(struct libmsix_kvm_vm *vm,
			const struct libmsix_kvm_config *c)
{
	bool irqfd_dev = c->flags & LIBMSIX_KVM_F_IRQFD;

	if (c->flags & ~KVM_F_ALL)
		return VM_EINVAL(vm, "libmsix_kvm_create(): flags 0x%x: unknown bits 0x%x",
				 c->flags, c->flags & ~KVM_F_ALL);
	if (c->nr_vectors < 1 || c->nr_vectors > LIBMSIX_MAX_VECTORS)
		return VM_EINVAL(vm, "libmsix_kvm_create(): nr_vectors %u: MSI-X allows 1..2048",
				 c->nr_vectors);
	if (c->reserve > c->nr_vectors)
		return VM_EINVAL(vm, "libmsix_kvm_create(): reserve %u is more than nr_vectors %u",
				 c->reserve, c->nr_vectors);
	/* GSIs only mean something for irqfd devices. */
	if (!irqfd_dev && (c->reserve || (c->flags & KVM_F_ALL)))
		return VM_EINVAL(vm, "libmsix_kvm_create(): reserve and flags FORCE, FALLBACK need LIBMSIX_KVM_F_IRQFD");
	/* A GSI budget of 0 could never route a vector. */
	if (irqfd_dev && c->reserve == 0 && !(c->flags & LIBMSIX_KVM_F_FORCE))
		return VM_EINVAL(vm, "libmsix_kvm_create(): reserve 0 without LIBMSIX_KVM_F_FORCE: no vector could ever be routed");
	return 0;
}

int libmsix_kvm_create(struct libmsix_kvm_vm *vm,
		       const struct libmsix_kvm_config *ucfg,
		       struct libmsix_kvm **out)
{
	struct libmsix_kvm_config c;
	const struct libmsix_kvm_config *cfg = &c;
	struct libmsix_kvm *k;
	bool irqfd_dev;
	int err;

	if (!vm || !ucfg || !out)
		return -EINVAL;
	err = LMX_STRUCT_IN(&c, ucfg);
	if (!err)
		err = check_config(vm, cfg);
	if (err)
		return err;
	irqfd_dev = cfg->flags & LIBMSIX_KVM_F_IRQFD;
	k = calloc(1, sizeof(*k) + cfg->nr_vectors * sizeof(k->v[0]));
	if (!k)
		return -ENOMEM;
	k->dirty = bit_alloc((int)cfg->nr_vectors);
	if (!k->dirty) {
		free(k);
		return -ENOMEM;
	}
	k->vm = vm;
	k->flags = cfg->flags;
	k->n = cfg->nr_vectors;
	k->fallback = cfg->fallback;
	k->opaque = cfg->opaque;
	lmx_span_clear(&k->span, k->n);
	for (uint32_t v = 0; v < k->n; v++) {
		struct kvec *x = &k->v[v];

		x->gsi = x->st_gsi = -1;
		x->efd = x->st_efd = -1;
	}
	k->be.ops = irqfd_dev ? &kvm_irqfd_ops : &kvm_msi_ops;
	k->be.flags = 0; /* routes and irqfds come and go one by one */
	/* Without FORCE the reservation is the limit, and the engine faults
	 * vectors beyond it without asking; with FORCE or FALLBACK the pool
	 * decides at alloc time. */
	if (irqfd_dev && !(cfg->flags & (LIBMSIX_KVM_F_FORCE |
					  LIBMSIX_KVM_F_FALLBACK)))
		k->be.max_vectors = cfg->reserve;

	pthread_mutex_lock(&vm->lock);
	if (lmx_pool_join(&vm->pool, dev_capacity(vm), &k->share, cfg->reserve,
			  cfg->flags & LIBMSIX_KVM_F_FORCE,
			  irqfd_dev ? cfg->nr_vectors : 0)) {
		vm_log(vm, LOG_ERR,
		       "libmsix-kvm: cannot reserve %u GSIs: %u of %u available",
		       cfg->reserve, available(vm), dev_capacity(vm));
		pthread_mutex_unlock(&vm->lock);
		free(k->dirty);
		free(k);
		return -ENOSPC;
	}
	k->next = vm->devs;
	vm->devs = k;
	pthread_mutex_unlock(&vm->lock);
	*out = k;
	return 0;
}

void libmsix_kvm_destroy(struct libmsix_kvm *k)
{
	struct libmsix_kvm_vm *vm;
	bool had_routes = false;

	if (!k)
		return;
	vm = k->vm;
	pthread_mutex_lock(&vm->lock);
	unstage_all(k);
	for (uint32_t v = 0; v < k->n; v++) {
		struct kvec *x = &k->v[v];

		if (assigned(x->fl))
			irqfd(k, x->efd, x->gsi, false);
		if (routed(x->fl, x->gsi))
			had_routes = true;
		/* Staged = nothing, so the upload below drops the routes. */
		x->st_fl = 0;
		x->st_gsi = -1;
	}
	vm->nr_deferred -= k->deferred;
	if (had_routes)
		upload(vm, k);
	for (uint32_t v = 0; v < k->n; v++) {
		struct kvec *x = &k->v[v];

		if (x->gsi >= 0)
			gsi_put(vm, k, x->gsi);
		if (x->efd >= 0)
			close(x->efd);
	}
	for (struct libmsix_kvm **p = &vm->devs; *p; p = &(*p)->next) {
		if (*p == k) {
			*p = k->next;
			break;
		}
	}
	lmx_pool_leave(&vm->pool, &k->share,
		       (k->flags & LIBMSIX_KVM_F_IRQFD) ? k->n : 0);
	pthread_mutex_unlock(&vm->lock);
	free(k->dirty);
	free(k);
}

struct libmsix_backend *libmsix_kvm_backend(struct libmsix_kvm *k)
{
	return k ? &k->be : NULL;
}

/* The staged copy: what the engine sees during its transaction. */
int libmsix_kvm_vector_eventfd(struct libmsix_kvm *k, uint32_t vector)
{
	if (!k || vector >= k->n)
		return -EINVAL;
	if (!(k->v[vector].st_fl & KV_HOST))
		return -ENOENT;
	return k->v[vector].st_efd;
}

int libmsix_kvm_vector_eventfd_get(struct libmsix_kvm *k, uint32_t vector,
				   uint64_t *gen)
{
	struct kvec *x;
	int fd;

	if (!k || vector >= k->n)
		return -EINVAL;
	x = &k->v[vector];
	/* Commits change x->efd and the generation under the VM lock. */
	pthread_mutex_lock(&k->vm->lock);
	if (!(x->fl & KV_HOST) || x->efd < 0) {
		fd = -ENOENT;
	} else {
		fd = fcntl(x->efd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
		else if (gen)
			*gen = atomic_load(&k->efd_gen);
	}
	pthread_mutex_unlock(&k->vm->lock);
	return fd;
}

uint64_t libmsix_kvm_eventfd_generation(struct libmsix_kvm *k)
{
	return k ? atomic_load(&k->efd_gen) : 0;
}

int libmsix_kvm_vector_gsi(struct libmsix_kvm *k, uint32_t vector)
{
	if (!k || vector >= k->n)
		return -EINVAL;
	if (k->v[vector].st_gsi < 0)
		return -ENOENT;
	return k->v[vector].st_gsi;
}

int libmsix_kvm_consume(struct libmsix_kvm *k, uint32_t vector)
{
	struct kvec *x;
	int r;

	if (!k || vector >= k->n)
		return -EINVAL;
	x = &k->v[vector];
	pthread_mutex_lock(&k->vm->lock);
	if (!(x->fl & KV_HOST) || x->efd < 0) {
		r = -ENOENT;
	} else if (assigned(x->fl)) {
		r = -EBUSY;
	} else {
		r = lmx_eventfd_drain(x->efd);
		if (flush_due(k->vm))
			flush_locked(k->vm);
	}
	pthread_mutex_unlock(&k->vm->lock);
	return r;
}

int libmsix_kvm_get_stats(struct libmsix_kvm *k,
			  struct libmsix_kvm_stats *out)
{
	if (!k || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->route_uploads = atomic_load(&k->cnt.route_uploads);
	out->irqfd_assign = atomic_load(&k->cnt.irqfd_assign);
	out->irqfd_deassign = atomic_load(&k->cnt.irqfd_deassign);
	out->signal_msi = atomic_load(&k->cnt.signal_msi);
	out->signal_msi_unmatched = atomic_load(&k->cnt.signal_msi_unmatched);
	out->caught = atomic_load(&k->cnt.caught);
	out->exhausted = atomic_load(&k->cnt.exhausted);
	out->errors = atomic_load(&k->cnt.errors);
	pthread_mutex_lock(&k->vm->lock);
	out->gsis = k->share.held;
	out->fallback_vectors = k->fallback_count;
	out->deferred_vectors = k->deferred;
	pthread_mutex_unlock(&k->vm->lock);
	return 0;
}
