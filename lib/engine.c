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

/* Stage [start, start + count) runs of vectors whose @bit goes @on. */
static int stage_runs(struct libmsix_dev *dev, uint32_t lo, uint32_t hi,
		      bool on, bool *staged)
{
	const struct libmsix_backend_ops *ops = dev->be->ops;
	int (*op)(struct libmsix_backend *, uint32_t, uint32_t) =
		on ? ops->alloc : ops->release;
	_Atomic uint64_t *c = on ? &dev->cnt.be_alloc : &dev->cnt.be_release;
	uint32_t v = lo;

	while (v < hi) {
		uint32_t start;
		int err;

#define CHANGES(x)                                                  \
	(bit_test(dev->touched, (int)(x)) &&                        \
	 !!(dev->vec[x].want & H_ALLOC) == on &&                    \
	 !!(dev->vec[x].host & H_ALLOC) != on)
		if (!CHANGES(v)) {
			v++;
			continue;
		}
		start = v;
		while (v < hi && CHANGES(v))
			v++;
#undef CHANGES
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

/* Stage the per-vector ops in the contract's order. */
static int stage(struct libmsix_dev *dev, uint32_t lo, uint32_t hi,
		 uint32_t new_prefix, bool *staged)
{
	struct libmsix_backend *be = dev->be;
	const struct libmsix_backend_ops *ops = be->ops;
	struct libmsix_msg msg;
	int err = 0;

	FOR_TOUCHED(dev, v, lo, hi) {
		struct vec *e = &dev->vec[v];

		if ((e->host & H_UNMASKED) && !(e->want & H_UNMASKED)) {
			if (ops->mask) {
				*staged = true;
				err = ops->mask(be, v);
				count_op(dev, &dev->cnt.be_mask, err);
				if (err < 0)
					return err;
			}
		}
	}
	FOR_TOUCHED(dev, v, lo, hi) {
		struct vec *e = &dev->vec[v];

		if ((e->host & H_ROUTED) && !(e->want & H_ROUTED)) {
			if (ops->unroute) {
				*staged = true;
				err = ops->unroute(be, v);
				count_op(dev, &dev->cnt.be_unroute, err);
				if (err < 0)
					return err;
			}
		}
	}
	if (live_resize(dev)) {
		err = stage_runs(dev, lo, hi, false, staged);
		if (!err)
			err = stage_runs(dev, lo, hi, true, staged);
	} else if (new_prefix != dev->prefix) {
		/* The prefix only grows while enabled, and goes on disable. */
		if (new_prefix == 0 && ops->release) {
			*staged = true;
			err = ops->release(be, 0, dev->prefix);
			count_op(dev, &dev->cnt.be_release, err);
		} else if (new_prefix > 0 && ops->alloc) {
			*staged = true;
			err = ops->alloc(be, dev->prefix,
					 new_prefix - dev->prefix);
			count_op(dev, &dev->cnt.be_alloc, err);
		}
	}
	if (err < 0)
		return err;
	FOR_TOUCHED(dev, v, lo, hi) {
		struct vec *e = &dev->vec[v];

		if (!needs_route(e) || !ops->route)
			continue;
		*staged = true;
		lmx_entry_msg(e, &msg);
		err = ops->route(be, v, &msg);
		count_op(dev, &dev->cnt.be_route, err);
		if (err < 0)
			return err;
	}
	FOR_TOUCHED(dev, v, lo, hi) {
		struct vec *e = &dev->vec[v];

		if ((e->want & H_UNMASKED) && !(e->host & H_UNMASKED)) {
			if (ops->unmask) {
				*staged = true;
				err = ops->unmask(be, v);
				count_op(dev, &dev->cnt.be_unmask, err);
				if (err < 0)
					return err;
			}
		}
	}
	return 0;
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
		"vector %u stays blocked: backend error %d", v, err);
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
			"backend refused a commit (%d); rolled back", err);
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

/*
 * Apply the host work of every touched vector: at most one commit. Called
 * by lmx_engine_tx_end() when the outermost transaction ends.
 */
int lmx_engine_flush(struct libmsix_dev *dev)
{
	uint32_t lo = dev->span.lo, hi = dev->span.hi;
	uint32_t need = 0, old_prefix = dev->prefix, new_prefix;
	uint32_t count = dev->host_count, releases = 0;
	bool staged = false, disruptive = false;
	int err = 0, nospc = 0;

	if (lo >= hi)
		return 0;
	lmx_span_clear(&dev->span, dev->n);

	FOR_TOUCHED(dev, v, lo, hi) {
		struct vec *e = &dev->vec[v];

		e->want = decide(dev, e);
		if (e->want & H_ALLOC)
			need = v + 1;
		if ((e->host & H_ALLOC) && !(e->want & H_ALLOC))
			releases++;
	}

	if (live_resize(dev)) {
		/* Budget: vectors beyond it cannot go live; they fault. */
		count -= releases;
		FOR_TOUCHED(dev, v, lo, hi) {
			struct vec *e = &dev->vec[v];

			if (!(e->want & H_ALLOC) || (e->host & H_ALLOC))
				continue;
			if (count < budget(dev)) {
				count++;
				continue;
			}
			if (e->want & H_UNMASKED)
				e->want = H_FAULT;
			else
				e->want = 0;
			nospc = -ENOSPC;
		}
		new_prefix = 0;
	} else {
		new_prefix = grow_prefix(dev, need);
		disruptive = old_prefix > 0 && new_prefix > old_prefix;
		/*
		 * Releasing the prefix releases every host vector in it, so
		 * each must be masked and unrouted first -- also one that a
		 * rolled-back disable left out of this transaction.
		 */
		if (new_prefix < old_prefix) {
			for (uint32_t v = 0; v < old_prefix; v++) {
				if (!bit_test(dev->touched, (int)v)) {
					bit_set(dev->touched, (int)v);
					dev->vec[v].want =
						decide(dev, &dev->vec[v]);
				}
			}
			lo = 0;
			hi = hi > old_prefix ? hi : old_prefix;
		}
		/* Vectors the grown prefix covers hold host vectors too. */
		for (uint32_t v = old_prefix; v < new_prefix; v++) {
			if (!bit_test(dev->touched, (int)v)) {
				bit_set(dev->touched, (int)v);
				dev->vec[v].want = dev->vec[v].host;
			}
			dev->vec[v].want |= H_ALLOC;
		}
		if (new_prefix > old_prefix) {
			lo = lo < old_prefix ? lo : old_prefix;
			hi = hi > new_prefix ? hi : new_prefix;
		}
		FOR_TOUCHED(dev, v, lo, hi) {
			struct vec *e = &dev->vec[v];

			if (v < new_prefix || !(e->want & H_ALLOC))
				continue;
			e->want = (e->want & H_UNMASKED) ? H_FAULT : 0;
			nospc = -ENOSPC;
		}
		count = new_prefix;
	}

	err = stage(dev, lo, hi, new_prefix, &staged);
	if (!err && live_resize(dev)) {
		/* alloc_each() may have refused some: count what is held. */
		count = dev->host_count;
		FOR_TOUCHED(dev, v, lo, hi) {
			struct vec *e = &dev->vec[v];

			if ((e->want & H_ALLOC) && !(e->host & H_ALLOC))
				count++;
			else if (!(e->want & H_ALLOC) && (e->host & H_ALLOC))
				count--;
			if (e->want & H_FAULT)
				nospc = -ENOSPC;
		}
	}
	err = commit(dev, staged, err);
	if (err < 0) {
		FOR_TOUCHED(dev, v, lo, hi)
			roll_back(dev, v, err);
		return err;
	}

	if (disruptive) {
		cnt_inc_locked(&dev->cnt.disruptive_reenables);
		replay_live(dev, old_prefix);
	}
	dev->prefix = new_prefix;
	set_host_count(dev, count);
	FOR_TOUCHED(dev, v, lo, hi)
		settle(dev, v);
	return nospc;
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
		return -EINVAL;
	e->use = (uint16_t)(e->use + delta);
	if (e->use <= 1)
		lmx_engine_touch(dev, v);
	return 0;
}

static int use_change(struct libmsix_dev *dev, uint32_t v, int delta)
{
	int err, err2;

	if (!dev || v >= dev->n)
		return -EINVAL;
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
