/* SPDX-License-Identifier: MIT */
/*
 * The hot-path thread contract (libmsix.h, "Threads"): libmsix_notify() and
 * libmsix_clear_pending() take no lock and run on any number of device
 * threads while a vCPU thread reprograms the function. Each case races K
 * device threads against one vCPU thread for a bounded time, then unmasks
 * everything and accounts for every notify:
 *
 *  (a) never lost: a vector that latched after its last drop event
 *      (disable, unuse to 0, clear_pending, reset) was replayed after that
 *      latch, and a vector is replayed at most once per latch;
 *  (b) never doubled: deliveries from notify equal its DELIVERED returns,
 *      per vector, and the other deliveries equal the replay counters;
 *  (c) never torn: every delivered message is one the guest wrote whole;
 *  (d) never while masked: a notify that ran entirely inside a window in
 *      which the guest had its vector masked did not deliver, and nothing
 *      was replayed into such a window.
 *
 * (a) is also checked while the race runs: an access that makes a latched
 * vector live must have replayed it, and a live vector never holds a
 * pending bit. Focused races then aim narrow windows at one vector (R27
 * tearing, reset, unmask), and the regressions below pin the bugs the
 * stress test found.
 *
 * Environment, for soaks: LIBMSIX_STRESS_SECONDS per case (default 1),
 * LIBMSIX_STRESS_THREADS device threads (2), LIBMSIX_STRESS_VECTORS (8,
 * at most 256), LIBMSIX_STRESS_SEED (1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "helpers.h"

#define MAXV 256u
#define MAXT 16u
#define NMSG 4u

/*
 * Messages come from a known set per vector. Even vectors are only ever
 * reprogrammed while their Mask bit is set (as Linux does), so a delivery
 * must carry one exact (address, data) pair. Odd vectors are also
 * reprogrammed while unmasked (R41), with a QWORD write of the address and
 * a DWORD write of Data, so any address of the set may meet any data, but
 * an address must never mix the halves of two (R27).
 */
static uint64_t msg_addr(uint32_t v, uint32_t k)
{
	return (uint64_t)(0xa0000000u | v << 8 | k) << 32 |
	       (0xfee00000u | (v & 0xffu) << 12 | k << 4);
}

static uint32_t msg_data(uint32_t v, uint32_t k)
{
	return 0x40000000u | v << 8 | k;
}

static bool exact_class(uint32_t v)
{
	return v % 2 == 0;
}

static bool msg_known(uint32_t v, const struct libmsix_msg *m)
{
	int ka = -1, kd = -1;

	for (uint32_t k = 0; k < NMSG; k++) {
		if (m->address == msg_addr(v, k))
			ka = (int)k;
		if (m->data == msg_data(v, k))
			kd = (int)k;
	}
	return ka >= 0 && kd >= 0 && (!exact_class(v) || ka == kd);
}

/* What the guest has programmed, as the vCPU thread knows it. */
struct model {
	bool enable, fmask, bme;
	bool ctrl[MAXV];	/* Vector Control Mask */
	uint16_t use[MAXV];
	uint8_t data_k[MAXV];	/* index of the Message Data in the set */
};

static bool blocked(const struct model *m, uint32_t v)
{
	return !m->enable || !m->use[v] || m->fmask || !m->bme || m->ctrl[v];
}

/* Per device thread; summed after join. */
struct dstats {
	uint64_t delivered[MAXV], latched[MAXV], dropped[MAXV];
	uint64_t last_latch[MAXV];	/* ticket before the last LATCHED */
	uint64_t masked_windows;	/* notifies wholly inside one */
	uint64_t clears, errors;
};

struct stress;

/* A backend that counts deliveries and passes everything else to a
 * recorder, which holds libmsix to the staging/commit contract. */
struct cbe {
	struct libmsix_backend be;
	struct libmsix_backend *rec;
	struct stress *s;
};

struct stress {
	struct cbe cbe;
	struct libmsix_recorder *rec;
	struct libmsix_dev *dev;
	uint32_t n, nthreads;
	double seconds;
	uint64_t seed;
	bool inject;		/* the vCPU thread injects backend failures */
	uint32_t budget;	/* host vectors; 0: unlimited */

	_Atomic uint64_t ticket;
	_Atomic bool stop;
	/* Odd while the model has the vector blocked (masked or dropped). */
	_Atomic uint32_t guard[MAXV];
	_Atomic uint64_t dev_deliv[MAXV], ctl_deliv[MAXV];
	_Atomic uint64_t last_replay[MAXV], last_drop[MAXV];
	_Atomic uint64_t latch_done[MAXV], drop_begin[MAXV];
	/* Drops under way: begun, last_drop not yet stored. */
	_Atomic uint32_t dropping[MAXV];
	_Atomic uint64_t bad_msgs, masked_deliveries, masked_replays;
	_Atomic uint64_t bad_addr;
	_Atomic uint32_t bad_data, bad_vector;
	_Atomic(const char *) bad_where;

	/* vCPU side: one thread at a time (the vCPU thread, then main). */
	struct model m;
	uint64_t vcpu_ops, vcpu_errors, injected, stuck, lost;
	_Atomic uint64_t unblocks;	/* latched vectors seen unmasking */
	char first_error[160], first_stuck[160], first_lost[160];

	struct dstats ds[MAXT];
};

static _Thread_local bool tl_device;

/*
 * A global order of events. The seq_cst fences on both sides make a ticket
 * taken before a notify precede a ticket taken after any state change the
 * notify did not yet see (the store-buffering pattern), so the comparisons
 * in vcpu_step() and check_accounts() never blame libmsix for a reordering
 * the memory model allows.
 */
static uint64_t ticket(struct stress *s)
{
	uint64_t t;

	atomic_thread_fence(memory_order_seq_cst);
	t = atomic_fetch_add(&s->ticket, 1) + 1;
	atomic_thread_fence(memory_order_seq_cst);
	return t;
}

