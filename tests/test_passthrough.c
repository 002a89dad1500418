/* SPDX-License-Identifier: MIT */
/*
 * The passthrough backend (lib/passthrough.c): the real VFIO and KVM
 * backends composed, against the fake vfio-pci device and the fake KVM VM
 * (tests/fakes/). What is checked is the composition: which half each op
 * reaches, that the device's trigger is the vector's irqfd eventfd while
 * the guest has it unmasked, that either mask strategy keeps an interrupt
 * as the pending bit and delivers it once, and that commit is
 * all-or-nothing across both halves. The real kernels are tested in the
 * guest (tests/guest/kvm_pt_doorbell.c).
 */
#include "fakes/fake_kvm.h"
#include "fakes/fake_vfio.h"
#include "helpers.h"
#include "libmsix-kvm.h"
#include "libmsix-vfio.h"

struct pt {
	struct fake_kvm *f;
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *k;
	struct libmsix_vfio *vf;
	struct libmsix_passthrough *p;
	struct tdev t;		/* .dev on the passthrough backend; no .rec */
	int fds_before;
	int served[8];		/* fallback callback: fds the VMM polls */
};

/* The VMM polls what libmsix hands it (a deferred vector's eventfd). */
static void on_served(void *opaque, uint32_t v, int fd)
{
	struct pt *p = opaque;

	if (v < 8)
		p->served[v] = fd;
}

/* @n vectors, every one used, the guest's layout of helpers.h (the VMM
 * chooses it; the fake device's real one is not what the guest sees). */
static void pt_new(struct pt *p, uint32_t n, bool noresize,
		   enum libmsix_pt_mask mask, enum libmsix_policy policy)
{
	struct libmsix_vfio_opts vo = { .size = sizeof(vo) };
	struct libmsix_kvm_vm_config vc = {
		.size = sizeof(vc),
		.vm_fd = FAKE_KVM_FD,
		.ioctl = fake_kvm_ioctl,
	};
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc),
		.flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = n,
		.reserve = n,
		.fallback = on_served,
		.opaque = p,
	};
	struct libmsix_passthrough_config pc = {
		.size = sizeof(pc),
		.mask = mask,
	};
	struct libmsix_kvm_routing im = {
		.size = sizeof(im), .mode = LIBMSIX_KVM_ROUTING_IMMEDIATE,
	};
	struct libmsix_config cfg = test_config(n);

	memset(p, 0, sizeof(*p));
	p->fds_before = open_fds();
	fake_vfio_init(n, noresize);
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &vo, &p->vf), 0);
	p->f = fake_kvm_new(4096);
	vc.ioctl_opaque = p->f;
	ck_assert_int_eq(libmsix_kvm_vm_create(&vc, &p->vm), 0);
	/* The device has a fallback callback, so it would defer by default;
	 * these tests are about immediate routing (pt_deferred() switches). */
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(p->vm, &im), 0);
	ck_assert_int_eq(libmsix_kvm_create(p->vm, &kc, &p->k), 0);
	ck_assert_int_eq(libmsix_passthrough_create(p->vf, p->k, &pc, &p->p),
			 0);
	cfg.policy = policy;
	p->t.n = n;
	ck_assert_int_eq(libmsix_dev_create(&cfg,
					    libmsix_passthrough_backend(p->p),
					    &p->t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(p->t.dev), 0);
}

/* Teardown in the documented order; nothing may be left behind. */
static void pt_free(struct pt *p)
{
	libmsix_dev_destroy(p->t.dev);
	libmsix_passthrough_destroy(p->p);
	libmsix_kvm_destroy(p->k);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(p->vm), 0);
	libmsix_vfio_close(p->vf);
	ck_assert(!fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	fake_vfio_fini();
	ck_assert_uint_eq(p->f->nr_irqfds, 0);
	ck_assert_uint_eq(p->f->violations, 0);
	free(p->f);
	ck_assert_int_eq(open_fds(), p->fds_before);
}

static struct libmsix_passthrough_stats pstats(struct pt *p)
{
	struct libmsix_passthrough_stats s;

	ck_assert_int_eq(libmsix_passthrough_get_stats(p->p, &s), 0);
	return s;
}

static int kvm_efd(struct pt *p, uint32_t v)
{
	return libmsix_kvm_vector_eventfd(p->k, v);
}

/* The device raises @v (vfio_msihandler): it signals whatever trigger
 * the kernel holds, which KVM injects if it is an assigned irqfd with a
 * route; without a trigger it waits in the device's PBA. */
static void device_raise(struct pt *p, uint32_t v)
{
	if (fk.on && fk.trig[v] >= 0)
		fake_kvm_fire(p->f, fk.trig_num[v]);
	else
		fake_vfio_raise(v);
}

