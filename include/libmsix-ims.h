/* SPDX-License-Identifier: MIT */
/*
 * libmsix IMS backend: guest MSI-X vectors backed by the slots of a device's
 * Interrupt Message Store (IMS), the model of the 2023 VFIO IMS RFC
 * ("vfio/pci: Back guest interrupts from Interrupt Message Store").
 *
 * Three objects:
 *
 *   struct libmsix_ims_hw     the device side: a store of @nr_slots slots and
 *                             a const ops table to write a slot's (address,
 *                             data, cookie, mask) and read its pending bit.
 *                             A device driver (or the software model below)
 *                             embeds it and recovers itself with
 *                             container_of().
 *   struct libmsix_ims_store  one per IMS store: the slot pool (who holds
 *                             which slot), the budgets of the devices that
 *                             share it, and what every slot holds now.
 *   struct libmsix_ims        one per libmsix device: a libmsix backend (pass
 *                             libmsix_ims_backend() to libmsix_dev_create()).
 *
 * Per vector: alloc takes a slot from the pool (within the device's budget);
 * route stages (address, data) and the vector's cookie (e.g. a PASID, as the
 * IDXD MSI-X permission table carries) for the slot; mask and unmask stage
 * the slot's mask bit; commit writes the changed slots, all-or-nothing
 * (a failed write restores the slots already written); release resets the
 * slot and returns it to the pool. A slot's (address, data, cookie) only
 * changes while it is masked (PCIe Base 6.0 §6.1.4.2, rule R41).
 * "Emulated" vectors hold no slot: the device model raises them with
 * libmsix_notify() and they reach the guest through the VMM's deliver
 * callback.
 *
 * Budgets (the 2011 Tsirkin/Kiszka thread, as the KVM backend): a device
 * reserves slots when it is created and fails there with -ENOSPC, not at
 * guest run time; without LIBMSIX_IMS_F_FORCE the reservation is also its
 * limit. With FORCE it may take unreserved slots lazily and faults at run
 * time when none is left; libmsix_ims_store_get_stats() reports demand against
 * capacity so a management layer can warn.
 *
 * Threads: a store may be shared by devices on different threads; every
 * function here takes the store's lock. Backend ops run under the libmsix
 * device lock and then take the store lock; the device ops (struct
 * libmsix_ims_ops) are called with the store lock held and must not call
 * back into libmsix or the store.
 *
 * Return convention as libmsix.h: 0 or -errno; on error nothing changed.
 * docs/ims.md describes the design and what cannot be exercised here.
 */
#ifndef LIBMSIX_IMS_H
#define LIBMSIX_IMS_H

#include "libmsix.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most slots one store may have (pool indices are ints). */
#define LIBMSIX_IMS_MAX_SLOTS 65536u

/* ------------------------------------------------------------------------ */
/* The device side                                                           */
/* ------------------------------------------------------------------------ */

struct libmsix_ims_hw;

/**
 * struct libmsix_ims_entry - what one slot holds.
 * @address: message address (upper << 32 | lower), as routed.
 * @data:    message data.
 * @cookie:  device-specific per-vector value carried with the message (IDXD:
 *           PASID enable and PASID); 0 when the slot is free.
 * @masked:  the slot's mask bit: a masked slot sends nothing and latches.
 * A free slot holds all zeros, masked.
 */
struct libmsix_ims_entry {
	uint64_t address;
	uint32_t data;
	bool masked;
	uint64_t cookie;
};

/**
 * struct libmsix_ims_ops - what libmsix asks of an IMS device. Const, static,
 * designated initialisers. Members past @size, and optional members left
 * NULL, are not called.
 *
 * All are called with the store lock held, from whichever thread made the
 * libmsix call (device lock held too, except fire and pending from
 * libmsix_notify()). None may call into libmsix or the store.
 */
