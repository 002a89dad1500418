/* SPDX-License-Identifier: MIT */
/*
 * libmsix KVM backend: MSI-X vectors delivered into a KVM guest through GSI
 * routes and irqfds (linux/kvm.h), or through KVM_SIGNAL_MSI alone.
 *
 * Two objects:
 *
 *   struct libmsix_kvm_vm  one per KVM VM: the VM's GSI route table. It is
 *                          VM-wide because KVM_SET_GSI_ROUTING replaces the
 *                          whole table: every upload must carry the routes
 *                          of every device and the VMM's own (irqchip) routes.
 *                          It owns the GSI pool and the budgets.
 *   struct libmsix_kvm     one per device: a libmsix backend (pass
 *                          libmsix_kvm_backend() to libmsix_dev_create()).
 *
 * Per vector with LIBMSIX_KVM_F_IRQFD: alloc reserves a GSI and creates the
 * vector's eventfd; route stages an MSI routing entry (address, data) for the
 * GSI; unmask assigns the irqfd (eventfd -> GSI); mask deassigns it; commit
 * applies everything in one KVM_SET_GSI_ROUTING of the whole table when the
 * table changed (none otherwise), with the irqfd ioctls ordered around it:
 * deassign before a route disappears, assign only after the route exists
 * (cloud-hypervisor #3827, #6348). Whoever produces the vector's interrupts
 * (a VFIO trigger, vhost, an I/O thread) writes libmsix_kvm_vector_eventfd().
 * Without LIBMSIX_KVM_F_IRQFD (emulated device models) a vector needs no GSI:
 * libmsix_notify() delivers with KVM_SIGNAL_MSI.
 *
 * Deferred routing (the default for devices with a fallback callback; see
 * libmsix_kvm_vm_set_routing()): a vector that goes live with a route KVM
 * does not have yet is served by the VMM through its eventfd until
 * libmsix_kvm_vm_flush() or the time bound uploads every waiting route at
 * once: one upload per guest bring-up instead of one per vector.
 *
 * Threads: a libmsix_kvm_vm may be shared by devices on different threads;
 * its functions take its own lock. Backend ops run under the libmsix device
 * lock (see struct libmsix_backend_ops) and then take the VM lock; the VMM
 * must not hold the VM in a callback of its own when calling back into it.
 *
 * Return convention as libmsix.h: 0 or -errno; on error nothing changed.
 * A VMM's -EINVAL from a call on a VM, or on a device of one, is logged
 * through the VM's sink (struct libmsix_kvm_vm_config.log), naming the
 * argument and the rule; libmsix_kvm_vm_create()'s through its @cfg's.
 * docs/kvm.md describes the design, the measurements and the choices.
 */
#ifndef LIBMSIX_KVM_H
#define LIBMSIX_KVM_H

#include <linux/kvm.h>

#include "libmsix.h"

