/* SPDX-License-Identifier: MIT */
/*
 * libmsix-vfio: a libmsix backend for a real PCI function behind Linux
 * VFIO (vfio-pci), and the helpers a VMM needs to mirror that function's
 * MSI-X capability to a guest.
 *
 * What it does, in the order a VMM meets it:
 *
 *   1. libmsix_vfio_open() opens the function by its sysfs address through
 *      the group/container API (/dev/vfio/vfio, /dev/vfio/<group>,
 *      VFIO_TYPE1v2_IOMMU), or libmsix_vfio_adopt() takes a device fd the
 *      VMM already has. Either reads VFIO_DEVICE_GET_IRQ_INFO for the MSI-X
 *      index and the device's MSI-X capability from its config region.
 *   2. libmsix_vfio_fill_config() fills the geometry of a struct
 *      libmsix_config (N, BIRs, offsets, BAR types and sizes) so the VMM can
 *      create the virtual capability with one libmsix_dev_create() on
 *      libmsix_vfio_backend().
 *   3. The lifecycle engine drives the backend; every commit becomes
 *      VFIO_DEVICE_SET_IRQS (DATA_EVENTFD | ACTION_TRIGGER), one ioctl per
 *      contiguous run of vectors whose trigger changes, fd -1 to release.
 *      A failed commit is undone ioctl by ioctl: the kernel is left exactly
 *      as it was (Chatre's dynamic MSI-X semantics, kernel >= 6.5).
 *   4. The VMM polls the eventfds libmsix_vfio_poll_fds() lists and calls
 *      libmsix_vfio_process() for a readable one; libmsix then delivers the
 *      vector's message through the deliver callback given at open.
 *
 * Masking. VFIO has no way to mask an MSI-X vector (VFIO_IRQ_SET_ACTION_MASK
 * on the MSI-X index returns ENOTTY on every kernel so far). Each vector has
 * two triggers: while the guest has it unmasked, the kernel signals its
 * "live" fd; while masked, its "mask" eventfd, owned by this library. An
 * interrupt caught on the mask eventfd sets the vector's pending bit (on a
 * PBA read or at unmask, through the backend's poll op, or when the VMM
 * processes that fd) and is replayed exactly once on unmask. A mask or an
 * unmask therefore costs one SET_IRQS (a free_irq + request_irq pair in the
 * host) and loses nothing.
 *
 * The live fd is by default an eventfd owned by this library that the VMM
 * polls (standalone: the VMM injects the message itself). For passthrough
 * with an in-kernel irqchip, libmsix_vfio_set_live_fd() points a vector's
 * live trigger at an external eventfd, e.g. a KVM irqfd's, so interrupts
 * bypass the VMM while the vector is unmasked.
 *
 * Host vectors. Without VFIO_IRQ_INFO_NORESIZE (dynamic MSI-X, Linux >= 6.5
 * on irq domains that support it) vectors are added and removed one at a
 * time while others stay live; the backend's flags are then 0 and the
 * engine's "auto" policy allocates lazily. With NORESIZE (the backend sets
 * LIBMSIX_BE_NORESIZE) the only
 * way to grow is to disable MSI-X and enable it again with more vectors
 * (the engine's prefix growth); the backend does that as one disable plus
 * one SET_IRQS over the whole new prefix.
 *
 * Bus Master. vfio-pci leaves the Bus Master bit of the function's Command
 * register off after open. While it is off the device cannot send MSI-X
 * messages: interrupts are silently dropped, not latched. A VMM that mirrors
 * the guest's Command register must pass the guest's Bus Master bit through
 * with libmsix_vfio_set_bus_master(); a VMM that does not must turn it on.
 *
 * Threads: every function here takes the backend's own lock; the backend
 * ops run with the device lock held by libmsix and then take this lock, so
 * the order is always device lock, then backend lock. libmsix_vfio_process()
 * drops the backend lock before it calls into libmsix. Nothing here blocks
 * except the ioctls themselves.
 *
 * Opening by address uses the legacy group/container path only. libmsix
 * does not open devices through iommufd (/dev/vfio/devices/vfioN +
 * /dev/iommu); a VMM that does can hand the device fd to
 * libmsix_vfio_adopt(), which needs nothing else -- that combination is
 * not tested here.
 */
#ifndef LIBMSIX_VFIO_H
#define LIBMSIX_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libmsix.h"

