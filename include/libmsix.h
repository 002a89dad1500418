/* SPDX-License-Identifier: MIT */
/*
 * libmsix: the MSI-X vector lifecycle of one PCI function, for VMMs and
 * device models.
 *
 * libmsix owns three layers of state per function and keeps them apart:
 *
 *   1. what the guest programmed: the MSI-X capability (Message Control with
 *      Function Mask and MSI-X Enable), the vector table and the Pending Bit
 *      Array (PBA), exactly as PCIe Base 6.0 §6.1.4 and §7.7.2 define them;
 *   2. the effective state of each vector: live (deliver), blocked (latch the
 *      pending bit) or dropped, plus use counts;
 *   3. what a backend holds for the vector: a host vector, a route for its
 *      message, and whether the backend has it masked.
 *
 * A lifecycle engine reconciles layer 3 with layer 2 through the backend ops
 * (struct libmsix_backend_ops) under an allocation policy, and batches the
 * backend work of one guest access or one transaction into one commit.
 *
 * ABI: SONAME libmsix.so.0, symbols versioned per release (LIBMSIX_0.1, ...).
 * Structs passed in carry their own size (.size) so they can grow, with
 * libbpf's rule: a struct from an older, smaller header is accepted and
 * the members it lacks read as 0 (NULL); one from a newer, larger header
 * is accepted when every byte past this library's struct is 0, else
 * refused with -E2BIG (a member it cannot honour is never ignored
 * silently); a .size below sizeof(size_t) is -EINVAL. What changes the
 * SONAME and what only adds a version node: docs/abi.md.
 *
 * Threads: no global library state. Every object is independent. The
 * device-side hot path (libmsix_notify(), libmsix_clear_pending()) takes no
 * lock and may run on any number of threads concurrently with the guest-side
 * entry points. Everything else on one device is serialised by a per-device
 * lock; different devices never contend. Backend ops run with that lock held
 * (except deliver, see struct libmsix_backend_ops). See README "Threads".
 *
 * Return convention: actions return 0 or a negative errno; predicates return
 * bool. When a call returns an error, no state changed and no callback fired
 * for it, unless the function's documentation says otherwise -- except the
 * log: every -EINVAL of a call on a device is logged through its log sink
 * (struct libmsix_config.log) at LOG_ERR, naming the argument and the rule
 * it broke (a rejected snapshot: the field), rate-limited per mistake (the
 * first four, then every 2^k-th). Errors are logged as errno text, not
 * numbers. A NULL device, or a device without a sink, logs nothing.
 *
 * Guest input is hostile: no guest access through libmsix_config_*() or
 * libmsix_mmio_*() can crash, assert, touch memory outside the device's state
 * or flood the log.
 */
#ifndef LIBMSIX_H
#define LIBMSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header: project(VERSION) in CMakeLists.txt, which
 * refuses to configure when the two differ. Compatibility rules (what a
 * version change promises, when the SONAME changes): docs/abi.md.
 */
#define LIBMSIX_VERSION_MAJOR 0
#define LIBMSIX_VERSION_MINOR 1
#define LIBMSIX_VERSION_PATCH 0
/** A version as one comparable number; each part 0..255. */
#define LIBMSIX_VERSION_CODE(major, minor, patch) \
	(((uint32_t)(major) << 16) | ((uint32_t)(minor) << 8) | (uint32_t)(patch))
/** The version of this header as LIBMSIX_VERSION_CODE(). */
#define LIBMSIX_VERSION \
	LIBMSIX_VERSION_CODE(LIBMSIX_VERSION_MAJOR, LIBMSIX_VERSION_MINOR, \
			     LIBMSIX_VERSION_PATCH)

#if defined(LIBMSIX_BUILDING) && defined(__GNUC__)
#define LIBMSIX_EXPORT __attribute__((visibility("default")))
#else
#define LIBMSIX_EXPORT
#endif

#if defined(__GNUC__)
#define LIBMSIX_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LIBMSIX_PRINTF(f, a)
#endif

/**
 * libmsix_version() - the version of the library the program runs with.
 *
 * The shared library found at run time may be newer than the headers the
 * program was compiled with (same SONAME: docs/abi.md), never older than
 * what its symbol versions need. A program that depends on a fix rather than
 * on a new symbol compares this with LIBMSIX_VERSION_CODE(). E.g.
 * libmsix_version() >> 16 == LIBMSIX_VERSION_MAJOR and
 * libmsix_version() >= LIBMSIX_VERSION for "at least what I was built with".
 *
 * Return: LIBMSIX_VERSION_CODE(major, minor, patch) of the running library:
 * major in bits 23:16, minor in 15:8, patch in 7:0, each 0..255. Never fails.
 * Context: any thread, at any time, no device needed; takes no lock and calls
 * nothing back.
 */
LIBMSIX_EXPORT uint32_t libmsix_version(void);

/** The largest table PCIe allows (§6.1.4.2). */
#define LIBMSIX_MAX_VECTORS 2048u

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * struct libmsix_msg - one MSI-X message, as a table entry programs it.
 * @address: Message Upper Address << 32 | Message Address, bits 1:0 clear.
 * @data:    Message Data, sent unmodified (§6.1.4.4).
 *
 * The address is guest-controlled. A VMM that turns it into a memory write
 * must check that it targets the interrupt window.
 */
