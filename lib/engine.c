/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle engine: reconciles what the backend holds for each vector
 * with what the guest's registers and the device model's use counts ask for.
 *
 * One event, one path. When the guest unmasks vector 7 (model.c):
 *   table write -> lmx_engine_set_mask(7) (a touch) -> lmx_engine_tx_end()
 *     -> lmx_engine_flush(): decide() says 7 wants a host vector, a route
 *     and to be unmasked; the backend gets alloc(7,1), route(7,msg),
 *     unmask(7) staged and one commit; then settle() -> unblock() polls the
 *     host for anything caught while 7 was masked, clears V_BLOCKED and
 *     delivers a latched pending bit once.
 * Masking is the other way round and takes effect at once: the touch sets
 * V_BLOCKED before any backend work, so notify latches from then on.
 * (Where the backend has no per-vector op, a live vector's mask and unmask
 * skip all of this: model.c, vector_control_quick(), and V_SETTLED.)
 *
 * All functions here run with the device lock held.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include <linux/pci_regs.h>

#include "internal.h"

/*
 * The effective state the guest's registers put @e in, ignoring faults;
 * @s is its state word (for the Mask bit).
 */
static uint32_t target_of(const struct libmsix_dev *dev, const struct vec *e,
			  uint32_t s)
{
	if (!dev->enable || e->use == 0)
		return V_DROP;
	if (dev->fmask || !dev->bme || (s & V_MASKBIT))
		return V_BLOCKED;
	return 0;
}

static uint32_t target_state(const struct libmsix_dev *dev, struct vec *e)
{
	return target_of(dev, e, state_load(e));
}

/*
 * Record that vector @v may need host work, and apply any blocking at once:
 * the hot path must stop delivering before the backend is told to mask.
 * Going live waits for the commit (unblock()). Ends V_SETTLED: from here
 * on the lock holder is the only writer of the vector's Mask bit. The
 * state bits in @clear go and those in @set come, in the same atomic step
 * (the guest's Mask bit).
 */
static void touch(struct libmsix_dev *dev, uint32_t v, uint32_t clear,
		  uint32_t set)
{
	struct vec *e = &dev->vec[v];
	uint32_t s = state_load(e), n;

	do {
		uint32_t target;

		n = (s & ~(V_SETTLED | clear)) | set;
		target = target_of(dev, e, n);
		if (target == V_DROP) {
			/* Disable and unuse drop pending state (R31). */
			n = (n | V_DROP) & ~(V_BLOCKED | V_PENDING);
		} else if (target == V_BLOCKED || (s & V_DROP)) {
			/*
			 * Also a dropped vector on its way to live: until the
			 * commit makes it live (unblock()) its interrupts
			 * latch, not drop -- a transaction may hold that
			 * commit back (libmsix_begin()).
			 */
			n = (n | V_BLOCKED) & ~V_DROP;
		}
	} while (n != s && !atomic_compare_exchange_weak_explicit(
				   &e->state, &s, n, memory_order_acq_rel,
				   memory_order_acquire));
	bit_set(dev->touched, (int)v);
	lmx_span_add(&dev->span, v, 1);
}

void lmx_engine_touch(struct libmsix_dev *dev, uint32_t v)
{
	touch(dev, v, 0, 0);
}

/* The guest wrote vector @v's Mask bit: store it and touch, in one step. */
void lmx_engine_set_mask(struct libmsix_dev *dev, uint32_t v, bool masked)
{
	touch(dev, v, V_MASKBIT, masked ? V_MASKBIT : 0);
}

void lmx_engine_touch_all(struct libmsix_dev *dev)
{
	for (uint32_t v = 0; v < dev->n; v++)
		lmx_engine_touch(dev, v);
}

static uint32_t budget(const struct libmsix_dev *dev)
{
	uint32_t max = dev->be->max_vectors;

	return (max == 0 || max > dev->n) ? dev->n : max;
}