static bool pending(struct pt *p, uint32_t v)
{
	struct libmsix_vector_info vi;

	ck_assert_int_eq(libmsix_get_vector_info(p->t.dev, v, &vi), 0);
	return vi.pending;
}

/* ------------------------------------------------------------------------ */
/* Going live                                                                */
/* ------------------------------------------------------------------------ */

/* Unmasking points the device at the vector's irqfd eventfd, after its
 * route and irqfd exist; an interrupt then reaches the guest without the
 * VMM: KVM injects it. */
static void unmask_goes_live(bool noresize, enum libmsix_policy policy)
{
	struct pt p;
	const struct kvm_irq_routing_entry *r;
	int gsi;

	pt_new(&p, 8, noresize, LIBMSIX_PT_MASK_AUTO, policy);
	linux_bringup(&p.t);
	ck_assert_uint_eq(p.f->nr_irqfds, 0);
	ck_assert_int_eq(set_vmask(&p.t, 3, false), 0);

	ck_assert_int_ge(kvm_efd(&p, 3), 0);
	ck_assert_int_eq(fk.trig_num[3], kvm_efd(&p, 3));
	ck_assert_int_eq(libmsix_vfio_host_fd(p.vf, 3), kvm_efd(&p, 3));
	gsi = libmsix_kvm_vector_gsi(p.k, 3);
	ck_assert_int_ge(gsi, 0);
	r = fake_kvm_route(p.f, (uint32_t)gsi);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->u.msi.address_lo, (uint32_t)test_addr(3));
	ck_assert_uint_eq(r->u.msi.data, test_data(3));
	ck_assert_uint_eq(p.f->nr_irqfds, 1);

	device_raise(&p, 3);
	ck_assert_uint_eq(p.f->injected, 1);
	ck_assert_uint_eq(p.f->signals, 0);
	ck_assert(!pending(&p, 3));
	ck_assert(!pba_bit(&p.t, 3));
	pt_free(&p);
}

START_TEST(test_unmask_goes_live_dynamic_lazy)
{
	unmask_goes_live(false, LIBMSIX_POLICY_LAZY);
}
END_TEST

START_TEST(test_unmask_goes_live_noresize_preallocate)
{
	unmask_goes_live(true, LIBMSIX_POLICY_PREALLOCATE);
}
END_TEST

/* A preallocated vector's first unmask is KVM-only: VFIO's trigger is
 * already the irqfd eventfd, so there is no SET_IRQS per request_irq(). */