struct libmsix_msg {
	uint64_t address;
	uint32_t data;
};

/* ------------------------------------------------------------------------ */
/* Backends                                                                  */
/* ------------------------------------------------------------------------ */

struct libmsix_backend;

/**
 * struct libmsix_backend_ops - what the engine asks of whatever holds the
 * host side of a vector (VFIO SET_IRQS, KVM routes + irqfd, IMS slots, or a
 * VMM's own injector).
 *
 * Staging and commit: alloc, release, route, unroute, mask and unmask only
 * record the change (they may refuse it at once, e.g. -ENOSPC when a budget
 * is exhausted). commit() applies everything staged since the last commit or
 * abort, and is all-or-nothing: when it fails, the backend must be exactly as
 * it was before the first staged op. abort() discards what was staged. A
 * backend that implements any staging op must implement commit and abort.
 * The engine calls commit at most once per guest access or transaction, and
 * not at all when it staged nothing.
 *
 * Order within one commit, per vector: a newly allocated host vector starts
 * masked; the engine stages alloc before route before unmask, and mask before
 * unroute before release. The backend may reorder its own syscalls (e.g. KVM
 * deassigns an irqfd before its route disappears) as long as the result is
 * the staged state.
 *
 * Every member but @size and @deliver may be NULL (not needed by that
 * backend). Ranges are [start, start + count) with start + count <= N.
 *
 * Context: all ops but deliver and poll are called with the device lock held,
 * from the thread that made the guest access or API call. deliver is called
 * from libmsix_notify() on any device thread without the device lock, and
 * from the control path with it held; it must be thread-safe and must not
 * call back into libmsix for the same device. poll is called with the device
 * lock held during PBA reads and unmask. No op may call back into libmsix for
 * the same device.
 */
struct libmsix_backend_ops {
	/** sizeof(struct libmsix_backend_ops) as the backend was compiled. */
	size_t size;
	/** Stage host vectors for [start, start + count). */
	int (*alloc)(struct libmsix_backend *be, uint32_t start, uint32_t count);
	/** Stage the release of host vectors [start, start + count). */
	int (*release)(struct libmsix_backend *be, uint32_t start, uint32_t count);
	/** Stage setting or updating the route of @vector to @msg. */
	int (*route)(struct libmsix_backend *be, uint32_t vector,
		     const struct libmsix_msg *msg);
	/** Stage removing the route of @vector. */
	int (*unroute)(struct libmsix_backend *be, uint32_t vector);
	/** Stage masking @vector at the host: it must stop delivering. */
	int (*mask)(struct libmsix_backend *be, uint32_t vector);
	/** Stage unmasking @vector at the host. */
	int (*unmask)(struct libmsix_backend *be, uint32_t vector);
	/** Apply everything staged; all-or-nothing. */
	int (*commit)(struct libmsix_backend *be);
	/** Discard everything staged since the last commit. */
	void (*abort)(struct libmsix_backend *be);
	/**
	 * Deliver one message for @vector now. Required. Returns 0 or -errno;
	 * on error libmsix latches the vector's pending bit instead.
	 */
	int (*deliver)(struct libmsix_backend *be, uint32_t vector,
		       const struct libmsix_msg *msg);
	/**
	 * Ask whether a masked @vector has an interrupt waiting at the host
	 * (e.g. a readable VFIO mask eventfd), consuming it: 1 yes, 0 no,
	 * -errno on failure. libmsix latches the pending bit on 1.
	 */
	int (*poll)(struct libmsix_backend *be, uint32_t vector);
	/**
	 * Stage the function's MSI-X Enable at the host: @on follows the
	 * guest's MSI-X Enable bit, staged in the commit of the access that
	 * changed it (and again after a failed commit). For backends whose
	 * device must have MSI-X on while the guest has it on, even with no
	 * host vector allocated: a physical function with MSI-X off drops
	 * the interrupts of masked vectors instead of latching them in its
	 * PBA (VFIO). Optional; read only when @size covers it.
	 */
	int (*enable)(struct libmsix_backend *be, bool on);
};

/**
 * LIBMSIX_BE_NORESIZE - the backend cannot add or remove one host vector
 * while others stay live (VFIO_IRQ_INFO_NORESIZE, Linux < 6.5): its host
 * vectors are always a prefix [0, k), and growing the prefix is disruptive.
 * Without it (flags 0, the default) the backend resizes live. Ignored for a
 * backend with no alloc op: it holds no host vectors, so nothing resizes.
 */
#define LIBMSIX_BE_NORESIZE (1u << 0)

/**
 * struct libmsix_backend - base a backend embeds in its own struct and
 * recovers with container_of().
 * @ops:         its ops table; const, static, designated initialisers.
 * @flags:       LIBMSIX_BE_* flags; 0 for a backend that resizes live
 *               (and always for one with no alloc op). With
 *               LIBMSIX_BE_NORESIZE, host vectors are always a prefix [0, k)
 *               and growing it is disruptive: the engine stages
 *               alloc(k, m - k) of the vectors the larger prefix [0, m) adds
 *               and commits; the backend makes the whole prefix [0, m) hold
 *               host vectors in that commit, the way its host allows (VFIO:
 *               MSI-X off, then on with m vectors), keeping every route and
 *               mask of [0, k). After the commit the engine delivers every
 *               vector that was live across it once (a spurious interrupt
 *               is allowed, a lost one is not; counted in
 *               spurious_replays and disruptive_reenables). The prefix
 *               shrinks only to 0, when MSI-X is disabled (or reset):
 *               release(0, k).
 * @max_vectors: host vectors the backend can hold for this device (its
 *               budget), 0 for as many as the table has.
 * @ops and @flags must not change while a device uses the backend.
 */