static void store_max(_Atomic uint64_t *p, uint64_t val)
{
	uint64_t cur = atomic_load(p);

	while (cur < val && !atomic_compare_exchange_weak(p, &cur, val))
		;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(uint64_t *x)
{
	/* xorshift64* */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------------------------------ */
/* The backend                                                               */
/* ------------------------------------------------------------------------ */

static struct cbe *to_cbe(struct libmsix_backend *be)
{
	return (struct cbe *)(void *)((char *)be - offsetof(struct cbe, be));
}

/* (c): count a message that is not one of @v's set, keep the first. */
static bool check_msg(struct stress *s, uint32_t v,
		      const struct libmsix_msg *msg, const char *where)
{
	bool ok = v < s->n && msg_known(v, msg);

	if (!ok && atomic_fetch_add(&s->bad_msgs, 1) == 0) {
		atomic_store(&s->bad_where, where);
		atomic_store(&s->bad_vector, v);
		atomic_store(&s->bad_addr, msg->address);
		atomic_store(&s->bad_data, msg->data);
	}
	return v < s->n;
}

static int cb_alloc(struct libmsix_backend *be, uint32_t start, uint32_t count)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->alloc(r, start, count);
}

static int cb_release(struct libmsix_backend *be, uint32_t start,
		      uint32_t count)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->release(r, start, count);
}

static int cb_route(struct libmsix_backend *be, uint32_t v,
		    const struct libmsix_msg *msg)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	/* A route is a message too: it must not be torn either. */
	check_msg(to_cbe(be)->s, v, msg, "route");
	return r->ops->route(r, v, msg);
}

static int cb_unroute(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->unroute(r, v);
}

static int cb_mask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->mask(r, v);
}

static int cb_unmask(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->unmask(r, v);
}

static int cb_commit(struct libmsix_backend *be)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	return r->ops->commit(r);
}

static void cb_abort(struct libmsix_backend *be)
{
	struct libmsix_backend *r = to_cbe(be)->rec;

	r->ops->abort(r);
}

static int cb_deliver(struct libmsix_backend *be, uint32_t v,
		      const struct libmsix_msg *msg)
{
	struct stress *s = to_cbe(be)->s;

	if (!check_msg(s, v, msg, tl_device ? "notify" : "replay"))
		return 0;
	if (tl_device) {
		/* From notify: judged against its return value later. */
		atomic_fetch_add(&s->dev_deliv[v], 1);
		return 0;
	}
	/* From the control path: a replay. The vCPU thread closes a window
	 * before the access that unmasks, so a replay inside one is wrong. */
	atomic_fetch_add(&s->ctl_deliv[v], 1);
	if (atomic_load(&s->guard[v]) & 1)
		atomic_fetch_add(&s->masked_replays, 1);
	store_max(&s->last_replay[v], ticket(s));
	return 0;
}

static const struct libmsix_backend_ops cb_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = cb_alloc,
	.release = cb_release,
	.route = cb_route,
	.unroute = cb_unroute,
	.mask = cb_mask,
	.unmask = cb_unmask,
	.commit = cb_commit,
	.abort = cb_abort,
	.deliver = cb_deliver,
};

/*
 * A backend with no per-vector op: the engine calls nothing on a mask or
 * unmask, so a live vector's Vector Control writes take libmsix's lock-free
 * path (V_SETTLED) -- the emulated device whose deliver injects the MSI.
 */
static const struct libmsix_backend_ops cb_quick_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = cb_alloc,
	.release = cb_release,
	.commit = cb_commit,
	.abort = cb_abort,
	.deliver = cb_deliver,
};

/* ------------------------------------------------------------------------ */
/* Device threads                                                            */
/* ------------------------------------------------------------------------ */

struct dthread {
	struct stress *s;
	struct dstats *st;
	uint64_t seed;
};

