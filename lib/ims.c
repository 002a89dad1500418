/* SPDX-License-Identifier: MIT */
/*
 * The IMS backend: guest MSI-X vectors backed by the slots of a device's
 * Interrupt Message Store. (A software IMS device that checks how it is
 * driven is lib/soft-ims.c.)
 *
 * One event, one path. The guest unmasks vector 7 of a device on a store:
 *   the engine stages alloc(7,1) -> a slot s is taken from the pool (within
 *   the device's budget); route(7,msg) and unmask(7) only record; commit()
 *   claims s, writes (msg, cookie) into it while masked, then clears its mask
 *   bit -- two writes -- and remembers what s holds. If any write of the
 *   commit fails, every slot it wrote is written back, and the error returns.
 *
 * Locking: everything here is under the store lock (several devices may share
 * a store). The per-slot shadow (store->cur) is what the device holds; a
 * failed write changes nothing, so the shadow is always exact and every
 * transition starts from it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <bsd/bitstring.h>

#include "ims.h"
#include "pool.h"
#include "util.h"

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

/* struct ivec.fl / st_fl. */
#define IV_HOST 0x1u	 /* holds a host vector (a slot unless emulated) */
#define IV_ROUTED 0x2u	 /* (address, data) programmed */
#define IV_UNMASKED 0x4u /* slot mask bit clear */

/* One vector: committed state, and the staged copy while it is dirty. */
struct ivec {
	struct libmsix_msg msg, st_msg;
	uint64_t cookie;
	int32_t slot, st_slot;
	uint8_t fl, st_fl;
	bool emulated;
	/* The slot's pending bit was consumed as it went live: libmsix owes
	 * the message, and the engine's poll right after the commit takes it. */
	bool owed;
};

/* A slot as it was before this commit wrote it. */
struct undo {
	uint32_t slot;
	bool claimed; /* claimed by this commit */
	struct libmsix_ims_entry was;
};

struct libmsix_ims {
	struct libmsix_backend be;
	struct libmsix_ims_store *store;
	struct libmsix_ims *next;
	uint32_t flags;
	uint32_t n;
	struct lmx_share share;	/* slots taken, staged or committed */
	uint32_t nr_emulated;
	uint64_t exhausted;
	libmsix_ims_deliver_fn deliver;
	void *opaque;
	libmsix_log_fn log;
	int log_level;
	bitstr_t *dirty; /* vectors with staged changes */
	struct lmx_span span; /* [lo, hi) holding the dirty ones */
	struct undo *undo; /* one per vector at most */
	struct ivec v[];
};

struct libmsix_ims_store {
	struct libmsix_ims_hw *hw;
	pthread_mutex_t lock;
	uint32_t cap;
	bitstr_t *taken;		/* slots held by a vector, or quarantined */
	bitstr_t *bad;			/* quarantined */
	struct libmsix_ims_entry *cur;	/* what each slot holds */
	struct libmsix_ims *devs;
	uint32_t ndevs;
	struct lmx_pool pool;
	uint32_t quarantined;
	uint64_t exhausted, writes, write_errors, rollbacks;
};


/* An op of the device, or NULL when absent or past the table's size. */
#define HW_OP(hw, m) LMX_OP((hw)->ops, struct libmsix_ims_ops, m)


static struct libmsix_ims *to_ims(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_ims, be);
}

/*
 * A VMM's call broke a rule of the API: log it through the device's sink
 * (its config's) or the store's (its struct libmsix_ims_hw's).
 */
#define CFG_EINVAL(cfg, ...)                                              \
	lmx_sink_einval((cfg)->log, (cfg)->opaque, (cfg)->log_level,      \
			"libmsix-ims: ", __VA_ARGS__)
#define IMS_EINVAL(ims, ...) CFG_EINVAL(ims, __VA_ARGS__)