struct libmsix_backend {
	const struct libmsix_backend_ops *ops;
	uint32_t flags;
	uint32_t max_vectors;
};

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * libmsix_log_fn - log sink. @level is a syslog level (LOG_ERR .. LOG_DEBUG).
 * Messages a guest can cause are rate-limited per kind before they get here.
 * Called with the device lock held; must not call into libmsix.
 */
typedef void (*libmsix_log_fn)(void *opaque, int level, const char *msg);

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */
/* ------------------------------------------------------------------------ */

/** Allocation policies: when host vectors are allocated (README, "Policies"). */
enum libmsix_policy {
	/** Incremental when the backend resizes live, else preallocate. */
	LIBMSIX_POLICY_AUTO = 0,
	/** Allocate a vector's host vector at its first effective unmask;
	 *  without live resize grow the prefix to exactly that vector. */
	LIBMSIX_POLICY_LAZY,
	/** Allocate host vectors for all used vectors when MSI-X is enabled,
	 *  so that setup fails early (all N with LIBMSIX_F_PREALLOC_ALL). */
	LIBMSIX_POLICY_PREALLOCATE,
	/** As lazy, but without live resize grow the prefix geometrically
	 *  (doubling): at most log2(N) + 1 disruptive re-enables. */
	LIBMSIX_POLICY_INCREMENTAL,
};

/** BAR kinds for struct libmsix_config.bar_type. */
enum libmsix_bar_type {
	LIBMSIX_BAR_NONE = 0,	/**< the function has no such BAR */
	LIBMSIX_BAR_IO,		/**< I/O space: cannot hold MSI-X structures */
	LIBMSIX_BAR_MEM32,	/**< 32-bit memory BAR */
	LIBMSIX_BAR_MEM64,	/**< 64-bit memory BAR: index i and i + 1 */
};

/** Preallocate all N host vectors, used or not (PREALLOCATE and AUTO). */
#define LIBMSIX_F_PREALLOC_ALL (1u << 0)

/**
 * libmsix_fault_fn - a backend refused to make @vector live (e.g. -ENOSPC).
 * The vector stays blocked: its interrupts latch in the PBA and are delivered
 * once when a later transition succeeds (see libmsix_retry()). A VMM may use
 * this to report a hardware fault to the guest. Called with the device lock
 * held; must not call into libmsix for the same device.
 */
typedef void (*libmsix_fault_fn)(void *opaque, uint32_t vector, int err);

/**
 * libmsix_intx_fn - MSI-X was enabled: the function must deassert INTx
 * (§6.1.4.3). Called with the device lock held.
 */
typedef void (*libmsix_intx_fn)(void *opaque);

/**
 * struct libmsix_config - the fixed geometry and policy of one function.
 * @size:         sizeof(struct libmsix_config) as the caller compiled it.
 * @flags:        LIBMSIX_F_*; unknown bits are -EINVAL.
 * @nr_vectors:   N, table entries, 1..2048 (§6.1.4.2).
 * @header_type:  0 (endpoint) or 1 (bridge: only BARs 0 and 1 exist).
 * @cap_offset:   config-space offset of the capability, 0x40..0xf4, DWORD
 *                aligned (MSI-X is a standard, not an extended, capability).
 * @next_cap:     Next Capability Pointer to report (read-only to the guest).
 * @table_bir:    Table BIR, 0..5. @table_offset: QWORD-aligned, in the BAR.
 * @pba_bir:      PBA BIR, 0..5.   @pba_offset: QWORD-aligned, in the BAR.
 * @bar_type:     per BAR index; the table and PBA BARs must be memory BARs,
 *                and a BIR may not name the upper half of a 64-bit BAR.
 * @bar_size:     per BAR index, bytes.
 * @policy:       allocation policy.
 * @log:          log sink or NULL (silent). @log_level: highest syslog level
 *                passed on (e.g. LOG_WARNING = 4); 0 means LOG_WARNING.
 * @fault:        optional, see libmsix_fault_fn. @intx: optional.
 * @opaque:       passed to @log, @fault and @intx.
 */
struct libmsix_config {
	size_t size;
	uint32_t flags;
	uint32_t nr_vectors;
	uint8_t header_type;
	uint16_t cap_offset;
	uint8_t next_cap;
	uint8_t table_bir;
	uint32_t table_offset;
	uint8_t pba_bir;
	uint32_t pba_offset;
	enum libmsix_bar_type bar_type[6];
	uint64_t bar_size[6];
	enum libmsix_policy policy;
	libmsix_log_fn log;
	int log_level;
	libmsix_fault_fn fault;
	libmsix_intx_fn intx;
	void *opaque;
};

struct libmsix_dev;