static void *device_thread(void *arg)
{
	struct dthread *d = arg;
	struct stress *s = d->s;
	struct dstats *st = d->st;
	uint64_t rng = d->seed;

	tl_device = true;
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		uint64_t r = rnd(&rng);
		uint32_t v = (uint32_t)(r % s->n), g1, g2;
		uint64_t t;
		int ret;

		if ((r >> 32) % 64 == 0) {
			/* The level cause went away (R24): a drop event.
			 * Announced first: vcpu_step() must not miss one
			 * that took effect before its ticket is out. */
			atomic_fetch_add(&s->dropping[v], 1);
			store_max(&s->drop_begin[v], ticket(s));
			if (libmsix_clear_pending(s->dev, v) != 0)
				st->errors++;
			store_max(&s->last_drop[v], ticket(s));
			atomic_fetch_sub(&s->dropping[v], 1);
			st->clears++;
			continue;
		}
		if ((r >> 32) % 4096 == 1 &&
		    (libmsix_notify(s->dev, s->n) != -EINVAL ||
		     libmsix_clear_pending(s->dev, s->n) != -EINVAL))
			st->errors++; /* R40 */
		g1 = atomic_load(&s->guard[v]);
		t = ticket(s);
		ret = libmsix_notify(s->dev, v);
		g2 = atomic_load(&s->guard[v]);
		if ((g1 & 1) && g1 == g2) {
			st->masked_windows++;
			if (ret == LIBMSIX_DELIVERED)
				atomic_fetch_add(&s->masked_deliveries, 1);
		}
		switch (ret) {
		case LIBMSIX_DELIVERED:
			st->delivered[v]++;
			break;
		case LIBMSIX_LATCHED:
			st->latched[v]++;
			st->last_latch[v] = t;
			/* For vcpu_step(): this latch is complete. */
			store_max(&s->latch_done[v], t);
			break;
		case LIBMSIX_DROPPED:
			st->dropped[v]++;
			break;
		default:
			st->errors++;
			break;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The vCPU thread: guest accesses that change the model                     */
/* ------------------------------------------------------------------------ */

static void vcpu_error(struct stress *s, const char *what, int err)
{
	if (s->vcpu_errors++ == 0)
		snprintf(s->first_error, sizeof(s->first_error),
			 "%s returned %d after %llu vCPU ops", what, err,
			 (unsigned long long)s->vcpu_ops);
}

static void check_ret(struct stress *s, int err, const char *what)
{
	if (err == 0)
		return;
	if ((s->inject && err == -EIO) || (s->budget && err == -ENOSPC)) {
		s->injected++;
		return;
	}
	vcpu_error(s, what, err);
}

/* Before an access that takes the guest to @next: close the masked windows
 * it may end, so that a replay or a delivery never lands inside one. */
static void pre(struct stress *s, const struct model *next)
{
	for (uint32_t v = 0; v < s->n; v++)
		if (blocked(&s->m, v) && !blocked(next, v))
			atomic_fetch_add(&s->guard[v], 1);
}

/* After it: open the windows it began (blocking took effect before the
 * access returned), and record drop events after they happened. */
static void post(struct stress *s, const struct model *next, bool reset,
		 int err, const char *what)
{
	uint64_t t = 0;

	check_ret(s, err, what);
	for (uint32_t v = 0; v < s->n; v++) {
		if (!blocked(&s->m, v) && blocked(next, v))
			atomic_fetch_add(&s->guard[v], 1);
		if (reset || (s->m.enable && !next->enable) ||
		    (s->m.use[v] && !next->use[v])) {
			if (!t)
				t = ticket(s);
			store_max(&s->last_drop[v], t);
		}
	}
	s->m = *next;
}

static int mmio_write(struct stress *s, uint64_t off, uint32_t size,
		      uint64_t val)
{
	return libmsix_mmio_write(s->dev, 0, off, size, val);
}

static void op_vmask(struct stress *s, uint64_t *rng, uint32_t v, bool mask)
{
	struct model next = s->m;
	int err;

	next.ctrl[v] = mask;
	pre(s, &next);
	if (rnd(rng) % 4 == 0) /* R28: Data and Vector Control in one QWORD */
		err = mmio_write(s, 16ull * v + 8, 8,
				 (uint64_t)mask << 32 |
					 msg_data(v, s->m.data_k[v]));
	else
		err = mmio_write(s, 16ull * v + 12, 4, mask);
	post(s, &next, false, err, "vector mask write");
}

static void write_msgctl(struct stress *s, uint64_t *rng,
			 const struct model *next)
{
	uint32_t bits = (next->enable ? PCI_MSIX_FLAGS_ENABLE : 0) |
			(next->fmask ? PCI_MSIX_FLAGS_MASKALL : 0);
	int err;

	pre(s, next);
	/* R8: any write that covers Message Control's upper byte counts. */
	switch (rnd(rng) % 3) {
	case 0:
		err = libmsix_config_write(s->dev, TEST_CAP + PCI_MSIX_FLAGS,
					   2, bits);
		break;
	case 1:
		err = libmsix_config_write(s->dev,
					   TEST_CAP + PCI_MSIX_FLAGS + 1, 1,
					   bits >> 8);
		break;
	default:
		err = libmsix_config_write(s->dev, TEST_CAP, 4, bits << 16);
		break;
	}
	post(s, next, false, err, "Message Control write");
}

static void op_bme(struct stress *s, bool on)
{
	struct model next = s->m;

	next.bme = on;
	pre(s, &next);
	post(s, &next, false, libmsix_set_bus_master(s->dev, on),
	     "set_bus_master");
}

static void op_use(struct stress *s, uint32_t v, bool use)
{
	struct model next = s->m;
	int err;

	next.use[v] = (uint16_t)(next.use[v] + (use ? 1 : -1));
	pre(s, &next);
	err = use ? libmsix_vector_use(s->dev, v)
		  : libmsix_vector_unuse(s->dev, v);
	post(s, &next, false, err, use ? "vector_use" : "vector_unuse");
}

/* A message write that changes no mask or drop state. */
static void msg_write(struct stress *s, uint64_t off, uint32_t size,
		      uint64_t val, const char *what)
{
	check_ret(s, mmio_write(s, off, size, val), what);
}

/* Reprogram entry @v with pair @k of its set. */
static void op_rewrite(struct stress *s, uint64_t *rng, uint32_t v)
{
	uint32_t k = (uint32_t)(rnd(rng) % NMSG);
	uint32_t form = (uint32_t)(rnd(rng) % 4);
	uint64_t e = 16ull * v, addr = msg_addr(v, k);
	bool was_masked = s->m.ctrl[v];

	if (!exact_class(v) && form < 2) {
		/* R41: whatever the mask, one QWORD or one DWORD; a burst,
		 * so that notifies race the address changing under them. */
		if (form == 0) {
			for (uint32_t i = 0; i < 8; i++)
				msg_write(s, e, 8, msg_addr(v, (k + i) % NMSG),
					  "unmasked address write");
		} else {
			msg_write(s, e + 8, 4, msg_data(v, k),
				  "unmasked data write");
			s->m.data_k[v] = (uint8_t)k;
		}
		return;
	}
	if (!was_masked)
		op_vmask(s, rng, v, true);
	switch (form) {
	case 0: /* Linux: three DWORDs */
		msg_write(s, e, 4, (uint32_t)addr, "address write");
		msg_write(s, e + 4, 4, addr >> 32, "upper address write");
		msg_write(s, e + 8, 4, msg_data(v, k), "data write");
		break;
	case 1:
		msg_write(s, e, 8, addr, "QWORD address write");
		msg_write(s, e + 8, 4, msg_data(v, k), "data write");
		break;
	case 2: { /* R28: Data and Vector Control in one QWORD unmasks */
		struct model next = s->m;

		msg_write(s, e, 8, addr, "QWORD address write");
		next.ctrl[v] = was_masked;
		next.data_k[v] = (uint8_t)k;
		pre(s, &next);
		post(s, &next, false,
		     mmio_write(s, e + 8, 8,
				(uint64_t)was_masked << 32 | msg_data(v, k)),
		     "QWORD data+control write");
		return;
	}
	default:
		msg_write(s, e + 8, 4, msg_data(v, k), "data write");
		msg_write(s, e, 8, addr, "QWORD address write");
		break;
	}
	s->m.data_k[v] = (uint8_t)k;
	if (!was_masked)
		op_vmask(s, rng, v, false);
}

static void program_all(struct stress *s)
{
	for (uint32_t v = 0; v < s->n; v++) {
		msg_write(s, 16ull * v, 8, msg_addr(v, 0), "address write");
		msg_write(s, 16ull * v + 8, 4, msg_data(v, 0), "data write");
		s->m.data_k[v] = 0;
	}
}

/* Function-level reset, then reprogram at once (reset zeroes the table,
 * and the zero message is not in the set) and, mostly, re-enable as a
 * driver's restore does. */
static void op_reset(struct stress *s, uint64_t *rng)
{
	struct model next = s->m;

	next.enable = false;
	next.fmask = false;
	for (uint32_t v = 0; v < s->n; v++)
		next.ctrl[v] = true;
	pre(s, &next);
	post(s, &next, true, libmsix_reset(s->dev), "reset");
	program_all(s);
	if (rnd(rng) % 4) {
		next = s->m;
		next.enable = true;
		write_msgctl(s, rng, &next);
	}
}

static void op_reads(struct stress *s, uint64_t *rng)
{
	uint32_t v = (uint32_t)(rnd(rng) % s->n);
	uint64_t val = 0, pba_qwords = (s->n + 63) / 64;
	uint64_t q = rnd(rng) % pba_qwords;

	if (libmsix_mmio_read(s->dev, 0, TEST_PBA_OFFSET(s->n) + 8 * q, 8,
			      &val) != 0)
		vcpu_error(s, "PBA read", -1);
	/* Bits past N read 0 (R29). */
	if (q == pba_qwords - 1 && s->n % 64 && val >> (s->n % 64))
		vcpu_error(s, "PBA bits past N", -1);
	if (libmsix_mmio_read(s->dev, 0, 16ull * v, 8, &val) != 0)
		vcpu_error(s, "table read", -1);
	for (v = 0; v < s->n; v++) {
		struct libmsix_vector_info info;

		if (libmsix_get_vector_info(s->dev, v, &info) != 0 ||
		    info.masked != s->m.ctrl[v]) {
			vcpu_error(s, "vector_info", -1);
			continue;
		}
		/*
		 * (a) at once: a live vector never holds a pending bit
		 * (deliver never fails here). A latch that lands after the
		 * unmask that should have replayed it would otherwise only
		 * come out, late, at the next mask/unmask cycle.
		 */
		if (info.live && info.pending && s->stuck++ == 0)
			snprintf(s->first_stuck, sizeof(s->first_stuck),
				 "vector %u live with its pending bit set after %llu vCPU ops",
				 v, (unsigned long long)s->vcpu_ops);
	}
}

static void vcpu_op(struct stress *s, uint64_t *rng, int depth);

/* A transaction of a few accesses, sometimes nested. */
static void op_tx(struct stress *s, uint64_t *rng, int depth)
{
	uint32_t ops = 1 + (uint32_t)(rnd(rng) % 6);

	check_ret(s, libmsix_begin(s->dev), "begin");
	for (uint32_t i = 0; i < ops; i++)
		vcpu_op(s, rng, depth + 1);
	check_ret(s, libmsix_commit(s->dev), "commit");
}

static void vcpu_op(struct stress *s, uint64_t *rng, int depth)
{
	uint64_t r = rnd(rng);
	uint32_t v = (uint32_t)(r >> 32) % s->n, pick = (uint32_t)(r % 200);
	struct model next = s->m;

	if (pick < 60) {
		op_vmask(s, rng, v, !s->m.ctrl[v]);
	} else if (pick < 90) {
		op_rewrite(s, rng, v);
	} else if (pick < 106) {
		/* Function Mask set about a quarter of the time. */
		next.fmask = !next.fmask && (r >> 40) % 3 == 0;
		write_msgctl(s, rng, &next);
	} else if (pick < 112) {
		/* Mostly enabled: a disabled function re-enables at once. */
		next.enable = !next.enable || (r >> 40) % 16;
		write_msgctl(s, rng, &next);
	} else if (pick < 120) {
		op_bme(s, !s->m.bme || (r >> 40) % 4);
	} else if (pick < 136) {
		/* Use counts wander over 0..2, mostly in use. */
		op_use(s, v, s->m.use[v] == 0 ||
				     (s->m.use[v] == 1 && (r >> 40) % 4 != 0));
	} else if (pick < 152) {
		if (depth < 2)
			op_tx(s, rng, depth);
	} else if (pick < 153) {
		op_reset(s, rng);
	} else if (pick < 160) {
		if (s->inject && (r >> 40) % 4 == 0 &&
		    libmsix_recorder_fail(s->rec, 0,
					  1 + (uint32_t)(r >> 48) % 8,
					  -EIO) != 0)
			vcpu_error(s, "recorder_fail", -1);
		else
			check_ret(s, libmsix_retry(s->dev), "retry");
	} else {
		op_reads(s, rng);
	}
}

/*
 * (a) as it happens: a latch whose notify had returned before this access,
 * on a vector the guest had blocked, must have been replayed (or dropped)
 * by the time the access made the vector live. The model's blocked implies
 * libmsix's blocked (d), so live afterwards means this access unblocked it.
 */
static void vcpu_step(struct stress *s, uint64_t *rng)
{
	uint64_t latched[MAXV] = { 0 };
	bool was_blocked[MAXV] = { false };

	for (uint32_t v = 0; v < s->n; v++) {
		was_blocked[v] = blocked(&s->m, v);
		latched[v] = atomic_load(&s->latch_done[v]);
	}
	vcpu_op(s, rng, 0);
	for (uint32_t v = 0; v < s->n; v++) {
		struct libmsix_vector_info info;

		/*
		 * A drop whose ticket is older than the latch can still clear
		 * the bit after it (another device thread was slower): while
		 * one is under way, this vector cannot be judged.
		 */
		if (!was_blocked[v] || !latched[v] ||
		    atomic_load(&s->dropping[v]) ||
		    atomic_load(&s->last_drop[v]) > latched[v] ||
		    atomic_load(&s->drop_begin[v]) > latched[v])
			continue;
		if (libmsix_get_vector_info(s->dev, v, &info) != 0 || !info.live)
			continue;
		atomic_fetch_add(&s->unblocks, 1);
		if (atomic_load(&s->last_replay[v]) > latched[v])
			continue;
		if (s->lost++ == 0)
			snprintf(s->first_lost, sizeof(s->first_lost),
				 "vector %u went live without replaying its latch (ticket %llu) after %llu vCPU ops",
				 v, (unsigned long long)latched[v],
				 (unsigned long long)s->vcpu_ops);
	}
}

static void *vcpu_thread(void *arg)
{
	struct stress *s = arg;
	uint64_t rng = s->seed * 0x9e3779b97f4a7c15ull + 7;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		vcpu_step(s, &rng);
		/* The recorder keeps every op: keep its log short. */
		if (++s->vcpu_ops % 256 == 0)
			libmsix_recorder_clear(s->rec);
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                    */
/* ------------------------------------------------------------------------ */

/* No ck_assert here: the suite reads these before any test runs. */
static double env_num(const char *name, double def, double lo, double hi)
{
	const char *str = getenv(name);
	char *end;
	double val;

	if (!str || !*str)
		return def;
	val = strtod(str, &end);
	if (*end || !(val >= lo && val <= hi)) {
		fprintf(stderr, "%s=%s: expected a number in [%g, %g]\n", name,
			str, lo, hi);
		exit(EXIT_FAILURE);
	}
	return val;
}

static struct stress *stress_new(uint32_t be_flags, enum libmsix_policy policy,
				 uint32_t budget, bool inject,
				 const struct libmsix_backend_ops *ops)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct libmsix_config cfg;

	ck_assert_ptr_nonnull(s);
	s->seconds = env_num("LIBMSIX_STRESS_SECONDS", 1, 0.01, 1e6);
	s->nthreads = (uint32_t)env_num("LIBMSIX_STRESS_THREADS", 2, 1, MAXT);
	s->n = (uint32_t)env_num("LIBMSIX_STRESS_VECTORS", 8, 1, MAXV);
	s->seed = (uint64_t)env_num("LIBMSIX_STRESS_SEED", 1, 1, 1e15);
	s->inject = inject;
	s->budget = budget;

	ck_assert_int_eq(libmsix_recorder_create(be_flags, budget, &s->rec), 0);
	s->cbe.rec = libmsix_recorder_backend(s->rec);
	s->cbe.s = s;
	s->cbe.be.ops = ops;
	s->cbe.be.flags = be_flags;
	s->cbe.be.max_vectors = budget;
	cfg = test_config(s->n);
	cfg.policy = policy;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &s->cbe.be, &s->dev), 0);

	/* Reset state (R30) in the model: disabled, all masked, unused. */
	s->m.bme = true;
	for (uint32_t v = 0; v < s->n; v++) {
		s->m.ctrl[v] = true;
		atomic_init(&s->guard[v], 1);
	}
	program_all(s);
	for (uint32_t v = 0; v < s->n; v++)
		op_use(s, v, true);
	return s;
}