START_TEST(test_preallocated_first_unmask_is_kvm_only)
{
	struct pt p;
	unsigned mark;

	pt_new(&p, 8, true, LIBMSIX_PT_MASK_AUTO, LIBMSIX_POLICY_PREALLOCATE);
	linux_bringup(&p.t);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(fk.trig_num[v], kvm_efd(&p, v));
	mark = fk.calls;
	fake_kvm_clear(p.f);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(set_vmask(&p.t, v, false), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 0);
	ck_assert_uint_eq(fake_kvm_count(p.f, 'A'), 8);
	ck_assert_uint_eq(p.f->nr_irqfds, 8);
	pt_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Masking: either strategy latches, and delivers once                       */
/* ------------------------------------------------------------------------ */

/* A device of 8 vectors masked by @how with vector @v live; the KVM trace
 * emptied. Returns fk.calls (the SET_IRQS count) then. */
static unsigned one_live(struct pt *p, enum libmsix_pt_mask how, uint32_t v)
{
	pt_new(p, 8, false, how, LIBMSIX_POLICY_LAZY);
	linux_bringup(&p->t);
	ck_assert_int_eq(set_vmask(&p->t, v, false), 0);
	fake_kvm_clear(p->f);
	return fk.calls;
}

/* SWAP: the mask is one SET_IRQS that points the device at VFIO's mask
 * eventfd; the irqfd stays; the unmask swaps back and replays the latched
 * interrupt with KVM_SIGNAL_MSI, carrying the message written meanwhile. */
START_TEST(test_mask_by_swap_latches_and_replays_once)
{
	struct pt p;
	unsigned mark = one_live(&p, LIBMSIX_PT_MASK_SWAP, 5);

	ck_assert_int_eq(set_vmask(&p.t, 5, true), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 1);
	ck_assert_uint_eq(p.f->trace_len, 0); /* no KVM ioctl */
	ck_assert_int_ge(fk.trig_num[5], 0);
	ck_assert_int_ne(fk.trig_num[5], kvm_efd(&p, 5));
	ck_assert_uint_eq(p.f->nr_irqfds, 1);
	ck_assert_uint_eq(pstats(&p).masks_swap, 1);
	ck_assert_uint_eq(pstats(&p).masks_irqfd, 0);

	device_raise(&p, 5);
	device_raise(&p, 5);
	ck_assert_uint_eq(p.f->injected, 0);
	ck_assert(pba_bit(&p.t, 5));

	set_msg(&p.t, 5, test_addr(5), 0x7777);
	mark = fk.calls;
	ck_assert_int_eq(set_vmask(&p.t, 5, false), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 1);
	ck_assert_int_eq(fk.trig_num[5], kvm_efd(&p, 5));
	ck_assert_uint_eq(p.f->signals, 1);
	ck_assert_uint_eq(p.f->last_msi.data, 0x7777);
	ck_assert_uint_eq(p.f->injected, 0);
	ck_assert(!pba_bit(&p.t, 5));
	pt_free(&p);
}
END_TEST

/* IRQFD: the mask is a KVM_IRQFD deassign and no SET_IRQS; the device keeps
 * signalling the eventfd, which the PBA shows; the unmask re-assigns and
 * the guest gets the interrupt exactly once (replayed or injected). */
START_TEST(test_mask_by_irqfd_latches_and_delivers_once)
{
	struct pt p;
	unsigned mark = one_live(&p, LIBMSIX_PT_MASK_IRQFD, 6);

	ck_assert_int_eq(set_vmask(&p.t, 6, true), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 0);
	ck_assert_str_eq(p.f->trace, "D");
	ck_assert_uint_eq(p.f->nr_irqfds, 0);
	ck_assert_int_eq(fk.trig_num[6], kvm_efd(&p, 6));
	ck_assert_uint_eq(pstats(&p).masks_irqfd, 1);
	ck_assert_uint_eq(pstats(&p).masks_swap, 0);

	device_raise(&p, 6);
	ck_assert_uint_eq(p.f->injected, 0);
	ck_assert(pba_bit(&p.t, 6));

	ck_assert_int_eq(set_vmask(&p.t, 6, false), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 0);
	ck_assert_uint_eq(fake_kvm_count(p.f, 'A'), 1);
	ck_assert_uint_eq(p.f->nr_irqfds, 1);
	ck_assert_uint_eq(p.f->injected + p.f->signals, 1);
	ck_assert(!pba_bit(&p.t, 6));
	pt_free(&p);
}
END_TEST

/* A mask+unmask with nothing raised in between delivers nothing. */
START_TEST(test_mask_unmask_cycle_delivers_nothing)
{
	static const enum libmsix_pt_mask how[] = { LIBMSIX_PT_MASK_SWAP,
						    LIBMSIX_PT_MASK_IRQFD };

	for (size_t i = 0; i < 2; i++) {
		struct pt p;

		pt_new(&p, 4, false, how[i], LIBMSIX_POLICY_LAZY);
		linux_bringup(&p.t);
		ck_assert_int_eq(set_vmask(&p.t, 1, false), 0);
		ck_assert_int_eq(set_vmask(&p.t, 1, true), 0);
		ck_assert_int_eq(set_vmask(&p.t, 1, false), 0);
		ck_assert_uint_eq(p.f->injected + p.f->signals, 0);
		ck_assert(!pba_bit(&p.t, 1));
		ck_assert_int_eq(fk.trig_num[1], kvm_efd(&p, 1));
		pt_free(&p);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Commit across both halves                                                 */
/* ------------------------------------------------------------------------ */

/* VFIO's SET_IRQS fails after KVM's ioctls ran: KVM is undone (no irqfd
 * left on an eventfd the device is not using), the vector faults, and a
 * later unmask goes live normally. */
START_TEST(test_vfio_failure_undoes_kvm)
{
	struct pt p;
	struct libmsix_vector_info vi;

	pt_new(&p, 8, false, LIBMSIX_PT_MASK_AUTO, LIBMSIX_POLICY_LAZY);
	linux_bringup(&p.t);
	fk.fail_at = fk.calls + 1;
	fk.fail_index = -1;
	fk.fail_err = -EIO;
	set_vmask(&p.t, 2, false);
	ck_assert_uint_eq(fake_kvm_count(p.f, 'A'), 1); /* KVM did run */
	ck_assert_uint_eq(p.f->nr_irqfds, 0);		  /* and was undone */
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	ck_assert_uint_eq(pstats(&p).rollbacks, 1);
	ck_assert_int_eq(libmsix_get_vector_info(p.t.dev, 2, &vi), 0);
	ck_assert_uint_eq(vi.host & LIBMSIX_HOST_FAULT, LIBMSIX_HOST_FAULT);
	ck_assert(!vi.live);

	fk.fail_at = 0;
	ck_assert_int_eq(set_vmask(&p.t, 2, true), 0);
	ck_assert_int_eq(set_vmask(&p.t, 2, false), 0);
	ck_assert_int_eq(fk.trig_num[2], kvm_efd(&p, 2));
	ck_assert_uint_eq(p.f->nr_irqfds, 1);
	device_raise(&p, 2);
	ck_assert_uint_eq(p.f->injected, 1);
	pt_free(&p);
}
END_TEST

/* KVM's half fails first: VFIO is never asked (no SET_IRQS), nothing is
 * left in either half. */
START_TEST(test_kvm_failure_skips_vfio)
{
	struct pt p;
	unsigned mark;

	pt_new(&p, 8, false, LIBMSIX_PT_MASK_AUTO, LIBMSIX_POLICY_LAZY);
	linux_bringup(&p.t);
	p.f->fail_req = KVM_IRQFD;
	p.f->fail_k = 1;
	p.f->fail_err = -ENOMEM;
	mark = fk.calls;
	set_vmask(&p.t, 4, false);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 0);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	ck_assert_uint_eq(p.f->nr_irqfds, 0);
	ck_assert_uint_eq(pstats(&p).rollbacks, 1);
	pt_free(&p);
}
END_TEST

/* Several vectors unmasked in one transaction: one commit, one SET_IRQS
 * for the run (MSI-X is already on at the host: vector 0 is live). */
START_TEST(test_transaction_is_one_commit)
{
	struct pt p;
	unsigned mark;
	uint64_t commits;

	pt_new(&p, 16, false, LIBMSIX_PT_MASK_AUTO, LIBMSIX_POLICY_LAZY);
	linux_bringup(&p.t);
	ck_assert_int_eq(set_vmask(&p.t, 0, false), 0);
	commits = pstats(&p).commits;
	mark = fk.calls;
	ck_assert_int_eq(libmsix_begin(p.t.dev), 0);
	for (uint32_t v = 4; v < 12; v++)
		ck_assert_int_eq(set_vmask(&p.t, v, false), 0);
	ck_assert_int_eq(libmsix_commit(p.t.dev), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 1);
	ck_assert_uint_eq(pstats(&p).commits, commits + 1);
	ck_assert_uint_eq(p.f->nr_irqfds, 1 + 8);
	for (uint32_t v = 4; v < 12; v++)
		ck_assert_int_eq(fk.trig_num[v], kvm_efd(&p, v));
	pt_free(&p);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Deferred routing                                                          */
/* ------------------------------------------------------------------------ */

static void pt_deferred(struct pt *p)
{
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt), .mode = LIBMSIX_KVM_ROUTING_DEFERRED,
	};

	ck_assert_int_eq(libmsix_kvm_vm_set_routing(p->vm, &rt), 0);
}

/* The VMM's side of a deferred vector: its eventfd readable, consume and
 * notify. */
static void vmm_serve(struct pt *p, uint32_t v)
{
	ck_assert_int_eq(libmsix_kvm_consume(p->k, v), 1);
	ck_assert_int_eq(libmsix_notify(p->t.dev, v), LIBMSIX_DELIVERED);
}

/* A deferred vector is live at once: the device signals its eventfd, which
 * the VMM serves until the flush gives it the irqfd; then KVM injects. */
START_TEST(test_deferred_vector_served_until_the_flush)
{
	struct pt p;

	pt_new(&p, 8, false, LIBMSIX_PT_MASK_AUTO, LIBMSIX_POLICY_LAZY);
	pt_deferred(&p);
	linux_bringup(&p.t);
	ck_assert_int_eq(set_vmask(&p.t, 3, false), 0);
	ck_assert_int_eq(fk.trig_num[3], kvm_efd(&p, 3));
	ck_assert_int_eq(p.served[3], kvm_efd(&p, 3));
	ck_assert_uint_eq(p.f->uploads, 0);
	ck_assert_uint_eq(p.f->nr_irqfds, 0);
	device_raise(&p, 3);
	vmm_serve(&p, 3);
	ck_assert_uint_eq(p.f->signals, 1);
	ck_assert_uint_eq(p.f->last_msi.data, test_data(3));
	/* Masked meanwhile (trigger swap): it latches, unmask replays it. */
	ck_assert_int_eq(set_vmask(&p.t, 3, true), 0);
	device_raise(&p, 3);
	ck_assert(pba_bit(&p.t, 3));
	ck_assert_int_eq(set_vmask(&p.t, 3, false), 0);
	ck_assert_uint_eq(p.f->signals, 2);
	/* Raised while the flush runs: KVM injects it at the assign. */
	device_raise(&p, 3);
	ck_assert_int_eq(libmsix_kvm_vm_flush(p.vm), 1);
	ck_assert_int_eq(p.served[3], -1);
	ck_assert_uint_eq(p.f->uploads, 1);
	ck_assert_uint_eq(p.f->nr_irqfds, 1);
	ck_assert_uint_eq(p.f->injected, 1);
	device_raise(&p, 3);
	ck_assert_uint_eq(p.f->injected, 2);
	ck_assert_uint_eq(p.f->signals, 2);
	ck_assert_int_eq(libmsix_kvm_consume(p.k, 3), -EBUSY);
	pt_free(&p);
}
END_TEST

/*
 * The count of issue 11: a Linux bring-up of N vectors on a dynamic-MSI-X
 * host costs at most 2N + 2 ioctls with deferred routing, every policy
 * (QEMU: 3N + 1), with at most 2 route uploads and 3N route entries in
 * all (QEMU: N uploads, N(N+1)/2 entries).
 */
static void bringup_counts(uint32_t n, enum libmsix_policy policy)
{
	struct pt p;
	unsigned mark;
	unsigned long ioctls;

	pt_new(&p, n, false, LIBMSIX_PT_MASK_AUTO, policy);
	pt_deferred(&p);
	mark = fk.calls;
	linux_bringup(&p.t);
	for (uint32_t v = 0; v < n; v++) {
		set_msg(&p.t, v, test_addr(v), test_data(v));
		ck_assert_int_eq(set_vmask(&p.t, v, false), 0);
	}
	ck_assert_int_eq(libmsix_kvm_vm_flush(p.vm), (int)n);
	ioctls = fake_vfio_set_irqs_since(mark) + p.f->uploads +
		 p.f->assigns + p.f->deassigns;
	ck_assert_uint_le(ioctls, 2ul * n + 2);
	ck_assert_uint_le(p.f->uploads, 2);
	ck_assert_uint_le(p.f->msi_entries, 3ul * n);
	ck_assert_uint_eq(p.f->nr_irqfds, n);
	for (uint32_t v = 0; v < n; v++) {
		ck_assert_int_eq(fk.trig_num[v], kvm_efd(&p, v));
		device_raise(&p, v);
	}
	ck_assert_uint_eq(p.f->injected, n);
	ck_assert_uint_eq(p.f->signals, 0);
	pt_free(&p);
}

/* _i: N = 8, 64, 512, 2048 (i / 4) under each policy (i % 4). */
START_TEST(test_deferred_bringup_counts)
{
	static const enum libmsix_policy pol[] = {
		LIBMSIX_POLICY_AUTO, LIBMSIX_POLICY_LAZY,
		LIBMSIX_POLICY_PREALLOCATE, LIBMSIX_POLICY_INCREMENTAL,
	};
	static const uint32_t ns[] = { 8, 64, 512, 2048 };

	bringup_counts(ns[_i / 4], pol[_i % 4]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* One op at a time                                                          */
/* ------------------------------------------------------------------------ */

/*
 * The composed backend's ops driven directly, as the engine drives them,
 * each checked at the half (or halves) that implement it. The fixture's
 * device stays disabled meanwhile, so the engine calls no op of its own.
 */
#define PT_N 8u

struct opt {
	struct pt p;
	struct libmsix_backend *be;
	const struct libmsix_backend_ops *ops;
};

static struct opt opt_new(enum libmsix_pt_mask mask)
{
	struct opt o;

	pt_new(&o.p, PT_N, false, mask, LIBMSIX_POLICY_LAZY);
	o.be = libmsix_passthrough_backend(o.p.p);
	o.ops = o.be->ops;
	return o;
}

static const struct libmsix_msg pt_msg = { .address = 0xfee01000u,
					   .data = 0x41 };

/* @v's irqfd is assigned in the fake KVM. */
static bool irqfd_assigned(struct opt *o, uint32_t v)
{
	int efd = libmsix_kvm_vector_eventfd(o->p.k, v);
	int gsi = libmsix_kvm_vector_gsi(o->p.k, v);

	for (uint32_t i = 0; i < o->p.f->nr_irqfds; i++)
		if (o->p.f->irqfds[i].fd == efd &&
		    o->p.f->irqfds[i].gsi == (uint32_t)gsi)
			return true;
	return false;
}

/* Vector 0 allocated and routed, and unmasked if @live; committed. */
static void vector0_routed(struct opt *o, bool live)
{
	ck_assert_int_eq(o->ops->alloc(o->be, 0, 1), 0);
	ck_assert_int_eq(o->ops->route(o->be, 0, &pt_msg), 0);
	if (live)
		ck_assert_int_eq(o->ops->unmask(o->be, 0), 0);
	ck_assert_int_eq(o->ops->commit(o->be), 0);
	ck_assert(irqfd_assigned(o, 0) == live);
}

static void vector0_live(struct opt *o)
{
	vector0_routed(o, true);
}

/* Vector 0 masked if @live, unrouted, released; committed. */
static void vector0_gone(struct opt *o, bool live)
{
	if (live)
		ck_assert_int_eq(o->ops->mask(o->be, 0), 0);
	ck_assert_int_eq(o->ops->unroute(o->be, 0), 0);
	ck_assert_int_eq(o->ops->release(o->be, 0, 1), 0);
	ck_assert_int_eq(o->ops->commit(o->be), 0);
}

/*
 * Every -EINVAL of libmsix_passthrough_create() and _get_stats() names the
 * argument and the rule, through the VFIO device's sink and its prefix.
 */
START_TEST(test_einval_is_logged)
{
	struct libmsix_vfio_opts vo = { .size = sizeof(vo), .log = test_log_cb };
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm_config vc = {
		.size = sizeof(vc), .vm_fd = FAKE_KVM_FD,
		.ioctl = fake_kvm_ioctl, .ioctl_opaque = f,
	};
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 4, .reserve = 4,
	};
	struct libmsix_kvm_config nc = { .size = sizeof(nc), .nr_vectors = 4 };
	struct libmsix_kvm_config sc = kc;
	struct libmsix_passthrough_config pc = { .size = sizeof(pc), .flags = 1 };
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *k, *plain, *small;
	struct libmsix_vfio *vf;
	struct libmsix_passthrough *p = NULL;

	sc.nr_vectors = sc.reserve = 3;
	fake_vfio_init(4, false);
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &vo, &vf), 0);
	ck_assert_int_eq(libmsix_kvm_vm_create(&vc, &vm), 0);
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), 0);
	ck_assert_int_eq(libmsix_kvm_create(vm, &nc, &plain), 0);
	ck_assert_int_eq(libmsix_kvm_create(vm, &sc, &small), 0);
	test_log_clear();

	ck_assert_int_eq(libmsix_passthrough_create(vf, k, &pc, &p), -EINVAL);
	assert_test_logged("libmsix-vfio fake: libmsix_passthrough_create(): flags 0x1",
			   "none are defined");
	pc.flags = 0;
	pc.mask = (enum libmsix_pt_mask)9;
	ck_assert_int_eq(libmsix_passthrough_create(vf, k, &pc, &p), -EINVAL);
	assert_test_logged("mask 9 is not", NULL);
	pc.mask = LIBMSIX_PT_MASK_SWAP;
	pc.size = 1;
	ck_assert_int_eq(libmsix_passthrough_create(vf, k, &pc, &p), -EINVAL);
	assert_test_logged("cfg->size 1 is below sizeof(size_t)", NULL);
	pc.size = sizeof(pc);
	ck_assert_int_eq(libmsix_passthrough_create(vf, NULL, &pc, &p),
			 -EINVAL);
	assert_test_logged("kvm is NULL", NULL);
	ck_assert_int_eq(libmsix_passthrough_create(vf, plain, &pc, &p),
			 -EINVAL);
	assert_test_logged("kvm was not created with LIBMSIX_KVM_F_IRQFD", NULL);
	ck_assert_int_eq(libmsix_passthrough_create(vf, small, &pc, &p),
			 -EINVAL);
	assert_test_logged("kvm has fewer vectors than the VFIO device's 4",
			   NULL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(*test_log_count(), 6);

	ck_assert_int_eq(libmsix_passthrough_create(vf, k, &pc, &p), 0);
	ck_assert_int_eq(libmsix_passthrough_get_stats(p, NULL), -EINVAL);
	assert_test_logged("libmsix_passthrough_get_stats(): out is NULL", NULL);
	ck_assert_uint_eq(*test_log_count(), 7);

	libmsix_passthrough_destroy(p);
	libmsix_kvm_destroy(small);
	libmsix_kvm_destroy(plain);
	libmsix_kvm_destroy(k);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	libmsix_vfio_close(vf);
	fake_vfio_fini();
	free(f);
}
END_TEST

