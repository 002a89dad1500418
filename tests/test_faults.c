/* SPDX-License-Identifier: MIT */
/*
 * Backend fault injection at every k (V5, V22's unwind note): a Linux-like
 * MSI-X lifecycle runs once without failures as the reference, then once for
 * each k with the k-th backend op (any kind but deliver) failing with an
 * injected errno, for live-resize and NORESIZE recorders, every policy and
 * -ENOSPC, -EBUSY, -EINVAL.
 *
 * After every step: no backend-contract violation, and the engine's view of
 * each vector's host state equals what the backend committed. After the
 * failing step: it returned the injected errno; every vector the guest's
 * registers ask to be live but is not is marked faulted, was reported
 * through the fault callback, latches (notify returns LATCHED, the PBA shows
 * it); libmsix_retry() then brings the device to exactly the state of the
 * reference run at that step, delivering each latched interrupt once, and
 * the rest of the lifecycle matches the reference step for step.
 */
#include <stdio.h>

#include "helpers.h"

/* See test_access_matrix.c: passing ck_assert_*() calls cost a write(2). */
#define REQUIRE(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define HOST_BITS \
	(LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED | LIBMSIX_HOST_UNMASKED)

enum step_kind {
	S_MSGCTL,	/* word write of Message Control: a = bits */
	S_VMASK,	/* Vector Control of v: a = mask bit */
	S_DW,		/* DWORD b of entry v: a = value */
	S_NOTIFY,
	S_USE,
	S_UNUSE,
	S_BME,		/* Bus Master Enable: a */
	S_RESET,
};

struct step {
	enum step_kind k;
	uint32_t v, a, b;
};

#define MAX_STEPS 512

struct lifecycle {
	struct step s[MAX_STEPS];
	size_t n;
};

static void add(struct lifecycle *l, enum step_kind k, uint32_t v, uint32_t a,
		uint32_t b)
{
	ck_assert_uint_lt(l->n, MAX_STEPS);
	l->s[l->n++] = (struct step){ .k = k, .v = v, .a = a, .b = b };
}

static void program(struct lifecycle *l, uint32_t v, uint32_t data)
{
	add(l, S_DW, v, (uint32_t)test_addr(v), 0);
	add(l, S_DW, v, 0, 1);
	add(l, S_DW, v, data, 2);
}

/*
 * What Linux does to an MSI-X function over its life, plus what a device
 * model does around it: bring-up (Enable|Function Mask, mask all, program,
 * clear Function Mask, request_irq() unmasking in ascending order),
 * interrupts, set_affinity-style mask/reprogram/unmask cycles, Function Mask
 * toggles with interrupts in between, a vector released and taken again by
 * the device model, Bus Master off and on, disable, re-enable with the
 * entries still unmasked, reset, and a second bring-up after it.
 */