/* After the race: make every vector live, so that anything still latched
 * must come out now. */
static void settle(struct stress *s)
{
	uint64_t rng = 1;
	struct model next = s->m;

	ck_assert_int_eq(libmsix_recorder_fail(s->rec, 0, 0, -EIO), 0);
	s->inject = false;
	if (s->budget) {
		/* The VMM frees budget; retry must then succeed. */
		s->cbe.be.max_vectors = 0;
		s->cbe.rec->max_vectors = 0;
		s->budget = 0;
	}
	op_bme(s, true);
	next.enable = true;
	next.fmask = false;
	next.bme = true;
	write_msgctl(s, &rng, &next);
	for (uint32_t v = 0; v < s->n; v++) {
		if (!s->m.use[v])
			op_use(s, v, true);
		if (s->m.ctrl[v])
			op_vmask(s, &rng, v, false);
	}
	check_ret(s, libmsix_retry(s->dev), "final retry");
}

static void check_accounts(struct stress *s, bool spurious_ok,
			   const char *name)
{
	struct libmsix_stats c;
	uint64_t del = 0, lat = 0, drp = 0, ctl = 0, windows = 0, clears = 0;
	uint64_t errors = 0, notifies;

	ck_assert_msg(s->vcpu_errors == 0, "%llu vCPU errors, first: %s",
		      (unsigned long long)s->vcpu_errors, s->first_error);
	ck_assert_msg(s->stuck == 0, "%llu stuck pending bits, first: %s",
		      (unsigned long long)s->stuck, s->first_stuck);
	ck_assert_msg(s->lost == 0, "%llu lost latches, first: %s",
		      (unsigned long long)s->lost, s->first_lost);
	for (uint32_t i = 0; i < s->nthreads; i++) {
		windows += s->ds[i].masked_windows;
		clears += s->ds[i].clears;
		errors += s->ds[i].errors;
	}
	ck_assert_uint_eq(errors, 0);
	ck_assert_msg(atomic_load(&s->bad_msgs) == 0,
		      "%llu messages not written whole; first: %s of vector %u "
		      "address 0x%016llx data 0x%08x",
		      (unsigned long long)atomic_load(&s->bad_msgs),
		      atomic_load(&s->bad_where),
		      atomic_load(&s->bad_vector),
		      (unsigned long long)atomic_load(&s->bad_addr),
		      atomic_load(&s->bad_data));
	ck_assert_uint_eq(atomic_load(&s->masked_deliveries), 0);
	ck_assert_uint_eq(atomic_load(&s->masked_replays), 0);

	for (uint32_t v = 0; v < s->n; v++) {
		uint64_t d = 0, l = 0, x = 0, last_latch = 0;
		uint64_t dev = atomic_load(&s->dev_deliv[v]);
		uint64_t rep = atomic_load(&s->ctl_deliv[v]);
		uint64_t last_drop = atomic_load(&s->last_drop[v]);
		uint64_t last_replay = atomic_load(&s->last_replay[v]);

		for (uint32_t i = 0; i < s->nthreads; i++) {
			d += s->ds[i].delivered[v];
			l += s->ds[i].latched[v];
			x += s->ds[i].dropped[v];
			if (s->ds[i].last_latch[v] > last_latch)
				last_latch = s->ds[i].last_latch[v];
		}
		/* (b) */
		ck_assert_msg(dev == d,
			      "vector %u: %llu deliveries from notify for %llu DELIVERED",
			      v, (unsigned long long)dev,
			      (unsigned long long)d);
		/* (a): one replay per latch at most... */
		ck_assert_msg(spurious_ok || rep <= l,
			      "vector %u: %llu replays for %llu latches", v,
			      (unsigned long long)rep, (unsigned long long)l);
		/* ...and at least one after the last latch not dropped. */
		ck_assert_msg(last_latch < last_drop || last_replay > last_latch,
			      "vector %u lost an interrupt: latched at ticket %llu, last drop %llu, last replay %llu",
			      v, (unsigned long long)last_latch,
			      (unsigned long long)last_drop,
			      (unsigned long long)last_replay);
		del += d;
		lat += l;
		drp += x;
		ctl += rep;
	}
	ck_assert_int_eq(libmsix_get_stats(s->dev, &c), 0);
	ck_assert_uint_eq(c.delivered, del);
	ck_assert_uint_eq(c.latched, lat);
	ck_assert_uint_eq(c.dropped, drp);
	ck_assert_uint_eq(c.deliver_errors, 0);
	ck_assert_uint_eq(c.replayed + c.spurious_replays, ctl);
	if (!spurious_ok) {
		ck_assert_uint_le(c.replayed, lat);
		ck_assert_uint_eq(c.spurious_replays, 0);
	}

	/* Every pending bit came out on the final unmask. */
	for (uint32_t q = 0; q < (s->n + 63) / 64; q++) {
		uint64_t val = 1;

		ck_assert_int_eq(libmsix_mmio_read(s->dev, 0,
						   TEST_PBA_OFFSET(s->n) + 8 * q,
						   8, &val), 0);
		ck_assert_uint_eq(val, 0);
	}

	notifies = del + lat + drp;
	printf("%s: %.2fs, %u device threads, %u vectors: %llu notifies "
	       "(%llu delivered, %llu latched, %llu dropped), %llu replays "
	       "(%llu spurious; %llu checked as they unmasked), "
	       "%llu clear_pending, %llu masked-window notifies, %llu vCPU "
	       "ops, %llu commits, %llu backend errors, %llu faults\n",
	       name, s->seconds, s->nthreads, s->n,
	       (unsigned long long)notifies, (unsigned long long)del,
	       (unsigned long long)lat, (unsigned long long)drp,
	       (unsigned long long)ctl,
	       (unsigned long long)c.spurious_replays,
	       (unsigned long long)atomic_load(&s->unblocks),
	       (unsigned long long)clears, (unsigned long long)windows,
	       (unsigned long long)s->vcpu_ops,
	       (unsigned long long)c.be_commit,
	       (unsigned long long)c.be_errors, (unsigned long long)c.faults);
	fflush(stdout);

	/* A race that never happened proves nothing. */
	ck_assert_uint_gt(del, 0);
	ck_assert_uint_gt(lat, 0);
	ck_assert_uint_gt(drp, 0);
	ck_assert_uint_gt(c.replayed, 0);
	ck_assert_uint_gt(windows, 0);
	ck_assert_uint_gt(atomic_load(&s->unblocks), 0);
	ck_assert_uint_gt(s->vcpu_ops, 0);
}