struct libmsix_ims_ops {
	/** sizeof(struct libmsix_ims_ops) as the device was compiled. */
	size_t size;
	/**
	 * Required. Make slot @slot hold @e. libmsix changes (address, data,
	 * cookie) only in a write that finds the slot masked and leaves it
	 * masked (R41), so the device may write the fields in any order; an
	 * unmasking write changes only the mask bit. A slot that is unmasked
	 * with its pending bit set sends its message (§6.1.4.5).
	 * Return 0, or -errno and the slot is unchanged.
	 */
	int (*write)(struct libmsix_ims_hw *hw, uint32_t slot,
		     const struct libmsix_ims_entry *e);
	/**
	 * Optional. Read and clear the pending bit of masked slot @slot: 1 set,
	 * 0 clear, -errno. libmsix then owes the message and sends it on
	 * unmask (through @fire or the VMM's deliver callback), so the guest's
	 * PBA is exact. Without it (or without a way to send), a slot's
	 * pending bit is invisible to the PBA and the device sends it itself
	 * on unmask.
	 */
	int (*pending)(struct libmsix_ims_hw *hw, uint32_t slot);
	/**
	 * Optional. Make the device send the message of slot @slot now (a
	 * masked slot latches it). Used when libmsix delivers a slot-backed
	 * vector: libmsix_notify() on a live vector, or a replay on unmask.
	 * Without it libmsix uses the VMM's deliver callback instead.
	 * Return 0 or -errno (libmsix then latches the vector's pending bit).
	 */
	int (*fire)(struct libmsix_ims_hw *hw, uint32_t slot);
	/** Optional. Slot @slot now backs a vector; called before its first
	 *  write. It holds all zeros, masked. */
	void (*claim)(struct libmsix_ims_hw *hw, uint32_t slot);
	/** Optional. Slot @slot is free again; called after it was written
	 *  back to all zeros, masked. */
	void (*release)(struct libmsix_ims_hw *hw, uint32_t slot);
};

/**
 * struct libmsix_ims_hw - base an IMS device embeds.
 * @ops:      its ops table (write required).
 * @nr_slots: slots in the store, 1..LIBMSIX_IMS_MAX_SLOTS, each masked and
 *            zero when the store is created (as after a device reset).
 * @log, @log_level, @log_opaque: optional sink for the store's own calls
 *            (libmsix_ims_store_create(), libmsix_ims_store_get_stats()):
 *            each -EINVAL names the argument and the rule it broke, at
 *            LOG_ERR. As struct libmsix_config's log: highest syslog level
 *            passed, 0 = LOG_WARNING; called on the calling thread. NULL
 *            logs nothing. Fields a device leaves out of its initializer
 *            are zero: no sink.
 */
struct libmsix_ims_hw {
	const struct libmsix_ims_ops *ops;
	uint32_t nr_slots;
	libmsix_log_fn log;
	int log_level;
	void *log_opaque;
};

/* ------------------------------------------------------------------------ */
/* The store                                                                 */
/* ------------------------------------------------------------------------ */

struct libmsix_ims_store;

/**
 * libmsix_ims_store_create() - manage the slots of @hw.
 * @hw:  the device; must outlive the store. Its slots are in reset state.
 * @out: receives the store.
 * Return: 0; -EINVAL for NULL, no ops, @hw->ops->size too small to hold
 * write, no write op, or @hw->nr_slots outside 1..LIBMSIX_IMS_MAX_SLOTS;
 * -E2BIG for a larger ops table from a newer libmsix with ops this one
 * does not know set; -ENOMEM. Each -EINVAL with a non-NULL @hw is logged
 * through @hw's sink (struct libmsix_ims_hw), naming the argument and the
 * rule; a NULL @hw has no sink and is not logged.
 * Context: any thread. Calls back: nothing.
 */
LIBMSIX_EXPORT int libmsix_ims_store_create(struct libmsix_ims_hw *hw,
					    struct libmsix_ims_store **out);

/**
 * libmsix_ims_store_destroy() - free the store. NULL is allowed.
 * Return: 0; -EBUSY while a struct libmsix_ims still uses it (nothing
 * freed). Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_ims_store_destroy(struct libmsix_ims_store *store);

/**
 * struct libmsix_ims_store_stats - the store's slot budget.
 * @capacity:    slots in the store.
 * @devices:     devices (struct libmsix_ims) using it.
 * @reserved:    slots devices reserved at creation (guaranteed to them).
 * @demand:      slots the devices would hold if every guest used every
 *               vector: the sum of their N minus their emulated vectors.
 * @held:        slots backing a vector now (staged or committed).
 *               @peak: most held at once.
 * @available:   slots nobody holds or is guaranteed: what devices with
 *               LIBMSIX_IMS_F_FORCE can still take.
 * @overcommit:  demand that reservations and @available cannot cover
 *               (0: every vector of every device can get a slot).
 * @exhausted:   slot allocations refused (-ENOSPC).
 * @quarantined: slots taken out of service because a rollback could not
 *               restore them (their content is unknown).
 * @writes:      slot writes that succeeded. @write_errors: that failed.
 * @rollbacks:   commits undone after a failed write.
 */