static void build(struct lifecycle *l, uint32_t n)
{
	const uint32_t en = PCI_MSIX_FLAGS_ENABLE, fm = PCI_MSIX_FLAGS_MASKALL;
	const uint32_t cyc[3] = { 0, n / 2, n - 1 };

	l->n = 0;
	add(l, S_MSGCTL, 0, en | fm, 0);
	for (uint32_t v = 0; v < n; v++)
		add(l, S_VMASK, v, 1, 0);
	for (uint32_t v = 0; v < n; v++)
		program(l, v, test_data(v));
	add(l, S_MSGCTL, 0, en, 0);
	for (uint32_t v = 0; v < n; v++)
		add(l, S_VMASK, v, 0, 0);
	for (uint32_t v = 0; v < n; v++)
		add(l, S_NOTIFY, v, 0, 0);
	for (int i = 0; i < 3; i++) {
		add(l, S_VMASK, cyc[i], 1, 0);
		add(l, S_NOTIFY, cyc[i], 0, 0);
		add(l, S_DW, cyc[i], 0x7000 + cyc[i], 2);
		add(l, S_VMASK, cyc[i], 0, 0);
		add(l, S_NOTIFY, cyc[i], 0, 0);
	}
	add(l, S_MSGCTL, 0, en | fm, 0);
	add(l, S_NOTIFY, 1 % n, 0, 0);
	add(l, S_MSGCTL, 0, en, 0);
	add(l, S_UNUSE, n - 1, 0, 0);
	add(l, S_NOTIFY, n - 1, 0, 0);
	add(l, S_USE, n - 1, 0, 0);
	add(l, S_BME, 0, 0, 0);
	add(l, S_NOTIFY, 0, 0, 0);
	add(l, S_BME, 0, 1, 0);
	add(l, S_MSGCTL, 0, 0, 0);
	add(l, S_NOTIFY, 0, 0, 0);
	add(l, S_MSGCTL, 0, en | fm, 0);
	add(l, S_MSGCTL, 0, en, 0);
	for (uint32_t v = 0; v < n; v++)
		add(l, S_NOTIFY, v, 0, 0);
	add(l, S_RESET, 0, 0, 0);
	add(l, S_NOTIFY, 0, 0, 0);
	add(l, S_MSGCTL, 0, en | fm, 0);
	program(l, n - 1, 0x9000);
	add(l, S_VMASK, n - 1, 0, 0);
	add(l, S_MSGCTL, 0, en, 0);
	add(l, S_NOTIFY, n - 1, 0, 0);
	add(l, S_MSGCTL, 0, 0, 0);
}

/* The device under test and what the test knows of its inputs. */
struct fdev {
	struct tdev t;
	bool bme;
	uint32_t faults[64];	/* fault callback calls per vector */
	int fault_err;
};

static void on_fault(void *opaque, uint32_t vector, int err)
{
	struct fdev *f = opaque;

	if (vector < 64)
		f->faults[vector]++;
	f->fault_err = err;
}

struct variant {
	const char *name;
	uint32_t be_flags;
	enum libmsix_policy policy;
	uint32_t flags;
};

static const struct variant variants[] = {
	{ "live-resize auto", 0, LIBMSIX_POLICY_AUTO, 0 },
	{ "live-resize lazy", 0, LIBMSIX_POLICY_LAZY, 0 },
	{ "live-resize preallocate", 0,
	  LIBMSIX_POLICY_PREALLOCATE, 0 },
	{ "live-resize preallocate-all", 0,
	  LIBMSIX_POLICY_PREALLOCATE, LIBMSIX_F_PREALLOC_ALL },
	{ "live-resize incremental", 0,
	  LIBMSIX_POLICY_INCREMENTAL, 0 },
	{ "noresize auto", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_AUTO, 0 },
	{ "noresize lazy", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_LAZY, 0 },
	{ "noresize preallocate", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_PREALLOCATE, 0 },
	{ "noresize preallocate-all", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_PREALLOCATE,
	  LIBMSIX_F_PREALLOC_ALL },
	{ "noresize incremental", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_INCREMENTAL, 0 },
};

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static const int errnos[] = { -ENOSPC, -EBUSY, -EINVAL };

static void fdev_init(struct fdev *f, const struct variant *var, uint32_t n)
{
	struct libmsix_config cfg = test_config(n);

	memset(f, 0, sizeof(*f));
	cfg.policy = var->policy;
	cfg.flags = var->flags;
	cfg.fault = on_fault;
	cfg.opaque = f;
	f->t = tdev_new_cfg(&cfg, var->be_flags, 0);
	f->bme = true;
}

