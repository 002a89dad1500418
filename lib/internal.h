/* SPDX-License-Identifier: MIT */
/*
 * Private state of a libmsix device. Three layers, kept apart:
 *
 *   guest layer   struct vec_entry words + dev->msgctl: what the guest wrote.
 *   effective     struct vec.state: V_DROP / V_BLOCKED / live, V_PENDING.
 *                 The only word the lock-free hot path looks at.
 *   host layer    struct vec.host (H_*): what the engine believes the backend
 *                 holds for the vector after the last successful commit, and
 *                 vec.want (H_*): what the current transaction asks for.
 */
#ifndef LIBMSIX_INTERNAL_H
#define LIBMSIX_INTERNAL_H

#include <bsd/bitstring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/pci_regs.h>

#include "libmsix.h"
#include "util.h"

/*
 * The core's files call one way: model.c (guest accesses, notify),
 * device.c (lifetime, introspection) and snapshot.c call engine.c (the
 * lifecycle), and everything calls log.c. engine.c calls none of them:
 * what it needs of a vector's state (its message, a replay) is inline
 * here, with the state.
 *
 * Functions shared between the library's files are prefixed lmx_: libmsix.a
 * is linked into VMMs statically, and a generic name such as deliver() or
 * dev_lock() would clash with the VMM's own.
 */

/*
 * vec.state bits. Writers of BLOCKED/DROP/MASKBIT/SETTLED hold the device
 * lock, except the Vector Control write of a SETTLED vector (model.c,
 * vector_control_quick()), which flips MASKBIT and BLOCKED with one CAS
 * and no lock. PENDING is set lock-free by notify and cleared by
 * unmask/clear_pending; the sequence count (bits 8..31, odd while a table
 * write is in progress) lets notify read a message without a lock and
 * without tearing (R27).
 */
#define V_PENDING 0x1u	/* the PBA bit */
#define V_BLOCKED 0x2u	/* a notify must latch, not deliver */
#define V_DROP 0x4u	/* MSI-X disabled or vector unused: drop */
#define V_MASKBIT 0x8u	/* Vector Control's Mask bit as the guest wrote it */
/*
 * The vector is live, and masking or unmasking it needs nothing from the
 * engine: the backend has no per-vector op that a mask could call
 * (dev->quick_mask) and nothing else blocks it. Set by settle() when a
 * vector goes live; cleared by lmx_engine_touch(), which every change of a
 * vector's engine state begins with, so that from then on the lock holder
 * is the only writer of the mask bit.
 */
#define V_SETTLED 0x10u
#define V_SEQ_ONE 0x100u

/* vec.host / vec.want bits; the first three match LIBMSIX_HOST_*. */
#define H_ALLOC LIBMSIX_HOST_ALLOCATED
#define H_ROUTED LIBMSIX_HOST_ROUTED
#define H_UNMASKED LIBMSIX_HOST_UNMASKED
#define H_FAULT LIBMSIX_HOST_FAULT
#define H_MSG_DIRTY 0x10u /* the entry's message changed since routed */

/*
 * One vector: 20 bytes. The guest's table entry is the three message words
 * and, for Vector Control (only the Mask bit is stored: R18, R19),
 * V_MASKBIT of the state word.
 */
struct vec {
	_Atomic uint32_t state;
	_Atomic uint32_t addr_lo;
	_Atomic uint32_t addr_hi;
	_Atomic uint32_t data;
	uint16_t use;
	uint8_t host;	/* H_*: committed host state, engine's view */
	uint8_t want;	/* H_*: scratch for the transaction being flushed */
};

/* Log kinds that a guest can trigger; each is rate-limited on its own. */
enum log_kind {
	LK_BAD_TABLE_ACCESS,
	LK_PBA_WRITE,
	LK_BACKEND,
	LK_FAULT,
	LK_OTHER,
	LK_API,		/* a VMM's call broke a rule: may come in a loop */
	LK_COUNT,
};

/*
 * What notify counts, sharded by vector: device threads raising different
 * vectors would otherwise bounce one cache line between their cores (two
 * threads: 24 ns per notify instead of 8, bench/bench_msix.c). The gaps
 * keep every shard's counters at least a line away from the next shard's
 * and from the fields around the array, whatever the allocation's
 * alignment.
 */
#define HOT_SHARDS 16u
struct hot_counters {
	char gap[96];
	_Atomic uint64_t delivered, latched, dropped, deliver_errors;
};

/* replayed and bad_accesses also count outside the lock (cnt_inc()); the
 * rest only under it (cnt_inc_locked()). */
struct counters {
	_Atomic uint64_t replayed;
	_Atomic uint64_t spurious_replays, disruptive_reenables;
	_Atomic uint64_t be_alloc, be_release, be_route, be_unroute;
	_Atomic uint64_t be_mask, be_unmask, be_commit, be_errors;
	_Atomic uint64_t faults, bad_accesses, alloc_splits;
};