START_TEST(test_pt_alloc_reaches_both_halves)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);

	ck_assert_int_eq(o.ops->alloc(o.be, 0, 2), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	for (uint32_t v = 0; v < 2; v++) {
		/* KVM: a GSI and an eventfd; VFIO: that eventfd triggers. */
		ck_assert_int_ge(libmsix_kvm_vector_gsi(o.p.k, v), 0);
		ck_assert_int_ge(libmsix_kvm_vector_eventfd(o.p.k, v), 0);
		ck_assert_int_eq(fk.trig_num[v],
				 libmsix_kvm_vector_eventfd(o.p.k, v));
		/* A fresh vector is masked by its missing irqfd. */
		ck_assert(!irqfd_assigned(&o, v));
	}
	ck_assert(fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 2);
	ck_assert_int_eq(o.ops->release(o.be, 0, 2), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_release_reaches_both_halves)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);

	ck_assert_int_eq(o.ops->alloc(o.be, 0, 2), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert_int_eq(o.ops->release(o.be, 0, 2), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	for (uint32_t v = 0; v < 2; v++) {
		ck_assert_int_eq(libmsix_kvm_vector_gsi(o.p.k, v), -ENOENT);
		ck_assert_int_eq(libmsix_kvm_vector_eventfd(o.p.k, v), -ENOENT);
	}
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_route_reaches_kvm)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);
	const struct kvm_irq_routing_entry *e;

	vector0_routed(&o, false);
	e = fake_kvm_route(o.p.f, (uint32_t)libmsix_kvm_vector_gsi(o.p.k, 0));
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->u.msi.address_lo, (uint32_t)pt_msg.address);
	ck_assert_uint_eq(e->u.msi.data, pt_msg.data);
	ck_assert_int_eq(o.ops->route(o.be, PT_N, &pt_msg), -EINVAL);
	vector0_gone(&o, false);
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_unroute_reaches_kvm)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);
	uint32_t gsi;

	vector0_live(&o);
	gsi = (uint32_t)libmsix_kvm_vector_gsi(o.p.k, 0);
	ck_assert_int_eq(o.ops->mask(o.be, 0), 0);
	ck_assert_int_eq(o.ops->unroute(o.be, 0), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert_ptr_null(fake_kvm_route(o.p.f, gsi));
	ck_assert(!irqfd_assigned(&o, 0)); /* deassigned with its route */
	ck_assert_int_eq(o.ops->release(o.be, 0, 1), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_unmask_assigns_the_irqfd)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);

	vector0_live(&o);
	/* The device's interrupt reaches the guest without the VMM. */
	fake_kvm_fire(o.p.f, libmsix_kvm_vector_eventfd(o.p.k, 0));
	ck_assert_uint_eq(o.p.f->injected, 1);
	vector0_gone(&o, true);
	pt_free(&o.p);
}
END_TEST