static int run_step(struct fdev *f, const struct step *s)
{
	struct tdev *t = &f->t;

	switch (s->k) {
	case S_MSGCTL:
		return set_msgctl(t, (uint16_t)s->a);
	case S_VMASK:
		return set_vmask(t, s->v, s->a);
	case S_DW:
		return tbl_write(t, 16u * s->v + 4 * s->b, 4, s->a);
	case S_NOTIFY:
		return libmsix_notify(t->dev, s->v);
	case S_USE:
		return libmsix_vector_use(t->dev, s->v);
	case S_UNUSE:
		return libmsix_vector_unuse(t->dev, s->v);
	case S_BME:
		f->bme = s->a;
		return libmsix_set_bus_master(t->dev, s->a);
	case S_RESET:
		return libmsix_reset(t->dev);
	}
	return -EINVAL;
}

/* Enable, no Function Mask, Bus Master on, entry unmasked, vector used. */
static bool wants_live(struct fdev *f, const struct libmsix_vector_info *i)
{
	return libmsix_enabled(f->t.dev) &&
	       !libmsix_function_masked(f->t.dev) && f->bme && !i->masked &&
	       i->use_count > 0;
}

/* Backend ops other than deliver recorded so far: what k counts. */
static size_t staged_ops(struct tdev *t)
{
	return libmsix_recorder_count(t->rec) -
	       libmsix_recorder_count_kind(t->rec, LIBMSIX_REC_DELIVER);
}

static size_t deliveries_since(struct tdev *t, size_t from, uint32_t v)
{
	size_t n = 0, total = libmsix_recorder_count(t->rec);

	for (size_t i = from; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		n += op->kind == LIBMSIX_REC_DELIVER && op->start == v;
	}
	return n;
}

static bool pba_says(struct tdev *t, uint32_t v)
{
	uint64_t q = 0;

	REQUIRE(libmsix_mmio_read(t->dev, 0, TEST_PBA_OFFSET(t->n) + 8 * (v / 64),
				  8, &q) == 0,
		"PBA read");
	return (q >> (v % 64)) & 1;
}

/* No contract violation, and the engine's host view is the backend's. */
static void check_views(struct fdev *f, const char *ctx)
{
	REQUIRE(libmsix_recorder_violations(f->t.rec) == 0,
		"%s: %zu backend contract violations", ctx,
		libmsix_recorder_violations(f->t.rec));
	for (uint32_t v = 0; v < f->t.n; v++) {
		struct libmsix_vector_info i;
		uint32_t be = libmsix_recorder_host(f->t.rec, v);

		REQUIRE(libmsix_get_vector_info(f->t.dev, v, &i) == 0, "info");
		REQUIRE((i.host & HOST_BITS) == be,
			"%s: vector %u engine host 0x%x, backend 0x%x", ctx, v,
			i.host & HOST_BITS, be);
		/* Live means the backend delivers it. */
		REQUIRE(!i.live || be == HOST_BITS,
			"%s: vector %u live without a live host vector", ctx, v);
		REQUIRE(!i.live || wants_live(f, &i),
			"%s: vector %u live though the guest masked it", ctx, v);
	}
}

static void snapshot(struct fdev *f, struct libmsix_vector_info *out)
{
	for (uint32_t v = 0; v < f->t.n; v++)
		REQUIRE(libmsix_get_vector_info(f->t.dev, v, &out[v]) == 0, "info");
}

static void expect_same(struct fdev *f, const struct libmsix_vector_info *ref,
			const char *ctx)
{
	for (uint32_t v = 0; v < f->t.n; v++) {
		struct libmsix_vector_info i;

		REQUIRE(libmsix_get_vector_info(f->t.dev, v, &i) == 0, "info");
		REQUIRE(i.masked == ref[v].masked && i.pending == ref[v].pending &&
				i.live == ref[v].live &&
				i.use_count == ref[v].use_count &&
				i.msg.address == ref[v].msg.address &&
				i.msg.data == ref[v].msg.data &&
				i.vector_control == ref[v].vector_control &&
				i.host == ref[v].host,
			"%s: vector %u differs from the run without failures: "
			"live %d/%d pending %d/%d host 0x%x/0x%x masked %d/%d",
			ctx, v, i.live, ref[v].live, i.pending, ref[v].pending,
			i.host, ref[v].host, i.masked, ref[v].masked);
	}
}