struct libmsix_ims_store_stats {
	uint32_t capacity;
	uint32_t devices;
	uint32_t reserved;
	uint32_t demand;
	uint32_t held;
	uint32_t peak;
	uint32_t available;
	uint32_t overcommit;
	uint64_t exhausted;
	uint32_t quarantined;
	uint64_t writes;
	uint64_t write_errors;
	uint64_t rollbacks;
};

/** libmsix_ims_store_get_stats() - fill @out. Return: 0; -EINVAL for NULL
 * (a NULL @out is logged through the sink of the store's struct
 * libmsix_ims_hw; a NULL @st cannot be). Context: any thread. */
LIBMSIX_EXPORT int
libmsix_ims_store_get_stats(struct libmsix_ims_store *store,
			    struct libmsix_ims_store_stats *out);

/* ------------------------------------------------------------------------ */
/* Per device                                                                */
/* ------------------------------------------------------------------------ */

struct libmsix_ims;

/** Overcommit (Kiszka): take slots beyond @reserve from the store's
 *  unreserved ones, lazily, at the risk of -ENOSPC at guest run time. */
#define LIBMSIX_IMS_F_FORCE (1u << 0)

/**
 * libmsix_ims_deliver_fn - send @msg of @vector to the guest (e.g.
 * KVM_SIGNAL_MSI): how emulated vectors, and slot-backed ones of a device
 * without a fire op, are delivered.
 * Return: 0, or -errno (libmsix latches the vector's pending bit).
 * Context: as libmsix_backend_ops.deliver: any thread, without the store
 * lock; must be thread-safe and must not call into libmsix for the device.
 */
typedef int (*libmsix_ims_deliver_fn)(void *opaque, uint32_t vector,
				      const struct libmsix_msg *msg);

/**
 * struct libmsix_ims_config - one device on a store.
 * @size:           sizeof(struct libmsix_ims_config) as compiled.
 * @flags:          LIBMSIX_IMS_F_*; unknown bits are -EINVAL.
 * @nr_vectors:     N of the libmsix device, 1..2048.
 * @reserve:        slots reserved for the device now, 0..@nr_vectors (0
 *                  needs LIBMSIX_IMS_F_FORCE). Without FORCE it is also
 *                  the device's limit: libmsix faults vectors beyond it.
 * @default_cookie: every vector's cookie until libmsix_ims_set_cookie().
 * @deliver:        optional, see libmsix_ims_deliver_fn; required for
 *                  emulated vectors.
 * @opaque:         passed to @deliver and @log.
 * @log:            log sink (same type as struct libmsix_config's), NULL
 *                  for silent: every -EINVAL of this device's calls (and of
 *                  libmsix_ims_create() for this config) logs
 *                  "libmsix-ims: <call>(): <argument>: <rule>" at LOG_ERR.
 *                  Called on the calling thread, without the store lock;
 *                  must not call into libmsix.
 * @log_level:      highest syslog level passed on; 0 means LOG_WARNING.
 */
struct libmsix_ims_config {
	size_t size;
	uint32_t flags;
	uint32_t nr_vectors;
	uint32_t reserve;
	uint64_t default_cookie;
	libmsix_ims_deliver_fn deliver;
	void *opaque;
	libmsix_log_fn log;
	int log_level;
};

/**
 * libmsix_ims_create() - a backend for one device on @store.
 * Return: 0; -EINVAL for NULL, a @cfg->size below sizeof(size_t), unknown flags, N outside
 * 1..2048, @reserve > N, or @reserve 0 without LIBMSIX_IMS_F_FORCE (the
 * last four logged through @cfg->log; NULL and @cfg->size cannot be:
 * there is no sink yet); -E2BIG for a larger @cfg from a newer libmsix
 * with members this one does not know set;
 * -ENOSPC when the store cannot guarantee @reserve slots (Tsirkin: fail at
 * setup, not at guest run time); -ENOMEM.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_ims_create(struct libmsix_ims_store *store,
				      const struct libmsix_ims_config *cfg,
				      struct libmsix_ims **out);

/**
 * libmsix_ims_destroy() - give back the reservation and free. Call after
 * libmsix_dev_destroy() of the device using it (which releases its slots);
 * slots still held are reset and freed here. NULL is allowed.
 * Context: any thread. Calls back: device write and release ops.
 */
LIBMSIX_EXPORT void libmsix_ims_destroy(struct libmsix_ims *ims);

/** libmsix_ims_backend() - the backend to pass to libmsix_dev_create().
 * Return: it; NULL for NULL. Context: any thread. */