static bool live_resize(const struct libmsix_dev *dev)
{
	return lmx_live_resize(dev->be);
}

/*
 * Resolve AUTO when MSI-X gets enabled: incremental where the backend can
 * grow live (no disruption either way), else preallocate so that a NORESIZE
 * backend is disrupted at most once -- unless that does not fit the budget.
 */
static enum libmsix_policy resolve_policy(const struct libmsix_dev *dev)
{
	uint32_t need = 0;

	if (dev->cfg.policy != LIBMSIX_POLICY_AUTO)
		return dev->cfg.policy;
	if (live_resize(dev))
		return LIBMSIX_POLICY_INCREMENTAL;
	if (dev->cfg.flags & LIBMSIX_F_PREALLOC_ALL)
		need = dev->n;
	else
		for (uint32_t v = 0; v < dev->n; v++)
			if (dev->vec[v].use)
				need = v + 1;
	return need <= budget(dev) ? LIBMSIX_POLICY_PREALLOCATE
				   : LIBMSIX_POLICY_INCREMENTAL;
}

/* What vector @e should hold at the host once this transaction commits. */
static uint8_t decide(const struct libmsix_dev *dev, struct vec *e)
{
	uint32_t target = target_state(dev, e);
	bool alloc;

	if (!dev->enable)
		return 0;
	if (target == 0)
		return H_ALLOC | H_ROUTED | H_UNMASKED;
	if (dev->policy == LIBMSIX_POLICY_PREALLOCATE &&
	    (target == V_BLOCKED || (dev->cfg.flags & LIBMSIX_F_PREALLOC_ALL)))
		alloc = true;
	else if (target == V_BLOCKED)
		alloc = e->host & H_ALLOC;
	else /* unused: live-resize backends give the host vector back */
		alloc = !live_resize(dev) && (e->host & H_ALLOC);
	if (!alloc)
		return 0;
	/* A route outlives a mask (no churn on mask/unmask), not a drop. */
	if (target == V_BLOCKED && (e->host & H_ROUTED))
		return H_ALLOC | H_ROUTED;
	return H_ALLOC;
}

/* Without live resize: the prefix to hold after this transaction. */
static uint32_t grow_prefix(const struct libmsix_dev *dev, uint32_t need)
{
	uint32_t cur = dev->prefix, next = need;

	if (!dev->enable)
		return 0;
	if (need <= cur)
		return cur;
	if (dev->policy == LIBMSIX_POLICY_INCREMENTAL && cur > 0 &&
	    next < 2 * cur)
		next = 2 * cur; /* doubling: log2(N) disruptions, not N */
	if (next > budget(dev))
		next = budget(dev);
	return next;
}

/* ops->enable exists in backends built against a struct that has it. */
static bool has_enable_op(const struct libmsix_dev *dev)
{
	return LMX_OP(dev->be->ops, struct libmsix_backend_ops, enable) != NULL;
}

static void count_op(struct libmsix_dev *dev, _Atomic uint64_t *c, int err)
{
	cnt_inc_locked(c);
	if (err < 0)
		cnt_inc_locked(&dev->cnt.be_errors);
}

#define FOR_TOUCHED(dev, v, lo, hi)                \
	for (uint32_t v = (lo); v < (hi); v++)     \
		if (bit_test((dev)->touched, (int)v))

/*
 * One flush, step by step (lmx_engine_flush()): decide what each touched
 * vector wants, fit that to the budget or the prefix, stage the ops,
 * commit, then settle or roll back. The steps share this.
 */
struct flush {
	uint32_t lo, hi;	/* the touched vectors are in [lo, hi) */
	uint32_t need;		/* highest vector wanting a host one, + 1 */
	uint32_t releases;	/* vectors giving their host vector back */
	uint32_t old_prefix;	/* without live resize: held [0, old_prefix) */
	uint32_t new_prefix;	/* ... and after this flush */
	uint32_t count;		/* host vectors held after the commit */
	bool staged;		/* the backend has something to commit */
	bool disruptive;	/* NORESIZE growth: MSI-X goes off and on */
	int nospc;		/* -ENOSPC when a vector was refused one */
};