struct reference {
	int ret[MAX_STEPS];
	struct libmsix_vector_info *state; /* [step][vector] */
	size_t ops;
};

static void run_reference(const struct variant *var, uint32_t n,
			  const struct lifecycle *l, struct reference *ref)
{
	struct fdev *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	ref->state = calloc(l->n * n, sizeof(*ref->state));
	ck_assert_ptr_nonnull(ref->state);
	fdev_init(f, var, n);
	for (size_t i = 0; i < l->n; i++) {
		char ctx[96];

		snprintf(ctx, sizeof(ctx), "%s reference step %zu", var->name, i);
		ref->ret[i] = run_step(f, &l->s[i]);
		REQUIRE(ref->ret[i] >= 0, "%s returned %d", ctx, ref->ret[i]);
		check_views(f, ctx);
		snapshot(f, &ref->state[i * n]);
		for (uint32_t v = 0; v < n; v++)
			REQUIRE(ref->state[i * n + v].live ==
					wants_live(f, &ref->state[i * n + v]),
				"%s: vector %u live %d", ctx, v,
				ref->state[i * n + v].live);
	}
	ref->ops = staged_ops(&f->t);
	for (uint32_t v = 0; v < n; v++)
		ck_assert_uint_eq(f->faults[v], 0);
	tdev_free(&f->t);
	free(f);
}

/* The @k-th op that k counts (any kind but deliver). */
static const struct libmsix_rec_op *kth_op(struct tdev *t, uint32_t k)
{
	size_t total = libmsix_recorder_count(t->rec);

	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		if (op->kind != LIBMSIX_REC_DELIVER && --k == 0)
			return op;
	}
	return NULL;
}

/*
 * The failing step: its return, the faulted vectors, latching, and the
 * retry that must bring back the reference state with each latched
 * interrupt delivered exactly once.
 *
 * What the call returns: the injected errno, except where the engine
 * documents otherwise for -ENOSPC on a live-resize backend (alloc_each() in
 * lib/engine.c, for pools shared between devices): a refused run of several
 * vectors is asked again one vector at a time -- here the re-ask succeeds,
 * so the call returns 0 with nothing lost -- and a refused single vector
 * only faults that vector (-ENOSPC if it was to go live, else 0).
 */