static bool covered(struct stress *s)
{
	struct libmsix_stats c;

	return libmsix_get_stats(s->dev, &c) == 0 && c.delivered &&
	       c.latched && c.dropped && c.replayed &&
	       atomic_load(&s->unblocks);
}

static void run_stress_ops(uint32_t be_flags, enum libmsix_policy policy,
			   uint32_t budget, bool inject,
			   const struct libmsix_backend_ops *ops,
			   const char *name)
{
	struct stress *s = stress_new(be_flags, policy, budget, inject, ops);
	struct dthread d[MAXT];
	pthread_t dt[MAXT], vt;
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	double start;

	for (uint32_t i = 0; i < s->nthreads; i++) {
		d[i] = (struct dthread){ .s = s, .st = &s->ds[i],
					 .seed = s->seed * 1000003u + i + 1 };
		ck_assert_int_eq(pthread_create(&dt[i], NULL, device_thread,
						&d[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&vt, NULL, vcpu_thread, s), 0);
	/* Run for the time asked, longer (up to ten times) under Valgrind or
	 * a sanitizer until every path the checks rely on has run. */
	start = now();
	while (now() - start < s->seconds ||
	       (!covered(s) && now() - start < 10 * s->seconds))
		nanosleep(&ts, NULL);
	atomic_store(&s->stop, true);
	ck_assert_int_eq(pthread_join(vt, NULL), 0);
	for (uint32_t i = 0; i < s->nthreads; i++)
		ck_assert_int_eq(pthread_join(dt[i], NULL), 0);

	settle(s);
	check_accounts(s, be_flags & LIBMSIX_BE_NORESIZE, name);
	libmsix_dev_destroy(s->dev);
	ck_assert_uint_eq(libmsix_recorder_violations(s->rec), 0);
	libmsix_recorder_destroy(s->rec);
	free(s);
}

static void run_stress(uint32_t be_flags, enum libmsix_policy policy,
		       uint32_t budget, bool inject, const char *name)
{
	run_stress_ops(be_flags, policy, budget, inject, &cb_ops, name);
}

START_TEST(test_threads_notify_races_live_resize)
{
	/* Failed commits leave vectors faulted; retry brings them back. */
	run_stress(0, LIBMSIX_POLICY_LAZY, 0, true,
		   "live-resize lazy, injected failures");
}
END_TEST

START_TEST(test_threads_notify_races_noresize)
{
	/* Disruptive re-enables replay live vectors (spurious, allowed). */
	run_stress(LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_LAZY, 0, true,
		   "noresize lazy, injected failures");
}
END_TEST

START_TEST(test_threads_notify_races_budget)
{
	/* Vectors past the budget fault (-ENOSPC) and stay blocked. */
	uint32_t n = (uint32_t)env_num("LIBMSIX_STRESS_VECTORS", 8, 1, MAXV);

	run_stress(0, LIBMSIX_POLICY_INCREMENTAL,
		   n > 1 ? n / 2 : 1, false, "live-resize budget N/2");
}
END_TEST

START_TEST(test_threads_notify_races_lock_free_masking)
{
	/* Masks and unmasks of live vectors skip the lock (V_SETTLED);
	 * failed commits still fault vectors on their way to live. */
	run_stress_ops(0, LIBMSIX_POLICY_LAZY, 0, true,
		       &cb_quick_ops, "deliver-only, lock-free masking");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Focused races: one vector, device threads notifying it flat out          */
/* ------------------------------------------------------------------------ */

struct focus {
	struct libmsix_backend be;	/* deliver only, or NORESIZE */
	struct libmsix_dev *dev;
	uint32_t v, nthreads;
	_Atomic bool stop;
	_Atomic uint64_t good, bad, bad_addr;
	_Atomic uint32_t bad_data;
	/* While in_tx: a delivery of tx_data is one before its commit. */
	_Atomic bool in_tx;
	_Atomic uint32_t tx_data;
	_Atomic uint64_t tx_early;
};

static int focus_deliver(struct libmsix_backend *be, uint32_t v,
			 const struct libmsix_msg *msg)
{
	struct focus *f =
		(struct focus *)(void *)((char *)be - offsetof(struct focus, be));

	if (atomic_load(&f->in_tx) && msg->data == atomic_load(&f->tx_data))
		atomic_fetch_add(&f->tx_early, 1);
	if (msg_known(v, msg)) {
		atomic_fetch_add(&f->good, 1);
	} else if (atomic_fetch_add(&f->bad, 1) == 0) {
		atomic_store(&f->bad_addr, msg->address);
		atomic_store(&f->bad_data, msg->data);
	}
	return 0;
}

static const struct libmsix_backend_ops focus_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.deliver = focus_deliver,
};

/* Host vectors that need nothing: only so that NORESIZE is not ignored. */
static int focus_range(struct libmsix_backend *be, uint32_t start,
		       uint32_t count)
{
	return 0;
}

static int focus_commit(struct libmsix_backend *be)
{
	return 0;
}

static void focus_abort(struct libmsix_backend *be)
{
}

static const struct libmsix_backend_ops focus_noresize_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = focus_range,
	.release = focus_range,
	.commit = focus_commit,
	.abort = focus_abort,
	.deliver = focus_deliver,
};

static void *focus_notifier(void *arg)
{
	struct focus *f = arg;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed))
		libmsix_notify(f->dev, f->v);
	return NULL;
}