#define FOR_FLUSH(dev, f, v) FOR_TOUCHED(dev, v, (f)->lo, (f)->hi)

/* Host-state @bit of @e goes @on in this transaction (from !@on). */
static inline bool goes(const struct vec *e, uint8_t bit, bool on)
{
	return !!(e->want & bit) == on && !!(e->host & bit) != on;
}

/*
 * A pool shared with other devices (an IMS store, a VM's GSI table) had no
 * room for the whole run [start, end): ask one vector at a time, and leave
 * the refused ones without a host vector -- faulted if they were to go live
 * -- so that one exhausted pool does not fail the rest of the transaction.
 * A backend that kept part of the refused run staged refuses the re-ask
 * (alloc of a held vector): then the transaction fails as a whole, -ENOSPC.
 */
static int alloc_each(struct libmsix_dev *dev, uint32_t start, uint32_t end)
{
	bool got = false;

	for (uint32_t x = start; x < end; x++) {
		struct vec *e = &dev->vec[x];
		int err = -ENOSPC;

		if (end - start > 1) {
			err = dev->be->ops->alloc(dev->be, x, 1);
			count_op(dev, &dev->cnt.be_alloc, err);
		}
		if (err == -ENOSPC)
			e->want = (e->want & H_UNMASKED) ? H_FAULT : 0;
		else if (err < 0)
			return -ENOSPC;
		else
			got = true;
	}
	if (got) /* be_errors alone would not tell this from a failure */
		cnt_inc_locked(&dev->cnt.alloc_splits);
	return 0;
}

/* Stage alloc (@on) or release of each run of touched vectors in [lo, hi)
 * whose host vector comes (@on) or goes; *@staged when one was. */
static int stage_runs(struct libmsix_dev *dev, uint32_t lo, uint32_t hi,
		      bool on, bool *staged)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;
	int (*op)(struct libmsix_backend *, uint32_t, uint32_t) =
		on ? ops->alloc : ops->release;
	_Atomic uint64_t *c = on ? &dev->cnt.be_alloc : &dev->cnt.be_release;
	uint32_t v = lo;

#define CHANGES(x) \
	(bit_test(dev->touched, (int)(x)) && goes(&dev->vec[x], H_ALLOC, on))
	while (v < hi) {
		uint32_t start;
		int err;

		if (!CHANGES(v)) {
			v++;
			continue;
		}
		start = v;
		while (v < hi && CHANGES(v))
			v++;
		if (!op)
			continue;
		*staged = true;
		err = op(dev->be, start, v - start);
		count_op(dev, c, err);
		if (err == -ENOSPC && on)
			err = alloc_each(dev, start, v);
		if (err < 0)
			return err;
	}
#undef CHANGES
	return 0;
}

/*
 * A route is set when a vector first goes live and updated when it goes live
 * again with a new message -- not on every table write of a masked entry
 * (Linux writes three DWORDs per entry; each would be a KVM table upload).
 */
static bool needs_route(const struct vec *e)
{
	if (!(e->want & H_ROUTED))
		return false;
	if (!(e->host & H_ROUTED))
		return true;
	/*
	 * Only on the way to live (R41): a write to an unmasked entry reaches
	 * the route at the next unmask, never DWORD by DWORD -- the first
	 * DWORD of a new 64-bit address would route a torn one. The way to
	 * live is also a vector blocked or dropped in libmsix whose host
	 * vector stayed unmasked: a mask and unmask, Function Mask set and
	 * clear, or disable and enable inside one transaction or after a
	 * rolled-back commit, and libmsix_load(), which rewrites whole
	 * entries of a possibly live device.
	 */
	return (e->host & H_MSG_DIRTY) && (e->want & H_UNMASKED) &&
	       (!(e->host & H_UNMASKED) ||
		(state_load(e) & (V_BLOCKED | V_DROP)));
}