static void after_failure(struct fdev *f, int ret, int err, uint32_t k,
			  const struct libmsix_vector_info *ref,
			  const char *ctx)
{
	struct tdev *t = &f->t;
	const struct libmsix_rec_op *op = kth_op(t, k);
	bool latched[64] = { false }, faulted = false;
	bool shared_pool = err == -ENOSPC && op->kind == LIBMSIX_REC_ALLOC &&
			   !(libmsix_recorder_backend(t->rec)->flags &
			     LIBMSIX_BE_NORESIZE);
	size_t mark;
	int r;

	REQUIRE(op && op->err == err, "%s: op %u did not fail", ctx, k);
	for (uint32_t v = 0; v < t->n; v++)
		faulted |= f->faults[v] > 0;
	if (shared_pool && op->count > 1) {
		REQUIRE(ret == 0 && !faulted,
			"%s: re-asked alloc returned %d", ctx, ret);
		check_views(f, ctx);
		expect_same(f, ref, ctx);
	} else if (shared_pool) {
		REQUIRE(ret == (faulted ? -ENOSPC : 0),
			"%s: returned %d, vector %sfaulted", ctx, ret,
			faulted ? "" : "not ");
	} else {
		REQUIRE(ret == err, "%s: returned %d, injected %d", ctx, ret,
			err);
	}
	check_views(f, ctx);
	for (uint32_t v = 0; v < t->n; v++) {
		struct libmsix_vector_info i;

		REQUIRE(libmsix_get_vector_info(t->dev, v, &i) == 0, "info");
		if (!wants_live(f, &i) || i.live) {
			REQUIRE(!(i.host & LIBMSIX_HOST_FAULT) || !i.live,
				"%s: vector %u live and faulted", ctx, v);
			continue;
		}
		/* The guest unmasked it, the backend refused: blocked. */
		REQUIRE(i.host & LIBMSIX_HOST_FAULT,
			"%s: vector %u wants live, not live, no fault mark",
			ctx, v);
		REQUIRE(f->faults[v] == 1 && f->fault_err == err,
			"%s: vector %u fault callback %u times (err %d)", ctx, v,
			f->faults[v], f->fault_err);
		r = libmsix_notify(t->dev, v);
		REQUIRE(r == LIBMSIX_LATCHED, "%s: notify %u on a faulted "
			"vector returned %d", ctx, v, r);
		REQUIRE(pba_says(t, v), "%s: PBA bit %u clear after latch",
			ctx, v);
		latched[v] = true;
	}
	for (uint32_t v = 0; v < t->n; v++) {
		if (!latched[v])
			REQUIRE(f->faults[v] == 0,
				"%s: vector %u reported faulted but is not",
				ctx, v);
		f->faults[v] = 0;
	}
	ck_assert_int_eq(libmsix_recorder_fail(t->rec, 0, 0, -EIO), 0);
	mark = libmsix_recorder_count(t->rec);
	r = libmsix_retry(t->dev);
	REQUIRE(r == 0, "%s: retry returned %d", ctx, r);
	check_views(f, ctx);
	for (uint32_t v = 0; v < t->n; v++) {
		if (!latched[v])
			continue;
		REQUIRE(deliveries_since(t, mark, v) == 1,
			"%s: latched vector %u delivered %zu times by retry",
			ctx, v, deliveries_since(t, mark, v));
		REQUIRE(!pba_says(t, v), "%s: PBA bit %u still set", ctx, v);
	}
	expect_same(f, ref, ctx);
}

/* Returns false when the lifecycle made fewer than @k ops. */
static bool run_with_failure(const struct variant *var, uint32_t n,
			     const struct lifecycle *l,
			     const struct reference *ref, uint32_t k, int err)
{
	struct fdev *f = calloc(1, sizeof(*f));
	bool fired = false;

	ck_assert_ptr_nonnull(f);
	fdev_init(f, var, n);
	ck_assert_int_eq(libmsix_recorder_fail(f->t.rec, 0, k, err), 0);
	for (size_t i = 0; i < l->n; i++) {
		const struct libmsix_vector_info *want = &ref->state[i * n];
		char ctx[128];
		int r;

		snprintf(ctx, sizeof(ctx), "%s, op %u fails %d, step %zu (%d)",
			 var->name, k, err, i, (int)l->s[i].k);
		r = run_step(f, &l->s[i]);
		if (!fired && staged_ops(&f->t) >= k) {
			fired = true;
			after_failure(f, r, err, k, want, ctx);
			continue;
		}
		REQUIRE(r == ref->ret[i], "%s: returned %d, reference %d", ctx,
			r, ref->ret[i]);
		check_views(f, ctx);
		if (fired)
			expect_same(f, want, ctx);
	}
	tdev_free(&f->t);
	free(f);
	return fired;
}

static void fault_every_k(const struct variant *var, uint32_t n)
{
	struct lifecycle *l = calloc(1, sizeof(*l));
	struct reference ref;
	uint32_t k;

	ck_assert_ptr_nonnull(l);
	build(l, n);
	run_reference(var, n, l, &ref);
	ck_assert_uint_gt(ref.ops, 0);
	for (size_t e = 0; e < sizeof(errnos) / sizeof(errnos[0]); e++) {
		for (k = 1; run_with_failure(var, n, l, &ref, k, errnos[e]); k++)
			;
		/* Every op of the reference run was made to fail once. */
		ck_assert_uint_eq(k, ref.ops + 1);
	}
	free(ref.state);
	free(l);
}