struct libmsix_dev {
	struct libmsix_config cfg;
	struct libmsix_backend *be;
	uint32_t n;		/* N */
	uint32_t table_size;	/* 16 * N bytes */
	uint32_t pba_size;	/* 8 * ceil(N / 64) bytes */

	pthread_mutex_t lock;	/* recursive; guards everything below */

	/* Guest-written Message Control bits 15:14 and Bus Master Enable. */
	bool enable;
	bool fmask;
	bool bme;

	/* Lifecycle engine (engine.c). */
	enum libmsix_policy policy;	/* resolved at MSI-X enable */
	uint32_t host_count;		/* host vectors held */
	uint32_t host_peak;
	uint32_t prefix;		/* without live resize: held [0, prefix) */
	bool host_enable;		/* MSI-X Enable the backend last committed */
	bool quick_mask;		/* V_SETTLED may be set (see there) */
	unsigned tx_depth;
	/*
	 * libmsix_begin()s not yet committed, and the thread that made them
	 * (lmx_thread_id()). Atomic so that libmsix_commit() and
	 * libmsix_dev_destroy() can check them without the lock, which the
	 * owner of a transaction holds.
	 */
	_Atomic unsigned vmm_depth;
	_Atomic uintptr_t tx_owner;
	struct lmx_span span;	/* [lo, hi) holding the touched vectors */
	bitstr_t *touched;

	/* Rate-limited log (device.c). */
	uint64_t log_count[LK_COUNT];
	uintptr_t api_key;	/* the mistake lmx_einval() logged last */

	struct counters cnt;
	struct hot_counters hot[HOT_SHARDS];
	char hot_end[96];
	struct vec vec[];
};

/* device.c */
void lmx_cfg_log(const struct libmsix_config *cfg, int level, const char *fmt,
	     ...) LIBMSIX_PRINTF(3, 4);
void lmx_dev_log(struct libmsix_dev *dev, enum log_kind kind, int level,
	     const char *fmt, ...) LIBMSIX_PRINTF(4, 5);
/*
 * A call on @dev broke a rule: log "libmsix: <fmt>", which names the
 * argument and the rule (rate-limited), and return -EINVAL. Takes the
 * device lock for the log, so any thread may call it, the lock-free hot
 * path included (on its error path only).
 */
int lmx_einval(struct libmsix_dev *dev, const char *fmt, ...)
	LIBMSIX_PRINTF(2, 3);
/* The same, rate-limited as one mistake by @key instead of @fmt. */
int lmx_einval_key(struct libmsix_dev *dev, uintptr_t key, const char *fmt,
		   ...) LIBMSIX_PRINTF(3, 4);
/* lmx_einval() for a @vector outside the table, in a call named @fn. */
int lmx_bad_vector(struct libmsix_dev *dev, const char *fn, uint32_t vector);

/* engine.c: all with the device lock held. */
void lmx_engine_touch(struct libmsix_dev *dev, uint32_t v);
void lmx_engine_set_mask(struct libmsix_dev *dev, uint32_t v, bool masked);
void lmx_engine_touch_all(struct libmsix_dev *dev);
int lmx_engine_flush(struct libmsix_dev *dev);
void lmx_engine_set_enable(struct libmsix_dev *dev, bool on);

/*
 * A libmsix_begin() is open, on some thread; any thread, no lock. Exact
 * for the thread that made it; for any other thread a racing answer is
 * as if its call came just before the begin or just after the commit.
 */
static inline bool lmx_transaction_open(struct libmsix_dev *dev)
{
	return atomic_load_explicit(&dev->vmm_depth, memory_order_relaxed);
}

/* A token unique to the calling thread while it lives. */
static inline uintptr_t lmx_thread_id(void)
{
	static _Thread_local char token;

	return (uintptr_t)&token;
}

/* The device lock: recursive, for the VMM's calls inside begin/commit. */
static inline void lmx_dev_lock(struct libmsix_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
}

static inline void lmx_dev_unlock(struct libmsix_dev *dev)
{
	pthread_mutex_unlock(&dev->lock);
}

/*
 * Every entry point brackets its work in a transaction; the outermost end
 * flushes what was touched. Never fails to begin: entry points nest inside
 * whatever the VMM opened and do not check (the limit is libmsix_begin()'s).
 * Inline, because a table write that touched nothing must stay cheap.
 */
static inline void lmx_engine_tx_begin(struct libmsix_dev *dev)
{
	dev->tx_depth++;
}

static inline int lmx_engine_tx_end(struct libmsix_dev *dev)
{
	if (--dev->tx_depth > 0 || lmx_span_empty(&dev->span))
		return 0;
	return lmx_engine_flush(dev);
}