LIBMSIX_EXPORT struct libmsix_backend *
libmsix_ims_backend(struct libmsix_ims *ims);

/**
 * libmsix_ims_set_cookie() - set @vector's cookie (e.g. the PASID the guest
 * wrote to the device's permission table for it).
 * @vector: 0..N-1. @cookie: any value; the device interprets it.
 *
 * A vector whose slot is committed is reprogrammed now, in a commit of its
 * own: an unmasked slot is masked, written and unmasked again (R41), and an
 * interrupt the device raises in that window is sent at the unmask. Staged
 * routes (a libmsix transaction being flushed on another thread) take the
 * new cookie at their commit. A vector without a slot carries it to the
 * slot it gets.
 * Return: 0; -EINVAL for NULL or @vector >= N (logged through the
 * config's log, but NULL @ims cannot be); the device's -errno when a slot
 * write failed (the slot and the cookie are as before).
 * Context: any thread. Calls back: device write ops (and pending).
 */
LIBMSIX_EXPORT int libmsix_ims_set_cookie(struct libmsix_ims *ims,
					  uint32_t vector, uint64_t cookie);

/**
 * libmsix_ims_get_cookie() - @vector's cookie into @out.
 * Return: 0; -EINVAL for NULL or @vector >= N (logged through the config's
 * log, but NULL @ims cannot be). Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_ims_get_cookie(struct libmsix_ims *ims,
					  uint32_t vector, uint64_t *out);

/**
 * libmsix_ims_set_emulated() - make [@start, @start + @count) emulated (@on)
 * or slot-backed again: an emulated vector never holds a slot; the device
 * model raises it with libmsix_notify() and it is delivered through the
 * config's deliver callback (the IMS RFC's vfio_pci_set_emulated()). It is
 * a property of the device, set before the guest uses the vectors.
 * Return: 0; -EINVAL for NULL, an empty range or one past N, or @on without
 * a deliver callback (logged through the config's log, but NULL @ims
 * cannot be); -EBUSY when a vector in the range holds a host vector
 * (nothing changed).
 * Context: while no libmsix call on the device runs (e.g. when the device
 * is realised): it changes the budget the engine reads.
 */
LIBMSIX_EXPORT int libmsix_ims_set_emulated(struct libmsix_ims *ims,
					    uint32_t start, uint32_t count,
					    bool on);

/**
 * libmsix_ims_vector_slot() - the slot that backs @vector after the last
 * commit, for a device model that raises slots itself.
 * Return: the slot, 0..nr_slots-1; -EINVAL for NULL or @vector >= N
 * (logged through the config's log, but NULL @ims cannot be); -ENOENT when the vector holds no slot (unallocated, or emulated).
 * Context: any thread; the answer is stale once the vector is released.
 */
LIBMSIX_EXPORT int libmsix_ims_vector_slot(struct libmsix_ims *ims,
					   uint32_t vector);

/**
 * struct libmsix_ims_stats - one device's share of its store.
 * @nr_vectors: N. @emulated: vectors that need no slot.
 * @reserve:    slots guaranteed to it. @forced: LIBMSIX_IMS_F_FORCE given.
 * @held:       slots it holds now. @peak: most held at once.
 * @exhausted:  its slot allocations refused (-ENOSPC).
 */
struct libmsix_ims_stats {
	uint32_t nr_vectors;
	uint32_t emulated;
	uint32_t reserve;
	bool forced;
	uint32_t held;
	uint32_t peak;
	uint64_t exhausted;
};

/** libmsix_ims_get_stats() - fill @out. Return: 0; -EINVAL for NULL (a
 * NULL @out logged through the config's log). Context: any thread. */
LIBMSIX_EXPORT int libmsix_ims_get_stats(struct libmsix_ims *ims,
					 struct libmsix_ims_stats *out);

/* ------------------------------------------------------------------------ */
/* A software IMS device (for tests, examples, and device models)            */
/* ------------------------------------------------------------------------ */

struct libmsix_soft_ims;

/**
 * libmsix_soft_ims_sink_fn - slot @slot sent its message: @msg with @cookie.
 * Called with the soft device's lock held (and the store's, when a slot
 * write sends a latched message); must not call into libmsix, the store or
 * the soft device.
 */
typedef void (*libmsix_soft_ims_sink_fn)(void *opaque, uint32_t slot,
					 const struct libmsix_msg *msg,
					 uint64_t cookie);

