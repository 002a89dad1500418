/* SPDX-License-Identifier: MIT */
/*
 * The IMS backend on the software IMS device: slot allocation and budgets,
 * slot masking and pending bits, cookies, emulated vectors, and rollback of
 * failed slot writes. Guest accesses go through the public API as a VMM's
 * handlers would (tests/helpers.h); deliveries are observed where the guest
 * would see them: the soft device's sink, or the VMM's deliver callback.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "helpers.h"
#include "libmsix-ims.h"

#define MAX_SENT 8192

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

struct sent {
	uint32_t slot;
	struct libmsix_msg msg;
	uint64_t cookie;
};

/* Messages that left the device's slots, and the VMM's deliveries. */
struct sink {
	size_t n;
	struct sent s[MAX_SENT];
	size_t nvmm;
	uint32_t vmm_vec[MAX_SENT];
	struct libmsix_msg vmm_msg[MAX_SENT];
};

static void sink_fn(void *opaque, uint32_t slot, const struct libmsix_msg *msg,
		    uint64_t cookie)
{
	struct sink *k = opaque;

	/* Called under the soft device's lock: one writer at a time. */
	if (k->n < MAX_SENT) {
		k->s[k->n].slot = slot;
		k->s[k->n].msg = *msg;
		k->s[k->n].cookie = cookie;
	}
	k->n++;
}

static size_t stored(const struct sink *k)
{
	return k->n < MAX_SENT ? k->n : MAX_SENT;
}

static int vmm_deliver(void *opaque, uint32_t vector,
		       const struct libmsix_msg *msg)
{
	struct sink *k = opaque;

	ck_assert_uint_lt(k->nvmm, MAX_SENT);
	k->vmm_vec[k->nvmm] = vector;
	k->vmm_msg[k->nvmm] = *msg;
	k->nvmm++;
	return 0;
}

/* Messages of vector @v (its test data) that reached the guest. */
static size_t sent_of(const struct sink *k, uint32_t v)
{
	size_t c = 0;

	ck_assert_uint_le(k->n, MAX_SENT);
	for (size_t i = 0; i < k->n; i++)
		c += k->s[i].msg.data == test_data(v);
	for (size_t i = 0; i < k->nvmm; i++)
		c += k->vmm_vec[i] == v;
	return c;
}

/* One libmsix device on the shared store. */
struct side {
	struct libmsix_ims *ims;
	struct tdev t;
	uint32_t emu_lo, emu_hi; /* emulated vectors: [emu_lo, emu_hi) */
};

struct env {
	struct sink sink;
	struct libmsix_soft_ims *soft;
	struct libmsix_ims_store *store;
	struct side d;
};

static struct libmsix_ims_config ims_config(uint32_t n, uint32_t reserve,
					    uint32_t flags, struct sink *k)
{
	struct libmsix_ims_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = flags;
	c.nr_vectors = n;
	c.reserve = reserve;
	c.deliver = vmm_deliver;
	c.opaque = k;
	return c;
}

/* A libmsix device of @n vectors, all used, on an IMS backend of @st. */
static int side_new(struct side *d, struct libmsix_ims_store *st, uint32_t n,
		    uint32_t reserve, uint32_t flags, struct sink *k)
{
	struct libmsix_ims_config c = ims_config(n, reserve, flags, k);
	struct libmsix_config cfg = test_config(n);
	int err;

	memset(d, 0, sizeof(*d));
	err = libmsix_ims_create(st, &c, &d->ims);
	if (err)
		return err;
	d->t.n = n;
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_ims_backend(d->ims),
					    &d->t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(d->t.dev), 0);
	return 0;
}

static void side_free(struct side *d)
{
	libmsix_dev_destroy(d->t.dev);
	libmsix_ims_destroy(d->ims);
}

static struct env *env_new(uint32_t n, uint32_t slots, uint32_t reserve,
			   uint32_t flags)
{
	struct env *e = calloc(1, sizeof(*e));

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(libmsix_soft_ims_create(slots, sink_fn, &e->sink,
						 &e->soft), 0);
	ck_assert_int_eq(libmsix_ims_store_create(libmsix_soft_ims_hw(e->soft),
						  &e->store), 0);
	ck_assert_int_eq(side_new(&e->d, e->store, n, reserve, flags, &e->sink),
			 0);
	return e;
}

static struct libmsix_soft_ims_stats soft_stats(struct env *e)
{
	struct libmsix_soft_ims_stats s;

	ck_assert_int_eq(libmsix_soft_ims_get_stats(e->soft, &s), 0);
	return s;
}

static struct libmsix_soft_ims_slot slot_of(struct env *e, uint32_t slot)
{
	struct libmsix_soft_ims_slot s;

	ck_assert_int_eq(libmsix_soft_ims_slot(e->soft, slot, &s), 0);
	return s;
}

static struct libmsix_ims_store_stats budget_of(struct libmsix_ims_store *st)
{
	struct libmsix_ims_store_stats b;

	ck_assert_int_eq(libmsix_ims_store_get_stats(st, &b), 0);
	return b;
}

/* After destroy: every slot free, reset and unclaimed; the device was never
 * driven against the rules. */
static void env_free(struct env *e)
{
	struct libmsix_ims_store_stats b;
	struct libmsix_soft_ims_stats s;

	side_free(&e->d);
	b = budget_of(e->store);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(b.reserved, 0);
	ck_assert_uint_eq(b.devices, 0);
	s = soft_stats(e);
	ck_assert_uint_eq(s.violations, 0);
	ck_assert_uint_eq(s.claimed, 0);
	for (uint32_t i = 0; i < libmsix_soft_ims_hw(e->soft)->nr_slots; i++) {
		struct libmsix_soft_ims_slot sl = slot_of(e, i);

		ck_assert(sl.entry.masked);
		ck_assert_uint_eq(sl.entry.address, 0);
		ck_assert_uint_eq(sl.entry.cookie, 0);
	}
	ck_assert_int_eq(libmsix_ims_store_destroy(e->store), 0);
	libmsix_soft_ims_destroy(e->soft);
	free(e);
}

/*
 * The engine's view of every vector, the backend's slot map and the soft
 * device must agree: a held vector has a claimed slot whose mask bit is the
 * host's, a live one carries the guest's message and its cookie, and no
 * other slot is claimed.
 */
static void check_consistent(struct env *e, struct side *d)
{
	uint32_t held = 0;
	struct libmsix_ims_stats r;

	for (uint32_t v = 0; v < d->t.n; v++) {
		struct libmsix_vector_info info;
		int slot = libmsix_ims_vector_slot(d->ims, v);
		struct libmsix_soft_ims_slot sl;
		uint64_t cookie;

		ck_assert_int_eq(libmsix_get_vector_info(d->t.dev, v, &info), 0);
		if (v >= d->emu_lo && v < d->emu_hi) {
			ck_assert_int_eq(slot, -ENOENT);
			continue;
		}
		if (slot == -ENOENT) {
			ck_assert(!(info.host & LIBMSIX_HOST_ALLOCATED));
			continue;
		}
		ck_assert_int_ge(slot, 0);
		ck_assert(info.host & LIBMSIX_HOST_ALLOCATED);
		held++;
		sl = slot_of(e, (uint32_t)slot);
		ck_assert(sl.claimed);
		ck_assert_int_eq(sl.entry.masked,
				 !(info.host & LIBMSIX_HOST_UNMASKED));
		ck_assert_int_eq(libmsix_ims_get_cookie(d->ims, v, &cookie), 0);
		ck_assert_uint_eq(sl.entry.cookie, cookie);
		if (info.host & LIBMSIX_HOST_UNMASKED) {
			ck_assert_uint_eq(sl.entry.address, info.msg.address);
			ck_assert_uint_eq(sl.entry.data, info.msg.data);
		}
	}
	ck_assert_int_eq(libmsix_ims_get_stats(d->ims, &r), 0);
	ck_assert_uint_eq(r.held, held);
	ck_assert_uint_eq(soft_stats(e).violations, 0);
}

