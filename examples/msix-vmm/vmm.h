/* SPDX-License-Identifier: MIT */
/*
 * msix-vmm: a small KVM VMM that boots an unmodified Linux bzImage with
 * virtio-pci (modern, virtio 1.x) devices whose MSI-X capability, table and
 * PBA are libmsix's. See docs/vmm.md.
 *
 * Threads: one per vCPU (guest accesses: port I/O, MMIO), one I/O thread per
 * virtqueue (device side: requests, interrupts), and the main thread (waits
 * for the end, takes snapshots).
 */
#ifndef MSIX_VMM_H
#define MSIX_VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "libmsix-kvm.h"
#include "libmsix.h"

#define VMM_MAX_CPUS 16
#define VMM_MAX_QUEUES 16

/* Guest physical layout. */
#define MMIO_BASE 0xe0000000ull	/* BARs, in the e820 hole below 4 GiB */
#define MMIO_END 0xfec00000ull	/* IOAPIC */

enum delivery {
	DELIVERY_EMULATED,	/* libmsix_notify(): KVM_SIGNAL_MSI */
	DELIVERY_IRQFD,		/* the I/O thread writes the vector's irqfd */
};

struct vmm;
struct trace;

/* ---------------------------------------------------------------- PCI */

struct pci_fn;
struct pci_fn_ops {
	/* Config space beyond the header and the BARs (vendor caps, MSI-X). */
	void (*cfg_read)(struct pci_fn *f, uint32_t off, uint32_t size,
			 uint32_t *val);
	void (*cfg_write)(struct pci_fn *f, uint32_t off, uint32_t size,
			  uint32_t val);
	/* MMIO inside BAR @bar; @val little-endian, @size 1..8. */
	uint64_t (*bar_read)(struct pci_fn *f, int bar, uint64_t off,
			     uint32_t size);
	void (*bar_write)(struct pci_fn *f, int bar, uint64_t off,
			  uint32_t size, uint64_t val);
	/* Command register written (Memory Space, Bus Master). */
	void (*command)(struct pci_fn *f, uint16_t cmd);
};

struct pci_fn {
	uint8_t cfg[256];		/* read-only image; header, caps */
	uint32_t bar_size[6];		/* 32-bit memory BARs; 0: none */
	uint32_t bar_addr[6];
	const struct pci_fn_ops *ops;
	void *opaque;
};

void pci_init(struct vmm *vm);
/* Add a function at device @slot of bus 0 and place its BARs. */
void pci_add(struct vmm *vm, int slot, struct pci_fn *f);
/* Port I/O 0xCF8..0xCFF; returns true if handled. */
bool pci_pio(struct vmm *vm, uint16_t port, bool write, uint32_t size,
	     uint32_t *val);
/* MMIO exits; returns true if a BAR claimed the address. */
bool pci_mmio(struct vmm *vm, uint64_t gpa, bool write, uint32_t size,
	      uint64_t *val);

/* ------------------------------------------------------------- virtio */

struct vq {
	struct virtio_dev *vd;
	uint16_t index;
	uint16_t size;			/* queue_size the driver chose */
	uint16_t msix_vector;		/* queue_msix_vector as the guest reads */
	bool enabled;
	uint64_t desc, avail, used;	/* guest physical */
	uint16_t last_avail;
	int kick_fd;			/* eventfd: the vCPU kicks, I/O thread waits */
	pthread_t thread;
	pthread_mutex_t lock;		/* ring state vs. the vCPU's writes */
	atomic_uint_fast64_t interrupts;	/* raised by this queue */
	atomic_uint_fast64_t requests;
	char name[32];
};

struct virtio_dev;
struct virtio_ops {
	/* Process one chain: returns the bytes written into the guest. */
	uint32_t (*request)(struct virtio_dev *vd, struct vq *q,
			    const struct iovec *out, int nout,
			    const struct iovec *in, int nin);
	uint32_t (*cfg_read)(struct virtio_dev *vd, uint32_t off,
			     uint32_t size);
};

struct virtio_dev {
	struct vmm *vm;
	struct pci_fn pci;
	const struct virtio_ops *ops;
	const char *name;		/* "virtio-blk" */
	int trace_id;
	uint16_t device_id;		/* virtio device type */
	uint64_t features;
	uint32_t nr_vectors;		/* MSI-X table size */