/**
 * libmsix_soft_ims_create() - an IMS store in memory that checks what it is
 * told: writes only to claimed slots, (address, data, cookie) only changed
 * in a write that finds the slot masked and leaves it masked (R41), claims
 * only of free reset slots, releases only of reset slots. A write that
 * breaks a rule is refused (-EINVAL) and counted as a violation. An
 * unmasked slot that is raised sends its message to @sink; a masked one
 * sets its pending bit, which is sent when a write unmasks the slot.
 * @nr_slots: 1..LIBMSIX_IMS_MAX_SLOTS. @sink: NULL to only count.
 * Return: 0; -EINVAL for a bad @nr_slots or NULL @out (not logged: there
 * is no device yet, so no sink); -ENOMEM. The other calls log their
 * -EINVAL, naming the argument and the rule, through the sink the VMM may
 * set in the device's struct libmsix_ims_hw (libmsix_soft_ims_hw()); a
 * NULL @soft cannot be logged.
 * Context: any thread; all of its functions are thread-safe.
 */
LIBMSIX_EXPORT int libmsix_soft_ims_create(uint32_t nr_slots,
					   libmsix_soft_ims_sink_fn sink,
					   void *opaque,
					   struct libmsix_soft_ims **out);

/** libmsix_soft_ims_destroy() - free; NULL allowed. Destroy the store first.
 * Context: any thread; no other call on @soft may run. */
LIBMSIX_EXPORT void libmsix_soft_ims_destroy(struct libmsix_soft_ims *soft);

/** libmsix_soft_ims_hw() - the device to pass to libmsix_ims_store_create().
 * Return: it; NULL for NULL. Context: any thread. */
LIBMSIX_EXPORT struct libmsix_ims_hw *
libmsix_soft_ims_hw(struct libmsix_soft_ims *soft);

/**
 * libmsix_soft_ims_raise() - the device raises slot @slot (what its hardware
 * does when the interrupt cause fires).
 * Return: LIBMSIX_DELIVERED (sent to the sink), LIBMSIX_LATCHED (masked:
 * pending bit set); -EINVAL for NULL or @slot >= nr_slots; -ENOENT when the
 * slot is not claimed (nothing happens).
 * Context: any thread (the device's interrupt source). Calls back: the sink.
 */
LIBMSIX_EXPORT int libmsix_soft_ims_raise(struct libmsix_soft_ims *soft,
					  uint32_t slot);

/**
 * struct libmsix_soft_ims_slot - one slot as the device holds it.
 * @entry: its content. @claimed: backs a vector. @pending: latched.
 * @writes: successful writes to it. @sent: messages it sent.
 */
struct libmsix_soft_ims_slot {
	struct libmsix_ims_entry entry;
	bool claimed;
	bool pending;
	uint64_t writes;
	uint64_t sent;
};

/** libmsix_soft_ims_slot() - slot @slot into @out.
 * Return: 0; -EINVAL for NULL or @slot >= nr_slots. Context: any thread. */
LIBMSIX_EXPORT int libmsix_soft_ims_slot(struct libmsix_soft_ims *soft,
					 uint32_t slot,
					 struct libmsix_soft_ims_slot *out);

/**
 * libmsix_soft_ims_fail() - make @n slot writes fail with @err (negative),
 * starting with the @k-th write from now (1 = the next one). k = 0 cancels.
 * A failed write changes nothing.
 * Return: 0; -EINVAL for NULL or @err >= 0.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_soft_ims_fail(struct libmsix_soft_ims *soft,
					 uint32_t k, uint32_t n, int err);

/**
 * struct libmsix_soft_ims_stats - what the soft device saw.
 * @writes: accepted writes. @failed: writes failed on request.
 * @violations: writes, claims, releases refused for breaking a rule.
 * @claimed: slots claimed now. @claims, @releases: calls that succeeded.
 * @sent: messages sent to the sink. @latched: raises that set pending.
 * @pending_reads: pending op calls that found the bit set.
 */
struct libmsix_soft_ims_stats {
	uint64_t writes;
	uint64_t failed;
	uint64_t violations;
	uint32_t claimed;
	uint64_t claims;
	uint64_t releases;
	uint64_t sent;
	uint64_t latched;
	uint64_t pending_reads;
};

/** libmsix_soft_ims_get_stats() - fill @out. Return: 0; -EINVAL for NULL.
 * Context: any thread. */
LIBMSIX_EXPORT int
libmsix_soft_ims_get_stats(struct libmsix_soft_ims *soft,
			   struct libmsix_soft_ims_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LIBMSIX_IMS_H */