/**
 * libmsix_dev_create() - create the MSI-X state of one function, in reset
 * state (§7.7.2, R30): Enable 0, Function Mask 0, every vector masked, PBA 0.
 * @cfg: geometry and policy; copied, need not outlive the call.
 * @be:  backend; must outlive the device. Its ops->deliver must be set.
 * @out: receives the device.
 *
 * Return: 0; -EINVAL if @cfg, @be, @be->ops or @be->ops->deliver or @out
 * is NULL, @cfg->size is below sizeof(size_t), @be->ops->size is below
 * offsetof(struct libmsix_backend_ops, poll), an unknown flag is set, or
 * the geometry breaks a rule (N outside 1..2048,
 * BIR > 5 or reserved for the header type, offset not QWORD aligned, table
 * or PBA outside its BAR or overlapping, non-memory BAR, upper half of a
 * 64-bit BAR); the log says which rule. -E2BIG when @cfg->size or
 * @be->ops->size is larger than this library's struct and a byte (an op)
 * past it is set (logged). -ENOMEM.
 * Context: any thread. Calls back: @cfg->log.
 */
LIBMSIX_EXPORT int libmsix_dev_create(const struct libmsix_config *cfg,
				      struct libmsix_backend *be,
				      struct libmsix_dev **out);

/**
 * libmsix_dev_destroy() - release every host resource (one commit) and free.
 * @dev: NULL is allowed. No other call on @dev may be running.
 * Return: 0 (also for NULL; host resources a backend failed to release are
 * logged); -EBUSY, with nothing changed and @dev still valid, while a
 * transaction is open (libmsix_begin() without its libmsix_commit(), on any
 * thread): commit it first.
 * Context: any thread. Calls back: backend mask/unroute/release/commit.
 */
LIBMSIX_EXPORT int libmsix_dev_destroy(struct libmsix_dev *dev);

/**
 * libmsix_reset() - function-level reset (R30, R31): Enable and Function
 * Mask cleared, every entry zeroed and masked, pending bits cleared, host
 * resources released. Use counts are kept (they belong to the device model).
 * Return: 0, or the backend's -errno (state is reset; host resources it
 * failed to release are reported through the log and counted).
 * Context: any thread but the hot path's. Calls back: backend ops.
 */
LIBMSIX_EXPORT int libmsix_reset(struct libmsix_dev *dev);

/* ------------------------------------------------------------------------ */
/* Guest accesses                                                            */
/* ------------------------------------------------------------------------ */

/**
 * libmsix_config_read() - overlay the capability on a config-space read.
 * @offset: config-space offset of the access, bytes.
 * @size:   1, 2 or 4 bytes.
 * @val:    in: the value the VMM read for these bytes; out: bytes that fall
 *          inside the 12-byte capability replaced by its registers.
 * Return: 0; -EINVAL for a size other than 1, 2, 4, or a NULL pointer.
 * Context: vCPU threads. Implements §7.7.2.1-7.7.2.3.
 */
LIBMSIX_EXPORT int libmsix_config_read(struct libmsix_dev *dev,
				       uint32_t offset, uint32_t size,
				       uint32_t *val);

/**
 * libmsix_config_write() - apply the bytes of a config-space write that fall
 * inside the capability. Only Function Mask and MSI-X Enable are writable
 * (R7); any write covering Message Control byte 1 takes effect, whatever its
 * width and offset (R8). Bytes outside the capability are ignored.
 * @offset: config-space offset; @size: 1, 2 or 4; @val: little-endian value.
 * Return: 0; -EINVAL for a bad size; or the -errno of a backend failure
 * caused by the transition (the guest's write still took effect; the vectors
 * that could not go live stay blocked, see libmsix_fault_fn).
 * Context: vCPU threads. Calls back: backend ops, @fault, @intx.
 */
LIBMSIX_EXPORT int libmsix_config_write(struct libmsix_dev *dev,
					uint32_t offset, uint32_t size,
					uint32_t val);

/**
 * libmsix_mmio_read() - a guest read of BAR @bir at @offset.
 * @bir:    BAR index 0..5.
 * @offset: offset within the BAR, bytes.
 * @size:   1..8 bytes.
 * @val:    receives the value (little-endian, zero-extended).
 *
 * Aligned DWORD and QWORD reads of the table and PBA are defined (R25, R26).
 * Any other read that lies wholly inside the table or the PBA returns the
 * bytes of the registers it covers; a read that straddles a structure's end
 * returns all ones. Reads past entry N-1 are not the table (R29).
 * Return: 0 when the access touched the table or the PBA; -ENOENT when it
 * touched neither (the VMM handles it; @val untouched); -EINVAL for a bad
 * @bir, @size or NULL pointer.
 * Context: vCPU threads. Calls back: backend poll (PBA reads).
 */
LIBMSIX_EXPORT int libmsix_mmio_read(struct libmsix_dev *dev, uint32_t bir,
				     uint64_t offset, uint32_t size,
				     uint64_t *val);