/* Stage @op (mask, unroute, unmask) on every touched vector whose host
 * @bit goes @on; counted in @c. A backend without the op needs none. */
static inline int stage_each(struct libmsix_dev *dev, struct flush *f,
		      int (*op)(struct libmsix_backend *, uint32_t),
		      uint8_t bit, bool on, _Atomic uint64_t *c)
{
	if (!op)
		return 0;
	FOR_FLUSH(dev, f, v) {
		int err;

		if (!goes(&dev->vec[v], bit, on))
			continue;
		f->staged = true;
		err = op(dev->be, v);
		count_op(dev, c, err);
		if (err < 0)
			return err;
	}
	return 0;
}

/*
 * Stage the host vectors that come and go: runs of alloc and release
 * where the backend resizes live, else the prefix's one change (it only
 * grows while enabled, and goes on disable).
 */
static int stage_host_vectors(struct libmsix_dev *dev, struct flush *f)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;
	int err = 0;

	if (live_resize(dev)) {
		/* Out of line: a local flag, so that *f stays in registers. */
		bool staged = false;

		err = stage_runs(dev, f->lo, f->hi, false, &staged);
		if (!err)
			err = stage_runs(dev, f->lo, f->hi, true, &staged);
		f->staged |= staged;
	} else if (f->new_prefix != dev->prefix) {
		if (f->new_prefix == 0 && ops->release) {
			f->staged = true;
			err = ops->release(dev->be, 0, dev->prefix);
			count_op(dev, &dev->cnt.be_release, err);
		} else if (f->new_prefix > 0 && ops->alloc) {
			f->staged = true;
			err = ops->alloc(dev->be, dev->prefix,
					 f->new_prefix - dev->prefix);
			count_op(dev, &dev->cnt.be_alloc, err);
		}
	}
	return err < 0 ? err : 0;
}

/* Stage the routes that are due (needs_route()), with the table's message. */
static int stage_routes(struct libmsix_dev *dev, struct flush *f)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;
	struct libmsix_msg msg;

	if (!ops->route)
		return 0;
	FOR_FLUSH(dev, f, v) {
		int err;

		if (!needs_route(&dev->vec[v]))
			continue;
		f->staged = true;
		lmx_entry_msg(&dev->vec[v], &msg);
		err = ops->route(dev->be, v, &msg);
		count_op(dev, &dev->cnt.be_route, err);
		if (err < 0)
			return err;
	}
	return 0;
}

/*
 * Stage the per-vector ops in the contract's order (struct
 * libmsix_backend_ops): masks, unroutes, host vectors, routes, unmasks.
 * Return: 0, or the first op's -errno (the rest is not staged).
 */
static int stage(struct libmsix_dev *dev, struct flush *f)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;
	int err;

	err = stage_each(dev, f, ops->mask, H_UNMASKED, false,
			 &dev->cnt.be_mask);
	if (!err)
		err = stage_each(dev, f, ops->unroute, H_ROUTED, false,
				 &dev->cnt.be_unroute);
	if (!err)
		err = stage_host_vectors(dev, f);
	if (!err)
		err = stage_routes(dev, f);
	if (!err)
		err = stage_each(dev, f, ops->unmask, H_UNMASKED, true,
				 &dev->cnt.be_unmask);
	return err;
}

/*
 * A vector goes live: first collect what the host caught while it was
 * masked, then clear V_BLOCKED and the pending bit in one atomic step, so a
 * racing notify either latched before (we deliver it here) or sees the
 * vector live (it delivers itself): never both, never neither (R35, R42).
 */