/* A @vector outside the device's table, in call @fn. */
static int bad_vector(struct libmsix_ims *ims, const char *fn,
		      uint32_t vector)
{
	return IMS_EINVAL(ims, "%s(): vector %u is outside the table (0..%u)",
			  fn, vector, ims->n - 1);
}

/* ------------------------------------------------------------------------ */
/* Slots and budgets                                                         */
/* ------------------------------------------------------------------------ */

/* Slots that can be held: the store's, less the quarantined ones. */
static uint32_t capacity(const struct libmsix_ims_store *st)
{
	return st->cap > st->quarantined ? st->cap - st->quarantined : 0;
}

/* Slots nobody holds and nobody is guaranteed. */
static uint32_t available(const struct libmsix_ims_store *st)
{
	return lmx_pool_available(&st->pool, capacity(st));
}

/*
 * May @ims take @k more slots (lib/pool.h)? Quarantined slots can also
 * break a reservation's promise: count the bits too.
 */
static bool can_take(const struct libmsix_ims_store *st,
		     const struct libmsix_ims *ims, uint32_t k)
{
	return lmx_pool_may_take(&st->pool, capacity(st), &ims->share, k) &&
	       st->pool.held + st->quarantined + k <= st->cap;
}

static int32_t take_slot(struct libmsix_ims_store *st, struct libmsix_ims *ims)
{
	int s;

	bit_ffc(st->taken, (int)st->cap, &s);
	if (s < 0) /* can_take() makes this impossible */
		return -1;
	bit_set(st->taken, s);
	lmx_pool_set_held(&st->pool, &ims->share, ims->share.held + 1);
	return s;
}

static void put_slot(struct libmsix_ims_store *st, struct libmsix_ims *ims,
		     int32_t s)
{
	if (!bit_test(st->bad, s))
		bit_clear(st->taken, s);
	lmx_pool_set_held(&st->pool, &ims->share, ims->share.held - 1);
}

static void quarantine(struct libmsix_ims_store *st, uint32_t s)
{
	if (!bit_test(st->bad, (int)s)) {
		bit_set(st->bad, (int)s);
		st->quarantined++;
	}
}

/* ------------------------------------------------------------------------ */
/* Slot writes                                                               */
/* ------------------------------------------------------------------------ */

static int hw_write(struct libmsix_ims_store *st, uint32_t s,
		    const struct libmsix_ims_entry *e)
{
	int err = st->hw->ops->write(st->hw, s, e);

	if (err < 0) {
		st->write_errors++;
		return err;
	}
	st->cur[s] = *e;
	st->writes++;
	return 0;
}

/*
 * Bring slot @s from what it holds to @t with the fewest writes that keep
 * R41: (address, data, cookie) change only while the slot is masked, so an
 * unmasked slot is masked first and unmasked last. @owed, when not NULL,
 * receives a pending bit that the device latched while the slot was masked
 * and that libmsix will send (the engine polls right after the commit that
 * takes the vector live); without it the device sends it at the unmask.
 */
static int transition(struct libmsix_ims_store *st, uint32_t s,
		      const struct libmsix_ims_entry *t, bool *owed)
{
	int (*pending)(struct libmsix_ims_hw *, uint32_t) =
		HW_OP(st->hw, pending);
	struct libmsix_ims_entry now = st->cur[s], e;
	bool was_masked = now.masked;

	if (!lmx_ims_same_msg(&now, t)) {
		int err;

		if (!now.masked) {
			/* mask before the message changes under it */
			e = now;
			e.masked = true;
			err = hw_write(st, s, &e);
			if (err)
				return err;
		}
		e = *t;
		e.masked = true;
		err = hw_write(st, s, &e);
		if (err)
			return err;
		now = e;
	}
	if (now.masked == t->masked)
		return 0;
	if (!t->masked && was_masked && owed && pending &&
	    pending(st->hw, s) > 0)
		*owed = true;
	return hw_write(st, s, t);
}

/* Can libmsix send a slot-backed vector's message itself? */
static bool can_replay(const struct libmsix_ims *ims)
{
	return HW_OP(ims->store->hw, fire) || ims->deliver;
}