/**
 * libmsix_mmio_write() - a guest write of BAR @bir at @offset.
 * @bir, @offset, @size: as libmsix_mmio_read(). @val: little-endian value.
 *
 * Aligned DWORD and QWORD writes of the table take effect (R25-R28); every
 * other write touching the table, and every write to the PBA (R22), is
 * ignored, counted and logged (rate-limited). Where the spec leaves the
 * result undefined: Message Address bits 1:0 are read-only zero (R15);
 * Vector Control bits 31:1 read 0 and ignore writes (R19, no TPH); Address
 * or Data written while the entry is unmasked is used at once by
 * libmsix_notify() and reaches the backend route at the next unmask of the
 * vector or the function (R41), as in QEMU and Xen.
 * Return: 0 when the access touched the table or the PBA; -ENOENT when it
 * touched neither; -EINVAL for bad arguments; or the -errno of a backend
 * failure caused by the write (the write itself took effect; see
 * libmsix_fault_fn).
 * Context: vCPU threads; takes the device lock. Calls back: backend ops,
 * @fault. One exception, for emulated devices: on a backend with
 * live resize (no LIBMSIX_BE_NORESIZE) and no route, unroute, mask, unmask
 * or poll op, a DWORD write of Vector Control that masks or unmasks a live
 * vector (or one it masked so) changes nothing the engine holds, so it
 * takes no lock, and calls back only deliver, as libmsix_notify() does,
 * when an unmask finds the pending bit set (R35). Not while a transaction
 * is open (libmsix_begin()): then the write takes the engine's path like
 * any other, waits for the lock on other threads, and a vector it unmasks
 * latches its interrupts until the commit.
 */
LIBMSIX_EXPORT int libmsix_mmio_write(struct libmsix_dev *dev, uint32_t bir,
				      uint64_t offset, uint32_t size,
				      uint64_t val);

/**
 * libmsix_set_bus_master() - Bus Master Enable of the function's Command
 * register (R38). While it is 0 no message is sent; interrupts latch their
 * pending bit and are delivered when it is set again. Default: 1, so a VMM
 * that does not model BME need not call this.
 * Return: 0, or a backend -errno as for libmsix_config_write().
 * Context: vCPU threads. Calls back: backend ops.
 */
LIBMSIX_EXPORT int libmsix_set_bus_master(struct libmsix_dev *dev, bool on);

/* ------------------------------------------------------------------------ */
/* Device side                                                               */
/* ------------------------------------------------------------------------ */

/** Results of libmsix_notify() that are not errors. */
enum libmsix_notify_result {
	LIBMSIX_DELIVERED = 0,	/**< message sent through backend deliver */
	LIBMSIX_LATCHED = 1,	/**< vector blocked: pending bit set */
	LIBMSIX_DROPPED = 2,	/**< MSI-X disabled, or vector unused */
};

/**
 * libmsix_notify() - the device raises @vector (an edge, or the assertion of
 * a level cause).
 * @vector: 0..N-1.
 *
 * Live vector: the message currently in its table entry is delivered once.
 * Masked (by Vector Control, Function Mask, Bus Master off, or a backend
 * fault): its pending bit is set and nothing is sent (R34); repeated
 * triggers coalesce (R36); the next unmask delivers once (R35). MSI-X
 * disabled, or the vector unused (use count 0): dropped and counted; a
 * device model should signal INTx instead (R39).
 * Return: enum libmsix_notify_result; -EINVAL for @vector >= N (R40); the
 * backend's -errno when deliver failed (the pending bit is then set).
 * Context: any thread, lock-free (its -EINVAL path takes the device lock to
 * log); concurrent with everything but destroy.
 * Calls back: backend deliver. Implements §6.1.4.5.
 */
LIBMSIX_EXPORT int libmsix_notify(struct libmsix_dev *dev, uint32_t vector);

/**
 * libmsix_clear_pending() - the cause of @vector went away (level
 * deassert, R24): its pending bit is cleared and the next unmask sends
 * nothing.
 * Return: 0; -EINVAL for @vector >= N.
 * Context: any thread, lock-free.
 */
LIBMSIX_EXPORT int libmsix_clear_pending(struct libmsix_dev *dev,
					 uint32_t vector);

/**
 * libmsix_vector_use() - the device model takes a reference on @vector. A
 * vector with use count 0 is unused: notify drops it and the engine holds no
 * host resource for it.
 * Return: 0; -EINVAL for @vector >= N; -EOVERFLOW at 65535 references; or a
 * backend -errno if the vector became live and the backend refused (the
 * reference is still taken, the vector stays blocked).
 * Context: any thread but the hot path's. Calls back: backend ops, @fault.
 */
LIBMSIX_EXPORT int libmsix_vector_use(struct libmsix_dev *dev, uint32_t vector);

/**
 * libmsix_vector_unuse() - drop a reference; at 0 the pending bit is cleared
 * and host resources for the vector are released (with live resize).
 * Return: 0; -EINVAL for @vector >= N or a use count already 0.
 * Context: as libmsix_vector_use().
 */
LIBMSIX_EXPORT int libmsix_vector_unuse(struct libmsix_dev *dev,
					uint32_t vector);

/** libmsix_vector_use_all() - libmsix_vector_use() on every vector, one commit.
 * Return: 0; -EOVERFLOW (nothing changed); or a backend -errno.
 * Context: as libmsix_vector_use(). */
LIBMSIX_EXPORT int libmsix_vector_use_all(struct libmsix_dev *dev);

/** libmsix_vector_unuse_all() - set every use count to 0, one commit.
 * Return: 0, or a backend -errno (state is still unused; logged).
 * Context: as libmsix_vector_use(). */
LIBMSIX_EXPORT int libmsix_vector_unuse_all(struct libmsix_dev *dev);

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