/* Unmask vectors [0, n) one at a time, as request_irq() does. */
static int unmask_range(struct tdev *t, uint32_t lo, uint32_t hi)
{
	int first = 0;

	for (uint32_t v = lo; v < hi; v++) {
		int err = set_vmask(t, v, false);

		if (err && !first)
			first = err;
	}
	return first;
}

/* ------------------------------------------------------------------------ */
/* The store and its validation                                              */
/* ------------------------------------------------------------------------ */

static int short_write(struct libmsix_ims_hw *hw, uint32_t slot,
		       const struct libmsix_ims_entry *e)
{
	return 0;
}

START_TEST(test_store_create_rejects_bad_device)
{
	static const struct libmsix_ims_ops no_write = {
		.size = sizeof(struct libmsix_ims_ops),
	};
	static const struct libmsix_ims_ops too_short = {
		.size = offsetof(struct libmsix_ims_ops, write),
		.write = short_write,
	};
	static const struct libmsix_ims_ops with_write = {
		.size = sizeof(struct libmsix_ims_ops),
		.write = short_write,
	};
	struct libmsix_ims_hw hw = { .ops = &no_write, .nr_slots = 4,
				     .log = test_log_cb };
	struct libmsix_ims_store *st = NULL;

	/* Each refusal names its argument and rule through hw's sink. */
	test_log_clear();
	ck_assert_int_eq(libmsix_ims_store_create(NULL, &st), -EINVAL);
	ck_assert_uint_eq(*test_log_count(), 0); /* no hw: no sink */
	ck_assert_int_eq(libmsix_ims_store_create(&hw, NULL), -EINVAL);
	assert_test_logged("libmsix-ims: libmsix_ims_store_create(): out is NULL",
			   NULL);
	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), -EINVAL);
	assert_test_logged("hw->ops has no write op", NULL);
	hw.ops = &too_short;
	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), -EINVAL);
	assert_test_logged("hw->ops has no write op", NULL);
	hw.ops = NULL;
	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), -EINVAL);
	assert_test_logged("hw->ops is NULL", NULL);
	hw.ops = &with_write;
	hw.nr_slots = 0;
	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), -EINVAL);
	assert_test_logged("hw->nr_slots 0 is outside 1..65536", NULL);
	ck_assert_uint_eq(*test_log_count(), 5);
	ck_assert_ptr_null(st);
}
END_TEST

/* A store's get_stats logs a NULL @out through its device's sink. */
START_TEST(test_store_get_stats_einval_is_logged)
{
	static const struct libmsix_ims_ops ops = {
		.size = sizeof(struct libmsix_ims_ops),
		.write = short_write,
	};
	struct libmsix_ims_hw hw = { .ops = &ops, .nr_slots = 4,
				     .log = test_log_cb };
	struct libmsix_ims_store *st;

	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), 0);
	test_log_clear();
	ck_assert_int_eq(libmsix_ims_store_get_stats(st, NULL), -EINVAL);
	assert_test_logged("libmsix_ims_store_get_stats(): out is NULL", NULL);
	ck_assert_int_eq(libmsix_ims_store_get_stats(NULL, NULL), -EINVAL);
	ck_assert_uint_eq(*test_log_count(), 1);
	ck_assert_int_eq(libmsix_ims_store_destroy(st), 0);
}
END_TEST