static void unblock(struct libmsix_dev *dev, uint32_t v)
{
	struct vec *e = &dev->vec[v];
	uint32_t old;

	if (be_has_poll(dev))
		lmx_poll_into_pba(dev, v);
	/*
	 * Going live also advances the message's sequence count by a whole
	 * section (model.c, msg_guarded()): a notify that read the message
	 * before a mask, a write of the masked entry and this unmask must not
	 * find its state word unchanged.
	 */
	old = state_load(e);
	while (!atomic_compare_exchange_weak_explicit(
		&e->state, &old,
		(old & ~(V_BLOCKED | V_DROP | V_PENDING)) + 2 * V_SEQ_ONE,
		memory_order_acq_rel, memory_order_acquire))
		;
	if ((old & V_PENDING) && lmx_deliver(dev, v, e) == 0)
		cnt_inc(&dev->cnt.replayed);
}

static void fault(struct libmsix_dev *dev, uint32_t v, int err)
{
	struct vec *e = &dev->vec[v];

	e->host |= H_FAULT;
	cnt_inc_locked(&dev->cnt.faults);
	lmx_dev_log(dev, LK_FAULT, LOG_ERR,
		"vector %u stays blocked: the backend said: %s", v,
		LMX_ERRSTR(err));
	if (dev->cfg.fault)
		dev->cfg.fault(dev->cfg.opaque, v, err);
}

static void set_host_count(struct libmsix_dev *dev, uint32_t count)
{
	dev->host_count = count;
	if (count > dev->host_peak)
		dev->host_peak = count;
}

/*
 * After a disruptive re-enable (NORESIZE growth), replay every vector that
 * was live across it: the host had MSI-X off for a moment, and a spurious
 * interrupt is allowed where a lost one is not. Runs after the commit,
 * before the host bits of the transaction are applied. It reads the Mask
 * bits of untouched vectors; no vector of a backend without live resize is
 * ever V_SETTLED, so none of them changes under it.
 */
static void replay_live(struct libmsix_dev *dev, uint32_t old_prefix)
{
	for (uint32_t v = 0; v < old_prefix; v++) {
		struct vec *e = &dev->vec[v];
		bool stays = !bit_test(dev->touched, (int)v) ||
			     (e->want & H_UNMASKED);
		uint32_t target = target_state(dev, e);

		if (!(e->host & H_UNMASKED) || !stays)
			continue;
		/*
		 * A rolled-back commit can leave the host unmasked under a
		 * vector the guest has since masked or dropped: what the
		 * disruption may have lost latches there (R34), or goes.
		 */
		if (target == V_BLOCKED)
			atomic_fetch_or_explicit(&e->state, V_PENDING,
						 memory_order_acq_rel);
		else if (target == 0 && lmx_deliver(dev, v, e) == 0)
			cnt_inc_locked(&dev->cnt.spurious_replays);
	}
}

/*
 * Close what staging opened (@err: how it ended): the host's MSI-X Enable
 * follows the guest's (ops->enable), then one commit if anything was staged.
 * On any failure the backend discards everything staged (abort) and the
 * caller rolls back.
 */
static int commit(struct libmsix_dev *dev, bool staged, int err)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;

	if (!err && dev->enable != dev->host_enable && has_enable_op(dev)) {
		staged = true;
		err = ops->enable(dev->be, dev->enable);
		if (err < 0)
			cnt_inc_locked(&dev->cnt.be_errors);
	}
	if (!err && staged && ops->commit) {
		err = ops->commit(dev->be);
		count_op(dev, &dev->cnt.be_commit, err);
	}
	if (err < 0) {
		if (ops->abort)
			ops->abort(dev->be);
		lmx_dev_log(dev, LK_BACKEND, LOG_ERR,
			"backend refused a commit (%s); rolled back",
			LMX_ERRSTR(err));
		return err;
	}
	if (has_enable_op(dev))
		dev->host_enable = dev->enable;
	return 0;
}

/*
 * After a failed commit, vector @v keeps its committed host state; one the
 * guest wants live stays blocked, so its interrupts latch, and faults.
 */