/* ------------------------------------------------------------------------ */
/* Backend ops                                                               */
/* ------------------------------------------------------------------------ */

/* Vector @v's state as staged so far (committed when not dirty). */
static uint8_t staged_fl(const struct libmsix_ims *ims, uint32_t v)
{
	return bit_test(ims->dirty, (int)v) ? ims->v[v].st_fl : ims->v[v].fl;
}

/* Start staging vector @v: the staged copy begins as the committed state. */
static struct ivec *stage(struct libmsix_ims *ims, uint32_t v)
{
	struct ivec *iv = &ims->v[v];

	if (!bit_test(ims->dirty, (int)v)) {
		bit_set(ims->dirty, (int)v);
		iv->st_fl = iv->fl;
		iv->st_slot = iv->slot;
		iv->st_msg = iv->msg;
		lmx_span_add(&ims->span, v, 1);
	}
	return iv;
}

static void clean(struct libmsix_ims *ims)
{
	if (!lmx_span_empty(&ims->span))
		bit_nclear(ims->dirty, (int)ims->span.lo,
			   (int)ims->span.hi - 1);
	lmx_span_clear(&ims->span, ims->n);
}

static int ims_alloc(struct libmsix_backend *be, uint32_t start,
		     uint32_t count)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	uint32_t need = 0;
	int err = 0;

	if (!lmx_range_ok(ims->n, start, count))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (uint32_t v = start; v < start + count; v++) {
		const struct ivec *iv = &ims->v[v];

		if (staged_fl(ims, v) & IV_HOST) {
			err = -EINVAL; /* contract: alloc of a held vector */
			goto out;
		}
		/* A slot released earlier in this transaction is kept. */
		if (!iv->emulated && iv->slot < 0)
			need++;
	}
	if (need && !can_take(st, ims, need)) {
		ims->exhausted++;
		st->exhausted++;
		err = -ENOSPC;
		goto out;
	}
	for (uint32_t v = start; v < start + count; v++) {
		struct ivec *iv = stage(ims, v);

		iv->st_fl = IV_HOST; /* starts masked */
		if (iv->emulated)
			iv->st_slot = -1;
		else if (iv->slot >= 0)
			iv->st_slot = iv->slot;
		else
			iv->st_slot = take_slot(st, ims);
	}
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

static int ims_release(struct libmsix_backend *be, uint32_t start,
		       uint32_t count)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	int err = 0;

	if (!lmx_range_ok(ims->n, start, count))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (uint32_t v = start; v < start + count; v++) {
		if (!(staged_fl(ims, v) & IV_HOST)) {
			err = -EINVAL; /* contract: release of a free vector */
			goto out;
		}
	}
	/* The slot stays taken until the commit has reset it. */
	for (uint32_t v = start; v < start + count; v++) {
		struct ivec *iv = stage(ims, v);

		iv->st_fl = 0;
		iv->st_slot = -1;
	}
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* One-vector staging ops: @set and @clear on the staged flags. */
static int vec_op(struct libmsix_backend *be, uint32_t v,
		  const struct libmsix_msg *msg, uint8_t need, uint8_t set,
		  uint8_t clear)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	int err = 0;

	if (v >= ims->n)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((staged_fl(ims, v) & need) != need) {
		err = -EINVAL; /* contract: order alloc, route, unmask */
	} else {
		struct ivec *iv = stage(ims, v);

		iv->st_fl = (uint8_t)((iv->st_fl | set) & ~clear);
		if (msg)
			iv->st_msg = *msg;
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}

static int ims_route(struct libmsix_backend *be, uint32_t v,
		     const struct libmsix_msg *msg)
{
	if (!msg)
		return -EINVAL;
	return vec_op(be, v, msg, IV_HOST, IV_ROUTED, 0);
}

static int ims_unroute(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, v, NULL, 0, 0, IV_ROUTED);
}

