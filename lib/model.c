/* SPDX-License-Identifier: MIT */
/*
 * The guest-visible MSI-X model: the capability in config space, the vector
 * table and the PBA (PCIe Base 6.0 §6.1.4, §7.7.2), and the device-side hot
 * path. Every access arrives as (offset, size, value) exactly as a VMM's
 * handler receives it, and is hostile until proven otherwise.
 *
 * Choices where the spec leaves the result undefined (also in libmsix.h):
 *  R15 Message Address bits 1:0 read as 0 (RO).
 *  R19 Vector Control bits 31:1 (reserved and Steering Tag, no TPH) are
 *      RsvdP: they read 0 and writes to them are ignored.
 *  R25 Table/PBA accesses other than aligned DWORD/QWORD: a read that lies
 *      inside one structure returns the bytes it covers, one that straddles
 *      a structure's end returns all ones; such writes are ignored.
 *  R38 Bus Master off blocks delivery; interrupts latch and replay on.
 *  R39 Interrupts while MSI-X is disabled are dropped, not latched.
 *  R41 Address/Data written while the entry is unmasked take effect for
 *      emulated delivery at once (the table is the message) and for backend
 *      routes at the next unmask.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include <linux/pci_regs.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Table entries: writers hold the device lock, readers take no lock.        */
/* ------------------------------------------------------------------------ */

/*
 * The sequence count only guards a live vector's message. While a vector is
 * blocked or dropped no notify reads its message unnoticed: one that began
 * while it was live finds V_BLOCKED or V_DROP on its re-check and retries,
 * and the one way back to live, unblock(), bumps the count, so a mask, write
 * and unmask inside one notify's read window is caught too. Only the lock
 * holder makes a vector live, and writers hold the lock, so the test is
 * stable for the whole write: the common Linux case (program a masked
 * entry) costs no locked instruction here.
 */
static inline bool msg_guarded(const struct vec *e)
{
	uint32_t s = state_load(e);

	/* A V_SETTLED vector can go live without the lock: guard it too. */
	return !(s & (V_BLOCKED | V_DROP)) || (s & V_SETTLED);
}