static void roll_back(struct libmsix_dev *dev, uint32_t v, int err)
{
	struct vec *e = &dev->vec[v];

	bit_clear(dev->touched, (int)v);
	if (target_state(dev, e) == 0 &&
	    (state_load(e) & (V_BLOCKED | V_DROP))) {
		atomic_fetch_or_explicit(&e->state, V_BLOCKED,
					 memory_order_acq_rel);
		atomic_fetch_and_explicit(&e->state, ~V_DROP,
					  memory_order_acq_rel);
		fault(dev, v, err);
	}
}

/*
 * After a successful commit, vector @v's host state is what it wanted; a
 * refused one faults, and one that is live at last goes live in libmsix --
 * and is V_SETTLED where the backend lets a mask skip the engine.
 */
static void settle(struct libmsix_dev *dev, uint32_t v)
{
	struct vec *e = &dev->vec[v];
	uint8_t was = e->host;
	bool routed_now = needs_route(e);

	bit_clear(dev->touched, (int)v);
	e->host = e->want & (H_ALLOC | H_ROUTED | H_UNMASKED);
	if ((was & H_MSG_DIRTY) && !routed_now)
		e->host |= H_MSG_DIRTY;
	if (e->want & H_FAULT) {
		atomic_fetch_or_explicit(&e->state, V_BLOCKED,
					 memory_order_acq_rel);
		atomic_fetch_and_explicit(&e->state, ~V_DROP,
					  memory_order_acq_rel);
		fault(dev, v, -ENOSPC);
		return;
	}
	if (!(e->host & H_UNMASKED) || target_state(dev, e) != 0)
		return;
	if (state_load(e) & (V_BLOCKED | V_DROP))
		unblock(dev, v);
	if (dev->quick_mask)
		atomic_fetch_or_explicit(&e->state, V_SETTLED,
					 memory_order_acq_rel);
}

/* Step 1: take the touched span and decide what each vector wants. */
static void plan_wants(struct libmsix_dev *dev, struct flush *f)
{
	*f = (struct flush){
		.lo = dev->span.lo,
		.hi = dev->span.hi,
		.old_prefix = dev->prefix,
		.count = dev->host_count,
	};
	lmx_span_clear(&dev->span, dev->n);
	FOR_FLUSH(dev, f, v) {
		struct vec *e = &dev->vec[v];

		e->want = decide(dev, e);
		if (e->want & H_ALLOC)
			f->need = v + 1;
		if ((e->host & H_ALLOC) && !(e->want & H_ALLOC))
			f->releases++;
	}
}

/* A vector that wanted a host vector and gets none: it faults if it was
 * to go live, else it simply holds nothing. */
static void refuse(struct flush *f, struct vec *e)
{
	e->want = (e->want & H_UNMASKED) ? H_FAULT : 0;
	f->nospc = -ENOSPC;
}

/* Step 2, live resize: vectors beyond the budget cannot go live. */
static void plan_budget(struct libmsix_dev *dev, struct flush *f)
{
	f->count -= f->releases;
	FOR_FLUSH(dev, f, v) {
		struct vec *e = &dev->vec[v];

		if (!goes(e, H_ALLOC, true))
			continue;
		if (f->count < budget(dev))
			f->count++;
		else
			refuse(f, e);
	}
	f->new_prefix = 0;
}

/* Add vector @v to this flush, wanting @want, unless it is in already. */
static void add_vector(struct libmsix_dev *dev, uint32_t v, uint8_t want)
{
	if (!bit_test(dev->touched, (int)v)) {
		bit_set(dev->touched, (int)v);
		dev->vec[v].want = want;
	}
}

/*
 * Releasing the prefix releases every host vector in it, so each must be
 * masked and unrouted first -- also one that a rolled-back disable left
 * out of this transaction: the whole old prefix joins the flush.
 */
static void release_prefix(struct libmsix_dev *dev, struct flush *f)
{
	for (uint32_t v = 0; v < f->old_prefix; v++)
		add_vector(dev, v, decide(dev, &dev->vec[v]));
	f->lo = 0;
	f->hi = f->hi > f->old_prefix ? f->hi : f->old_prefix;
}