/**
 * libmsix_begin() - open a transaction: guest accesses and API calls on
 * this device (from this thread; other threads wait) stage backend work
 * until libmsix_commit(). Nests. Use around bursts such as migration restore.
 * Interrupts of vectors that go live inside the transaction latch until the
 * commit and are delivered then.
 * Return: 0; -EDEADLK when nested deeper than 255.
 * Context: control threads; holds the device lock until the outermost commit.
 */
LIBMSIX_EXPORT int libmsix_begin(struct libmsix_dev *dev);

/**
 * libmsix_commit() - close a transaction; the outermost one applies all
 * staged backend work in one backend commit (none if nothing changed).
 * Return: 0; -EPERM, at once and with nothing changed, when the calling
 * thread has no transaction open on @dev (none is, or another thread's
 * is: only the thread that called libmsix_begin() may commit it); or the
 * backend -errno (the vectors that could not go live stay blocked; see
 * libmsix_fault_fn).
 * Context: the thread that called libmsix_begin().
 */
LIBMSIX_EXPORT int libmsix_commit(struct libmsix_dev *dev);

/**
 * libmsix_retry() - try again to make live every vector that a backend
 * failure left blocked (e.g. after the VMM freed budget), and to undo
 * everything else a rolled-back commit left at the host: a host vector
 * still unmasked under a guest mask, still held after a disable, reset or
 * unuse, or a preallocation missing.
 * Return: 0 when none remains blocked by a fault, else the backend -errno.
 * Context: control threads. Calls back: backend ops, @fault.
 */
LIBMSIX_EXPORT int libmsix_retry(struct libmsix_dev *dev);

/* ------------------------------------------------------------------------ */
/* Snapshots (migration, save/restore)                                       */
/* ------------------------------------------------------------------------ */

/**
 * libmsix_save_size() - bytes libmsix_save() writes for @dev.
 * Return: 24 + 18 * N + 8 * ceil(N / 64); 0 for NULL.
 * Context: any thread; N never changes, so it takes no lock.
 */
LIBMSIX_EXPORT size_t libmsix_save_size(const struct libmsix_dev *dev);

/**
 * libmsix_save() - serialise everything libmsix owns of the function: MSI-X
 * Enable, Function Mask, Bus Master, every table entry, the PBA and the use
 * counts. Format: a versioned little-endian blob (README, "Snapshots").
 * @buf:  destination; @size: its size in bytes, >= libmsix_save_size().
 * PBA bits of masked vectors whose interrupts wait at the host are polled
 * in first, so nothing the backend caught is left behind.
 * Return: bytes written; -EINVAL for NULL; -ENOSPC when @size is too small.
 * Context: control threads; notify may run concurrently (a racing notify
 * is either in the blob or delivered on the source). Calls back: poll.
 */
LIBMSIX_EXPORT long libmsix_save(struct libmsix_dev *dev, void *buf,
				 size_t size);

/**
 * libmsix_load() - restore a blob from libmsix_save() into @dev, which
 * must have the same N. The blob is untrusted input: magic, version, sizes,
 * reserved bits (Vector Control bits 31:1, Message Address bits 1:0, PBA
 * bits >= N, unknown flags) are all checked before anything changes.
 * Restored use counts replace the current ones: a device model must not
 * take its references again. All backend work is one commit; a vector
 * restored live with its pending bit set is delivered once (unlike QEMU's
 * virtio path, pending bits are never dropped on load).
 * Return: 0; -EINVAL for a malformed blob or a different N (nothing
 * changed); or a backend -errno (state restored; the vectors that could not
 * go live stay blocked, see libmsix_fault_fn).
 * Context: control threads. Calls back: backend ops, @fault, @intx.
 */
LIBMSIX_EXPORT int libmsix_load(struct libmsix_dev *dev, const void *buf,
				size_t len);

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

/** Host-side binding of a vector, for struct libmsix_vector_info.host. */
#define LIBMSIX_HOST_ALLOCATED (1u << 0) /**< host vector held */
#define LIBMSIX_HOST_ROUTED (1u << 1)    /**< route set for @routed_msg */
#define LIBMSIX_HOST_UNMASKED (1u << 2)  /**< backend delivers it */
#define LIBMSIX_HOST_FAULT (1u << 3)     /**< backend refused; blocked */

/**
 * struct libmsix_vector_info - one vector as libmsix sees it.
 * @masked:       Vector Control Mask bit. @pending: PBA bit.
 * @live:         would be delivered now. @use_count: references.
 * @msg:          message in the table entry.
 * @vector_control: the whole Vector Control DWORD as the guest reads it.
 * @host:         LIBMSIX_HOST_* bits. A vector masked without the lock
 *                (libmsix_mmio_write(), backends with no mask op) keeps
 *                LIBMSIX_HOST_UNMASKED: its backend has nothing to mask, and
 *                @live says it is not delivered.
 */
struct libmsix_vector_info {
	bool masked;
	bool pending;
	bool live;
	uint32_t use_count;
	struct libmsix_msg msg;
	uint32_t vector_control;
	uint32_t host;
};

/** libmsix_get_vector_info() - fill @info for @vector.
 * Return: 0; -EINVAL for @vector >= N or NULL. Context: any thread. */
LIBMSIX_EXPORT int libmsix_get_vector_info(struct libmsix_dev *dev,
					   uint32_t vector,
					   struct libmsix_vector_info *info);