/* A device compiled against an older, shorter ops table: only write. */
START_TEST(test_store_short_ops_table_works_without_optional_ops)
{
	static const struct libmsix_ims_ops write_only = {
		.size = offsetof(struct libmsix_ims_ops, write) +
			sizeof(void (*)(void)),
		.write = short_write,
	};
	struct libmsix_ims_hw hw = { .ops = &write_only, .nr_slots = 4 };
	struct libmsix_ims_store *st;
	struct side d;
	struct sink *k = calloc(1, sizeof(*k));

	ck_assert_int_eq(libmsix_ims_store_create(&hw, &st), 0);
	ck_assert_int_eq(side_new(&d, st, 4, 4, 0, k), 0);
	linux_bringup(&d.t);
	ck_assert_int_eq(set_vmask(&d.t, 1, false), 0);
	/* No fire op: libmsix delivers through the VMM's callback. */
	ck_assert_int_eq(libmsix_notify(d.t.dev, 1), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(k->nvmm, 1);
	ck_assert_uint_eq(k->vmm_msg[0].data, test_data(1));
	/* No pending op: the PBA shows only what libmsix latched itself. */
	ck_assert_int_eq(set_vmask(&d.t, 1, true), 0);
	ck_assert(!pba_bit(&d.t, 1));
	side_free(&d);
	ck_assert_int_eq(libmsix_ims_store_destroy(st), 0);
	free(k);
}
END_TEST

START_TEST(test_store_destroy_busy_while_devices_use_it)
{
	struct env *e = env_new(4, 4, 4, 0);

	ck_assert_int_eq(libmsix_ims_store_destroy(e->store), -EBUSY);
	env_free(e);
}
END_TEST

START_TEST(test_create_validates_config)
{
	struct env *e = env_new(4, 8, 4, 0);
	struct libmsix_ims_config c = ims_config(8, 2, 0, &e->sink);
	struct libmsix_ims *ims = NULL;

	/* .size: not even itself; a newer header's unknown member set. */
	c.size = sizeof(size_t) - 1;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	c.size = sizeof(c);
	{
		void *g = grown_struct(&c, sizeof(c), 8, 1);

		ck_assert_int_eq(libmsix_ims_create(e->store, g, &ims), -E2BIG);
		free(g);
	}
	c = ims_config(8, 2, 0x80, &e->sink);
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	c = ims_config(0, 0, LIBMSIX_IMS_F_FORCE, &e->sink);
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	c = ims_config(LIBMSIX_MAX_VECTORS + 1, 1, 0, &e->sink);
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	c = ims_config(8, 9, 0, &e->sink);
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	/* A budget of 0 without FORCE could never go live. */
	c = ims_config(8, 0, 0, &e->sink);
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	ck_assert_int_eq(libmsix_ims_create(NULL, &c, &ims), -EINVAL);
	ck_assert_ptr_null(ims);
	ck_assert_uint_eq(budget_of(e->store).devices, 1);
	env_free(e);
}
END_TEST

/* Every -EINVAL a VMM gets from a device's calls names argument and rule. */
START_TEST(test_einval_is_logged)
{
	struct env *e = env_new(4, 8, 4, 0);
	struct libmsix_ims_config c = ims_config(8, 2, 0x80, &e->sink);
	struct libmsix_ims *ims = NULL;
	uint64_t cookie;

	test_log_clear();
	c.log = test_log_cb;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	assert_test_logged("libmsix-ims: libmsix_ims_create(): flags 0x80",
			   "unknown bits 0x80");
	c.flags = LIBMSIX_IMS_F_FORCE;
	c.nr_vectors = LIBMSIX_MAX_VECTORS + 1;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	assert_test_logged("nr_vectors 2049", "1..2048");
	c.nr_vectors = 8;
	c.reserve = 9;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	assert_test_logged("reserve 9 is more than nr_vectors 8", NULL);
	c.flags = 0;
	c.reserve = 0;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), -EINVAL);
	assert_test_logged("reserve 0 without LIBMSIX_IMS_F_FORCE", NULL);
	ck_assert_ptr_null(ims);
	ck_assert_uint_eq(*test_log_count(), 4);

	/* A device whose config has the sink, and no deliver callback. */
	c.reserve = 2;
	c.deliver = NULL;
	ck_assert_int_eq(libmsix_ims_create(e->store, &c, &ims), 0);
	ck_assert_uint_eq(*test_log_count(), 4);
	ck_assert_int_eq(libmsix_ims_set_cookie(ims, 8, 5), -EINVAL);
	assert_test_logged("libmsix_ims_set_cookie(): vector 8", "(0..7)");
	ck_assert_int_eq(libmsix_ims_get_cookie(ims, 9, &cookie), -EINVAL);
	assert_test_logged("libmsix_ims_get_cookie(): vector 9", "(0..7)");
	ck_assert_int_eq(libmsix_ims_get_cookie(ims, 0, NULL), -EINVAL);
	assert_test_logged("libmsix_ims_get_cookie(): out is NULL", NULL);
	ck_assert_int_eq(libmsix_ims_set_emulated(ims, 6, 4, false), -EINVAL);
	assert_test_logged("libmsix_ims_set_emulated(): vectors [6, +4)",
			   "0..7");
	ck_assert_int_eq(libmsix_ims_set_emulated(ims, 0, 1, true), -EINVAL);
	assert_test_logged("libmsix_ims_set_emulated(): on without a deliver",
			   NULL);
	ck_assert_int_eq(libmsix_ims_vector_slot(ims, 8), -EINVAL);
	assert_test_logged("libmsix_ims_vector_slot(): vector 8", NULL);
	ck_assert_int_eq(libmsix_ims_get_stats(ims, NULL), -EINVAL);
	assert_test_logged("libmsix_ims_get_stats(): out is NULL", NULL);
	ck_assert_uint_eq(*test_log_count(), 11);
	/* Nothing changed: the cookie, and no vector became emulated. */
	ck_assert_int_eq(libmsix_ims_get_cookie(ims, 0, &cookie), 0);
	ck_assert_uint_eq(cookie, 0);
	libmsix_ims_destroy(ims);
	ck_assert_uint_eq(budget_of(e->store).devices, 1);

	/* Without a sink: the same -EINVAL, nothing logged. */
	ck_assert_int_eq(libmsix_ims_vector_slot(e->d.ims, 4), -EINVAL);
	ck_assert_uint_eq(*test_log_count(), 11);
	env_free(e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A guest table of 64 vectors on a store of 16 slots                        */
/* ------------------------------------------------------------------------ */

/* Tsirkin: a reservation that cannot be met fails at setup. */
START_TEST(test_reserve_beyond_store_fails_at_setup)
{
	struct libmsix_soft_ims *soft;
	struct libmsix_ims_store *st;
	struct side d;
	struct sink *k = calloc(1, sizeof(*k));

	ck_assert_int_eq(libmsix_soft_ims_create(16, sink_fn, k, &soft), 0);
	ck_assert_int_eq(libmsix_ims_store_create(libmsix_soft_ims_hw(soft),
						  &st), 0);
	ck_assert_int_eq(side_new(&d, st, 64, 64, 0, k), -ENOSPC);
	ck_assert_int_eq(side_new(&d, st, 64, 17, 0, k), -ENOSPC);
	ck_assert_uint_eq(budget_of(st).devices, 0);
	ck_assert_uint_eq(budget_of(st).reserved, 0);
	ck_assert_int_eq(side_new(&d, st, 64, 16, 0, k), 0);
	side_free(&d);
	ck_assert_int_eq(libmsix_ims_store_destroy(st), 0);
	libmsix_soft_ims_destroy(soft);
	free(k);
}
END_TEST

/*
 * The documented fault path: vectors 16..63 cannot get a slot. Their unmask
 * returns -ENOSPC, they stay blocked (their interrupts latch in the PBA),
 * the fault callback's counter moves, and libmsix_retry() makes them live
 * once slots are freed -- delivering what they latched exactly once.
 */
START_TEST(test_bringup_64_vectors_on_16_slots_faults_beyond)
{
	struct env *e = env_new(64, 16, 16, 0);
	struct tdev *t = &e->d.t;
	struct libmsix_stats c;
	struct libmsix_vector_info info;
	struct libmsix_soft_ims_stats s;

	linux_bringup(t);
	/* Bring-up itself (all masked, lazy) takes no slot. */
	ck_assert_uint_eq(soft_stats(e).claims, 0);
	for (uint32_t v = 0; v < 64; v++)
		ck_assert_int_eq(set_vmask(t, v, false),
				 v < 16 ? 0 : -ENOSPC);
	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	ck_assert_uint_eq(c.faults, 48);
	ck_assert_uint_eq(c.host_vectors, 16);
	s = soft_stats(e);
	ck_assert_uint_eq(s.claimed, 16);
	/* Two writes per vector going live: message under the mask, unmask. */
	ck_assert_uint_eq(s.writes, 32);
	ck_assert_int_eq(libmsix_get_vector_info(t->dev, 40, &info), 0);
	ck_assert_uint_eq(info.host, LIBMSIX_HOST_FAULT);
	ck_assert(!info.live);
	check_consistent(e, &e->d);

	/* Live vectors go out through their slot, with their message. */
	ck_assert_int_eq(libmsix_notify(t->dev, 3), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(e->sink.n, 1);
	ck_assert_uint_eq(e->sink.s[0].msg.address, test_addr(3));
	ck_assert_uint_eq(e->sink.s[0].slot,
			  (uint32_t)libmsix_ims_vector_slot(e->d.ims, 3));
	/* Faulted vectors latch, and the PBA shows it. */
	ck_assert_int_eq(libmsix_notify(t->dev, 40), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t->dev, 40), LIBMSIX_LATCHED);
	ck_assert(pba_bit(t, 40));
	ck_assert_int_eq(libmsix_retry(t->dev), -ENOSPC);

	/* The guest frees two: the driver masks them, the device unuses them. */
	ck_assert_int_eq(set_vmask(t, 0, true), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t->dev, 0), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t->dev, 1), 0);
	ck_assert_int_eq(libmsix_ims_vector_slot(e->d.ims, 0), -ENOENT);
	ck_assert_uint_eq(soft_stats(e).claimed, 14);
	check_consistent(e, &e->d);
	/* Lowest first: 16 and 17 get the slots; 40 still waits. */
	ck_assert_int_eq(libmsix_retry(t->dev), -ENOSPC);
	ck_assert_int_ge(libmsix_ims_vector_slot(e->d.ims, 16), 0);
	ck_assert_int_ge(libmsix_ims_vector_slot(e->d.ims, 17), 0);
	ck_assert_int_eq(libmsix_ims_vector_slot(e->d.ims, 40), -ENOENT);
	ck_assert(pba_bit(t, 40));
	/* Free 16 and 17 too, then 40 goes live and delivers its latch once. */
	ck_assert_int_eq(libmsix_vector_unuse(t->dev, 16), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t->dev, 17), 0);
	for (uint32_t v = 18; v < 40; v++)
		ck_assert_int_eq(libmsix_vector_unuse(t->dev, v), 0);
	ck_assert_int_eq(libmsix_retry(t->dev), -ENOSPC);
	ck_assert_int_ge(libmsix_ims_vector_slot(e->d.ims, 40), 0);
	ck_assert_uint_eq(sent_of(&e->sink, 40), 1);
	ck_assert(!pba_bit(t, 40));
	ck_assert_int_eq(libmsix_notify(t->dev, 40), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(sent_of(&e->sink, 40), 2);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

/* MSI-X disable gives every slot back, reset. */
START_TEST(test_disable_resets_and_frees_every_slot)
{
	struct env *e = env_new(16, 16, 16, 0);
	struct tdev *t = &e->d.t;

	linux_bringup(t);
	ck_assert_int_eq(unmask_range(t, 0, 16), 0);
	ck_assert_uint_eq(soft_stats(e).claimed, 16);
	ck_assert_int_eq(set_msgctl(t, 0), 0);
	ck_assert_uint_eq(soft_stats(e).claimed, 0);
	ck_assert_uint_eq(budget_of(e->store).held, 0);
	for (uint32_t i = 0; i < 16; i++) {
		struct libmsix_soft_ims_slot sl = slot_of(e, i);

		ck_assert(sl.entry.masked);
		ck_assert_uint_eq(sl.entry.data, 0);
	}
	ck_assert_int_eq(libmsix_notify(t->dev, 2), LIBMSIX_DROPPED);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Masking and pending bits                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_mask_goes_to_slot_mask_bit)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint32_t slot;
	uint64_t w;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 5, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 5);
	ck_assert(!slot_of(e, slot).entry.masked);
	ck_assert_uint_eq(slot_of(e, slot).entry.data, test_data(5));
	w = soft_stats(e).writes;
	ck_assert_int_eq(set_vmask(t, 5, true), 0);
	ck_assert(slot_of(e, slot).entry.masked);
	/* One write per mask and per unmask; the slot stays the vector's. */
	ck_assert_uint_eq(soft_stats(e).writes, w + 1);
	ck_assert_int_eq(set_vmask(t, 5, false), 0);
	ck_assert_uint_eq(soft_stats(e).writes, w + 2);
	ck_assert_uint_eq((uint32_t)libmsix_ims_vector_slot(e->d.ims, 5), slot);
	/* Function Mask masks every slot, in one commit. */
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert(slot_of(e, slot).entry.masked);
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert(!slot_of(e, slot).entry.masked);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