/* The vectors a grown prefix covers hold host vectors too. */
static void grow_into_prefix(struct libmsix_dev *dev, struct flush *f)
{
	for (uint32_t v = f->old_prefix; v < f->new_prefix; v++) {
		add_vector(dev, v, dev->vec[v].host);
		dev->vec[v].want |= H_ALLOC;
	}
	f->lo = f->lo < f->old_prefix ? f->lo : f->old_prefix;
	f->hi = f->hi > f->new_prefix ? f->hi : f->new_prefix;
}

/*
 * Step 2, no live resize: the prefix [0, new_prefix) held after the
 * commit (grow_prefix()); a vector beyond it gets no host vector.
 */
static void plan_prefix(struct libmsix_dev *dev, struct flush *f)
{
	f->new_prefix = grow_prefix(dev, f->need);
	f->disruptive = f->old_prefix > 0 && f->new_prefix > f->old_prefix;
	if (f->new_prefix < f->old_prefix)
		release_prefix(dev, f);
	else if (f->new_prefix > f->old_prefix)
		grow_into_prefix(dev, f);
	FOR_FLUSH(dev, f, v) {
		if (v >= f->new_prefix && (dev->vec[v].want & H_ALLOC))
			refuse(f, &dev->vec[v]);
	}
	f->count = f->new_prefix;
}

/* Step 3, live resize: alloc_each() may have refused some vectors while
 * staging; count what will be held. */
static void count_held(struct libmsix_dev *dev, struct flush *f)
{
	f->count = dev->host_count;
	FOR_FLUSH(dev, f, v) {
		struct vec *e = &dev->vec[v];

		if (goes(e, H_ALLOC, true))
			f->count++;
		else if (goes(e, H_ALLOC, false))
			f->count--;
		if (e->want & H_FAULT)
			f->nospc = -ENOSPC;
	}
}

/* Step 5: the commit held; every touched vector takes its new state. */
static void finish(struct libmsix_dev *dev, struct flush *f)
{
	if (f->disruptive) {
		cnt_inc_locked(&dev->cnt.disruptive_reenables);
		replay_live(dev, f->old_prefix);
	}
	dev->prefix = f->new_prefix;
	set_host_count(dev, f->count);
	FOR_FLUSH(dev, f, v)
		settle(dev, v);
}

/*
 * Apply the host work of every touched vector: at most one commit. Called
 * by lmx_engine_tx_end() when the outermost transaction ends. Return: 0;
 * -ENOSPC when some vector got no host vector (it faulted, the rest went
 * ahead); the backend's -errno when the commit failed (all rolled back).
 */
int lmx_engine_flush(struct libmsix_dev *dev)
{
	struct flush f;
	int err;

	if (lmx_span_empty(&dev->span))
		return 0;
	plan_wants(dev, &f);
	if (live_resize(dev))
		plan_budget(dev, &f);
	else
		plan_prefix(dev, &f);
	err = stage(dev, &f);
	if (!err && live_resize(dev))
		count_held(dev, &f);
	err = commit(dev, f.staged, err);
	if (err < 0) {
		FOR_FLUSH(dev, &f, v)
			roll_back(dev, v, err);
		return err;
	}
	finish(dev, &f);
	return f.nospc;
}

/*
 * The guest's MSI-X Enable becomes @on (a Message Control write, or a
 * snapshot restored). On the 0 -> 1 edge: choose the policy for this
 * enable, and tell the VMM to turn INTx off (MSI-X and INTx are exclusive:
 * R13, §6.1.4.3).
 */
void lmx_engine_set_enable(struct libmsix_dev *dev, bool on)
{
	bool edge = on && !dev->enable;

	dev->enable = on;
	if (!edge)
		return;
	dev->policy = resolve_policy(dev);
	if (dev->cfg.intx)
		dev->cfg.intx(dev->cfg.opaque);
}