#ifdef __cplusplus
extern "C" {
#endif

struct libmsix_kvm_vm;
struct libmsix_kvm;

/**
 * libmsix_kvm_ioctl_fn - how libmsix issues an ioctl on the VM fd.
 * @opaque:  struct libmsix_kvm_vm_config.ioctl_opaque.
 * @fd:      the VM fd. @request, @arg: as ioctl(2).
 * Return: the ioctl's non-negative result, or -errno.
 * Must be thread-safe: KVM_SIGNAL_MSI is issued from libmsix_notify() on any
 * thread. For tracing, sandboxed VMMs that forward ioctls, and tests.
 */
typedef int (*libmsix_kvm_ioctl_fn)(void *opaque, int fd, unsigned long request,
				    void *arg);

/**
 * The VM has KVM's in-kernel PIC and IOAPIC (x86 KVM_CREATE_IRQCHIP): GSIs
 * 0-23 are the VMM's, and KVM's default routes for them (40 entries: IOAPIC
 * pins 0-23, PIC pins for 0-15) are kept in every upload until the VMM
 * replaces them with libmsix_kvm_vm_set_routes().
 */
#define LIBMSIX_KVM_VM_X86_IRQCHIP (1u << 0)

/**
 * struct libmsix_kvm_vm_config - a VM's route table.
 * @size:         sizeof(struct libmsix_kvm_vm_config) as compiled.
 * @flags:        LIBMSIX_KVM_VM_*; unknown bits are -EINVAL.
 * @vm_fd:        the KVM VM fd (KVM_CREATE_VM); not owned, must outlive the
 *                object; the VM must have an in-kernel irqchip (full or
 *                split) for irqfd and MSI routes.
 * @max_routes:   0: the table holds what KVM_CHECK_EXTENSION(
 *                KVM_CAP_IRQ_ROUTING) says (KVM_MAX_IRQ_ROUTES, 4096 on
 *                x86); otherwise at most this many (GSIs and entries), e.g.
 *                to leave room for routes the VMM sets behind libmsix's back
 *                (it must not: the next upload would erase them).
 * @ioctl:        NULL for ioctl(2); see libmsix_kvm_ioctl_fn.
 * @ioctl_opaque: passed to @ioctl.
 * @log, @log_level, @opaque: as struct libmsix_config (log sink, highest
 *                syslog level, 0 = LOG_WARNING). Messages are rate-limited.
 */
struct libmsix_kvm_vm_config {
	size_t size;
	uint32_t flags;
	int vm_fd;
	uint32_t max_routes;
	libmsix_kvm_ioctl_fn ioctl;
	void *ioctl_opaque;
	libmsix_log_fn log;
	int log_level;
	void *opaque;
};

/**
 * libmsix_kvm_vm_create() - the route table of one VM, empty but for the
 * routes LIBMSIX_KVM_VM_X86_IRQCHIP keeps. Nothing is uploaded yet.
 * @cfg: copied. @out: receives the object.
 * Return: 0; -EINVAL for NULL, a @cfg->size below sizeof(size_t), unknown flags or a
 * negative @vm_fd; -ENOTSUP when KVM lacks KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD
 * or KVM_CAP_SIGNAL_MSI; -ENXIO (logged) when the VM has no in-kernel
 * irqchip (neither KVM_CREATE_IRQCHIP nor KVM_CAP_SPLIT_IRQCHIP; checked on
 * x86, where KVM would otherwise refuse every later KVM_SIGNAL_MSI, route
 * and irqfd with a bare -EINVAL); -ENOSPC when the table cannot hold the
 * irqchip routes; the -errno of KVM_CHECK_EXTENSION; -ENOMEM.
 * Context: any thread. Calls: KVM_CHECK_EXTENSION on @vm_fd, and on x86
 * KVM_IRQ_LINE at level 0 on the table's last GSI (no route is there yet;
 * level 0 injects nothing), whose -ENXIO means no in-kernel irqchip.
 */
LIBMSIX_EXPORT int libmsix_kvm_vm_create(const struct libmsix_kvm_vm_config *cfg,
					 struct libmsix_kvm_vm **out);

/**
 * libmsix_kvm_vm_destroy() - free the table. Routes stay in KVM as last
 * uploaded. NULL is allowed.
 * Return: 0; -EBUSY while a libmsix_kvm of the VM still uses it (nothing
 * freed: destroy the devices first), as libmsix_ims_store_destroy().
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_kvm_vm_destroy(struct libmsix_kvm_vm *vm);

/**
 * libmsix_kvm_vm_reserve() - GSIs [@first, @first + @count) become the
 * VMM's: no device gets them, and the VMM sets their routes with
 * libmsix_kvm_vm_set_routes().
 * Return: 0; -EINVAL for @count 0 or a range beyond the table; -EBUSY when a
 * GSI in the range is already the VMM's or a device's; -ENOSPC when the
 * range would take GSIs that device reservations count on.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_kvm_vm_reserve(struct libmsix_kvm_vm *vm,
					  uint32_t first, uint32_t count);

/**
 * libmsix_kvm_vm_set_routes() - replace the VMM's own routes (irqchip pins,
 * its own MSI routes) with @entries and upload the VM table once if it
 * changed. Every entry's GSI must be reserved (libmsix_kvm_vm_reserve() or
 * LIBMSIX_KVM_VM_X86_IRQCHIP). The routes are kept in every later upload.
 * @entries: @nr entries as KVM_SET_GSI_ROUTING takes them; copied.
 * Return: 0; -EINVAL for NULL with @nr > 0 or an entry on a GSI that is not
 * the VMM's; -ENOSPC when devices' GSIs plus @nr exceed the table; -ENOMEM;
 * or the -errno of KVM_SET_GSI_ROUTING (the old routes stay, in KVM too).
 * Context: any thread. Calls: KVM_SET_GSI_ROUTING.
 */
LIBMSIX_EXPORT int
libmsix_kvm_vm_set_routes(struct libmsix_kvm_vm *vm,
			  const struct kvm_irq_routing_entry *entries,
			  uint32_t nr);

/**
 * struct libmsix_kvm_vm_stats - the VM's GSI budget (the 2011 Tsirkin/Kiszka
 * thread: reserve up front, or overcommit knowingly and be told).
 * @capacity:     routes the table holds (GSIs 0..capacity-1; as many entries).
 * @vmm_gsis:     GSIs reserved by the VMM. @vmm_entries: its routes.
 * @reserved:     GSIs devices reserved at creation (guaranteed to them).
 * @demand:       GSIs devices would hold if the guest used every vector:
 *                the sum of their N (irqfd devices only).
 * @held:         GSIs devices hold now. @peak: most held at once.
 * @available:    GSIs nobody holds or is guaranteed: what overcommitting
 *                devices can still get.
 * @overcommit:   demand beyond what reservations and @available can cover
 *                (0: every vector of every device can get a GSI).
 * @exhausted:    allocations refused (-ENOSPC) or served by fallback.
 * @fallbacks:    vectors that went live with userspace injection.
 * @uploads:      KVM_SET_GSI_ROUTING calls that succeeded. @upload_errors.
 * @deferred:     vectors live through userspace now, waiting for the batch
 *                (libmsix_kvm_vm_set_routing()). @flushes: batches flushed.
 */
struct libmsix_kvm_vm_stats {
	uint32_t capacity;
	uint32_t vmm_gsis;
	uint32_t vmm_entries;
	uint32_t reserved;
	uint32_t demand;
	uint32_t held;
	uint32_t peak;
	uint32_t available;
	uint32_t overcommit;
	uint64_t exhausted;
	uint64_t fallbacks;
	uint64_t uploads;
	uint64_t upload_errors;
	uint32_t deferred;
	uint64_t flushes;
};

/** libmsix_kvm_vm_get_stats() - fill @out. Return: 0; -EINVAL for NULL.
 * Context: any thread. */
LIBMSIX_EXPORT int libmsix_kvm_vm_get_stats(struct libmsix_kvm_vm *vm,
					    struct libmsix_kvm_vm_stats *out);

/* ------------------------------------------------------------------------ */
/* Deferred routing                                                          */
/* ------------------------------------------------------------------------ */

/**
 * enum libmsix_kvm_routing_mode - when a new route reaches KVM.
 *
 * A Linux guest brings up N vectors one request_irq() at a time: each writes
 * its entry's message and unmasks it, a guest access of its own. Every
 * KVM_SET_GSI_ROUTING replaces the whole table and waits for an SRCU grace
 * period, so one upload per unmask makes a bring-up cost N uploads and about
 * N^2/2 route entries (QEMU's behaviour; docs/numbers.md has the times).
 */
enum libmsix_kvm_routing_mode {
	/** Every commit that changes a route uploads the table before the
	 *  vector's irqfd is assigned: one upload per guest unmask that
	 *  brings a new message. No VMM involvement. What devices without a
	 *  fallback callback get in either mode; a VMM that wants it for
	 *  every device sets it with libmsix_kvm_vm_set_routing(). */
	LIBMSIX_KVM_ROUTING_IMMEDIATE = 0,
	/** A vector that goes live with a route KVM does not have yet (new,
	 *  or a message rewritten, e.g. an affinity change) goes live at once
	 *  through userspace: its eventfd is handed to the VMM (the device's
	 *  libmsix_kvm_fallback_fn), which reads it with libmsix_kvm_consume()
	 *  and calls libmsix_notify() (KVM_SIGNAL_MSI). Its route waits in a
	 *  batch. libmsix_kvm_vm_flush(), or a bound of struct
	 *  libmsix_kvm_routing, uploads the batch in one KVM_SET_GSI_ROUTING
	 *  and assigns the irqfds; then the VMM is told to stop polling.
	 *  The trade: until the flush, those interrupts travel through a VMM
	 *  thread (microseconds each) instead of KVM's irqfd. Applies to irqfd
	 *  devices that have a fallback callback; the others stay immediate.
	 *  The mode of a new VM, with max_delay_ns
	 *  LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS and no max_routes: a device
	 *  with a fallback callback is one whose VMM already polls its
	 *  eventfds, so it defers without any call. Safe without a flush: a
	 *  waiting vector is served by the VMM's poll until its route is up,
	 *  so nothing is lost if the VMM never calls libmsix_kvm_vm_flush().
	 *  When the guest goes quiet before the bound, nothing flushes until
	 *  the next commit or libmsix_kvm_consume() of the VM after the
	 *  deadline: that one flushes, so a waiting vector's first interrupt
	 *  past the deadline moves it to its irqfd. Mask and unmask of a
	 *  vector whose route KVM has upload nothing in either mode. */
	LIBMSIX_KVM_ROUTING_DEFERRED,
};

/**
 * LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS - max_delay_ns of a new VM: 4 ms.
 * Long enough to hold a Linux guest's bring-up burst in one batch: each
 * request_irq() is a few table writes and an unmask, MMIO exits of some
 * microseconds each, so tens to hundreds of vectors come up well within it
 * (one upload instead of N; on this project's machine one upload with the
 * irqfds of 2048 vectors takes about 4 ms, 2048 uploads 1.2 to 1.8 s,
 * docs/numbers.md). Short enough that a vector stays on the userspace path
 * (eventfd -> VMM thread -> KVM_SIGNAL_MSI, microseconds more per
 * interrupt, still delivered) for about one scheduler tick at HZ=250, not
 * for the guest's lifetime. A slower bring-up just takes one upload per
 * 4 ms of it.
 */
#define LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS 4000000ull

/**
 * struct libmsix_kvm_routing - the VM's routing mode and the bounds of a
 * deferred batch. A bound of 0 is no bound.
 * @size:         sizeof(struct libmsix_kvm_routing) as compiled.
 * @mode:         enum libmsix_kvm_routing_mode.
 * @max_routes:   flush when this many vectors wait (any value; 1 makes
 *                every deferral flush at the end of its own commit).
 * @max_delay_ns: flush once the oldest waiting vector has waited this many
 *                nanoseconds (CLOCK_MONOTONIC), at most 10 s. libmsix checks
 *                it at every commit and libmsix_kvm_consume() of the VM; the
 *                VMM arms a timer with libmsix_kvm_vm_flush_deadline() so
 *                that it is also kept while the guest is idle.
 */
struct libmsix_kvm_routing {
	size_t size;
	enum libmsix_kvm_routing_mode mode;
	uint32_t max_routes;
	uint64_t max_delay_ns;
};

/**
 * libmsix_kvm_vm_set_routing() - choose the VM's routing mode and bounds
 * (a new VM is LIBMSIX_KVM_ROUTING_DEFERRED with max_delay_ns
 * LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS; set LIBMSIX_KVM_ROUTING_IMMEDIATE
 * for one upload per commit that changes a route, as before deferral).
 * Switching to LIBMSIX_KVM_ROUTING_IMMEDIATE flushes first. A bound already
 * reached by the vectors waiting now is flushed before this returns.
 * @rt: copied.
 * Return: 0; -EINVAL for NULL, a @rt->size below sizeof(size_t), an unknown mode or a
 * @max_delay_ns beyond 10 s; the -errno of the flush when leaving deferred
 * mode (the old mode stays; see libmsix_kvm_vm_flush()).
 * Context: any thread, not from a libmsix or backend callback. Calls:
 * KVM_SET_GSI_ROUTING, KVM_IRQFD (the flush); the devices'
 * libmsix_kvm_fallback_fn with the VM lock held.
 */
LIBMSIX_EXPORT int
libmsix_kvm_vm_set_routing(struct libmsix_kvm_vm *vm,
			   const struct libmsix_kvm_routing *rt);

/**
 * libmsix_kvm_vm_flush() - upload the deferred batch and move every waiting
 * vector of every device of the VM to its irqfd: one KVM_SET_GSI_ROUTING of
 * the whole table (none when KVM already has every route), then one
 * KVM_IRQFD assign per vector. An interrupt the VMM already read with
 * libmsix_kvm_consume() is the VMM's to deliver (libmsix_notify()); one
 * still in the eventfd at the assign is injected by KVM, once. Each
 * switched vector's libmsix_kvm_fallback_fn gets fd -1: stop polling.
 * Nothing is lost and nothing delivered twice across the switch, whatever
 * the VMM's poller does meanwhile (libmsix_kvm_consume() takes the same
 * lock and refuses an assigned irqfd; the count KVM's assign leaves
 * readable is dropped before the irqfd is ever deassigned). Cheap when
 * nothing waits: call it from the event loop whenever the guest's burst of
 * accesses is over, or from a timer.
 * Return: the number of vectors switched (0: nothing waited); -EINVAL for
 * NULL; the -errno of KVM_SET_GSI_ROUTING (nothing switched, all keep
 * waiting, served by the VMM) or of the first KVM_IRQFD that failed (that
 * vector keeps waiting, the others switched).
 * Context: any thread, not from a libmsix or backend callback; serialised
 * with the commits of the VM's devices by the VM lock. Calls:
 * KVM_SET_GSI_ROUTING and KVM_IRQFD on the VM fd; the fallback callbacks
 * with the VM lock held.
 */
LIBMSIX_EXPORT int libmsix_kvm_vm_flush(struct libmsix_kvm_vm *vm);

/**
 * libmsix_kvm_vm_flush_deadline() - when the time bound of the waiting
 * batch expires, for the VMM's timer: call libmsix_kvm_vm_flush() then.
 * @deadline_ns: receives a CLOCK_MONOTONIC time in nanoseconds (possibly
 *               past: flush now).
 * Return: 0; -ENOENT when nothing waits or no time bound is set (the VMM
 * flushes on its own schedule); -EINVAL for NULL.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_kvm_vm_flush_deadline(struct libmsix_kvm_vm *vm,
						 uint64_t *deadline_ns);

/* ------------------------------------------------------------------------ */
/* Per device                                                                */
/* ------------------------------------------------------------------------ */

/** Vectors get a GSI, a route and an irqfd (needed by external producers). */
#define LIBMSIX_KVM_F_IRQFD (1u << 0)
/** Overcommit (Kiszka): allocate GSIs beyond @reserve from the VM's free
 *  ones, lazily, at the risk of -ENOSPC (or fallback) at guest run time. */
#define LIBMSIX_KVM_F_FORCE (1u << 1)
/** When no GSI is left at run time, the vector goes live anyway with
 *  userspace injection: its eventfd is not an irqfd; the VMM polls it and
 *  calls libmsix_kvm_consume() + libmsix_notify() (KVM_SIGNAL_MSI). Without
 *  this flag the vector stays blocked and libmsix's fault callback fires. */
#define LIBMSIX_KVM_F_FALLBACK (1u << 2)

/**
 * libmsix_kvm_fallback_fn - vector @vector of the device went live without
 * an irqfd (@fd >= 0: poll it) or left that state (@fd = -1: stop polling).
 * Two reasons: no GSI was left (LIBMSIX_KVM_F_FALLBACK), or its route waits
 * in a deferred batch (LIBMSIX_KVM_ROUTING_DEFERRED) until a flush. Either
 * way the VMM reads a readable @fd with libmsix_kvm_consume() and calls
 * libmsix_notify() for each interrupt it returns.
 * Called at the end of the commit that did it (the libmsix device lock and
 * the VM lock held), or by a flush (the VM lock held, from the thread that
 * flushes); must not call into libmsix or this backend.
 */
typedef void (*libmsix_kvm_fallback_fn)(void *opaque, uint32_t vector, int fd);

/**
 * struct libmsix_kvm_config - one device on a VM.
 * @size:        sizeof(struct libmsix_kvm_config) as compiled.
 * @flags:       LIBMSIX_KVM_F_*; unknown bits are -EINVAL.
 * @nr_vectors:  N of the device, 1..2048.
 * @reserve:     GSIs reserved for the device now, 0..@nr_vectors (irqfd
 *               devices only; 0 needs LIBMSIX_KVM_F_FORCE). Without FORCE it
 *               is also the device's limit: libmsix faults vectors beyond it.
 * @fallback:    optional, see libmsix_kvm_fallback_fn. @opaque: for it.
 */
struct libmsix_kvm_config {
	size_t size;
	uint32_t flags;
	uint32_t nr_vectors;
	uint32_t reserve;
	libmsix_kvm_fallback_fn fallback;
	void *opaque;
};

/**
 * libmsix_kvm_create() - a backend for one device of @vm.
 * Return: 0; -EINVAL for NULL, a @cfg->size below sizeof(size_t), unknown flags, N outside
 * 1..2048, @reserve > N, @reserve > 0 without LIBMSIX_KVM_F_IRQFD, a GSI
 * budget of 0 (no @reserve, no FORCE) for an irqfd device, or FORCE or
 * FALLBACK without IRQFD; -ENOSPC when the VM cannot guarantee @reserve GSIs
 * (Tsirkin: fail at setup, not at guest run time); -ENOMEM.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_kvm_create(struct libmsix_kvm_vm *vm,
				      const struct libmsix_kvm_config *cfg,
				      struct libmsix_kvm **out);

/**
 * libmsix_kvm_destroy() - deassign the device's irqfds, remove its routes
 * (one upload if any remain), free its GSIs, close its eventfds, free it.
 * Call after libmsix_dev_destroy() of the device using it. NULL is allowed.
 * Context: any thread; no other call on @kvm may run. Calls:
 * KVM_IRQFD, KVM_SET_GSI_ROUTING.
 */
LIBMSIX_EXPORT void libmsix_kvm_destroy(struct libmsix_kvm *kvm);

/** libmsix_kvm_backend() - the backend to pass to libmsix_dev_create().
 * Return: it; NULL for NULL. Context: any thread. */
LIBMSIX_EXPORT struct libmsix_backend *
libmsix_kvm_backend(struct libmsix_kvm *kvm);

/**
 * libmsix_kvm_vector_eventfd() - the eventfd a producer writes to raise
 * @vector: the irqfd while the vector is live, caught by libmsix while it is
 * masked (libmsix_backend_ops.poll), polled by the VMM in fallback. Owned by
 * libmsix; valid from the alloc op (staged or committed) until its release
 * commits. Return: the fd; -EINVAL for @vector >= N; -ENOENT when the vector
 * holds no host vector. Context: inside libmsix_begin()/libmsix_commit() on
 * the device (which holds its lock), in a backend op, or while no libmsix
 * call on the device runs. A VMM handing the fd to another producer (vhost)
 * wants libmsix_kvm_vector_eventfd_get() instead.
 */
LIBMSIX_EXPORT int libmsix_kvm_vector_eventfd(struct libmsix_kvm *kvm,
					      uint32_t vector);

/**
 * libmsix_kvm_vector_eventfd_get() - for a VMM that wires a vector's
 * interrupts to a producer of its own (vhost's VHOST_SET_VRING_CALL, an I/O
 * thread): a duplicate of the eventfd @vector holds now (committed), and
 * the generation it belongs to.
 * @gen: receives libmsix_kvm_eventfd_generation() as of the copy; may be
 *       NULL.
 *
 * The eventfd of a vector is replaced whenever its host vector is released
 * and allocated again: unuse and use, MSI-X disable and enable, reset,
 * libmsix_load(), a backend failure rolled back. Every commit that replaces
 * one bumps the generation. A write to an old duplicate reaches no vector,
 * so the VMM compares libmsix_kvm_eventfd_generation() with @gen after
 * each call that can change it (those above, and guest config writes) or
 * in its event loop, and when it moved, fetches the fds again and points
 * its producers at them (closing the old duplicates).
 * Return: a new fd (O_CLOEXEC) that the caller owns; -EINVAL for NULL
 * @kvm or @vector >= N; -ENOENT when the vector holds no host vector now;
 * the -errno of fcntl(F_DUPFD_CLOEXEC).
 * Context: any thread, without the device lock (takes the VM's lock,
 * which commits hold while they change eventfds); not from a libmsix
 * callback.
 */
LIBMSIX_EXPORT int libmsix_kvm_vector_eventfd_get(struct libmsix_kvm *kvm,
						  uint32_t vector,
						  uint64_t *gen);

/**
 * libmsix_kvm_eventfd_generation() - changes every time a commit replaces
 * a vector's eventfd (see libmsix_kvm_vector_eventfd_get()).
 * Return: the generation; 0 for NULL. Context: any thread, lock-free.
 */
LIBMSIX_EXPORT uint64_t libmsix_kvm_eventfd_generation(struct libmsix_kvm *kvm);

/**
 * libmsix_kvm_vector_gsi() - the GSI @vector holds (committed or staged).
 * Return: 0..capacity-1; -EINVAL for @vector >= N; -ENOENT when it has none
 * (no host vector, or fallback). Context: as libmsix_kvm_vector_eventfd().
 */
LIBMSIX_EXPORT int libmsix_kvm_vector_gsi(struct libmsix_kvm *kvm,
					  uint32_t vector);

/**
 * libmsix_kvm_consume() - read (non-blocking) the eventfd of @vector, which
 * the VMM saw readable while the vector is in fallback.
 * Return: 1 when an interrupt was waiting (then call libmsix_notify() for
 * the vector: it delivers with KVM_SIGNAL_MSI, or latches while masked);
 * 0 when none; -EINVAL for @vector >= N; -ENOENT when it has no eventfd;
 * -EBUSY when the vector's eventfd is an assigned irqfd (KVM consumes it).
 * Flushes the VM's deferred batch when its time bound has expired (see
 * libmsix_kvm_vm_flush()), after the read.
 * Context: any thread; takes the VM lock, so it is serialised with commits
 * and flushes (a count it returns is never also injected by KVM). Calls:
 * read(2) on the eventfd; a due flush as libmsix_kvm_vm_flush().
 */
LIBMSIX_EXPORT int libmsix_kvm_consume(struct libmsix_kvm *kvm,
				       uint32_t vector);

/**
 * struct libmsix_kvm_stats - what the device's backend did (monotonic
 * unless said otherwise).
 * @route_uploads:   KVM_SET_GSI_ROUTING calls made by this device's commits
 *                   (rollback re-uploads included).
 * @irqfd_assign, @irqfd_deassign: KVM_IRQFD calls.
 * @signal_msi:      KVM_SIGNAL_MSI calls. @signal_msi_unmatched: those that
 *                   returned 0: no vCPU matched the message's destination
 *                   (counted as delivered: a real MSI to nobody is lost too).
 * @caught:          interrupts found in a masked vector's eventfd.
 * @gsis:            GSIs held now (not monotonic). @fallback_vectors: vectors
 *                   in fallback now (not monotonic).
 * @exhausted:       allocations that found no GSI. @errors: ioctls that failed.
 * @deferred_vectors: vectors live through userspace, waiting for the
 *                   deferred batch (not monotonic).
 */
struct libmsix_kvm_stats {
	uint64_t route_uploads;
	uint64_t irqfd_assign;
	uint64_t irqfd_deassign;
	uint64_t signal_msi;
	uint64_t signal_msi_unmatched;
	uint64_t caught;
	uint64_t gsis;
	uint64_t fallback_vectors;
	uint64_t exhausted;
	uint64_t errors;
	uint64_t deferred_vectors;
};

/** libmsix_kvm_get_stats() - fill @out. Return: 0; -EINVAL for NULL.
 * Context: any thread (the monotonic values are read without a lock). */
LIBMSIX_EXPORT int libmsix_kvm_get_stats(struct libmsix_kvm *kvm,
					 struct libmsix_kvm_stats *out);

/* ------------------------------------------------------------------------ */
/* Passthrough: a VFIO device whose vectors go straight into the VM          */
/* ------------------------------------------------------------------------ */

struct libmsix_vfio; /* include/libmsix-vfio.h */
struct libmsix_passthrough;

/**
 * enum libmsix_pt_mask - how a guest mask of a live passthrough vector is
 * applied at the host. Either way a mask+unmask cycle costs 2 ioctls, the
 * PBA is exact (an interrupt that arrives while masked is caught in an
 * eventfd libmsix reads) and unmask replays it once. docs/kvm.md has the
 * measurements behind the choice.
 */
enum libmsix_pt_mask {
	/** LIBMSIX_PT_MASK_SWAP for live vectors. A host vector that was
	 *  never unmasked is masked by its missing irqfd either way, so the
	 *  first unmask of a preallocated vector needs no SET_IRQS. */
	LIBMSIX_PT_MASK_AUTO = 0,
	/** VFIO_DEVICE_SET_IRQS moves the trigger to VFIO's mask eventfd; the
	 *  irqfd stays assigned (QEMU's way). Host: free_irq + request_irq. A
	 *  contiguous run of vectors (Function Mask) is one SET_IRQS. */
	LIBMSIX_PT_MASK_SWAP,
	/** KVM_IRQFD deassign; the device keeps signalling the irqfd's eventfd,
	 *  where the interrupt waits (cloud-hypervisor's and kvmtool's way).
	 *  Host: no IRQ churn, but one ioctl per vector and an irqfd shutdown
	 *  that waits for the whole machine. */
	LIBMSIX_PT_MASK_IRQFD,
};

/**
 * struct libmsix_passthrough_config - @size: sizeof as compiled; @flags:
 * none yet, must be 0; @mask: see enum libmsix_pt_mask.
 */
struct libmsix_passthrough_config {
	size_t size;
	uint32_t flags;
	enum libmsix_pt_mask mask;
};

/**
 * libmsix_passthrough_create() - a backend that composes a VFIO backend
 * (host vectors, triggers) and a KVM backend (GSIs, routes, irqfds,
 * KVM_SIGNAL_MSI) for one assigned device: device interrupt -> VFIO trigger
 * = the vector's irqfd eventfd -> KVM route -> MSI into a vCPU, without the
 * VMM on the path. Each libmsix op goes to the backend that implements it;
 * commit is all-or-nothing across both (the KVM half is undone when the
 * VFIO half fails). Its flags and budget are VFIO's (NORESIZE or dynamic)
 * capped by the KVM device's GSI budget.
 * @vfio: from libmsix_vfio_open()/adopt(), opened without a deliver
 *        callback or with one (unused: delivery is KVM_SIGNAL_MSI).
 * @kvm:  created with LIBMSIX_KVM_F_IRQFD and nr_vectors >= the VFIO
 *        device's IRQ count.
 * Both must outlive the passthrough; destroy the libmsix device first, then
 * this, then @kvm and @vfio. Neither may be used as a backend on its own
 * meanwhile.
 * Return: 0; -EINVAL for NULL, a @cfg->size below sizeof(size_t), flags, an unknown @mask,
 * a KVM device without IRQFD or with fewer vectors; -E2BIG for a larger
 * @cfg from a newer libmsix with members this one does not know set;
 * -ENOMEM. Each -EINVAL is logged, naming the argument and the rule,
 * through @vfio's log sink (struct libmsix_vfio_opts.log, with the
 * device's prefix), except a NULL @vfio: there is no sink then.
 * Context: any thread.
 */
LIBMSIX_EXPORT int
libmsix_passthrough_create(struct libmsix_vfio *vfio, struct libmsix_kvm *kvm,
			   const struct libmsix_passthrough_config *cfg,
			   struct libmsix_passthrough **out);

/** libmsix_passthrough_destroy() - free (after libmsix_dev_destroy()).
 * NULL is allowed. Context: any thread; no other call on @pt may run. */
LIBMSIX_EXPORT void
libmsix_passthrough_destroy(struct libmsix_passthrough *pt);

/** libmsix_passthrough_backend() - the backend for libmsix_dev_create().
 * Return: it; NULL for NULL. Context: any thread. */
LIBMSIX_EXPORT struct libmsix_backend *
libmsix_passthrough_backend(struct libmsix_passthrough *pt);

/**
 * struct libmsix_passthrough_stats - how masks were applied.
 * @masks_swap:  vectors masked by a VFIO trigger swap.
 * @masks_irqfd: vectors masked by KVM_IRQFD deassign.
 * @commits:     composed commits. @rollbacks: those undone (either half
 *               failed).
 * The ioctls themselves are in libmsix_vfio_get_stats() and
 * libmsix_kvm_get_stats().
 */
struct libmsix_passthrough_stats {
	uint64_t masks_swap;
	uint64_t masks_irqfd;
	uint64_t commits;
	uint64_t rollbacks;
};

/** libmsix_passthrough_get_stats() - fill @out. Return: 0; -EINVAL for
 * NULL (a NULL @out logged through the VFIO device's sink, a NULL @pt
 * cannot be). Context: any thread (read without a lock). */
LIBMSIX_EXPORT int
libmsix_passthrough_get_stats(struct libmsix_passthrough *pt,
			      struct libmsix_passthrough_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LIBMSIX_KVM_H */