/* R42 on a slot: mask, change the message, unmask: new message, R41 kept. */
START_TEST(test_message_change_under_mask_reaches_slot)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint32_t slot;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 2, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 2);
	ck_assert_int_eq(set_vmask(t, 2, true), 0);
	set_msg(t, 2, 0xfee0f000u, 0x4444);
	ck_assert_int_eq(libmsix_soft_ims_raise(e->soft, slot),
			 LIBMSIX_LATCHED);
	ck_assert_int_eq(set_vmask(t, 2, false), 0);
	ck_assert_uint_eq(slot_of(e, slot).entry.address, 0xfee0f000u);
	ck_assert_uint_eq(slot_of(e, slot).entry.data, 0x4444);
	/* The latched interrupt went out once, with the new message. */
	ck_assert_uint_eq(e->sink.n, 1);
	ck_assert_uint_eq(e->sink.s[0].msg.data, 0x4444);
	ck_assert_uint_eq(soft_stats(e).violations, 0);
	env_free(e);
}
END_TEST

/*
 * A slot the device raises while masked: the guest's PBA shows it (poll
 * reads the slot's pending bit), and the unmask sends it exactly once.
 */
START_TEST(test_slot_raised_while_masked_shows_in_pba_replays_once)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	struct libmsix_stats c;
	uint32_t slot;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 6, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 6);
	ck_assert_int_eq(set_vmask(t, 6, true), 0);
	ck_assert(!pba_bit(t, 6));
	/* Three raises coalesce into one pending bit (R36). */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(libmsix_soft_ims_raise(e->soft, slot),
				 LIBMSIX_LATCHED);
	ck_assert_uint_eq(e->sink.n, 0);
	ck_assert(pba_bit(t, 6));
	ck_assert(pba_bit(t, 6)); /* reading again does not lose it */
	ck_assert_int_eq(set_vmask(t, 6, false), 0);
	ck_assert_uint_eq(e->sink.n, 1);
	ck_assert_uint_eq(e->sink.s[0].slot, slot);
	ck_assert_uint_eq(e->sink.s[0].msg.data, test_data(6));
	ck_assert(!pba_bit(t, 6));
	ck_assert(!slot_of(e, slot).pending);
	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	ck_assert_uint_eq(c.replayed, 1);
	/* Nothing more on a second mask/unmask cycle. */
	ck_assert_int_eq(set_vmask(t, 6, true), 0);
	ck_assert_int_eq(set_vmask(t, 6, false), 0);
	ck_assert_uint_eq(e->sink.n, 1);
	env_free(e);
}
END_TEST

/* Same, without a PBA read in between: still exactly once. */
START_TEST(test_slot_raised_while_masked_replays_once_without_pba_read)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint32_t slot;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 1, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 1);
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(libmsix_soft_ims_raise(e->soft, slot),
			 LIBMSIX_LATCHED);
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(sent_of(&e->sink, 1), 1);
	ck_assert(!pba_bit(t, 1));
	env_free(e);
}
END_TEST

/* The slot's latch and libmsix's own coalesce into one message (R36). */
START_TEST(test_notify_and_slot_raise_while_masked_coalesce)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint32_t slot;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 4, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 4);
	ck_assert_int_eq(set_vmask(t, 4, true), 0);
	ck_assert_int_eq(libmsix_notify(t->dev, 4), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_soft_ims_raise(e->soft, slot),
			 LIBMSIX_LATCHED);
	ck_assert_int_eq(set_vmask(t, 4, false), 0);
	ck_assert_uint_eq(sent_of(&e->sink, 4), 1);
	ck_assert(!slot_of(e, slot).pending);
	/* Nothing owed is left behind for the next masked period. */
	ck_assert_int_eq(set_vmask(t, 4, true), 0);
	ck_assert(!pba_bit(t, 4));
	env_free(e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Cookies                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(test_cookie_reaches_slot)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint32_t slot;
	uint64_t w;

	linux_bringup(t);
	/* Set before the vector has a slot: carried when it gets one. */
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 3, 0x80000 | 42), 0);
	ck_assert_uint_eq(soft_stats(e).writes, 0);
	ck_assert_int_eq(set_vmask(t, 3, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 3);
	ck_assert_uint_eq(slot_of(e, slot).entry.cookie, 0x80000 | 42);
	ck_assert_int_eq(libmsix_notify(t->dev, 3), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(e->sink.s[0].cookie, 0x80000 | 42);

	/* Changed while live: mask, write, unmask -- R41 on the slot. */
	w = soft_stats(e).writes;
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 3, 0x80000 | 7), 0);
	ck_assert_uint_eq(soft_stats(e).writes, w + 3);
	ck_assert_uint_eq(slot_of(e, slot).entry.cookie, 0x80000 | 7);
	ck_assert(!slot_of(e, slot).entry.masked);
	ck_assert_int_eq(libmsix_notify(t->dev, 3), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(e->sink.s[1].cookie, 0x80000 | 7);

	/* Changed while masked: one write, the slot stays masked. */
	ck_assert_int_eq(set_vmask(t, 3, true), 0);
	w = soft_stats(e).writes;
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 3, 9), 0);
	ck_assert_uint_eq(soft_stats(e).writes, w + 1);
	ck_assert(slot_of(e, slot).entry.masked);
	ck_assert_uint_eq(slot_of(e, slot).entry.cookie, 9);
	/* The same cookie again writes nothing. */
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 3, 9), 0);
	ck_assert_uint_eq(soft_stats(e).writes, w + 1);
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 8, 1), -EINVAL);
	ck_assert_int_eq(libmsix_ims_set_cookie(NULL, 0, 1), -EINVAL);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

START_TEST(test_cookie_default_from_config)
{
	struct libmsix_soft_ims *soft;
	struct libmsix_ims_store *st;
	struct libmsix_ims_config c;
	struct libmsix_ims *ims;
	uint64_t cookie;

	ck_assert_int_eq(libmsix_soft_ims_create(4, NULL, NULL, &soft), 0);
	ck_assert_int_eq(libmsix_ims_store_create(libmsix_soft_ims_hw(soft),
						  &st), 0);
	c = ims_config(4, 4, 0, NULL);
	c.default_cookie = 0x1234;
	ck_assert_int_eq(libmsix_ims_create(st, &c, &ims), 0);
	ck_assert_int_eq(libmsix_ims_get_cookie(ims, 3, &cookie), 0);
	ck_assert_uint_eq(cookie, 0x1234);
	ck_assert_int_eq(libmsix_ims_get_cookie(ims, 4, &cookie), -EINVAL);
	libmsix_ims_destroy(ims);
	ck_assert_int_eq(libmsix_ims_store_destroy(st), 0);
	libmsix_soft_ims_destroy(soft);
}
END_TEST