/* @nthreads notifiers: one leaves a core to the vCPU side on this
 * two-core machine, which makes narrow windows likelier to be hit. */
static void focus_start_flags(struct focus *f, uint32_t v, uint32_t nthreads,
			      uint32_t be_flags, pthread_t *th)
{
	struct libmsix_config cfg = test_config(2);

	memset(f, 0, sizeof(*f));
	f->be.ops = (be_flags & LIBMSIX_BE_NORESIZE) ? &focus_noresize_ops
						     : &focus_ops;
	f->be.flags = be_flags;
	f->v = v;
	f->nthreads = nthreads;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &f->be, &f->dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(f->dev), 0);
	for (uint32_t i = 0; i < nthreads; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, focus_notifier, f),
				 0);
}

/* Without live resize: every Vector Control write takes the device lock. */
static void focus_start(struct focus *f, uint32_t v, uint32_t nthreads,
			pthread_t *th)
{
	focus_start_flags(f, v, nthreads, LIBMSIX_BE_NORESIZE, th);
}

static void focus_stop(struct focus *f, pthread_t *th)
{
	struct libmsix_stats c;

	atomic_store(&f->stop, true);
	for (uint32_t i = 0; i < f->nthreads; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_msg(atomic_load(&f->bad) == 0,
		      "%llu torn messages; first: address 0x%016llx data 0x%08x",
		      (unsigned long long)atomic_load(&f->bad),
		      (unsigned long long)atomic_load(&f->bad_addr),
		      atomic_load(&f->bad_data));
	ck_assert_uint_gt(atomic_load(&f->good), 0);
	/* (b): every delivery is a notify's or a replay's, once. */
	ck_assert_int_eq(libmsix_get_stats(f->dev, &c), 0);
	ck_assert_uint_eq(atomic_load(&f->good),
			  c.delivered + c.replayed + c.spurious_replays);
	libmsix_dev_destroy(f->dev);
}

/* How long a focused race runs: a quarter of LIBMSIX_STRESS_SECONDS. */
static double focus_seconds(void)
{
	return env_num("LIBMSIX_STRESS_SECONDS", 1, 0.01, 1e6) / 4;
}

/*
 * Whether a focused race goes on: for focus_seconds(), and past that until
 * the device threads have delivered at least once (focus_stop() requires
 * it), for at most 30 s more. On a loaded machine the device threads may
 * not run at all inside a quarter second; that is no verdict on libmsix.
 */
static bool focus_running(struct focus *f, double end)
{
	double t = now();

	return t < end || (atomic_load(&f->good) == 0 && t < end + 30);
}

/* Vector 1 programmed with its first message, MSI-X on, unmasked. */
static void vector1_live(struct focus *f)
{
	ck_assert_int_eq(libmsix_mmio_write(f->dev, 0, 16, 8, msg_addr(1, 0)),
			 0);
	ck_assert_int_eq(libmsix_mmio_write(f->dev, 0, 24, 4, msg_data(1, 0)),
			 0);
	ck_assert_int_eq(libmsix_config_write(f->dev,
					      TEST_CAP + PCI_MSIX_FLAGS, 2,
					      PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_mmio_write(f->dev, 0, 28, 4, 0), 0);
}

START_TEST(test_threads_qword_address_never_tears)
{
	struct focus f;
	pthread_t th[1];
	double end;
	uint32_t k = 0;

	/* R27, R41: vector 1 stays unmasked while its address changes. */
	focus_start(&f, 1, 1, th);
	vector1_live(&f);
	end = now() + focus_seconds();
	while (focus_running(&f, end))
		for (int i = 0; i < 64; i++, k++)
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 16, 8,
							    msg_addr(1, k % NMSG)),
					 0);
	focus_stop(&f, th);
}
END_TEST