static inline void seq_write_begin(struct vec *e)
{
	if (!msg_guarded(e))
		return;
	atomic_fetch_add_explicit(&e->state, V_SEQ_ONE, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void seq_write_end(struct vec *e)
{
	if (!(state_load(e) & V_SEQ_ONE))
		return; /* seq_write_begin() did not open a section */
	atomic_fetch_add_explicit(&e->state, V_SEQ_ONE, memory_order_release);
}

/* ------------------------------------------------------------------------ */
/* Device side: the hot path                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Deliver vector @v's message, or latch or drop it as its state says: the
 * lock-free hot path. @replay: a latched interrupt going out on an unmask
 * (counted as replayed, if delivered), not a new one from the device; if
 * the vector was masked again meanwhile, it stays pending uncounted.
 */
static inline int deliver_or_latch(struct libmsix_dev *dev, uint32_t v,
				   bool replay)
{
	struct vec *e = &dev->vec[v];
	struct libmsix_msg msg;
	uint32_t s, s2;
	int err;

	s = state_load(e);
	for (;;) {
		if (s & V_DROP) {
			if (!replay)
				cnt_inc(&hot(dev, v)->dropped);
			return LIBMSIX_DROPPED;
		}
		if (s & V_BLOCKED) {
			/* Triggers coalesce into one pending bit (R34, R36). */
			if ((s & V_PENDING) ||
			    atomic_compare_exchange_weak_explicit(
				    &e->state, &s, s | V_PENDING,
				    memory_order_acq_rel, memory_order_acquire)) {
				if (!replay)
					cnt_inc(&hot(dev, v)->latched);
				return LIBMSIX_LATCHED;
			}
			continue;
		}
		if (s & V_SEQ_ONE) { /* a table write is in progress */
			s = state_load(e);
			continue;
		}
		lmx_msg_from_words(
			atomic_load_explicit(&e->addr_lo, memory_order_relaxed),
			atomic_load_explicit(&e->addr_hi, memory_order_relaxed),
			atomic_load_explicit(&e->data, memory_order_relaxed),
			&msg);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->state, memory_order_relaxed);
		if ((s2 & ~V_PENDING) == (s & ~V_PENDING))
			break;
		s = s2;
	}
	err = lmx_send(dev, v, e, &msg);
	if (err < 0)
		return err;
	cnt_inc(replay ? &dev->cnt.replayed : &hot(dev, v)->delivered);
	return LIBMSIX_DELIVERED;
}

int libmsix_notify(struct libmsix_dev *dev, uint32_t vector)
{
	if (!dev)
		return -EINVAL;
	if (vector >= dev->n)
		return lmx_bad_vector(dev, "libmsix_notify", vector);
	return deliver_or_latch(dev, vector, false);
}

int libmsix_clear_pending(struct libmsix_dev *dev, uint32_t vector)
{
	if (!dev)
		return -EINVAL;
	if (vector >= dev->n)
		return lmx_bad_vector(dev, "libmsix_clear_pending", vector);
	atomic_fetch_and_explicit(&dev->vec[vector].state, ~V_PENDING,
				  memory_order_acq_rel);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Config space: the 12-byte capability                                      */
/* ------------------------------------------------------------------------ */

static uint8_t cap_byte(const struct libmsix_dev *dev, uint32_t i)
{
	uint32_t word;

	switch (i / 4) {
	case 0:
		word = PCI_CAP_ID_MSIX | (uint32_t)dev->cfg.next_cap << 8 |
		       (uint32_t)(dev->n - 1) << 16 |
		       (dev->fmask ? (uint32_t)PCI_MSIX_FLAGS_MASKALL << 16 : 0) |
		       (dev->enable ? (uint32_t)PCI_MSIX_FLAGS_ENABLE << 16 : 0);
		break;
	case 1:
		word = dev->cfg.table_offset | dev->cfg.table_bir;
		break;
	default:
		word = dev->cfg.pba_offset | dev->cfg.pba_bir;
		break;
	}
	return (uint8_t)(word >> (8 * (i % 4)));
}

/* The access size of a config-space call named @fn: 1, 2 or 4. */
static int check_cfg_size(struct libmsix_dev *dev, const char *fn,
			  uint32_t size)
{
	if (size == 1 || size == 2 || size == 4)
		return 0;
	return lmx_einval(dev, "%s(): size %u: a config access is 1, 2 or 4 bytes",
			  fn, size);
}

int libmsix_config_read(struct libmsix_dev *dev, uint32_t offset,
			uint32_t size, uint32_t *val)
{
	uint32_t cap;
	int err;

	if (!dev)
		return -EINVAL;
	if (!val)
		return lmx_einval(dev, "libmsix_config_read(): val is NULL");
	err = check_cfg_size(dev, "libmsix_config_read", size);
	if (err)
		return err;
	cap = dev->cfg.cap_offset;
	lmx_dev_lock(dev);
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = (uint64_t)offset + i;

		if (at < cap || at >= cap + PCI_CAP_MSIX_SIZEOF)
			continue;
		*val &= ~(0xffu << (8 * i));
		*val |= (uint32_t)cap_byte(dev, (uint32_t)(at - cap)) << (8 * i);
	}
	lmx_dev_unlock(dev);
	return 0;
}

int libmsix_config_write(struct libmsix_dev *dev, uint32_t offset,
			 uint32_t size, uint32_t val)
{
	/* Message Control's upper byte: the only byte with writable bits. */
	uint64_t ctl_hi;
	bool enable, fmask;
	uint8_t b;
	int err;

	if (!dev)
		return -EINVAL;
	err = check_cfg_size(dev, "libmsix_config_write", size);
	if (err)
		return err;
	ctl_hi = (uint64_t)dev->cfg.cap_offset + PCI_MSIX_FLAGS + 1;
	/* A write that misses that byte changes nothing (R1, R2, R7). */
	if (ctl_hi < offset || ctl_hi >= (uint64_t)offset + size)
		return 0;
	b = (uint8_t)(val >> (8 * (ctl_hi - offset)));
	enable = b & (PCI_MSIX_FLAGS_ENABLE >> 8);
	fmask = b & (PCI_MSIX_FLAGS_MASKALL >> 8);

	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	if (enable != dev->enable || fmask != dev->fmask) {
		dev->fmask = fmask;
		lmx_engine_set_enable(dev, enable);
		lmx_engine_touch_all(dev);
	}
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}

int libmsix_set_bus_master(struct libmsix_dev *dev, bool on)
{
	int err;

	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	if (dev->bme != on) {
		dev->bme = on;
		lmx_engine_touch_all(dev);
	}
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Table and PBA                                                             */
/* ------------------------------------------------------------------------ */

enum region { R_NONE, R_TABLE, R_PBA, R_STRADDLE };

/*
 * How [offset, offset + size) of BAR @bir meets structure @r, which is at
 * [base, base + len) of BAR @sbir, given what earlier structures gave (@hit).
 * Overflow-safe: base + len < 2^33 and size <= 8.
 */
static inline enum region meet(enum region hit, enum region r, uint32_t sbir,
			       uint32_t base, uint32_t len, uint32_t bir,
			       uint64_t offset, uint32_t size, uint32_t *rel)
{
	uint64_t end = (uint64_t)base + len;

	if (bir != sbir || offset >= end || offset + size <= base)
		return hit;
	if (hit != R_NONE || offset < base || offset + size > end)
		return R_STRADDLE;
	*rel = (uint32_t)(offset - base);
	return r;
}

/*
 * Where [offset, offset + size) of BAR @bir falls. *rel gets the offset into
 * the structure. One range check per structure; the table and PBA may share
 * a BAR or not (V15: never test one without the BIR).
 */
static inline enum region classify(const struct libmsix_dev *dev, uint32_t bir,
			    uint64_t offset, uint32_t size, uint32_t *rel)
{
	enum region hit;

	hit = meet(R_NONE, R_TABLE, dev->cfg.table_bir, dev->cfg.table_offset,
		   dev->table_size, bir, offset, size, rel);
	if (hit == R_STRADDLE)
		return hit;
	return meet(hit, R_PBA, dev->cfg.pba_bir, dev->cfg.pba_offset,
		    dev->pba_size, bir, offset, size, rel);
}

static bool defined_access(uint32_t rel, uint32_t size)
{
	return (size == 4 || size == 8) && rel % size == 0;
}

/* DWORD @dw (0..3) of table entry @e as the guest reads it. */
static inline uint32_t table_dword(const struct vec *e, uint32_t dw)
{
	switch (dw) {
	case 0:
		return atomic_load_explicit(&e->addr_lo, memory_order_relaxed);
	case 1:
		return atomic_load_explicit(&e->addr_hi, memory_order_relaxed);
	case 2:
		return atomic_load_explicit(&e->data, memory_order_relaxed);
	default:
		return vector_control(e);
	}
}

/* The pending bit of @e, as 0 or 1. */
static inline uint64_t pending_bit(const struct vec *e)
{
	_Static_assert(V_PENDING == 1, "pending_bit() assumes bit 0");
	return state_load(e) & V_PENDING;
}

/*
 * Pending bits of the 4 * @q vectors from @e: bit k is e[k]'s. Four
 * independent chains, one per quarter, each folding its quarter in from the
 * top (acc = 2 * acc + bit: a load, an and and an lea per vector, no
 * variable shift), so that no chain waits on another. @q is a constant
 * where it is inlined: the loads get fixed offsets.
 */
static inline __attribute__((always_inline)) uint64_t
pba_fold(const struct vec *e, uint32_t q)
{
	uint64_t a = 0, b = 0, c = 0, d = 0;

	for (uint32_t i = q; i-- > 0;) {
		a = 2 * a + pending_bit(&e[i]);
		b = 2 * b + pending_bit(&e[q + i]);
		c = 2 * c + pending_bit(&e[2 * q + i]);
		d = 2 * d + pending_bit(&e[3 * q + i]);
	}
	return a | b << q | c << (2 * q) | d << (3 * q);
}

/*
 * PBA bits of vectors [first, first + count), count 32 or 64: bit k is
 * vector first + k (R20, R21); 0 beyond N. Each bit is read from the
 * vector's state word, where pending lives with the mask state so that an
 * unmask clears both in one atomic step. A QWORD read gathers 64 state
 * words: that loop is what the read costs.
 */
static uint64_t pba_bits(const struct libmsix_dev *dev, uint32_t first,
			 uint32_t count)
{
	const struct vec *e;
	uint64_t out = 0;

	if (first >= dev->n)
		return 0;
	e = &dev->vec[first];
	if (count <= dev->n - first)
		return count == 64 ? pba_fold(e, 16) : pba_fold(e, 8);
	/* The last, partial word of a PBA whose N is not a multiple. */
	for (uint32_t k = 0; k < dev->n - first; k++)
		out |= pending_bit(&e[k]) << k;
	return out;
}

/* DWORD @dw of the PBA. */
static uint32_t pba_dword(const struct libmsix_dev *dev, uint32_t dw)
{
	return (uint32_t)pba_bits(dev, dw * 32, 32);
}

/*
 * Before a PBA read, ask the backend about blocked vectors in range whose
 * interrupts may be waiting at the host (e.g. on a VFIO mask eventfd), so the
 * PBA is exact even when interrupts bypass libmsix.
 */
static void pba_poll(struct libmsix_dev *dev, uint32_t first, uint32_t last)
{
	if (!be_has_poll(dev))
		return;
	lmx_dev_lock(dev);
	for (uint32_t v = first; v <= last && v < dev->n; v++) {
		uint32_t s = state_load(&dev->vec[v]);

		if ((s & V_BLOCKED) && !(s & V_DROP))
			lmx_poll_into_pba(dev, v);
	}
	lmx_dev_unlock(dev);
}

static uint32_t region_dword(struct libmsix_dev *dev, enum region r,
			     uint32_t dw)
{
	if (r == R_TABLE)
		return table_dword(&dev->vec[dw / 4], dw % 4);
	return pba_dword(dev, dw);
}

/* The BAR and size of an MMIO call named @fn (@dev is not NULL). */
static int check_mmio(struct libmsix_dev *dev, const char *fn, uint32_t bir,
		      uint32_t size)
{
	if (bir > 5)
		return lmx_einval(dev, "%s(): bar %u: BARs are 0..5", fn, bir);
	if (size < 1 || size > 8)
		return lmx_einval(dev, "%s(): size %u: an access is 1..8 bytes",
				  fn, size);
	return 0;
}

int libmsix_mmio_read(struct libmsix_dev *dev, uint32_t bir, uint64_t offset,
		      uint32_t size, uint64_t *val)
{
	uint32_t rel = 0;
	enum region r;
	uint64_t out = 0;

	int err;

	if (!dev)
		return -EINVAL;
	if (!val)
		return lmx_einval(dev, "libmsix_mmio_read(): val is NULL");
	err = check_mmio(dev, "libmsix_mmio_read", bir, size);
	if (err)
		return err;
	r = classify(dev, bir, offset, size, &rel);
	if (r == R_NONE)
		return -ENOENT;
	if (r == R_STRADDLE) {
		*val = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
		return 0;
	}
	if (r == R_PBA)
		pba_poll(dev, rel * 8, (rel + size) * 8 - 1);
	if (r == R_PBA && size == 8 && rel % 8 == 0) {
		/* The QWORD a 64-bit guest reads: one pass over 64 vectors. */
		*val = pba_bits(dev, rel * 8, 64);
		return 0;
	}
	if (defined_access(rel, size)) {
		/* R25, R26: the accesses guests make, word by word. */
		out = region_dword(dev, r, rel / 4);
		if (size == 8)
			out |= (uint64_t)region_dword(dev, r, rel / 4 + 1) << 32;
		*val = out;
		return 0;
	}
	/* Assemble from whole DWORDs: any size, never outside the arrays. */
	for (uint32_t i = 0; i < size;) {
		uint32_t at = rel + i, dw = at / 4, shift = 8 * (at % 4);
		uint32_t word = region_dword(dev, r, dw);
		uint32_t take = 4 - at % 4;

		if (take > size - i)
			take = size - i;
		for (uint32_t b = 0; b < take; b++)
			out |= (uint64_t)((word >> (shift + 8 * b)) & 0xff)
			       << (8 * (i + b));
		i += take;
	}
	*val = out;
	return 0;
}

static void bad_access(struct libmsix_dev *dev, enum log_kind kind,
		       const char *what, uint32_t bir, uint64_t offset,
		       uint32_t size)
{
	cnt_inc(&dev->cnt.bad_accesses);
	lmx_dev_lock(dev);
	lmx_dev_log(dev, kind, LOG_WARNING,
		"guest %s ignored: BAR %u offset 0x%llx size %u", what, bir,
		(unsigned long long)offset, size);
	lmx_dev_unlock(dev);
}

/* One DWORD of a table entry; the caller holds the lock and a tx. */
static void table_write_dword(struct libmsix_dev *dev, uint32_t v,
			      uint32_t dw, uint32_t val)
{
	struct vec *e = &dev->vec[v];

	switch (dw) {
	case 0:
	case 1:
	case 2:
		if (dw == 0)
			val &= ~3u; /* R15: DWORD-aligned address, RO zeros */
		if (table_dword(e, dw) == val)
			return;
		seq_write_begin(e);
		atomic_store_explicit(dw == 0   ? &e->addr_lo
				      : dw == 1 ? &e->addr_hi
						: &e->data,
				      val, memory_order_relaxed);
		seq_write_end(e);
		/*
		 * No engine work: a message never changes what the backend
		 * holds until the vector next goes live (needs_route()), so
		 * the route is refreshed then, and programming an entry costs
		 * no flush (Linux writes three DWORDs per entry).
		 */
		e->host |= H_MSG_DIRTY;
		return;
	default:
		/* R18/R19: only the Mask bit is stored. */
		val &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
		if (vector_control(e) != val)
			lmx_engine_set_mask(dev, v, val);
		return;
	}
}

/*
 * A Vector Control DWORD write to a V_SETTLED vector, without the device
 * lock: one CAS flips the Mask bit and V_BLOCKED, and an unmask then
 * delivers a latched pending bit once (R35), as unblock() would. Returns
 * false, having changed nothing, when the vector is not settled: then the
 * write takes the engine's path.
 */
static bool vector_control_quick(struct libmsix_dev *dev, uint32_t v,
				 uint32_t val)
{
	struct vec *e = &dev->vec[v];
	bool mask = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
	uint32_t s = state_load(e), n;

	/*
	 * Inside a transaction (libmsix_begin()), a vector that goes live
	 * latches its interrupts until the commit: that is the engine's path,
	 * which stages the unmask and waits for the lock the transaction holds.
	 */
	if (lmx_transaction_open(dev))
		return false;
	do {
		if (!(s & V_SETTLED))
			return false;
		if (!!(s & V_MASKBIT) == mask)
			return true;
		/* Going live advances the sequence count as unblock() does. */
		n = mask ? s | V_MASKBIT | V_BLOCKED
			 : (s & ~(V_MASKBIT | V_BLOCKED | V_PENDING)) +
				   2 * V_SEQ_ONE;
	} while (!atomic_compare_exchange_weak_explicit(
		&e->state, &s, n, memory_order_acq_rel, memory_order_acquire));
	if (!mask && (s & V_PENDING))
		deliver_or_latch(dev, v, true);
	return true;
}

int libmsix_mmio_write(struct libmsix_dev *dev, uint32_t bir, uint64_t offset,
		       uint32_t size, uint64_t val)
{
	uint32_t rel = 0, v, dw;
	enum region r;
	int err;

	if (!dev)
		return -EINVAL;
	err = check_mmio(dev, "libmsix_mmio_write", bir, size);
	if (err)
		return err;
	r = classify(dev, bir, offset, size, &rel);
	if (r == R_NONE)
		return -ENOENT;
	if (r == R_PBA) { /* R22: the PBA is read-only here */
		bad_access(dev, LK_PBA_WRITE, "PBA write", bir, offset, size);
		return 0;
	}
	if (r == R_STRADDLE || !defined_access(rel, size)) {
		bad_access(dev, LK_BAD_TABLE_ACCESS, "table write", bir, offset,
			   size);
		return 0;
	}
	v = rel / 16;
	dw = rel % 16 / 4;
	if (size == 4 && dw == 3 && vector_control_quick(dev, v, (uint32_t)val))
		return 0;
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	if (size == 8 && dw == 0) {
		/* R27: address and upper address change as one. */
		struct vec *e = &dev->vec[v];
		uint32_t lo = (uint32_t)val & ~3u, hi = (uint32_t)(val >> 32);

		if (table_dword(e, 0) != lo || table_dword(e, 1) != hi) {
			seq_write_begin(e);
			atomic_store_explicit(&e->addr_lo, lo,
					      memory_order_relaxed);
			atomic_store_explicit(&e->addr_hi, hi,
					      memory_order_relaxed);
			seq_write_end(e);
			e->host |= H_MSG_DIRTY; /* as table_write_dword() */
		}
	} else {
		/* R28: Data becomes visible no later than Vector Control. */
		table_write_dword(dev, v, dw, (uint32_t)val);
		if (size == 8)
			table_write_dword(dev, v, dw + 1, (uint32_t)(val >> 32));
	}
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}