/* Both ways of masking: the VFIO trigger swap and the irqfd deassign. */
START_TEST(test_pt_mask_reaches_the_chosen_half)
{
	static const enum libmsix_pt_mask how[] = { LIBMSIX_PT_MASK_SWAP,
						    LIBMSIX_PT_MASK_IRQFD };

	for (size_t i = 0; i < 2; i++) {
		struct opt o = opt_new(how[i]);
		struct libmsix_passthrough_stats s;
		int efd;

		vector0_live(&o);
		efd = libmsix_kvm_vector_eventfd(o.p.k, 0);
		ck_assert_int_eq(o.ops->mask(o.be, 0), 0);
		ck_assert_int_eq(o.ops->commit(o.be), 0);
		ck_assert_int_eq(libmsix_passthrough_get_stats(o.p.p, &s), 0);
		if (how[i] == LIBMSIX_PT_MASK_SWAP) {
			ck_assert_uint_eq(s.masks_swap, 1);
			ck_assert_int_ne(fk.trig_num[0], efd);
			ck_assert(irqfd_assigned(&o, 0));
		} else {
			ck_assert_uint_eq(s.masks_irqfd, 1);
			ck_assert_int_eq(fk.trig_num[0], efd);
			ck_assert(!irqfd_assigned(&o, 0));
		}
		/* Masked: what the device raises waits for poll. */
		fake_vfio_raise(0);
		ck_assert_uint_eq(o.p.f->injected, 0);
		ck_assert_int_eq(o.ops->poll(o.be, 0), 1);
		ck_assert_int_eq(o.ops->unmask(o.be, 0), 0);
		ck_assert_int_eq(o.ops->commit(o.be), 0);
		ck_assert_int_eq(fk.trig_num[0], efd);
		ck_assert(irqfd_assigned(&o, 0));
		vector0_gone(&o, true);
		pt_free(&o.p);
	}
}
END_TEST