START_TEST(test_faults_every_op_every_variant)
{
	fault_every_k(&variants[_i], 8);
}
END_TEST

/* One vector: the smallest table; start = 0 everywhere (V22 unwind). */
START_TEST(test_faults_every_op_single_vector)
{
	fault_every_k(&variants[_i], 1);
}
END_TEST

/*
 * A failing deliver latches the pending bit (libmsix_backend_ops.deliver):
 * notify returns the error, the PBA shows it, and the next unmask delivers
 * it exactly once.
 */
START_TEST(test_faults_deliver_failure_latches)
{
	struct tdev t = tdev_new(4);
	size_t mark;

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_DELIVER, 1,
					       -EAGAIN), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), -EAGAIN);
	ck_assert(pba_bit(&t, 2));
	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	mark = libmsix_recorder_count(t.rec);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(deliveries_since(&t, mark, 2), 1);
	ck_assert(!pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);
	tdev_free(&t);
}
END_TEST

/* A failing replay on unmask leaves the bit pending, not lost. */
START_TEST(test_faults_replay_failure_keeps_pending)
{
	struct tdev t = tdev_new(4);
	size_t mark;

	linux_bringup(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_DELIVER, 1,
					       -EAGAIN), 0);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert(pba_bit(&t, 1));
	ck_assert_int_eq(set_vmask(&t, 1, true), 0);
	mark = libmsix_recorder_count(t.rec);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_uint_eq(deliveries_since(&t, mark, 1), 1);
	ck_assert(!pba_bit(&t, 1));
	tdev_free(&t);
}
END_TEST

/* Failures inside a transaction: the one commit fails, every vector that
 * was to go live in it is faulted, retry brings them all. */
START_TEST(test_faults_transaction_commit_failure)
{
	struct tdev t = tdev_new(16);
	size_t mark;

	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	for (uint32_t v = 0; v < t.n; v++) {
		set_msg(&t, v, test_addr(v), test_data(v));
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	}
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EBUSY), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), -EBUSY);
	for (uint32_t v = 0; v < t.n; v++) {
		struct libmsix_vector_info i;

		ck_assert_int_eq(libmsix_get_vector_info(t.dev, v, &i), 0);
		ck_assert(!i.live);
		ck_assert_uint_eq(i.host, LIBMSIX_HOST_FAULT);
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	}
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_LATCHED);
	mark = libmsix_recorder_count(t.rec);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_uint_eq(deliveries_since(&t, mark, 3), 1);
	ck_assert_uint_eq(deliveries_since(&t, mark, 5), 1);
	ck_assert_uint_eq(deliveries(&t), 2);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_DELIVERED);
	tdev_free(&t);
}
END_TEST

/*
 * Regression: libmsix_retry() only re-touched faulted vectors, so a guest
 * mask whose backend commit was rolled back left the host vector unmasked
 * for good -- with a bypassing backend (VFIO -> KVM irqfd) the masked vector
 * kept interrupting the guest (R34).
 */
START_TEST(test_faults_retry_masks_after_rolled_back_mask)
{
	struct tdev t = tdev_new(4);
	size_t mark;

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_MASK, 1,
					       -EBUSY), 0);
	ck_assert_int_eq(set_vmask(&t, 2, true), -EBUSY);
	/* Rolled back: still unmasked at the host, but libmsix latches. */
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 2), HOST_BITS);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 2),
			  LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED);
	ck_assert(pba_bit(&t, 2));
	mark = libmsix_recorder_count(t.rec);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(deliveries_since(&t, mark, 2), 1);
	tdev_free(&t);
}
END_TEST

/* Regression, same cause: a rolled-back preallocation was never redone,
 * so PREALLOCATE silently became a disruptive grow-by-one under NORESIZE. */