/**
 * struct libmsix_stats - monotonically increasing event counts.
 */
struct libmsix_stats {
	uint64_t notified;		/**< libmsix_notify() calls in range */
	uint64_t delivered;		/**< messages sent by notify */
	uint64_t latched;		/**< notifies that set a pending bit */
	uint64_t replayed;		/**< pending bits delivered on unmask */
	uint64_t dropped;		/**< notifies dropped (disabled/unused) */
	uint64_t deliver_errors;	/**< backend deliver failures */
	uint64_t spurious_replays;	/**< deliveries after disruptive re-enables */
	uint64_t disruptive_reenables;	/**< NORESIZE release-all + re-alloc */
	uint64_t be_alloc;		/**< backend alloc calls */
	uint64_t be_release;		/**< backend release calls */
	uint64_t be_route;		/**< backend route calls */
	uint64_t be_unroute;		/**< backend unroute calls */
	uint64_t be_mask;		/**< backend mask calls */
	uint64_t be_unmask;		/**< backend unmask calls */
	uint64_t be_commit;		/**< backend commits */
	uint64_t be_errors;		/**< backend op or commit failures */
	uint64_t faults;		/**< vectors left blocked by a failure */
	uint64_t bad_accesses;		/**< ignored guest accesses */
	uint64_t host_vectors;		/**< host vectors held now (not monotonic) */
	uint64_t host_vectors_peak;	/**< most host vectors held at once */
	/** range allocs refused with -ENOSPC (a pool shared with other
	 *  devices ran short) after which asking one vector at a time got
	 *  at least one: the transaction went on without the refused ones */
	uint64_t alloc_splits;
};

/** libmsix_get_stats() - snapshot of the counters. Context: any thread.
 * Return: 0; -EINVAL for NULL. */
LIBMSIX_EXPORT int libmsix_get_stats(struct libmsix_dev *dev,
				     struct libmsix_stats *out);

/** libmsix_nr_vectors() - N, the number of table entries.
 * Return: 1..2048; 0 for NULL. Context: any thread, lock-free. */
LIBMSIX_EXPORT uint32_t libmsix_nr_vectors(const struct libmsix_dev *dev);

/** libmsix_enabled() - MSI-X Enable as the guest last wrote it.
 * Return: the bit; false for NULL. Context: any thread but a callback of
 * the same device (it takes the device lock). */
LIBMSIX_EXPORT bool libmsix_enabled(struct libmsix_dev *dev);

/** libmsix_function_masked() - Function Mask as the guest last wrote it.
 * Return: the bit; false for NULL. Context: as libmsix_enabled(). */
LIBMSIX_EXPORT bool libmsix_function_masked(struct libmsix_dev *dev);

/** libmsix_policy_name() - the name of @policy, for logs and options.
 * Return: "auto", "lazy", "preallocate", "incremental" (static strings), or
 * NULL for an unknown value. Context: any thread. */
LIBMSIX_EXPORT const char *libmsix_policy_name(enum libmsix_policy policy);

/* ------------------------------------------------------------------------ */
/* Recording backend (for tests, yours and ours)                             */
/* ------------------------------------------------------------------------ */

/** Op kinds in a recording. */
enum libmsix_rec_kind {
	LIBMSIX_REC_ALLOC = 1,
	LIBMSIX_REC_RELEASE,
	LIBMSIX_REC_ROUTE,
	LIBMSIX_REC_UNROUTE,
	LIBMSIX_REC_MASK,
	LIBMSIX_REC_UNMASK,
	LIBMSIX_REC_COMMIT,
	LIBMSIX_REC_ABORT,
	LIBMSIX_REC_DELIVER,
	LIBMSIX_REC_POLL,
};

/** One recorded op. @start/@count for alloc/release, @start = vector else.
 * @msg for route and deliver. @err is what the op returned. */
struct libmsix_rec_op {
	enum libmsix_rec_kind kind;
	uint32_t start;
	uint32_t count;
	struct libmsix_msg msg;
	int err;
};

struct libmsix_recorder;

/**
 * LIBMSIX_RECORDER_DELIVER_ONLY - libmsix_recorder_create() flag: the
 * recorder has no route, unroute, mask, unmask or poll op, like the backend
 * of an emulated device whose deliver injects the MSI. Without
 * LIBMSIX_BE_NORESIZE, masking and unmasking a live vector then takes no
 * device lock and calls no op (libmsix_mmio_write()).
 */
#define LIBMSIX_RECORDER_DELIVER_ONLY (1u << 31)

/**
 * libmsix_recorder_create() - a backend that records every op.
 * @flags:       LIBMSIX_BE_* it claims (0: resizes live; LIBMSIX_BE_NORESIZE),
 *               and optionally LIBMSIX_RECORDER_DELIVER_ONLY.
 * @max_vectors: budget; alloc beyond it fails with -ENOSPC. 0: unlimited.
 * @out:         receives the recorder.
 * It enforces the backend contract: it tracks staged versus committed host
 * vectors, routes and masks, checks order and ranges, and counts any
 * violation (libmsix_recorder_violations()).
 * Return: 0; -EINVAL for NULL @out or an unknown flag; -ENOMEM.
 * Context: any thread; its ops are thread-safe.
 */
LIBMSIX_EXPORT int libmsix_recorder_create(uint32_t flags, uint32_t max_vectors,
					   struct libmsix_recorder **out);