static int ims_mask(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, v, NULL, 0, 0, IV_UNMASKED);
}

static int ims_unmask(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, v, NULL, IV_HOST | IV_ROUTED, IV_UNMASKED, 0);
}

/* What vector @iv's slot should hold once the staged state commits. */
static struct libmsix_ims_entry target(const struct ivec *iv)
{
	struct libmsix_ims_entry t = lmx_ims_reset_entry;

	if (iv->st_fl & IV_ROUTED) {
		t.address = iv->st_msg.address;
		t.data = iv->st_msg.data;
	}
	t.cookie = iv->cookie;
	t.masked = !(iv->st_fl & IV_UNMASKED);
	return t;
}

/* Write back every slot this commit wrote, newest first. */
static void rollback(struct libmsix_ims *ims, size_t nu)
{
	struct libmsix_ims_store *st = ims->store;
	void (*release)(struct libmsix_ims_hw *, uint32_t) =
		HW_OP(st->hw, release);

	st->rollbacks++;
	while (nu--) {
		const struct undo *u = &ims->undo[nu];

		if (transition(st, u->slot, &u->was, NULL) < 0) {
			/*
			 * The device refused twice. A slot this commit claimed
			 * is not reset, so it never goes back to the pool; a
			 * slot a vector keeps is set right by its next commit,
			 * which starts from what the slot really holds.
			 */
			if (u->claimed)
				quarantine(st, u->slot);
			continue;
		}
		if (u->claimed && release)
			release(st->hw, u->slot);
	}
}

static int ims_commit(struct libmsix_backend *be)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	void (*claim)(struct libmsix_ims_hw *, uint32_t) = HW_OP(st->hw, claim);
	void (*release)(struct libmsix_ims_hw *, uint32_t) =
		HW_OP(st->hw, release);
	bool replay = can_replay(ims);
	size_t nu = 0;
	int err = 0;

	pthread_mutex_lock(&st->lock);
	for (uint32_t v = ims->span.lo; v < ims->span.hi; v++) {
		struct ivec *iv = &ims->v[v];
		struct libmsix_ims_entry t;
		struct undo *u;

		if (!bit_test(ims->dirty, (int)v) || iv->emulated)
			continue;
		if (iv->st_slot >= 0)
			t = target(iv);
		else if (iv->slot >= 0)
			t = lmx_ims_reset_entry; /* released: nothing may linger */
		else
			continue;
		u = &ims->undo[nu++];
		u->slot = (uint32_t)(iv->st_slot >= 0 ? iv->st_slot : iv->slot);
		u->claimed = iv->st_slot >= 0 && iv->st_slot != iv->slot;
		u->was = st->cur[u->slot];
		if (u->claimed && claim)
			claim(st->hw, u->slot);
		err = transition(st, u->slot, &t, replay ? &iv->owed : NULL);
		if (err) {
			rollback(ims, nu);
			goto out;
		}
	}
	/* Everything is written: now freed slots go back to the pool. */
	for (uint32_t v = ims->span.lo; v < ims->span.hi; v++) {
		struct ivec *iv = &ims->v[v];

		if (!bit_test(ims->dirty, (int)v))
			continue;
		if (!iv->emulated && iv->slot >= 0 && iv->st_slot != iv->slot) {
			if (release)
				release(st->hw, (uint32_t)iv->slot);
			put_slot(st, ims, iv->slot);
		}
		if (iv->st_slot < 0)
			iv->owed = false;
		iv->fl = iv->st_fl;
		iv->slot = iv->st_slot;
		iv->msg = iv->st_msg;
	}
	clean(ims);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Store lock held. Give back the slots staged since the last commit. */
static void discard_staged(struct libmsix_ims_store *st,
			   struct libmsix_ims *ims)
{
	for (uint32_t v = ims->span.lo; v < ims->span.hi; v++) {
		struct ivec *iv = &ims->v[v];

		if (bit_test(ims->dirty, (int)v) && !iv->emulated &&
		    iv->st_slot >= 0 && iv->st_slot != iv->slot)
			put_slot(st, ims, iv->st_slot);
	}
	clean(ims);
}