START_TEST(test_faults_retry_redoes_rolled_back_preallocation)
{
	struct libmsix_config cfg = test_config(8);
	struct libmsix_stats c;
	struct tdev t;

	cfg.policy = LIBMSIX_POLICY_PREALLOCATE;
	t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EBUSY), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL),
			 -EBUSY);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 7), 0);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v),
				  LIBMSIX_HOST_ALLOCATED);
	for (uint32_t v = 0; v < t.n; v++) {
		ck_assert_int_eq(set_vmask(&t, v, true), 0);
		set_msg(&t, v, test_addr(v), test_data(v));
	}
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 0);
	tdev_free(&t);
}
END_TEST

/* Regression, same cause: host vectors a rolled-back disable kept were
 * held (and unmasked) while the guest had MSI-X off, until the next touch. */
START_TEST(test_faults_retry_releases_after_rolled_back_disable)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EINVAL), 0);
	ck_assert_int_eq(set_msgctl(&t, 0), -EINVAL);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 0), HOST_BITS);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	tdev_free(&t);
}
END_TEST

/* Destroy after a failure releases everything; no leak (memcheck run). */
START_TEST(test_faults_destroy_after_failure)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, 0, 1, -EBUSY), 0);
	ck_assert_int_eq(set_vmask(&t, 5, false), -EBUSY);
	libmsix_dev_destroy(t.dev);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	ck_assert_uint_eq(libmsix_recorder_violations(t.rec), 0);
	libmsix_recorder_destroy(t.rec);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Recorder rules: which op fails, by kind and vector                        */
/* ------------------------------------------------------------------------ */

static void add_rule(struct tdev *t, enum libmsix_rec_kind kind,
		     uint32_t vector, uint32_t skip, uint32_t times, int err)
{
	struct libmsix_rec_rule r = {
		.size = sizeof(r), .kind = kind, .vector = vector,
		.skip = skip, .times = times, .err = err,
	};

	ck_assert_int_eq(libmsix_recorder_add_rule(t->rec, &r), 0);
}

/* Every vector unmasked in one transaction: one alloc of the whole run. */
static int unmask_all_at_once(struct tdev *t)
{
	ck_assert_int_eq(libmsix_begin(t->dev), 0);
	for (uint32_t v = 0; v < t->n; v++)
		ck_assert_int_eq(set_vmask(t, v, false), 0);
	return libmsix_commit(t->dev);
}

static struct libmsix_stats stats(struct tdev *t)
{
	struct libmsix_stats c;

	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	return c;
}

/*
 * "Fail vector 6's alloc": the run [0, 8) is refused, the one-by-one
 * re-ask gets every vector (the rule was for one alloc), and the new
 * counter says the split happened where be_errors alone could not.
 */
START_TEST(test_rule_fails_one_alloc_of_a_vector)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	add_rule(&t, LIBMSIX_REC_ALLOC, 6, 0, 1, -ENOSPC);
	ck_assert_int_eq(unmask_all_at_once(&t), 0);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 0)->kind, LIBMSIX_REC_ALLOC);
	ck_assert_uint_eq(libmsix_recorder_op(t.rec, 0)->count, 8);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 0)->err, -ENOSPC);
	ck_assert_uint_eq(stats(&t).alloc_splits, 1);
	ck_assert_uint_eq(stats(&t).faults, 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_DELIVERED);
	tdev_free(&t);
}
END_TEST