/*
 * Regression: reset zeroed the entry before dropping the vector, and
 * without the seqlock, so a notify racing a function-level reset could
 * deliver (0, 0) or the old upper address with a zero lower one.
 */
START_TEST(test_threads_reset_never_tears_a_message)
{
	struct focus f;
	pthread_t th[2];
	double end;
	uint32_t k = 0;

	focus_start(&f, 0, 2, th);
	end = now() + focus_seconds();
	while (focus_running(&f, end)) {
		/* Reset, then Linux's restore with pair k, then unmask. */
		ck_assert_int_eq(libmsix_reset(f.dev), 0);
		ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 0, 8,
						    msg_addr(0, k % NMSG)), 0);
		ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 8, 4,
						    msg_data(0, k % NMSG)), 0);
		ck_assert_int_eq(libmsix_config_write(f.dev,
						      TEST_CAP + PCI_MSIX_FLAGS,
						      2, PCI_MSIX_FLAGS_ENABLE),
				 0);
		ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 12, 4, 0), 0);
		k++;
	}
	focus_stop(&f, th);
}
END_TEST

/*
 * R35, R36 on one vector: a notify racing the unmask either latched before
 * it (and the unmask replays it) or sees the vector live; a pending bit
 * never survives on a live vector, where nothing would ever replay it.
 */
static void unmask_leaves_no_pending_behind(uint32_t be_flags)
{
	struct libmsix_vector_info info;
	struct focus f;
	pthread_t th[1];
	uint64_t cycles = 0;
	double end;

	focus_start_flags(&f, 0, 1, be_flags, th);
	ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 0, 8, msg_addr(0, 0)), 0);
	ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 8, 4, msg_data(0, 0)), 0);
	ck_assert_int_eq(libmsix_config_write(f.dev, TEST_CAP + PCI_MSIX_FLAGS,
					      2, PCI_MSIX_FLAGS_ENABLE), 0);
	end = now() + focus_seconds();
	while (focus_running(&f, end)) {
		for (int i = 0; i < 64; i++, cycles++) {
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 12, 4, 1),
					 0);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 12, 4, 0),
					 0);
			ck_assert_int_eq(libmsix_get_vector_info(f.dev, 0, &info),
					 0);
			ck_assert_msg(!(info.live && info.pending),
				      "pending left on a live vector after %llu unmasks",
				      (unsigned long long)cycles);
		}
	}
	focus_stop(&f, th);
}