static void ims_abort(struct libmsix_backend *be)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;

	pthread_mutex_lock(&st->lock);
	discard_staged(st, ims);
	pthread_mutex_unlock(&st->lock);
}

/*
 * A live vector: the slot sends its own message (so the device's cookie
 * goes with it); emulated vectors, and devices that cannot be told to fire,
 * go through the VMM. The store lock is held across fire so the slot cannot
 * be handed to another device's vector meanwhile.
 */
static int ims_deliver(struct libmsix_backend *be, uint32_t v,
		       const struct libmsix_msg *msg)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	int (*fire)(struct libmsix_ims_hw *, uint32_t) = HW_OP(st->hw, fire);
	struct ivec *iv;

	if (v >= ims->n)
		return -EINVAL;
	iv = &ims->v[v];
	pthread_mutex_lock(&st->lock);
	iv->owed = false; /* this message is the one owed */
	if (!iv->emulated && iv->slot >= 0 && fire) {
		int err = fire(st->hw, (uint32_t)iv->slot);

		pthread_mutex_unlock(&st->lock);
		return err < 0 ? err : 0;
	}
	pthread_mutex_unlock(&st->lock);
	if (!ims->deliver)
		return -ENOENT; /* libmsix latches it */
	return ims->deliver(ims->opaque, v, msg);
}

/*
 * A masked vector: did its slot latch an interrupt? Only consumed when
 * libmsix can send it later; otherwise the device keeps it and sends it
 * itself at the unmask.
 */