int libmsix_begin(struct libmsix_dev *dev)
{
	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	if (dev->tx_depth >= 255) {
		lmx_dev_unlock(dev);
		return -EDEADLK;
	}
	lmx_engine_tx_begin(dev);
	if (atomic_load_explicit(&dev->vmm_depth, memory_order_relaxed) == 0)
		atomic_store_explicit(&dev->tx_owner, lmx_thread_id(),
				      memory_order_relaxed);
	atomic_fetch_add_explicit(&dev->vmm_depth, 1, memory_order_release);
	return 0; /* the lock stays held until commit */
}

/*
 * The calling thread has a transaction open. Without the lock: only that
 * thread changes the answer for itself, and any other thread gets false
 * whatever the owner is doing.
 */
static bool own_transaction(struct libmsix_dev *dev)
{
	return atomic_load_explicit(&dev->vmm_depth, memory_order_acquire) &&
	       atomic_load_explicit(&dev->tx_owner, memory_order_relaxed) ==
		       lmx_thread_id();
}


int libmsix_commit(struct libmsix_dev *dev)
{
	int err;

	if (!dev)
		return -EINVAL;
	/* Waiting for the lock would wait for ever where another thread's
	 * transaction holds it. */
	if (!own_transaction(dev))
		return -EPERM;
	lmx_dev_lock(dev);
	atomic_fetch_sub_explicit(&dev->vmm_depth, 1, memory_order_release);
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev); /* the lock libmsix_begin() took */
	lmx_dev_unlock(dev);
	return err;
}

int libmsix_retry(struct libmsix_dev *dev)
{
	int err;

	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	/*
	 * Every vector, not only the faulted ones: a rolled-back commit also
	 * leaves a host vector unmasked under a guest mask (R34), a released
	 * or disabled one held, or a preallocation missing. Vectors already
	 * where they should be stage nothing.
	 */
	for (uint32_t v = 0; v < dev->n; v++)
		dev->vec[v].host &= (uint8_t)~H_FAULT;
	lmx_engine_touch_all(dev);
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}

static int use_locked(struct libmsix_dev *dev, uint32_t v, int delta)
{
	struct vec *e = &dev->vec[v];

	if (delta > 0 && e->use == UINT16_MAX)
		return -EOVERFLOW;
	if (delta < 0 && e->use == 0)
		return lmx_einval(dev, "libmsix_vector_unuse(): vector %u: its use count is already 0",
				  v);
	e->use = (uint16_t)(e->use + delta);
	if (e->use <= 1)
		lmx_engine_touch(dev, v);
	return 0;
}

static int use_change(struct libmsix_dev *dev, uint32_t v, int delta)
{
	int err, err2;

	if (!dev)
		return -EINVAL;
	if (v >= dev->n)
		return lmx_bad_vector(dev,
				      delta > 0 ? "libmsix_vector_use"
						: "libmsix_vector_unuse",
				      v);
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	err = use_locked(dev, v, delta);
	err2 = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err ? err : err2;
}

int libmsix_vector_use(struct libmsix_dev *dev, uint32_t vector)
{
	return use_change(dev, vector, 1);
}

int libmsix_vector_unuse(struct libmsix_dev *dev, uint32_t vector)
{
	return use_change(dev, vector, -1);
}

int libmsix_vector_use_all(struct libmsix_dev *dev)
{
	int err;

	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	for (uint32_t v = 0; v < dev->n; v++) {
		if (dev->vec[v].use == UINT16_MAX) {
			lmx_dev_unlock(dev);
			return -EOVERFLOW;
		}
	}
	lmx_engine_tx_begin(dev);
	for (uint32_t v = 0; v < dev->n; v++)
		use_locked(dev, v, 1);
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}

int libmsix_vector_unuse_all(struct libmsix_dev *dev)
{
	int err;

	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	for (uint32_t v = 0; v < dev->n; v++) {
		if (dev->vec[v].use) {
			dev->vec[v].use = 0;
			lmx_engine_touch(dev, v);
		}
	}
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}