/* All-or-nothing: VFIO refuses, and KVM's half is undone too. */
START_TEST(test_pt_commit_is_all_or_nothing)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);
	struct libmsix_passthrough_stats s;

	ck_assert_int_eq(o.ops->alloc(o.be, 0, 1), 0);
	ck_assert_int_eq(o.ops->route(o.be, 0, &pt_msg), 0);
	ck_assert_int_eq(o.ops->unmask(o.be, 0), 0);
	fk.fail_at = fk.calls + 1;
	fk.fail_index = -1;
	fk.fail_err = -EIO;
	ck_assert_int_lt(o.ops->commit(o.be), 0);
	o.ops->abort(o.be);
	ck_assert_uint_eq(o.p.f->nr, 0);
	ck_assert_uint_eq(o.p.f->nr_irqfds, 0);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	ck_assert_int_eq(libmsix_passthrough_get_stats(o.p.p, &s), 0);
	ck_assert_uint_eq(s.rollbacks, 1);
	/* And the same staging succeeds once VFIO does. */
	vector0_live(&o);
	vector0_gone(&o, true);
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_abort_reaches_both_halves)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);
	unsigned uploads = o.p.f->uploads, calls = fk.calls;

	ck_assert_int_eq(o.ops->alloc(o.be, 0, 2), 0);
	ck_assert_int_eq(o.ops->route(o.be, 0, &pt_msg), 0);
	ck_assert_int_eq(o.ops->enable(o.be, true), 0);
	o.ops->abort(o.be);
	ck_assert_int_eq(libmsix_kvm_vector_gsi(o.p.k, 0), -ENOENT);
	/* Nothing staged is left for the next commit to apply. */
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert_uint_eq(o.p.f->uploads, uploads);
	ck_assert_uint_eq(fk.calls, calls);
	ck_assert(!fk.on);
	pt_free(&o.p);
}
END_TEST