START_TEST(test_threads_unmask_leaves_no_pending_behind)
{
	unmask_leaves_no_pending_behind(LIBMSIX_BE_NORESIZE);
}
END_TEST

/* The same through the lock-free Vector Control path (V_SETTLED). */
START_TEST(test_threads_lock_free_unmask_leaves_no_pending_behind)
{
	unmask_leaves_no_pending_behind(0);
}
END_TEST

/*
 * A vector masked without the lock can be unmasked without it: a message
 * written while it was masked must still never reach a notify torn (the
 * write takes the sequence count, because the unmask does not wait for the
 * lock). Masked, a new address and data, unmasked, over and over.
 */
START_TEST(test_threads_lock_free_mask_rewrite_never_tears)
{
	struct focus f;
	pthread_t th[1];
	double end;
	uint32_t k = 0;

	focus_start_flags(&f, 1, 1, 0, th);
	vector1_live(&f);
	end = now() + focus_seconds();
	while (focus_running(&f, end)) {
		for (int i = 0; i < 64; i++, k++) {
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 28, 4, 1),
					 0);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 16, 8,
							    msg_addr(1, k % NMSG)),
					 0);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 24, 4,
							    msg_data(1, k % NMSG)),
					 0);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 28, 4, 0),
					 0);
		}
	}
	focus_stop(&f, th);
}
END_TEST

/*
 * A vector unmasked inside libmsix_begin()/libmsix_commit() goes live at
 * the commit, also where masks take no lock: a device thread notifying it
 * flat out never gets it delivered with the message it was given while
 * masked before the commit (a notify that read the old message before the
 * mask may still land late: that one was live). Each cycle: lock-free
 * mask, new Message Data, begin, unmask, commit.
 */
START_TEST(test_threads_lock_free_unmask_waits_for_commit)
{
	struct focus f;
	pthread_t th[1];
	double end;
	uint32_t k = 1;

	focus_start_flags(&f, 1, 1, 0, th);
	vector1_live(&f);
	end = now() + focus_seconds();
	while (focus_running(&f, end)) {
		for (int i = 0; i < 64; i++, k++) {
			uint32_t data = msg_data(1, k % NMSG);

			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 28, 4, 1),
					 0);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 24, 4,
							    data),
					 0);
			ck_assert_int_eq(libmsix_begin(f.dev), 0);
			atomic_store(&f.tx_data, data);
			atomic_store(&f.in_tx, true);
			ck_assert_int_eq(libmsix_mmio_write(f.dev, 0, 28, 4, 0),
					 0);
			/* Give the notifier the window the bug needs. */
			for (int j = 0; j < 200; j++)
				atomic_signal_fence(memory_order_seq_cst);
			atomic_store(&f.in_tx, false);
			ck_assert_int_eq(libmsix_commit(f.dev), 0);
		}
	}
	ck_assert_msg(atomic_load(&f.tx_early) == 0,
		      "%llu deliveries between an unmask and its commit in %u cycles",
		      (unsigned long long)atomic_load(&f.tx_early), k);
	focus_stop(&f, th);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Regressions the stress test found in the engine's failure paths           */
/* ------------------------------------------------------------------------ */

/*
 * A rolled-back mask leaves the host vector unmasked; a later disruptive
 * re-enable (NORESIZE growth) replayed it although the guest had it masked
 * (R34). It must latch instead, and come out on unmask.
 */
START_TEST(test_disruptive_replay_latches_masked_vector)
{
	struct libmsix_config cfg = test_config(2);
	struct tdev t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EIO), 0);
	ck_assert_int_eq(set_vmask(&t, 0, true), -EIO);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 0),
			  LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED |
				  LIBMSIX_HOST_UNMASKED);
	libmsix_recorder_clear(t.rec);
	/* Growing the prefix to 2 disrupts vector 0's host vector. */
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_uint_eq(deliveries_of(&t, 0), 0);
	ck_assert(pba_bit(&t, 0));
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	ck_assert_uint_eq(deliveries_of(&t, 0), 1);
	tdev_free(&t);
}
END_TEST

/*
 * A rolled-back disable leaves vectors routed and unmasked; the next flush
 * while disabled released the whole prefix with only its own vectors masked
 * and unrouted first (a contract violation: release of a live vector).
 */
START_TEST(test_noresize_release_masks_whole_prefix)
{
	struct libmsix_config cfg = test_config(4);
	struct tdev t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, 0, 1, -EIO), 0);
	ck_assert_int_eq(set_msgctl(&t, 0), -EIO);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 2),
			  LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED |
				  LIBMSIX_HOST_UNMASKED);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 1), 0);
	ck_assert_uint_eq(libmsix_recorder_violations(t.rec), 0);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	tdev_free(&t);
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("threads");
	TCase *reg = tcase_create("regressions");
	double secs = env_num("LIBMSIX_STRESS_SECONDS", 1, 0.01, 1e6);

	/* Time-bounded: allow for Valgrind and sanitizers on top. */
	tcase_set_timeout(tc, 60 + 20 * secs);
	tcase_add_test(tc, test_threads_notify_races_live_resize);
	tcase_add_test(tc, test_threads_notify_races_noresize);
	tcase_add_test(tc, test_threads_notify_races_budget);
	tcase_add_test(tc, test_threads_notify_races_lock_free_masking);
	tcase_add_test(tc, test_threads_qword_address_never_tears);
	tcase_add_test(tc, test_threads_reset_never_tears_a_message);
	tcase_add_test(tc, test_threads_unmask_leaves_no_pending_behind);
	tcase_add_test(tc,
		       test_threads_lock_free_unmask_leaves_no_pending_behind);
	tcase_add_test(tc, test_threads_lock_free_mask_rewrite_never_tears);
	tcase_add_test(tc, test_threads_lock_free_unmask_waits_for_commit);
	suite_add_tcase(s, tc);
	tcase_add_test(reg, test_disruptive_replay_latches_masked_vector);
	tcase_add_test(reg, test_noresize_release_masks_whole_prefix);
	suite_add_tcase(s, reg);
	return s;
}

int main(void)
{
	return run_suite(threads_suite());
}