/* A failed reprogram leaves the slot and the cookie as they were. */
START_TEST(test_cookie_write_failure_changes_nothing)
{
	struct env *e = env_new(8, 8, 8, 0);
	struct tdev *t = &e->d.t;
	uint64_t cookie;
	uint32_t slot;

	linux_bringup(t);
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 2, 5), 0);
	ck_assert_int_eq(set_vmask(t, 2, false), 0);
	slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 2);
	for (uint32_t k = 1; k <= 3; k++) {
		ck_assert_int_eq(libmsix_soft_ims_fail(e->soft, k, 1, -EIO), 0);
		ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 2, 6), -EIO);
		ck_assert_int_eq(libmsix_ims_get_cookie(e->d.ims, 2, &cookie),
				 0);
		ck_assert_uint_eq(cookie, 5);
		ck_assert_uint_eq(slot_of(e, slot).entry.cookie, 5);
		ck_assert(!slot_of(e, slot).entry.masked);
		ck_assert_int_eq(libmsix_notify(t->dev, 2), LIBMSIX_DELIVERED);
	}
	ck_assert_uint_eq(sent_of(&e->sink, 2), 3);
	ck_assert_uint_eq(budget_of(e->store).rollbacks, 3);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Emulated vectors                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(test_emulated_vectors_take_no_slot)
{
	struct env *e = env_new(8, 4, 4, 0);
	struct tdev *t = &e->d.t;
	struct libmsix_ims_stats r;

	ck_assert_int_eq(libmsix_ims_set_emulated(e->d.ims, 4, 4, true), 0);
	e->d.emu_lo = 4;
	e->d.emu_hi = 8;
	linux_bringup(t);
	/* 4 slot-backed + 4 emulated on a store of 4: all go live. */
	ck_assert_int_eq(unmask_range(t, 0, 8), 0);
	ck_assert_uint_eq(soft_stats(e).claimed, 4);
	for (uint32_t v = 4; v < 8; v++)
		ck_assert_int_eq(libmsix_ims_vector_slot(e->d.ims, v), -ENOENT);
	ck_assert_int_eq(libmsix_notify(t->dev, 6), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(e->sink.nvmm, 1);
	ck_assert_uint_eq(e->sink.vmm_vec[0], 6);
	ck_assert_uint_eq(e->sink.vmm_msg[0].data, test_data(6));
	ck_assert_uint_eq(e->sink.n, 0);
	/* Masked: libmsix latches, the unmask replays through the VMM. */
	ck_assert_int_eq(set_vmask(t, 6, true), 0);
	ck_assert_int_eq(libmsix_notify(t->dev, 6), LIBMSIX_LATCHED);
	ck_assert(pba_bit(t, 6));
	ck_assert_int_eq(set_vmask(t, 6, false), 0);
	ck_assert_uint_eq(e->sink.nvmm, 2);
	ck_assert(!pba_bit(t, 6));
	ck_assert_int_eq(libmsix_ims_get_stats(e->d.ims, &r), 0);
	ck_assert_uint_eq(r.emulated, 4);
	ck_assert_uint_eq(r.held, 4);
	ck_assert_uint_eq(budget_of(e->store).demand, 4);
	/* A property of the device: not while a vector holds a host vector. */
	ck_assert_int_eq(libmsix_ims_set_emulated(e->d.ims, 4, 1, false),
			 -EBUSY);
	ck_assert_int_eq(libmsix_ims_set_emulated(e->d.ims, 0, 1, true),
			 -EBUSY);
	ck_assert_int_eq(libmsix_ims_set_emulated(e->d.ims, 7, 2, true),
			 -EINVAL);
	ck_assert_int_eq(libmsix_ims_set_emulated(e->d.ims, 0, 0, true),
			 -EINVAL);
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

START_TEST(test_emulated_needs_deliver_callback)
{
	struct libmsix_soft_ims *soft;
	struct libmsix_ims_store *st;
	struct libmsix_ims_config c;
	struct libmsix_ims *ims;

	ck_assert_int_eq(libmsix_soft_ims_create(4, NULL, NULL, &soft), 0);
	ck_assert_int_eq(libmsix_ims_store_create(libmsix_soft_ims_hw(soft),
						  &st), 0);
	c = ims_config(4, 4, 0, NULL);
	c.deliver = NULL;
	ck_assert_int_eq(libmsix_ims_create(st, &c, &ims), 0);
	ck_assert_int_eq(libmsix_ims_set_emulated(ims, 0, 1, true), -EINVAL);
	libmsix_ims_destroy(ims);
	ck_assert_int_eq(libmsix_ims_store_destroy(st), 0);
	libmsix_soft_ims_destroy(soft);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failure injection                                                         */
/* ------------------------------------------------------------------------ */

/*
 * A bring-up and a life: unmask, cookie changes, mask/re-program/unmask,
 * Function Mask on and off, unuse, more unmasks, and an interrupt on every
 * used vector. Each step's error is ignored (the caller injects failures);
 * after each step the three views must agree.
 */
static void life(struct env *e)
{
	struct tdev *t = &e->d.t;

	linux_bringup(t);
	check_consistent(e, &e->d);
	for (uint32_t v = 0; v < 12; v++) {
		set_vmask(t, v, false);
		check_consistent(e, &e->d);
	}
	if (libmsix_ims_set_cookie(e->d.ims, 5, 0x55) < 0)
		ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 5, 0x55), 0);
	ck_assert_int_eq(libmsix_ims_set_cookie(e->d.ims, 13, 0x13), 0);
	check_consistent(e, &e->d);
	set_vmask(t, 4, true);
	check_consistent(e, &e->d);
	set_msg(t, 4, test_addr(4), test_data(4));
	set_vmask(t, 4, false);
	check_consistent(e, &e->d);
	set_msgctl(t, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	check_consistent(e, &e->d);
	set_msgctl(t, PCI_MSIX_FLAGS_ENABLE);
	check_consistent(e, &e->d);
	libmsix_vector_unuse(t->dev, 11);
	check_consistent(e, &e->d);
	for (uint32_t v = 12; v < 16; v++) {
		set_vmask(t, v, false);
		check_consistent(e, &e->d);
	}
	for (uint32_t v = 0; v < 16; v++)
		if (v != 11)
			libmsix_notify(t->dev, v);
	check_consistent(e, &e->d);
}

/* After life() and a retry: every used vector live, each interrupt out once. */
static void check_after_life(struct env *e)
{
	struct tdev *t = &e->d.t;
	uint32_t held11;

	ck_assert_int_eq(libmsix_retry(t->dev), 0);
	check_consistent(e, &e->d);
	for (uint32_t v = 0; v < 16; v++) {
		struct libmsix_vector_info info;

		ck_assert_int_eq(libmsix_get_vector_info(t->dev, v, &info), 0);
		if (v == 11) {
			ck_assert(!info.live);
			continue;
		}
		ck_assert(info.live);
		ck_assert_uint_eq(sent_of(&e->sink, v), 1);
	}
	/*
	 * A failed release (the unuse of 11) is not redone by
	 * libmsix_retry(), which retries faults: the slot stays held, as the
	 * engine knows, until the vector's next transition or a disable.
	 */
	held11 = libmsix_ims_vector_slot(e->d.ims, 11) >= 0;
	ck_assert_uint_eq(soft_stats(e).claimed, 15 + held11);
	ck_assert_uint_eq(budget_of(e->store).held, 15 + held11);
	ck_assert_int_eq(libmsix_notify(t->dev, 11), LIBMSIX_DROPPED);
	ck_assert_uint_eq(sent_of(&e->sink, 11), 0);
	ck_assert_int_eq(set_msgctl(t, 0), 0);
	ck_assert_uint_eq(soft_stats(e).claimed, 0);
	ck_assert_uint_eq(budget_of(e->store).held, 0);
}

/*
 * Fail each slot write of life() in turn: the operation that hit it returns
 * an error and changes nothing at the device (rollback), no slot leaks, the
 * views agree after every step, and after libmsix_retry() the end state is
 * the same as without the failure, with no interrupt lost or doubled.
 */
START_TEST(test_failure_at_every_write_rolls_back)
{
	struct env *e = env_new(16, 16, 16, 0);
	uint64_t total;

	life(e);
	total = soft_stats(e).writes;
	check_after_life(e);
	ck_assert_uint_gt(total, 40);
	env_free(e);

	for (uint64_t k = 1; k <= total; k++) {
		struct libmsix_ims_store_stats b;

		e = env_new(16, 16, 16, 0);
		ck_assert_int_eq(libmsix_soft_ims_fail(e->soft, (uint32_t)k, 1,
						       -EIO), 0);
		life(e);
		ck_assert_uint_eq(soft_stats(e).failed, 1);
		b = budget_of(e->store);
		ck_assert_uint_eq(b.write_errors, 1);
		ck_assert_uint_eq(b.rollbacks, 1);
		ck_assert_uint_eq(b.quarantined, 0);
		check_after_life(e);
		env_free(e);
	}
}
END_TEST

/*
 * The device refuses the rollback too: a slot the failed commit had claimed
 * is quarantined (never handed out again, counted), nothing asserts, and
 * the vector is retried on another slot.
 */
START_TEST(test_failed_rollback_quarantines_claimed_slot)
{
	struct env *e = env_new(4, 4, 4, 0);
	struct tdev *t = &e->d.t;
	struct libmsix_ims_store_stats b;

	linux_bringup(t);
	/* Going live is 2 writes; fail the 2nd and the rollback's write. */
	ck_assert_int_eq(libmsix_soft_ims_fail(e->soft, 2, 2, -EIO), 0);
	ck_assert_int_eq(set_vmask(t, 0, false), -EIO);
	b = budget_of(e->store);
	ck_assert_uint_eq(b.quarantined, 1);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(b.available, 0); /* 4 reserved, 1 of them lost */
	ck_assert_int_eq(libmsix_retry(t->dev), 0);
	ck_assert_int_ne(libmsix_ims_vector_slot(e->d.ims, 0), 0);
	ck_assert_int_eq(unmask_range(t, 1, 4), -ENOSPC);
	ck_assert_uint_eq(soft_stats(e).claimed, 4); /* 3 + the quarantined */
	ck_assert_uint_eq(soft_stats(e).violations, 0);
	ck_assert_int_eq(set_msgctl(t, 0), 0);
	ck_assert_uint_eq(budget_of(e->store).held, 0);
	side_free(&e->d);
	ck_assert_int_eq(libmsix_ims_store_destroy(e->store), 0);
	libmsix_soft_ims_destroy(e->soft);
	free(e);
}
END_TEST

/* The soft device's checks are real: a write that breaks R41 is refused. */
/* The soft device's -EINVALs name their argument through its hw sink. */
START_TEST(test_soft_ims_einval_is_logged)
{
	struct libmsix_soft_ims_slot slot;
	struct libmsix_soft_ims_stats st;
	struct libmsix_soft_ims *soft;

	ck_assert_int_eq(libmsix_soft_ims_create(2, NULL, NULL, &soft), 0);
	test_log_clear();
	ck_assert_int_eq(libmsix_soft_ims_raise(soft, 2), -EINVAL);
	ck_assert_uint_eq(*test_log_count(), 0); /* no sink set yet */
	libmsix_soft_ims_hw(soft)->log = test_log_cb;
	ck_assert_int_eq(libmsix_soft_ims_raise(soft, 2), -EINVAL);
	assert_test_logged("libmsix-soft-ims: libmsix_soft_ims_raise(): slot 2",
			   "outside 0..1");
	ck_assert_int_eq(libmsix_soft_ims_slot(soft, 5, &slot), -EINVAL);
	assert_test_logged("libmsix_soft_ims_slot(): slot 5", "outside 0..1");
	ck_assert_int_eq(libmsix_soft_ims_slot(soft, 0, NULL), -EINVAL);
	assert_test_logged("libmsix_soft_ims_slot(): out is NULL", NULL);
	ck_assert_int_eq(libmsix_soft_ims_fail(soft, 1, 1, 5), -EINVAL);
	assert_test_logged("libmsix_soft_ims_fail(): err 5", "negative errno");
	ck_assert_int_eq(libmsix_soft_ims_get_stats(soft, NULL), -EINVAL);
	assert_test_logged("libmsix_soft_ims_get_stats(): out is NULL", NULL);
	ck_assert_uint_eq(*test_log_count(), 5);
	/* Nothing changed: no failure armed, nothing raised. */
	ck_assert_int_eq(libmsix_soft_ims_get_stats(soft, &st), 0);
	ck_assert_int_eq(libmsix_soft_ims_slot(soft, 0, &slot), 0);
	ck_assert_uint_eq(slot.writes, 0);
	ck_assert(!slot.pending);
	libmsix_soft_ims_destroy(soft);
}
END_TEST

START_TEST(test_soft_ims_refuses_rule_breaking_writes)
{
	struct libmsix_soft_ims *soft;
	struct libmsix_ims_hw *hw;
	struct libmsix_ims_entry e = { .address = 0xfee00000u, .data = 1 };

	ck_assert_int_eq(libmsix_soft_ims_create(2, NULL, NULL, &soft), 0);
	hw = libmsix_soft_ims_hw(soft);
	/* Not claimed. */
	ck_assert_int_eq(hw->ops->write(hw, 0, &e), -EINVAL);
	hw->ops->claim(hw, 0);
	/* Message change that unmasks in the same write. */
	ck_assert_int_eq(hw->ops->write(hw, 0, &e), -EINVAL);
	e.masked = true;
	ck_assert_int_eq(hw->ops->write(hw, 0, &e), 0);
	e.masked = false;
	ck_assert_int_eq(hw->ops->write(hw, 0, &e), 0);
	/* Message change while unmasked. */
	e.data = 2;
	ck_assert_int_eq(hw->ops->write(hw, 0, &e), -EINVAL);
	/* Release of a slot that still holds a message; double claim. */
	hw->ops->release(hw, 0);
	hw->ops->claim(hw, 0);
	ck_assert_int_eq(hw->ops->fire(hw, 1), -EINVAL);
	ck_assert_int_eq(libmsix_soft_ims_raise(soft, 1), -ENOENT);
	ck_assert_int_eq(libmsix_soft_ims_raise(soft, 2), -EINVAL);
	ck_assert_int_eq(libmsix_soft_ims_raise(soft, 0), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(libmsix_soft_ims_fail(soft, 1, 1, 5), -EINVAL);
	{
		struct libmsix_soft_ims_stats s;

		ck_assert_int_eq(libmsix_soft_ims_get_stats(soft, &s), 0);
		ck_assert_uint_eq(s.violations, 6);
		ck_assert_uint_eq(s.writes, 2);
		ck_assert_uint_eq(s.sent, 1);
	}
	libmsix_soft_ims_destroy(soft);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Two devices on one store: reservations, overcommit, the report            */
/* ------------------------------------------------------------------------ */

START_TEST(test_two_devices_share_store_with_reservations)
{
	struct env *e = env_new(16, 16, 10, 0);
	struct side b, c;
	struct libmsix_ims_store_stats bud;
	struct libmsix_ims_stats r;

	ck_assert_int_eq(side_new(&b, e->store, 8, 6, 0, &e->sink), 0);
	/* All 16 are spoken for: a third device cannot reserve one. */
	ck_assert_int_eq(side_new(&c, e->store, 4, 1, 0, &e->sink), -ENOSPC);
	/* It may overcommit, and then gets nothing while the others hold
	 * or are guaranteed everything. */
	ck_assert_int_eq(side_new(&c, e->store, 4, 0, LIBMSIX_IMS_F_FORCE,
				  &e->sink), 0);
	linux_bringup(&c.t);
	ck_assert_int_eq(set_vmask(&c.t, 0, false), -ENOSPC);

	linux_bringup(&e->d.t);
	linux_bringup(&b.t);
	/* Each device's limit is its reservation. */
	ck_assert_int_eq(unmask_range(&e->d.t, 0, 16), -ENOSPC);
	ck_assert_int_eq(unmask_range(&b.t, 0, 8), -ENOSPC);
	ck_assert_int_eq(libmsix_ims_get_stats(e->d.ims, &r), 0);
	ck_assert_uint_eq(r.held, 10);
	ck_assert_int_eq(libmsix_ims_get_stats(b.ims, &r), 0);
	ck_assert_uint_eq(r.held, 6);
	ck_assert_uint_eq(soft_stats(e).claimed, 16);
	check_consistent(e, &e->d);
	check_consistent(e, &b);

	bud = budget_of(e->store);
	ck_assert_uint_eq(bud.capacity, 16);
	ck_assert_uint_eq(bud.devices, 3);
	ck_assert_uint_eq(bud.reserved, 16);
	ck_assert_uint_eq(bud.demand, 16 + 8 + 4);
	ck_assert_uint_eq(bud.held, 16);
	ck_assert_uint_eq(bud.available, 0);
	ck_assert_uint_eq(bud.overcommit, 12);
	ck_assert_uint_ge(bud.exhausted, 1);

	/* B's messages never come out of A's slots, and vice versa. */
	ck_assert_int_eq(libmsix_notify(b.t.dev, 2), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(e->sink.s[e->sink.n - 1].slot,
			  (uint32_t)libmsix_ims_vector_slot(b.ims, 2));

	/* A device going away returns its reservation to the store. */
	side_free(&b);
	bud = budget_of(e->store);
	ck_assert_uint_eq(bud.available, 6);
	ck_assert_int_eq(libmsix_retry(c.t.dev), 0);
	ck_assert_int_ge(libmsix_ims_vector_slot(c.ims, 0), 0);
	side_free(&c);
	env_free(e);
}
END_TEST

/*
 * Kiszka's side: a forced device goes beyond its reservation while slots
 * are free, a reserved device still gets its share afterwards, and the
 * report says how far demand exceeds what can be covered.
 */
START_TEST(test_force_overcommits_beyond_reservation)
{
	struct env *e = env_new(32, 16, 4, LIBMSIX_IMS_F_FORCE);
	struct side b;
	struct libmsix_ims_store_stats bud;
	struct libmsix_ims_stats r;

	ck_assert_int_eq(side_new(&b, e->store, 8, 4, 0, &e->sink), 0);
	bud = budget_of(e->store);
	ck_assert_uint_eq(bud.reserved, 8);
	ck_assert_uint_eq(bud.available, 8);
	ck_assert_uint_eq(bud.demand, 40);
	ck_assert_uint_eq(bud.overcommit, 24);

	linux_bringup(&e->d.t);
	linux_bringup(&b.t);
	/* A takes its 4 and the 8 unreserved; B's 4 stay untouched. */
	ck_assert_int_eq(unmask_range(&e->d.t, 0, 32), -ENOSPC);
	ck_assert_int_eq(libmsix_ims_get_stats(e->d.ims, &r), 0);
	ck_assert_uint_eq(r.held, 12);
	ck_assert(r.forced);
	ck_assert_uint_eq(r.exhausted, 20);
	ck_assert_int_eq(unmask_range(&b.t, 0, 4), 0);
	ck_assert_int_eq(unmask_range(&b.t, 4, 8), -ENOSPC);
	bud = budget_of(e->store);
	ck_assert_uint_eq(bud.held, 16);
	ck_assert_uint_eq(bud.peak, 16);
	ck_assert_uint_eq(bud.available, 0);
	check_consistent(e, &e->d);
	check_consistent(e, &b);
	side_free(&b);
	env_free(e);
}
END_TEST

/*
 * Regression (engine): one -ENOSPC alloc failed a whole transaction, so on
 * a shared store a batch (here a Function Mask clear) that needed more slots
 * than were free made none live, and a retry after freeing k < needed slots
 * made none live either. Now the vectors that fit go live, only the others
 * fault, and a retry after freeing k slots brings k more vectors live.
 */
START_TEST(test_engine_enospc_in_batch_faults_only_refused_vectors)
{
	struct env *e = env_new(8, 8, 0, LIBMSIX_IMS_F_FORCE);
	struct tdev *t = &e->d.t;
	struct side b;
	uint32_t live = 0;

	ck_assert_int_eq(side_new(&b, e->store, 8, 0, LIBMSIX_IMS_F_FORCE,
				  &e->sink), 0);
	linux_bringup(&b.t);
	ck_assert_int_eq(unmask_range(&b.t, 0, 5), 0);
	/* A: everything unmasked under Function Mask, then one clear. */
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	for (uint32_t v = 0; v < 8; v++) {
		set_msg(t, v, test_addr(v), test_data(v));
		ck_assert_int_eq(set_vmask(t, v, false), 0);
	}
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE), -ENOSPC);
	for (uint32_t v = 0; v < 8; v++)
		live += libmsix_ims_vector_slot(e->d.ims, v) >= 0;
	ck_assert_uint_eq(live, 3);
	check_consistent(e, &e->d);
	/* B gives two back: a retry of A's five makes two more live. */
	ck_assert_int_eq(libmsix_vector_unuse(b.t.dev, 0), 0);
	ck_assert_int_eq(libmsix_vector_unuse(b.t.dev, 1), 0);
	ck_assert_int_eq(libmsix_retry(t->dev), -ENOSPC);
	live = 0;
	for (uint32_t v = 0; v < 8; v++)
		live += libmsix_ims_vector_slot(e->d.ims, v) >= 0;
	ck_assert_uint_eq(live, 5);
	check_consistent(e, &e->d);
	side_free(&b);
	env_free(e);
}
END_TEST

/*
 * A backend like the KVM one: an alloc refused for lack of room keeps the
 * vectors it staged before the refusal until abort, and refuses an alloc
 * of a staged vector. The engine's one-by-one re-ask must not turn the
 * transaction's -ENOSPC into that -EINVAL.
 */
struct partial_be {
	struct libmsix_backend be;
	uint32_t free;
	bool staged[8], held[8];
	int faults_enospc, faults_other;
};

static int pb_alloc(struct libmsix_backend *be, uint32_t start,
		    uint32_t count)
{
	struct partial_be *p = container_of(be, struct partial_be, be);

	for (uint32_t v = start; v < start + count; v++) {
		if (p->staged[v])
			return -EINVAL;
		if (p->free == 0)
			return -ENOSPC;
		p->free--;
		p->staged[v] = true;
	}
	return 0;
}

static int pb_commit(struct libmsix_backend *be)
{
	struct partial_be *p = container_of(be, struct partial_be, be);

	memcpy(p->held, p->staged, sizeof(p->held));
	return 0;
}

static void pb_abort(struct libmsix_backend *be)
{
	struct partial_be *p = container_of(be, struct partial_be, be);

	for (int v = 0; v < 8; v++) {
		if (p->staged[v] && !p->held[v])
			p->free++;
		p->staged[v] = p->held[v];
	}
}

static int pb_deliver(struct libmsix_backend *be, uint32_t v,
		      const struct libmsix_msg *m)
{
	return 0;
}

static void pb_fault(void *opaque, uint32_t v, int err)
{
	struct partial_be *p = opaque;

	if (err == -ENOSPC)
		p->faults_enospc++;
	else
		p->faults_other++;
}

START_TEST(test_engine_enospc_partial_staging_backend_fails_whole_batch)
{
	static const struct libmsix_backend_ops ops = {
		.size = sizeof(struct libmsix_backend_ops),
		.alloc = pb_alloc,
		.commit = pb_commit,
		.abort = pb_abort,
		.deliver = pb_deliver,
	};
	struct partial_be p = { .be = { .ops = &ops,
					.flags = 0 },
				.free = 2 };
	struct libmsix_config cfg = test_config(8);
	struct tdev t = { .n = 8 };

	cfg.fault = pb_fault;
	cfg.opaque = &p;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &p.be, &t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), -ENOSPC);
	ck_assert_int_eq(p.faults_enospc, 4);
	ck_assert_int_eq(p.faults_other, 0);
	ck_assert_uint_eq(p.free, 2);
	libmsix_dev_destroy(t.dev);
}
END_TEST

/* Hostile or wrong arguments change nothing. */
START_TEST(test_bad_arguments_are_rejected)
{
	struct env *e = env_new(4, 4, 4, 0);
	struct libmsix_backend *be = libmsix_ims_backend(e->d.ims);
	struct libmsix_msg m = { 0 };

	ck_assert_int_eq(libmsix_ims_vector_slot(e->d.ims, 4), -EINVAL);
	ck_assert_int_eq(libmsix_ims_vector_slot(NULL, 0), -EINVAL);
	ck_assert_int_eq(libmsix_ims_get_stats(NULL, NULL), -EINVAL);
	ck_assert_int_eq(libmsix_ims_store_get_stats(NULL, NULL), -EINVAL);
	ck_assert_ptr_null(libmsix_ims_backend(NULL));
	/* Backend ops outside the contract: refused, nothing staged. */
	ck_assert_int_eq(be->ops->alloc(be, 3, 2), -EINVAL);
	ck_assert_int_eq(be->ops->alloc(be, 0, 0), -EINVAL);
	ck_assert_int_eq(be->ops->release(be, 0, 1), -EINVAL);
	ck_assert_int_eq(be->ops->route(be, 0, &m), -EINVAL);
	ck_assert_int_eq(be->ops->unmask(be, 4), -EINVAL);
	ck_assert_int_eq(be->ops->deliver(be, 4, &m), -EINVAL);
	ck_assert_int_eq(be->ops->poll(be, 4), -EINVAL);
	ck_assert_uint_eq(budget_of(e->store).held, 0);
	libmsix_ims_destroy(NULL);
	ck_assert_int_eq(libmsix_ims_store_destroy(NULL), 0);
	env_free(e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

struct racer {
	struct env *e;
	uint32_t v, slot;
	atomic_bool stop;
	uint64_t delivered, latched, raised;
};

/* The device side: libmsix_notify() and raises of the slot, lock-free. */
static void *race_device(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		int ret = libmsix_notify(r->e->d.t.dev, r->v);

		ck_assert_int_ge(ret, 0);
		r->delivered += ret == LIBMSIX_DELIVERED;
		r->latched += ret == LIBMSIX_LATCHED;
		if (libmsix_soft_ims_raise(r->e->soft, r->slot) >= 0)
			r->raised++;
	}
	return NULL;
}

/*
 * Interrupts race the guest masking and unmasking the vector and reading
 * the PBA: nothing is stuck at the end (PBA clear, slot not pending after
 * the last unmask), nothing is invented, and the slot is never driven
 * against the rules.
 */
START_TEST(test_notify_races_mask_unmask_nothing_stuck)
{
	struct env *e = env_new(4, 4, 4, 0);
	struct tdev *t = &e->d.t;
	struct racer r = { .e = e, .v = 2 };
	struct libmsix_stats c;
	pthread_t th;
	int rounds = getenv("LIBMSIX_UNDER_VALGRIND") ? 300 : 3000;

	linux_bringup(t);
	ck_assert_int_eq(set_vmask(t, 2, false), 0);
	r.slot = (uint32_t)libmsix_ims_vector_slot(e->d.ims, 2);
	ck_assert_int_eq(pthread_create(&th, NULL, race_device, &r), 0);
	for (int i = 0; i < rounds; i++) {
		ck_assert_int_eq(set_vmask(t, 2, true), 0);
		(void)pba_bit(t, 2);
		ck_assert_int_eq(set_vmask(t, 2, false), 0);
		if (i % 64 == 0) {
			set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					      PCI_MSIX_FLAGS_MASKALL);
			set_msgctl(t, PCI_MSIX_FLAGS_ENABLE);
		}
	}
	atomic_store(&r.stop, true);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* One last mask/unmask cycle collects anything still latched. */
	ck_assert_int_eq(set_vmask(t, 2, true), 0);
	ck_assert_int_eq(set_vmask(t, 2, false), 0);
	ck_assert(!pba_bit(t, 2));
	ck_assert(!slot_of(e, r.slot).pending);
	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	ck_assert_uint_eq(c.deliver_errors, 0);
	ck_assert_uint_gt(e->sink.n, 0);
	ck_assert_uint_le(e->sink.n, r.delivered + r.latched + r.raised);
	for (size_t i = 0; i < stored(&e->sink); i++)
		ck_assert_uint_eq(e->sink.s[i].msg.data, test_data(2));
	check_consistent(e, &e->d);
	env_free(e);
}
END_TEST

static Suite *ims_suite(void)
{
	Suite *s = suite_create("ims");
	TCase *tc = tcase_create("ims");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_store_create_rejects_bad_device);
	tcase_add_test(tc, test_store_short_ops_table_works_without_optional_ops);
	tcase_add_test(tc, test_store_destroy_busy_while_devices_use_it);
	tcase_add_test(tc, test_create_validates_config);
	tcase_add_test(tc, test_einval_is_logged);
	tcase_add_test(tc, test_store_get_stats_einval_is_logged);
	tcase_add_test(tc, test_reserve_beyond_store_fails_at_setup);
	tcase_add_test(tc, test_bringup_64_vectors_on_16_slots_faults_beyond);
	tcase_add_test(tc, test_disable_resets_and_frees_every_slot);
	tcase_add_test(tc, test_mask_goes_to_slot_mask_bit);
	tcase_add_test(tc, test_message_change_under_mask_reaches_slot);
	tcase_add_test(tc, test_slot_raised_while_masked_shows_in_pba_replays_once);
	tcase_add_test(tc, test_slot_raised_while_masked_replays_once_without_pba_read);
	tcase_add_test(tc, test_notify_and_slot_raise_while_masked_coalesce);
	tcase_add_test(tc, test_cookie_reaches_slot);
	tcase_add_test(tc, test_cookie_default_from_config);
	tcase_add_test(tc, test_cookie_write_failure_changes_nothing);
	tcase_add_test(tc, test_emulated_vectors_take_no_slot);
	tcase_add_test(tc, test_emulated_needs_deliver_callback);
	tcase_add_test(tc, test_failure_at_every_write_rolls_back);
	tcase_add_test(tc, test_failed_rollback_quarantines_claimed_slot);
	tcase_add_test(tc, test_soft_ims_refuses_rule_breaking_writes);
	tcase_add_test(tc, test_soft_ims_einval_is_logged);
	tcase_add_test(tc, test_two_devices_share_store_with_reservations);
	tcase_add_test(tc, test_force_overcommits_beyond_reservation);
	tcase_add_test(tc, test_engine_enospc_in_batch_faults_only_refused_vectors);
	tcase_add_test(tc, test_engine_enospc_partial_staging_backend_fails_whole_batch);
	tcase_add_test(tc, test_bad_arguments_are_rejected);
	tcase_add_test(tc, test_notify_races_mask_unmask_nothing_stuck);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(ims_suite());
}