/* "Fail every alloc of vector 6": only vector 6 stays blocked. */
START_TEST(test_rule_fails_every_alloc_of_a_vector)
{
	struct tdev t = tdev_new(8);
	struct libmsix_vector_info vi;

	linux_bringup(&t);
	add_rule(&t, LIBMSIX_REC_ALLOC, 6, 0, 0, -ENOSPC);
	ck_assert_int_eq(unmask_all_at_once(&t), -ENOSPC);
	ck_assert_uint_eq(stats(&t).alloc_splits, 1);
	ck_assert_uint_eq(stats(&t).faults, 1);
	ck_assert_int_eq(libmsix_get_vector_info(t.dev, 6, &vi), 0);
	ck_assert_uint_eq(vi.host, LIBMSIX_HOST_FAULT);
	ck_assert_int_eq(libmsix_notify(t.dev, 6), LIBMSIX_LATCHED);
	for (uint32_t v = 0; v < t.n; v++)
		if (v != 6)
			ck_assert_int_eq(libmsix_notify(t.dev, v),
					 LIBMSIX_DELIVERED);
	/* Still refused on retry, until the rules go. */
	ck_assert_int_eq(libmsix_retry(t.dev), -ENOSPC);
	libmsix_recorder_clear_rules(t.rec);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 6), 1); /* the latched one */
	tdev_free(&t);
}
END_TEST

/* Several rules at once, each counting its own matches. */
START_TEST(test_rules_apply_together)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	/* The second unmask of vector 3 fails, and the third commit. */
	add_rule(&t, LIBMSIX_REC_UNMASK, 3, 1, 1, -EIO);
	add_rule(&t, LIBMSIX_REC_COMMIT, LIBMSIX_REC_ANY_VECTOR, 2, 1, -EBUSY);
	ck_assert_int_eq(set_vmask(&t, 3, false), 0);	/* commit 1 */
	ck_assert_int_eq(set_vmask(&t, 3, true), 0);	/* commit 2 */
	ck_assert_int_eq(set_vmask(&t, 3, false), -EIO); /* no commit */
	ck_assert_int_eq(set_vmask(&t, 5, false), -EBUSY); /* commit 3 */
	ck_assert_int_eq(set_vmask(&t, 5, false), 0);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_DELIVERED);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(stats(&t).alloc_splits, 0);
	tdev_free(&t);
}
END_TEST

START_TEST(test_rule_bad_input)
{
	struct tdev t = tdev_new(4);
	struct libmsix_rec_rule r = { .size = sizeof(r), .err = -EIO,
				      .vector = LIBMSIX_REC_ANY_VECTOR };

	ck_assert_int_eq(libmsix_recorder_add_rule(NULL, &r), -EINVAL);
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, NULL), -EINVAL);
	r.err = 0;
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), -EINVAL);
	r.err = -EIO;
	r.kind = (enum libmsix_rec_kind)99;
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), -EINVAL);
	r.kind = 0;
	r.vector = LIBMSIX_MAX_VECTORS;
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), -EINVAL);
	r.vector = 1;
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), 0);
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), -ENOSPC);
	libmsix_recorder_clear_rules(t.rec);
	ck_assert_int_eq(libmsix_recorder_add_rule(t.rec, &r), 0);
	libmsix_recorder_clear_rules(t.rec);
	libmsix_recorder_clear_rules(NULL);
	tdev_free(&t);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_faults_every_op_every_variant, 0,
			    NVARIANTS);
	tcase_add_loop_test(tc, test_faults_every_op_single_vector, 0,
			    NVARIANTS);
	tcase_add_test(tc, test_faults_deliver_failure_latches);
	tcase_add_test(tc, test_faults_replay_failure_keeps_pending);
	tcase_add_test(tc, test_faults_transaction_commit_failure);
	tcase_add_test(tc, test_faults_retry_masks_after_rolled_back_mask);
	tcase_add_test(tc, test_faults_retry_redoes_rolled_back_preallocation);
	tcase_add_test(tc, test_faults_retry_releases_after_rolled_back_disable);
	tcase_add_test(tc, test_faults_destroy_after_failure);
	tcase_add_test(tc, test_rule_fails_one_alloc_of_a_vector);
	tcase_add_test(tc, test_rule_fails_every_alloc_of_a_vector);
	tcase_add_test(tc, test_rules_apply_together);
	tcase_add_test(tc, test_rule_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(faults_suite());
}