static inline uint32_t state_load(const struct vec *e)
{
	return atomic_load_explicit(&e->state, memory_order_acquire);
}

/* Vector Control as the guest reads it (R18, R19: only the Mask bit). */
static inline uint32_t vector_control(const struct vec *e)
{
	return (state_load(e) & V_MASKBIT) ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}

/*
 * Store the guest's Mask bit, the lock held, where a vector is touched
 * later (reset, restore); a Vector Control write uses
 * lmx_engine_set_mask(). Ends V_SETTLED in the same step, so that no
 * lock-free Vector Control write (model.c) can follow it.
 */
static inline void lmx_store_mask(struct vec *e, bool masked)
{
	uint32_t s = state_load(e), n;

	do
		n = (s & ~(V_SETTLED | V_MASKBIT)) | (masked ? V_MASKBIT : 0);
	while (!atomic_compare_exchange_weak_explicit(
		&e->state, &s, n, memory_order_acq_rel, memory_order_acquire));
}

static inline struct hot_counters *hot(struct libmsix_dev *dev, uint32_t v)
{
	return &dev->hot[v % HOT_SHARDS];
}

/*
 * A vector's message, with the state it is read from: the engine (routes,
 * replays), the model (notify, which reads it lock-free under the sequence
 * count, model.c) and introspection all read it this way.
 */
static inline void lmx_msg_from_words(uint32_t lo, uint32_t hi, uint32_t data,
				      struct libmsix_msg *msg)
{
	msg->address = (uint64_t)hi << 32 | lo;
	msg->data = data;
}

/* Read the message of @e; caller holds the device lock (no writer runs). */
static inline void lmx_entry_msg(const struct vec *e, struct libmsix_msg *msg)
{
	lmx_msg_from_words(
		atomic_load_explicit(&e->addr_lo, memory_order_relaxed),
		atomic_load_explicit(&e->addr_hi, memory_order_relaxed),
		atomic_load_explicit(&e->data, memory_order_relaxed), msg);
}

/*
 * Hand @msg of vector @v (entry @e) to the backend's deliver op. A refusal
 * keeps the interrupt: the pending bit is set again (it is replayed at the
 * next unmask or retry) and counted. Returns deliver's result.
 */
static inline int lmx_send(struct libmsix_dev *dev, uint32_t v, struct vec *e,
			   const struct libmsix_msg *msg)
{
	int err = dev->be->ops->deliver(dev->be, v, msg);

	if (err < 0) {
		atomic_fetch_or_explicit(&e->state, V_PENDING,
					 memory_order_acq_rel);
		cnt_inc(&hot(dev, v)->deliver_errors);
	}
	return err;
}

/* Send @e's message through the backend (lock held: a replay); on failure
 * latch the pending bit and count it. Return: the deliver op's result. */
static inline int lmx_deliver(struct libmsix_dev *dev, uint32_t v,
			      struct vec *e)
{
	struct libmsix_msg msg;

	lmx_entry_msg(e, &msg);
	return lmx_send(dev, v, e, &msg);
}

/*
 * A counter that only lock holders write: a plain increment, no locked
 * instruction. Readers (libmsix_get_stats()) still load it atomically.
 */
static inline void cnt_inc_locked(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/*
 * The backend can add or remove a host vector while others stay live. One
 * with no alloc op holds no host vectors, so there is nothing to resize:
 * reading its LIBMSIX_BE_NORESIZE would only buy disruptive re-enables and
 * spurious replays of an emulated device that never needed them.
 */
static inline bool lmx_live_resize(const struct libmsix_backend *be)
{
	return !(be->flags & LIBMSIX_BE_NORESIZE) || !be->ops->alloc;
}

/*
 * The backend has a poll op. One built against a header older than poll
 * ends its ops table before the member (its ops->size says so, and
 * libmsix_dev_create() accepts it): reading the slot would read past it.
 */
static inline bool be_has_poll(const struct libmsix_dev *dev)
{
	return LMX_OP(dev->be->ops, struct libmsix_backend_ops, poll) != NULL;
}

/*
 * Ask the backend whether the host caught an interrupt for vector @v while
 * libmsix was not delivering it (e.g. on a VFIO mask eventfd), and latch it
 * as the pending bit: the PBA stays exact when interrupts bypass libmsix.
 * The lock held; be_has_poll(dev) checked by the caller, which also decides
 * which vectors may hold one (blocked ones, or one going live).
 */
static inline void lmx_poll_into_pba(struct libmsix_dev *dev, uint32_t v)
{
	struct vec *e = &dev->vec[v];

	if (!(state_load(e) & V_PENDING) && dev->be->ops->poll(dev->be, v) > 0)
		atomic_fetch_or_explicit(&e->state, V_PENDING,
					 memory_order_acq_rel);
}

#endif /* LIBMSIX_INTERNAL_H */