	pthread_mutex_t lock;		/* transport registers */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector;
	uint8_t status;
	uint16_t queue_select;
	uint8_t isr;
	uint16_t nr_queues;
	struct vq q[VMM_MAX_QUEUES];

	/* MSI-X, all of it libmsix. @msix_lock: writers are the guest-side
	 * calls and the snapshot swap; the I/O threads hold it for reading
	 * while they look up a vector's eventfd or notify. */
	pthread_rwlock_t msix_lock;
	struct libmsix_dev *msix;
	struct libmsix_kvm *kvm;
	struct libmsix_config msix_cfg;
	uint16_t pci_command;
	uint32_t use_refused;		/* vector_use() refusals */
	/* Deferred routing: the eventfd of each vector that is live through
	 * the VMM while its route waits (libmsix_kvm_fallback_fn), or -1. */
	_Atomic int fallback_fd[VMM_MAX_QUEUES + 1];
	/* Counters of the devices and backends a snapshot replaced. */
	struct libmsix_stats old_cnt;
	struct libmsix_kvm_stats old_kvm;

	void *priv;
	atomic_bool stop;
};

void virtio_init(struct virtio_dev *vd, struct vmm *vm, const char *name,
		 uint16_t type, uint16_t nr_queues, uint64_t features);
int virtio_create(struct virtio_dev *vd);
void virtio_start(struct virtio_dev *vd);
void virtio_stop(struct virtio_dev *vd);
void virtio_dump(struct virtio_dev *vd);
void *virtio_fallback_main(void *arg);
int virtio_msix_create(struct virtio_dev *vd);
void virtio_msix_destroy(struct virtio_dev *vd);
void *virtio_guest(struct vmm *vm, uint64_t gpa, uint64_t len);

struct virtio_dev *blk_create(struct vmm *vm, const char *path,
			      uint16_t queues);
struct virtio_dev *rng_create(struct vmm *vm);

/* -------------------------------------------------------------- trace */

int trace_open(struct vmm *vm, const char *path);
void trace_close(struct vmm *vm);
void trace_device(struct vmm *vm, const struct virtio_dev *vd);
void trace_config(struct vmm *vm, int dev, bool write, uint32_t off,
		  uint32_t size, uint64_t val);
void trace_mmio(struct vmm *vm, int dev, bool write, int bar, uint64_t off,
		uint32_t size, uint64_t val);
void trace_use(struct vmm *vm, int dev, uint32_t vector, int ret);
void trace_unuse(struct vmm *vm, int dev, uint32_t vector);
void trace_snapshot(struct vmm *vm, int dev, const char *op);

/* ---------------------------------------------------------------- VMM */

struct vmm {
	int kvm_fd, vm_fd;
	uint8_t *mem;
	uint64_t mem_size;
	int ncpus;
	int vcpu_fd[VMM_MAX_CPUS];
	struct kvm_run *run[VMM_MAX_CPUS];
	pthread_t vcpu_thread[VMM_MAX_CPUS];
	atomic_int vcpus_running;

	enum delivery delivery;
	enum libmsix_policy policy;
	uint32_t route_budget;		/* 0: no cap */
	bool deferred;			/* --routing deferred */
	int fallback_kick;		/* eventfd: the fallback set changed */
	pthread_t fallback_thread;
	struct libmsix_kvm_vm *kvm_vm;
	int verbose;

	/* PCI */
	uint32_t cf8;
	struct pci_fn *slot[32];
	uint32_t mmio_next;

	/* Devices */
	struct virtio_dev *dev[4];
	int ndev;

	/* Serial (COM1) */
	pthread_mutex_t uart_lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thre_pending, irq_level;

	/* Pause for snapshots: vCPUs park between exits. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_req;
	int paused;

	/* The end */
	atomic_bool done;
	atomic_int result;		/* -1 none yet; else the guest's code */
	atomic_bool shutdown;		/* the guest reset or shut down */
	char failure[256];

	struct trace *trace;
	uint64_t snapshots;		/* snapshot() calls */
	uint64_t restores;		/* device restores with MSI-X enabled */
	uint64_t restore_uploads;	/* their KVM_SET_GSI_ROUTING calls */
	uint64_t restore_uploads_max;	/* most for one restore */
};

void vmm_fail(struct vmm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vmm_log(void *opaque, int level, const char *msg);

#endif