START_TEST(test_pt_deliver_is_kvm_signal_msi)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);

	ck_assert_int_eq(o.ops->deliver(o.be, 3, &pt_msg), 0);
	ck_assert_uint_eq(o.p.f->signals, 1);
	ck_assert_uint_eq(o.p.f->last_msi.address_lo, (uint32_t)pt_msg.address);
	ck_assert_uint_eq(o.p.f->last_msi.data, pt_msg.data);
	pt_free(&o.p);
}
END_TEST

/* An interrupt caught in either half's eventfd is the pending bit. */
START_TEST(test_pt_poll_asks_both_halves)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_SWAP);

	vector0_routed(&o, false);
	ck_assert_int_eq(o.ops->poll(o.be, 0), 0);
	/* Fresh, masked by KVM: the device signals the irqfd's eventfd. */
	fake_vfio_raise(0);
	ck_assert_int_eq(o.ops->poll(o.be, 0), 1);
	ck_assert_int_eq(o.ops->poll(o.be, 0), 0);
	/* Live, then masked by VFIO's swap: its mask eventfd. */
	ck_assert_int_eq(o.ops->unmask(o.be, 0), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert_int_eq(o.ops->mask(o.be, 0), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	fake_vfio_raise(0);
	ck_assert_int_eq(o.ops->poll(o.be, 0), 1);
	ck_assert_int_eq(o.ops->poll(o.be, 0), 0);
	ck_assert_int_eq(o.ops->poll(o.be, PT_N), -EINVAL);
	vector0_gone(&o, false);
	pt_free(&o.p);
}
END_TEST

/*
 * The guest's MSI-X Enable reaches the device: with every vector masked
 * and none allocated, host MSI-X must be on, or the device drops what its
 * masked vectors raise instead of latching it in its PBA.
 */
START_TEST(test_pt_enable_reaches_vfio)
{
	struct opt o = opt_new(LIBMSIX_PT_MASK_AUTO);
	struct tdev *t = &o.p.t;

	ck_assert_ptr_nonnull(o.ops->enable);
	ck_assert_int_eq(o.ops->enable(o.be, true), 0);
	ck_assert(!fk.on); /* staged only */
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert(fk.on);
	ck_assert_int_eq(o.ops->enable(o.be, false), 0);
	ck_assert_int_eq(o.ops->commit(o.be), 0);
	ck_assert(!fk.on);

	/* The same through the device: the guest's Enable, all masked. */
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert(fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	ck_assert_int_eq(set_msgctl(t, 0), 0);
	ck_assert(!fk.on);
	pt_free(&o.p);
}
END_TEST

static Suite *passthrough_suite(void)
{
	Suite *s = suite_create("passthrough");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_unmask_goes_live_dynamic_lazy);
	tcase_add_test(tc, test_unmask_goes_live_noresize_preallocate);
	tcase_add_test(tc, test_preallocated_first_unmask_is_kvm_only);
	tcase_add_test(tc, test_mask_by_swap_latches_and_replays_once);
	tcase_add_test(tc, test_mask_by_irqfd_latches_and_delivers_once);
	tcase_add_test(tc, test_mask_unmask_cycle_delivers_nothing);
	tcase_add_test(tc, test_vfio_failure_undoes_kvm);
	tcase_add_test(tc, test_kvm_failure_skips_vfio);
	tcase_add_test(tc, test_transaction_is_one_commit);
	tcase_add_test(tc, test_deferred_vector_served_until_the_flush);
	suite_add_tcase(s, tc);
	/* 2048-vector bring-ups: slow under Valgrind and TSan. */
	tc = tcase_create("counts");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_deferred_bringup_counts, 0, 16);
	suite_add_tcase(s, tc);
	tc = tcase_create("ops");
	tcase_add_test(tc, test_pt_alloc_reaches_both_halves);
	tcase_add_test(tc, test_pt_release_reaches_both_halves);
	tcase_add_test(tc, test_pt_route_reaches_kvm);
	tcase_add_test(tc, test_pt_unroute_reaches_kvm);
	tcase_add_test(tc, test_pt_unmask_assigns_the_irqfd);
	tcase_add_test(tc, test_pt_mask_reaches_the_chosen_half);
	tcase_add_test(tc, test_pt_commit_is_all_or_nothing);
	tcase_add_test(tc, test_pt_abort_reaches_both_halves);
	tcase_add_test(tc, test_pt_deliver_is_kvm_signal_msi);
	tcase_add_test(tc, test_pt_poll_asks_both_halves);
	tcase_add_test(tc, test_pt_enable_reaches_vfio);
	tcase_add_test(tc, test_einval_is_logged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(passthrough_suite());
}