#ifdef __cplusplus
extern "C" {
#endif

struct libmsix_vfio;

/**
 * libmsix_vfio_deliver_fn - send one MSI-X message to the guest now.
 * @opaque: libmsix_vfio_opts.opaque.
 * @vector: 0..N-1.
 * @msg:    the message currently in the vector's virtual table entry.
 *
 * Return: 0 once the message is on its way; -errno when it cannot be sent
 * now: libmsix then latches the vector's pending bit (the guest sees it in
 * the PBA and the message is replayed at the next unmask) and counts
 * libmsix_stats.deliver_errors. The same convention as
 * libmsix_ims_deliver_fn and libmsix_backend_ops.deliver.
 *
 * Context: called from libmsix_notify(): from libmsix_vfio_process() on the
 * VMM's polling thread, and from the guest access that unmasks a vector
 * (replay of a pending bit). Must be thread-safe and must not call into
 * libmsix for the same device.
 */
typedef int (*libmsix_vfio_deliver_fn)(void *opaque, uint32_t vector,
				       const struct libmsix_msg *msg);

/**
 * struct libmsix_vfio_opts - how to open a VFIO device.
 * @size:      sizeof(struct libmsix_vfio_opts) as the caller compiled it.
 * @flags:     none defined yet; must be 0 (-EINVAL otherwise).
 * @deliver:   message sink for the backend's deliver op. May be NULL when
 *             the backend is composed with one that delivers (passthrough);
 *             deliver then fails with -EOPNOTSUPP and libmsix latches.
 * @log:       log sink (same type as the core's), NULL for silent.
 * @log_level: highest syslog level passed on; 0 means LOG_WARNING.
 * @opaque:    passed to @deliver and @log.
 */
struct libmsix_vfio_opts {
	size_t size;
	uint32_t flags;
	libmsix_vfio_deliver_fn deliver;
	libmsix_log_fn log;
	int log_level;
	void *opaque;
};

/**
 * libmsix_vfio_open() - open a vfio-pci function by its PCI address.
 * @address: sysfs address "DDDD:BB:DD.F", e.g. "0000:01:00.0".
 * @opts:    see struct libmsix_vfio_opts; copied.
 * @out:     receives the handle.
 *
 * Opens /dev/vfio/vfio, checks VFIO_API_VERSION and VFIO_TYPE1v2_IOMMU,
 * opens the group named by /sys/bus/pci/devices/@address/iommu_group, checks
 * that it is viable, attaches it to a new container with VFIO_TYPE1v2_IOMMU
 * (no DMA mappings are made) and gets the device fd. Then as
 * libmsix_vfio_adopt(). Owns and closes the container, group and device fds.
 * One group can be opened once: for a second device of the same group, open
 * it yourself and use libmsix_vfio_adopt().
 *
 * Return: 0; -EINVAL for NULL arguments, a @opts->size below sizeof(size_t), unknown flags
 * or a malformed address; -ENOENT when no such PCI device exists or the VFIO
 * driver is not loaded; -ENODEV when the device has no IOMMU group or is not
 * bound to a VFIO driver; -EACCES/-EPERM when the group or container cannot
 * be opened (permissions; VFIO_SET_IOMMU also returns -EPERM when the host
 * lacks interrupt remapping); -EBUSY when the group is not viable (another
 * device of the group is bound to a host driver) or already open;
 * -EPROTO for an unknown VFIO API version; -ENOTSUP when the host has no
 * type1v2 IOMMU, the device is not a PCI device or has no MSI-X; -ENOMEM;
 * or another -errno of the failing syscall. Every error is also logged with
 * what to check. On error nothing is left open.
 * Context: any thread. Calls back: @opts->log.
 */
LIBMSIX_EXPORT int libmsix_vfio_open(const char *address,
				     const struct libmsix_vfio_opts *opts,
				     struct libmsix_vfio **out);

/**
 * libmsix_vfio_adopt() - use a VFIO device fd the VMM already opened.
 * @device_fd: a vfio-pci device fd (from VFIO_GROUP_GET_DEVICE_FD or an
 *             iommufd cdev). Not closed by libmsix_vfio_close(): the caller
 *             keeps ownership and must keep it open until then.
 * @name:      name used in log messages (e.g. the PCI address); NULL: "fd N".
 * @opts, @out: as libmsix_vfio_open().
 *
 * Reads VFIO_DEVICE_GET_INFO, the config region, VFIO_DEVICE_GET_IRQ_INFO
 * of the MSI-X index (count becomes the backend's max_vectors; without
 * VFIO_IRQ_INFO_NORESIZE it sets LIBMSIX_BE_NORESIZE), the MSI-X
 * capability (walking the capability list) and the BAR regions.
 * The device must have MSI-X off at the host (no SET_IRQS on the MSI-X index
 * issued by anyone else), since the backend tracks what the kernel holds.
 *
 * Return: 0; -EINVAL for NULL @opts/@out, a @opts->size below sizeof(size_t), unknown flags
 * or a negative fd; -ENOTTY when @device_fd is not a VFIO device; -ENOTSUP
 * when it is not a PCI device or has no MSI-X capability or no MSI-X IRQ
 * index; -EIO when the config region cannot be read or the capability is
 * malformed; -ENOMEM.
 * Context: any thread. Calls back: @opts->log.
 */
LIBMSIX_EXPORT int libmsix_vfio_adopt(int device_fd, const char *name,
				      const struct libmsix_vfio_opts *opts,
				      struct libmsix_vfio **out);

/**
 * libmsix_vfio_close() - release everything: disable MSI-X at the host if
 * any vector is set up, close every eventfd this library created and the
 * fds libmsix_vfio_open() opened. Destroy the libmsix device that uses the
 * backend first (libmsix_dev_destroy()); after this call the backend is gone.
 * @vfio: NULL is allowed.
 * Context: any thread; no other call on @vfio may be running.
 */
LIBMSIX_EXPORT void libmsix_vfio_close(struct libmsix_vfio *vfio);

/**
 * libmsix_vfio_backend() - the backend to pass to libmsix_dev_create().
 * Its flags and max_vectors are set from VFIO_DEVICE_GET_IRQ_INFO. Its ops
 * may also be called by a composing backend (passthrough), with the same
 * contract as struct libmsix_backend_ops. Return: the embedded backend, or
 * NULL for NULL @vfio. Context: any thread.
 */
LIBMSIX_EXPORT struct libmsix_backend *
libmsix_vfio_backend(struct libmsix_vfio *vfio);

/** libmsix_vfio_device_fd() - the VFIO device fd, for the VMM's own BAR and
 * config accesses. Return: the fd (owned by @vfio when it opened it);
 * -1 for NULL. Context: any thread. */
LIBMSIX_EXPORT int libmsix_vfio_device_fd(const struct libmsix_vfio *vfio);

/**
 * struct libmsix_vfio_info - what open found.
 * @irq_count:   MSI-X count from VFIO_DEVICE_GET_IRQ_INFO (0..2048).
 * @irq_flags:   its VFIO_IRQ_INFO_* flags, raw.
 * @live_resize: !(irq_flags & VFIO_IRQ_INFO_NORESIZE).
 * @cap_offset:  config offset of the MSI-X capability.
 * @msgctl:      its Message Control register as read at open.
 * @table_size:  N from Message Control (Table Size + 1).
 * @table:       Table Offset/BIR register, raw. @pba: PBA Offset/BIR, raw.
 * @command:     the function's Command register as read at open.
 * @config_offset: file offset of the config region in the device fd.
 * @bar_offset:  file offset of each BAR region (valid when @bar_size != 0).
 * @bar_size:    size of each BAR region, bytes; 0 for a BAR the device
 *               does not have.
 * @bar_flags:   VFIO_REGION_INFO_FLAG_* of each BAR region.
 */
struct libmsix_vfio_info {
	uint32_t irq_count;
	uint32_t irq_flags;
	bool live_resize;
	uint16_t cap_offset;
	uint16_t msgctl;
	uint32_t table_size;
	uint32_t table;
	uint32_t pba;
	uint16_t command;
	uint64_t config_offset;
	uint64_t bar_offset[6];
	uint64_t bar_size[6];
	uint32_t bar_flags[6];
};

/** libmsix_vfio_get_info() - fill @info. Return: 0; -EINVAL for NULL.
 * Context: any thread. */
LIBMSIX_EXPORT int libmsix_vfio_get_info(struct libmsix_vfio *vfio,
					 struct libmsix_vfio_info *info);

/**
 * libmsix_vfio_fill_config() - mirror the real capability: set @cfg's
 * nr_vectors, header_type, cap_offset, next_cap, table_bir, table_offset,
 * pba_bir, pba_offset, bar_type[] and bar_size[] from the device. Every other
 * member (size, flags, policy, log, fault, intx, opaque) is left as the
 * caller set it. BAR types come from the BAR registers (I/O, 32- or 64-bit
 * memory; the upper half of a 64-bit BAR is LIBMSIX_BAR_NONE), sizes from
 * VFIO_DEVICE_GET_REGION_INFO. No device quirks are applied: a device whose
 * capability breaks the spec is rejected later by libmsix_dev_create().
 * Return: 0; -EINVAL for NULL. Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_vfio_fill_config(struct libmsix_vfio *vfio,
					    struct libmsix_config *cfg);

/**
 * libmsix_vfio_set_bus_master() - set or clear Bus Master Enable
 * (PCI_COMMAND_MASTER) in the real function's Command register through the
 * VFIO config region. Without it the device cannot send MSI-X messages and
 * vfio-pci leaves it off after open: interrupts are silently dropped, not
 * latched anywhere. This is the real register; libmsix_set_bus_master() is
 * the guest-visible one. Only the Bus Master bit is changed.
 * Return: 0; -EINVAL for NULL; -EIO when the config region access fails.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_vfio_set_bus_master(struct libmsix_vfio *vfio,
					       bool on);

/* ------------------------------------------------------------------------ */
/* Eventfds: the VMM polls, the library never waits                          */
/* ------------------------------------------------------------------------ */

/** struct libmsix_vfio_pollfd.kind values. */
#define LIBMSIX_VFIO_FD_LIVE 1u /**< library-owned live trigger of a vector */
#define LIBMSIX_VFIO_FD_MASK 2u /**< library-owned mask trigger of a vector */

/** One eventfd to poll for POLLIN: @fd belongs to @vector, of @kind. */
struct libmsix_vfio_pollfd {
	int fd;
	uint32_t vector;
	uint32_t kind;
};

/**
 * libmsix_vfio_poll_fds() - list the eventfds the VMM must poll.
 * @fds: array of @max entries, or NULL with @max 0 to count.
 *
 * Eventfds are created the first time a vector gets a host vector (mask
 * eventfd) or is unmasked (live eventfd) and live until libmsix_vfio_close(),
 * so the list only grows; libmsix_vfio_poll_generation() changes whenever it
 * does. An external live fd (libmsix_vfio_set_live_fd()) is not listed: its
 * owner consumes it.
 * Return: the number of eventfds in the list (possibly more than @max; only
 * @max are written). 0 for NULL @vfio. Context: any thread.
 */
LIBMSIX_EXPORT size_t libmsix_vfio_poll_fds(struct libmsix_vfio *vfio,
					    struct libmsix_vfio_pollfd *fds,
					    size_t max);

/** libmsix_vfio_poll_generation() - changes every time the list of
 * libmsix_vfio_poll_fds() changes. Return: the generation; 0 for NULL.
 * Context: any thread. */
LIBMSIX_EXPORT uint64_t libmsix_vfio_poll_generation(struct libmsix_vfio *vfio);

/**
 * libmsix_vfio_process() - handle a readable eventfd.
 * @dev: the libmsix device built on this backend.
 * @fd:  an fd from libmsix_vfio_poll_fds().
 *
 * Reads the eventfd without blocking and, if it held a count, calls
 * libmsix_notify() once for its vector: several interrupts that coalesced in
 * the eventfd become one message, as MSI-X edges coalesce in a real APIC. On
 * a live fd the message is delivered (or latched if the vector got masked in
 * the meantime); on a mask fd the vector's pending bit is set.
 * Return: 1 when an interrupt was consumed, 0 when the eventfd was empty
 * (e.g. the backend's poll op already took it), -EINVAL for NULL, -ENOENT
 * when @fd is not one of this backend's eventfds, or the -errno of read().
 * Context: any thread (typically the VMM's event loop); takes no libmsix
 * device lock. Calls back: the deliver callback (through libmsix_notify()).
 */
LIBMSIX_EXPORT int libmsix_vfio_process(struct libmsix_vfio *vfio,
					struct libmsix_dev *dev, int fd);

/* ------------------------------------------------------------------------ */
/* Passthrough: an external live fd per vector                               */
/* ------------------------------------------------------------------------ */

/**
 * libmsix_vfio_set_live_fd() - where the kernel signals @vector while the
 * guest has it unmasked.
 * @vector: 0..irq_count-1.
 * @fd:     an eventfd owned by the caller (e.g. the eventfd of a KVM irqfd),
 *          or -1 to go back to the library-owned live eventfd.
 *
 * Only records the choice: it takes effect at the next commit of this
 * backend or at libmsix_vfio_apply(), whichever comes first. That commit
 * passes @fd to VFIO_DEVICE_SET_IRQS even when the kernel already holds the
 * same fd number (the caller may have closed and reused it). The library
 * neither closes nor reads @fd. While the vector is masked the kernel still
 * signals the mask eventfd, so a composing backend can leave its irqfd
 * assigned across masks. A @fd that is not an eventfd makes that commit
 * fail with the kernel's -EINVAL (or -EBADF) and be rolled back. Keep @fd
 * open until another fd is set and applied, or the backend is closed.
 * Return: 0; -EINVAL for NULL, @vector out of range or @fd < -1.
 * Context: any thread; inside a composing backend's commit is the intended
 * place (device lock held).
 */
LIBMSIX_EXPORT int libmsix_vfio_set_live_fd(struct libmsix_vfio *vfio,
					    uint32_t vector, int fd);

/**
 * libmsix_vfio_apply() - make the kernel match what the last successful
 * commit decided, with the live fds as set now: issues the SET_IRQS that
 * libmsix_vfio_set_live_fd() calls made necessary, with the same
 * all-or-nothing rollback as a commit. Nothing staged by the engine is
 * applied here.
 * Return: 0; -EINVAL for NULL; or the -errno of the failed ioctl (the kernel
 * is as before the call).
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_vfio_apply(struct libmsix_vfio *vfio);

/**
 * libmsix_vfio_host_fd() - the fd the kernel signals for @vector now, as
 * far as this backend knows: its live fd, its mask eventfd, or -1 when the
 * vector has no trigger (no request_irq in the host). For tests and
 * debugging. Return: the fd or -1; -EINVAL for NULL or a bad @vector.
 * Context: any thread.
 */
LIBMSIX_EXPORT int libmsix_vfio_host_fd(struct libmsix_vfio *vfio,
					uint32_t vector);

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * struct libmsix_vfio_stats - what the backend did to the kernel.
 * @set_irqs:          VFIO_DEVICE_SET_IRQS ioctls issued on the MSI-X index,
 *                     of every kind, including failed and rollback ones.
 * @set_irqs_failed:   of those, how many failed.
 * @vectors_set_up:    vectors given an eventfd by a successful SET_IRQS:
 *                     each is one request_irq() in the host.
 * @vectors_torn_down: triggers removed (free_irq()), by a SET_IRQS that
 *                     replaced or released them or by a disable.
 * @disables:          whole-index disables (DATA_NONE, count 0): each turns
 *                     MSI-X off in the physical function.
 * @reenables:         NORESIZE growths: disable + enable of a larger prefix.
 * @enable_no_vec:     dynamic-MSI-X first enables done with vector 0 and
 *                     fd -1, so the kernel allocates one host vector, not
 *                     start + count (see docs/vfio.md).
 * @rollbacks:         commits that failed and were undone.
 * @rollback_failures: undo ioctls that failed too (the backend then disables
 *                     MSI-X at the host and logs an error).
 * @live_irqs:         eventfd counts read from live eventfds.
 * @masked_irqs:       eventfd counts read from mask eventfds (by the poll op
 *                     or libmsix_vfio_process()).
 * @host_vectors:      vectors holding a trigger now.
 * @host_vectors_peak: most at once.
 * @msix_on:           MSI-X is enabled at the host now.
 * @enabled_count:     vectors the last enable asked the kernel to allocate
 *                     (start + count of the enabling SET_IRQS); 0 when off.
 */
struct libmsix_vfio_stats {
	uint64_t set_irqs;
	uint64_t set_irqs_failed;
	uint64_t vectors_set_up;
	uint64_t vectors_torn_down;
	uint64_t disables;
	uint64_t reenables;
	uint64_t enable_no_vec;
	uint64_t rollbacks;
	uint64_t rollback_failures;
	uint64_t live_irqs;
	uint64_t masked_irqs;
	uint32_t host_vectors;
	uint32_t host_vectors_peak;
	bool msix_on;
	uint32_t enabled_count;
};

/** libmsix_vfio_get_stats() - snapshot of the counters. Return: 0; -EINVAL for
 * NULL. Context: any thread. */
LIBMSIX_EXPORT int libmsix_vfio_get_stats(struct libmsix_vfio *vfio,
					  struct libmsix_vfio_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LIBMSIX_VFIO_H */