/** libmsix_recorder_destroy() - free; NULL allowed. Destroy the device that
 * uses it first. Context: any thread; no other call on @rec may run. */
LIBMSIX_EXPORT void libmsix_recorder_destroy(struct libmsix_recorder *rec);
/** libmsix_recorder_backend() - the embedded backend to pass to
 * libmsix_dev_create(). Return: it; NULL for NULL. Context: any thread. */
LIBMSIX_EXPORT struct libmsix_backend *
libmsix_recorder_backend(struct libmsix_recorder *rec);
/**
 * libmsix_recorder_fail() - make the @k-th op from now (1 = the next one)
 * whose kind is @kind (0: any kind but deliver) fail with @err (a negative
 * errno). k = 0 cancels. A failing commit leaves the committed state as it
 * was, as the contract demands.
 * Return: 0; -EINVAL for a non-negative @err or NULL.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_recorder_fail(struct libmsix_recorder *rec,
					 enum libmsix_rec_kind kind,
					 uint32_t k, int err);
/** struct libmsix_rec_rule.vector: an op on any vector, commit and abort too. */
#define LIBMSIX_REC_ANY_VECTOR UINT32_MAX

/**
 * struct libmsix_rec_rule - which recorded ops to fail, for
 * libmsix_recorder_add_rule().
 * @size:   sizeof(struct libmsix_rec_rule) as the caller compiled it.
 * @kind:   the op kind; 0: any kind but deliver.
 * @vector: an op on this vector (alloc and release: a range that holds
 *          it; never commit or abort), or LIBMSIX_REC_ANY_VECTOR.
 * @skip:   matching ops to let through before the first failure.
 * @times:  matching ops to fail then; 0: every one from then on.
 * @err:    what they return, a negative errno.
 * "Fail vector 6's next alloc": { kind ALLOC, vector 6, times 1 }; "fail
 * every alloc of vector 6": the same with times 0. An alloc refused so
 * fails the whole range it was asked for, as a backend would.
 */
struct libmsix_rec_rule {
	size_t size;
	enum libmsix_rec_kind kind;
	uint32_t vector;
	uint32_t skip;
	uint32_t times;
	int err;
};

/**
 * libmsix_recorder_add_rule() - add a failure rule; rules apply together
 * (up to 16), and with libmsix_recorder_fail(). Every rule an op matches
 * counts it; the op returns the @err of the first rule past its @skip. A
 * rule that has failed @times ops goes.
 * Return: 0; -EINVAL for NULL, a @rule->size below sizeof(size_t), an unknown @kind, a
 * non-negative @err or a @vector >= 2048 other than
 * LIBMSIX_REC_ANY_VECTOR; -ENOSPC with 16 rules already.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_recorder_add_rule(struct libmsix_recorder *rec,
					     const struct libmsix_rec_rule *rule);
/** libmsix_recorder_clear_rules() - drop every rule; NULL allowed.
 * Context: any thread. */
LIBMSIX_EXPORT void libmsix_recorder_clear_rules(struct libmsix_recorder *rec);
/** libmsix_recorder_count() - ops recorded so far (since the last clear).
 * Return: the count; 0 for NULL. Context: any thread. */
LIBMSIX_EXPORT size_t libmsix_recorder_count(struct libmsix_recorder *rec);
/** libmsix_recorder_op() - the @i-th op recorded, from 0.
 * Return: a pointer valid until the next op or clear; NULL for NULL or @i
 * out of range. Context: any thread, while no op runs on the recorder. */
LIBMSIX_EXPORT const struct libmsix_rec_op *
libmsix_recorder_op(struct libmsix_recorder *rec, size_t i);
/** libmsix_recorder_count_kind() - ops of @kind recorded so far.
 * Return: the count; 0 for NULL. Context: any thread. */
LIBMSIX_EXPORT size_t libmsix_recorder_count_kind(struct libmsix_recorder *rec,
						  enum libmsix_rec_kind kind);
/** libmsix_recorder_clear() - forget recorded ops (not the host state);
 * NULL allowed. Context: any thread. */
LIBMSIX_EXPORT void libmsix_recorder_clear(struct libmsix_recorder *rec);
/**
 * libmsix_recorder_host() - committed host state of @vector (0..2047).
 * Return: LIBMSIX_HOST_ALLOCATED | ROUTED | UNMASKED bits; 0 for NULL or
 * @vector out of range. Context: any thread.
 */
LIBMSIX_EXPORT uint32_t libmsix_recorder_host(struct libmsix_recorder *rec,
					      uint32_t vector);
/** libmsix_recorder_violations() - backend-contract violations seen.
 * Return: the count (a correct libmsix makes 0); 0 for NULL.
 * Context: any thread. */
LIBMSIX_EXPORT size_t libmsix_recorder_violations(struct libmsix_recorder *rec);
/** libmsix_recorder_set_poll() - make the next poll of @vector (0..2047)
 * return 1 once, as a host interrupt caught while masked would.
 * Return: 0; -EINVAL for NULL or @vector out of range. Context: any thread. */
LIBMSIX_EXPORT int libmsix_recorder_set_poll(struct libmsix_recorder *rec,
					     uint32_t vector);

#ifdef __cplusplus
}
#endif

#endif /* LIBMSIX_H */