static int ims_poll(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_ims *ims = to_ims(be);
	struct libmsix_ims_store *st = ims->store;
	int (*pending)(struct libmsix_ims_hw *, uint32_t) =
		HW_OP(st->hw, pending);
	struct ivec *iv;
	int r = 0;

	if (v >= ims->n)
		return -EINVAL;
	iv = &ims->v[v];
	pthread_mutex_lock(&st->lock);
	if (iv->owed) {
		iv->owed = false;
		r = 1;
	} else if (!iv->emulated && iv->slot >= 0 && pending &&
		   can_replay(ims)) {
		r = pending(st->hw, (uint32_t)iv->slot);
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

static const struct libmsix_backend_ops ims_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = ims_alloc,
	.release = ims_release,
	.route = ims_route,
	.unroute = ims_unroute,
	.mask = ims_mask,
	.unmask = ims_unmask,
	.commit = ims_commit,
	.abort = ims_abort,
	.deliver = ims_deliver,
	.poll = ims_poll,
};

/* ------------------------------------------------------------------------ */
/* Store                                                                     */
/* ------------------------------------------------------------------------ */

#define HW_EINVAL(hw, ...)                                                \
	lmx_sink_einval((hw)->log, (hw)->log_opaque, (hw)->log_level,     \
			"libmsix-ims: ", __VA_ARGS__)

int libmsix_ims_store_create(struct libmsix_ims_hw *hw,
			     struct libmsix_ims_store **out)
{
	struct libmsix_ims_store *st;

	if (!hw)
		return -EINVAL;
	if (!out)
		return HW_EINVAL(hw, "libmsix_ims_store_create(): out is NULL");
	if (!hw->ops)
		return HW_EINVAL(hw, "libmsix_ims_store_create(): hw->ops is "
				     "NULL: the write op is required");
	/* An older, shorter table is read by HW_OP(); a newer one's extra
	 * ops must all be NULL: this libmsix would never call them. */
	if (lmx_size_check(hw->ops, hw->ops->size, sizeof(*hw->ops))) {
		if (hw->ops->size >= sizeof(size_t))
			return -E2BIG;
		return HW_EINVAL(hw, "libmsix_ims_store_create(): "
				     "hw->ops->size %zu is below sizeof(size_t)",
				 hw->ops->size);
	}
	/* The only required op must be inside the table the device built. */
	if (!HW_OP(hw, write))
		return HW_EINVAL(hw, "libmsix_ims_store_create(): hw->ops has "
				     "no write op (required)");
	if (hw->nr_slots < 1 || hw->nr_slots > LIBMSIX_IMS_MAX_SLOTS)
		return HW_EINVAL(hw, "libmsix_ims_store_create(): "
				     "hw->nr_slots %u is outside 1..%u",
				 hw->nr_slots, LIBMSIX_IMS_MAX_SLOTS);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->hw = hw;
	st->cap = hw->nr_slots;
	st->taken = bit_alloc((int)st->cap);
	st->bad = bit_alloc((int)st->cap);
	st->cur = calloc(st->cap, sizeof(*st->cur));
	if (!st->taken || !st->bad || !st->cur) {
		free(st->taken);
		free(st->bad);
		free(st->cur);
		free(st);
		return -ENOMEM;
	}
	for (uint32_t s = 0; s < st->cap; s++)
		st->cur[s] = lmx_ims_reset_entry;
	pthread_mutex_init(&st->lock, NULL);
	*out = st;
	return 0;
}

int libmsix_ims_store_destroy(struct libmsix_ims_store *st)
{
	if (!st)
		return 0;
	pthread_mutex_lock(&st->lock);
	if (st->devs) {
		pthread_mutex_unlock(&st->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&st->lock);
	free(st->taken);
	free(st->bad);
	free(st->cur);
	free(st);
	return 0;
}

int libmsix_ims_store_get_stats(struct libmsix_ims_store *st,
				struct libmsix_ims_store_stats *out)
{
	if (!st)
		return -EINVAL;
	if (!out)
		return HW_EINVAL(st->hw, "libmsix_ims_store_get_stats(): out "
					 "is NULL");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	out->capacity = st->cap;
	out->devices = st->ndevs;
	out->reserved = st->pool.reserved;
	out->demand = st->pool.demand;
	out->held = st->pool.held;
	out->peak = st->pool.peak;
	out->available = available(st);
	out->overcommit = lmx_pool_overcommit(&st->pool, capacity(st));
	out->exhausted = st->exhausted;
	out->quarantined = st->quarantined;
	out->writes = st->writes;
	out->write_errors = st->write_errors;
	out->rollbacks = st->rollbacks;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Per device                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Without FORCE the engine is told the limit, so it faults vectors beyond it
 * without asking (a whole batch is never refused for one vector too many).
 * Emulated vectors hold host vectors in the engine's count but no slot.
 */
static void set_engine_budget(struct libmsix_ims *ims)
{
	uint32_t max = ims->share.reserve + ims->nr_emulated;

	if (ims->flags & LIBMSIX_IMS_F_FORCE)
		ims->be.max_vectors = 0;
	else
		ims->be.max_vectors = max > ims->n ? ims->n : max;
}

int libmsix_ims_create(struct libmsix_ims_store *st,
		       const struct libmsix_ims_config *ucfg,
		       struct libmsix_ims **out)
{
	struct libmsix_ims_config c;
	const struct libmsix_ims_config *cfg = &c;
	struct libmsix_ims *ims;
	int err;

	if (!st || !ucfg || !out)
		return -EINVAL;
	err = LMX_STRUCT_IN(&c, ucfg);
	if (err)
		return err;
	if (cfg->flags & ~LIBMSIX_IMS_F_FORCE)
		return CFG_EINVAL(cfg, "libmsix_ims_create(): flags 0x%x: unknown bits 0x%x",
				  cfg->flags, cfg->flags & ~LIBMSIX_IMS_F_FORCE);
	if (cfg->nr_vectors < 1 || cfg->nr_vectors > LIBMSIX_MAX_VECTORS)
		return CFG_EINVAL(cfg, "libmsix_ims_create(): nr_vectors %u: MSI-X allows 1..2048",
				  cfg->nr_vectors);
	if (cfg->reserve > cfg->nr_vectors)
		return CFG_EINVAL(cfg, "libmsix_ims_create(): reserve %u is more than nr_vectors %u",
				  cfg->reserve, cfg->nr_vectors);
	/* A budget of 0 is a device that can never go live: say so now. */
	if (cfg->reserve == 0 && !(cfg->flags & LIBMSIX_IMS_F_FORCE))
		return CFG_EINVAL(cfg, "libmsix_ims_create(): reserve 0 without LIBMSIX_IMS_F_FORCE: no vector could ever hold a slot");

	ims = calloc(1, sizeof(*ims) + cfg->nr_vectors * sizeof(struct ivec));
	if (!ims)
		return -ENOMEM;
	ims->dirty = bit_alloc((int)cfg->nr_vectors);
	ims->undo = calloc(cfg->nr_vectors, sizeof(*ims->undo));
	if (!ims->dirty || !ims->undo) {
		free(ims->dirty);
		free(ims->undo);
		free(ims);
		return -ENOMEM;
	}
	ims->store = st;
	ims->flags = cfg->flags;
	ims->n = cfg->nr_vectors;
	ims->share.reserve = cfg->reserve; /* for set_engine_budget() */
	ims->deliver = cfg->deliver;
	ims->opaque = cfg->opaque;
	ims->log = cfg->log;
	ims->log_level = cfg->log_level;
	lmx_span_clear(&ims->span, ims->n);
	for (uint32_t v = 0; v < ims->n; v++) {
		ims->v[v].slot = ims->v[v].st_slot = -1;
		ims->v[v].cookie = cfg->default_cookie;
	}
	ims->be.ops = &ims_ops;
	ims->be.flags = 0; /* slots are independent: no NORESIZE */
	set_engine_budget(ims);

	pthread_mutex_lock(&st->lock);
	if (lmx_pool_join(&st->pool, capacity(st), &ims->share, cfg->reserve,
			  cfg->flags & LIBMSIX_IMS_F_FORCE, ims->n)) {
		pthread_mutex_unlock(&st->lock);
		free(ims->dirty);
		free(ims->undo);
		free(ims);
		return -ENOSPC;
	}
	st->ndevs++;
	ims->next = st->devs;
	st->devs = ims;
	pthread_mutex_unlock(&st->lock);
	*out = ims;
	return 0;
}

void libmsix_ims_destroy(struct libmsix_ims *ims)
{
	struct libmsix_ims_store *st;
	void (*release)(struct libmsix_ims_hw *, uint32_t);

	if (!ims)
		return;
	st = ims->store;
	release = HW_OP(st->hw, release);
	pthread_mutex_lock(&st->lock);
	discard_staged(st, ims);
	/* Misuse (the device still exists) must not leak slots. */
	for (uint32_t v = 0; v < ims->n; v++) {
		struct ivec *iv = &ims->v[v];
		uint32_t s = (uint32_t)iv->slot;

		if (iv->emulated || iv->slot < 0)
			continue;
		if (transition(st, s, &lmx_ims_reset_entry, NULL) < 0)
			quarantine(st, s);
		else if (release)
			release(st->hw, s);
		put_slot(st, ims, iv->slot);
		iv->slot = -1;
	}
	lmx_pool_leave(&st->pool, &ims->share, ims->n - ims->nr_emulated);
	st->ndevs--;
	for (struct libmsix_ims **p = &st->devs; *p; p = &(*p)->next) {
		if (*p == ims) {
			*p = ims->next;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	free(ims->dirty);
	free(ims->undo);
	free(ims);
}

struct libmsix_backend *libmsix_ims_backend(struct libmsix_ims *ims)
{
	return ims ? &ims->be : NULL;
}

int libmsix_ims_set_cookie(struct libmsix_ims *ims, uint32_t vector,
			   uint64_t cookie)
{
	struct libmsix_ims_store *st;
	struct ivec *iv;
	int err = 0;

	if (!ims)
		return -EINVAL;
	if (vector >= ims->n)
		return bad_vector(ims, "libmsix_ims_set_cookie", vector);
	st = ims->store;
	iv = &ims->v[vector];
	pthread_mutex_lock(&st->lock);
	if (!iv->emulated && iv->slot >= 0 &&
	    st->cur[iv->slot].cookie != cookie) {
		uint32_t s = (uint32_t)iv->slot;
		struct libmsix_ims_entry was = st->cur[s], t = was;

		/* No owed: a live slot sends what it caught when unmasked. */
		t.cookie = cookie;
		err = transition(st, s, &t, NULL);
		if (err) {
			st->rollbacks++;
			transition(st, s, &was, NULL);
		}
	}
	if (!err)
		iv->cookie = cookie;
	pthread_mutex_unlock(&st->lock);
	return err;
}

int libmsix_ims_get_cookie(struct libmsix_ims *ims, uint32_t vector,
			   uint64_t *out)
{
	if (!ims)
		return -EINVAL;
	if (!out)
		return IMS_EINVAL(ims, "libmsix_ims_get_cookie(): out is NULL");
	if (vector >= ims->n)
		return bad_vector(ims, "libmsix_ims_get_cookie", vector);
	pthread_mutex_lock(&ims->store->lock);
	*out = ims->v[vector].cookie;
	pthread_mutex_unlock(&ims->store->lock);
	return 0;
}

int libmsix_ims_set_emulated(struct libmsix_ims *ims, uint32_t start,
			     uint32_t count, bool on)
{
	struct libmsix_ims_store *st;
	int err = 0;

	if (!ims)
		return -EINVAL;
	if (!lmx_range_ok(ims->n, start, count))
		return IMS_EINVAL(ims, "libmsix_ims_set_emulated(): vectors [%u, +%u): not a non-empty range of the table's 0..%u",
				  start, count, ims->n - 1);
	if (on && !ims->deliver)
		return IMS_EINVAL(ims, "libmsix_ims_set_emulated(): on without a deliver callback in the config: emulated vectors could not be delivered");
	st = ims->store;
	pthread_mutex_lock(&st->lock);
	for (uint32_t v = start; v < start + count; v++) {
		if ((ims->v[v].fl & IV_HOST) || bit_test(ims->dirty, (int)v)) {
			err = -EBUSY;
			goto out;
		}
	}
	for (uint32_t v = start; v < start + count; v++) {
		struct ivec *iv = &ims->v[v];

		if (iv->emulated == on)
			continue;
		iv->emulated = on;
		if (on) {
			ims->nr_emulated++;
			st->pool.demand--;
		} else {
			ims->nr_emulated--;
			st->pool.demand++;
		}
	}
	set_engine_budget(ims);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

int libmsix_ims_vector_slot(struct libmsix_ims *ims, uint32_t vector)
{
	int slot;

	if (!ims)
		return -EINVAL;
	if (vector >= ims->n)
		return bad_vector(ims, "libmsix_ims_vector_slot", vector);
	pthread_mutex_lock(&ims->store->lock);
	slot = ims->v[vector].emulated ? -1 : ims->v[vector].slot;
	pthread_mutex_unlock(&ims->store->lock);
	return slot < 0 ? -ENOENT : slot;
}

int libmsix_ims_get_stats(struct libmsix_ims *ims,
			  struct libmsix_ims_stats *out)
{
	if (!ims)
		return -EINVAL;
	if (!out)
		return IMS_EINVAL(ims, "libmsix_ims_get_stats(): out is NULL");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ims->store->lock);
	out->nr_vectors = ims->n;
	out->emulated = ims->nr_emulated;
	out->reserve = ims->share.reserve;
	out->forced = ims->share.force;
	out->held = ims->share.held;
	out->peak = ims->share.peak;
	out->exhausted = ims->exhausted;
	pthread_mutex_unlock(&ims->store->lock);
	return 0;
}
