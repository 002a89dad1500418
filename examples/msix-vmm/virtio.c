// SPDX-License-Identifier: MIT
/*
 * virtio-pci, modern interface only (virtio 1.x, §4.1 "Virtio Over PCI
 * Bus"), split virtqueues (§2.7), and the MSI-X of the function, which is
 * entirely libmsix's: the capability (libmsix_config_read/write), the table
 * and PBA in BAR 1 (libmsix_mmio_read/write), the vectors the device model
 * uses (libmsix_vector_use/unuse when the driver writes config_msix_vector or
 * queue_msix_vector) and the interrupts (libmsix_notify(), or a write to the
 * vector's irqfd as vhost would make it).
 *
 * Config space: 0x40 MSI-X (libmsix), 0x50 common, 0x60 ISR, 0x70 device,
 * 0x80 notify (virtio vendor capabilities, §4.1.4).
 * BAR 0 (16 KiB): common 0x0000, ISR 0x1000, device 0x2000, notify 0x3000.
 * BAR 1 (4 KiB): MSI-X table at 0, PBA at 0x800.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "vmm.h"

#define CAP_MSIX 0x40
#define CAP_COMMON 0x50
#define CAP_ISR 0x60
#define CAP_DEVICE 0x70
#define CAP_NOTIFY 0x80

#define BAR0_SIZE 0x4000
#define BAR1_SIZE 0x1000
#define OFF_COMMON 0x0000
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define NOTIFY_MULT 4
#define MSIX_BAR 1
#define PBA_OFFSET 0x800
#define QUEUE_MAX 256

void *virtio_guest(struct vmm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

/* ----------------------------------------------------------- MSI-X */

static void msix_log(void *opaque, int level, const char *msg)
{
	struct virtio_dev *vd = opaque;

	vmm_log(vd->vm, level, msg);
}

static void msix_fault(void *opaque, uint32_t vector, int err)
{
	struct virtio_dev *vd = opaque;

	if (vd->vm->verbose)
		fprintf(stderr, "msix-vmm: %s: vector %u blocked: %s\n",
			vd->name, vector, strerror(-err));
}

/*
 * Deferred routing (libmsix_kvm_vm_set_routing()): a vector whose route
 * waits for the next flush is live through the VMM. libmsix hands its
 * eventfd over here (fd >= 0) and takes it back after the flush (fd -1).
 * Called with libmsix's locks held: only record it and wake the poller.
 */
static void msix_fallback(void *opaque, uint32_t vector, int fd)
{
	struct virtio_dev *vd = opaque;

	if (vector <= VMM_MAX_QUEUES)
		atomic_store(&vd->fallback_fd[vector], fd);
	(void)!eventfd_write(vd->vm->fallback_kick, 1);
}

/*
 * The poller of deferred vectors: what the I/O threads write into the
 * eventfd of such a vector is consumed here and sent with libmsix_notify()
 * (KVM_SIGNAL_MSI), until the flush assigns the irqfd.
 */
void *virtio_fallback_main(void *arg)
{
	struct vmm *vm = arg;
	struct pollfd p[1 + 4 * (VMM_MAX_QUEUES + 1)];
	int dev[1 + 4 * (VMM_MAX_QUEUES + 1)], vec[1 + 4 * (VMM_MAX_QUEUES + 1)];

	while (!atomic_load(&vm->done)) {
		int n = 0;

		p[n++] = (struct pollfd){ .fd = vm->fallback_kick, .events = POLLIN };
		for (int d = 0; d < vm->ndev; d++)
			for (uint32_t v = 0; v < vm->dev[d]->nr_vectors; v++) {
				int fd = atomic_load(&vm->dev[d]->fallback_fd[v]);

				if (fd < 0)
					continue;
				dev[n] = d;
				vec[n] = (int)v;
				p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
			}
		if (poll(p, (nfds_t)n, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			eventfd_t c;
			(void)!eventfd_read(vm->fallback_kick, &c);
		}
		for (int i = 1; i < n; i++) {
			struct virtio_dev *vd = vm->dev[dev[i]];

			if (!(p[i].revents & POLLIN))
				continue;
			pthread_rwlock_rdlock(&vd->msix_lock);
			if (atomic_load(&vd->fallback_fd[vec[i]]) == p[i].fd &&
			    libmsix_kvm_consume(vd->kvm, (uint32_t)vec[i]) == 1)
				libmsix_notify(vd->msix, (uint32_t)vec[i]);
			pthread_rwlock_unlock(&vd->msix_lock);
		}
	}
	return NULL;
}

/*
 * The libmsix device of the function and its KVM backend. Emulated
 * delivery: no GSI, notify sends KVM_SIGNAL_MSI. irqfd: every vector gets a
 * GSI, a route and an irqfd; --route-budget caps the GSIs of the device
 * (reserve, no overcommit), so a vector beyond it is refused.
 */
int virtio_msix_create(struct virtio_dev *vd)
{
	struct vmm *vm = vd->vm;
	bool irqfd = vm->delivery == DELIVERY_IRQFD;
	uint32_t reserve = 0;

	if (irqfd) {
		reserve = vd->nr_vectors;
		if (vm->route_budget && vm->route_budget < reserve)
			reserve = vm->route_budget;
	}
	struct libmsix_kvm_config kcfg = {
		.size = sizeof(kcfg),
		.flags = irqfd ? LIBMSIX_KVM_F_IRQFD : 0,
		.nr_vectors = vd->nr_vectors,
		.reserve = reserve,
		.fallback = irqfd ? msix_fallback : NULL,
		.opaque = vd,
	};
	for (uint32_t v = 0; v <= VMM_MAX_QUEUES; v++)
		atomic_store(&vd->fallback_fd[v], -1);
	int r = libmsix_kvm_create(vm->kvm_vm, &kcfg, &vd->kvm);
	if (r < 0) {
		fprintf(stderr, "msix-vmm: %s: libmsix_kvm_create: %s\n",
			vd->name, strerror(-r));
		return r;
	}
	r = libmsix_dev_create(&vd->msix_cfg, libmsix_kvm_backend(vd->kvm),
			       &vd->msix);
	if (r < 0) {
		fprintf(stderr, "msix-vmm: %s: libmsix_dev_create: %s\n",
			vd->name, strerror(-r));
		libmsix_kvm_destroy(vd->kvm);
		vd->kvm = NULL;
	}
	return r;
}

void virtio_msix_destroy(struct virtio_dev *vd)
{
	libmsix_dev_destroy(vd->msix);
	libmsix_kvm_destroy(vd->kvm);
	vd->msix = NULL;
	vd->kvm = NULL;
}

/*
 * The driver wrote @want into config_msix_vector or a queue_msix_vector
 * that held @old: move the device model's reference. A vector libmsix
 * refuses (outside the table, or no host resource for it: the route
 * budget) reads back VIRTIO_MSI_NO_VECTOR, which is how virtio 1.x
 * (§4.1.5.1.2) tells the driver to fall back to fewer vectors.
 */
static uint16_t set_vector(struct virtio_dev *vd, uint16_t old, uint16_t want)
{
	uint16_t res = VIRTIO_MSI_NO_VECTOR;

	pthread_rwlock_wrlock(&vd->msix_lock);
	if (old != VIRTIO_MSI_NO_VECTOR) {
		libmsix_vector_unuse(vd->msix, old);
		trace_unuse(vd->vm, vd->trace_id, old);
	}
	if (want != VIRTIO_MSI_NO_VECTOR) {
		int r = libmsix_vector_use(vd->msix, want);

		trace_use(vd->vm, vd->trace_id, want, r);
		if (r == 0) {
			res = want;
		} else {
			/* Out of range or at the reference limit: nothing was
			 * taken. A backend refusal took the reference. */
			if (r != -EINVAL && r != -EOVERFLOW) {
				libmsix_vector_unuse(vd->msix, want);
				trace_unuse(vd->vm, vd->trace_id, want);
			}
			vd->use_refused++;
			if (vd->vm->verbose)
				fprintf(stderr,
					"msix-vmm: %s: vector %u refused: %s\n",
					vd->name, want, strerror(-r));
		}
	}
	pthread_rwlock_unlock(&vd->msix_lock);
	return res;
}

/* Raise the interrupt of @q (I/O thread, q->lock held). */
static void vq_interrupt(struct vq *q)
{
	struct virtio_dev *vd = q->vd;
	uint16_t v = q->msix_vector;
	static const uint64_t one = 1;

	atomic_fetch_add(&q->interrupts, 1);
	if (v == VIRTIO_MSI_NO_VECTOR)
		return; /* §4.1.5.1.2: no vector, no interrupt */
	pthread_rwlock_rdlock(&vd->msix_lock);
	if (vd->vm->delivery == DELIVERY_IRQFD) {
		/* As vhost would: the vector's eventfd is the irqfd while the
		 * vector is live; while it is masked libmsix catches what we
		 * write there and latches the pending bit. A vector with no
		 * host resource goes through libmsix, which latches. */
		int fd = libmsix_kvm_vector_eventfd(vd->kvm, v);

		if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one))
			libmsix_notify(vd->msix, v);
	} else {
		libmsix_notify(vd->msix, v);
	}
	pthread_rwlock_unlock(&vd->msix_lock);
}

/* ---------------------------------------------------------- queues */

#define MAX_IOV (QUEUE_MAX + 4)

/* Walk the chain at @head; fill readable (out) and writable (in) iovecs.
 * Returns false for a malformed chain. */
static bool vq_chain(struct vq *q, uint16_t head, struct iovec *out, int *nout,
		     struct iovec *in, int *nin)
{
	struct vmm *vm = q->vd->vm;
	struct vring_desc *d = virtio_guest(vm, q->desc,
					    (uint64_t)q->size * sizeof(*d));
	uint16_t i = head;

	*nout = *nin = 0;
	if (!d)
		return false;
	for (unsigned n = 0; n < q->size; n++) {
		if (i >= q->size)
			return false;
		struct vring_desc e = d[i];
		if (e.flags & VRING_DESC_F_INDIRECT)
			return false; /* not offered */
		void *p = virtio_guest(vm, e.addr, e.len);
		if (!p)
			return false;
		if (e.flags & VRING_DESC_F_WRITE) {
			if (*nin >= MAX_IOV)
				return false;
			in[(*nin)++] = (struct iovec){ p, e.len };
		} else {
			if (*nin || *nout >= MAX_IOV)
				return false; /* readable after writable */
			out[(*nout)++] = (struct iovec){ p, e.len };
		}
		if (!(e.flags & VRING_DESC_F_NEXT))
			return true;
		i = e.next;
	}
	return false; /* a loop */
}

static void vq_process(struct vq *q)
{
	struct virtio_dev *vd = q->vd;
	struct vmm *vm = vd->vm;
	struct iovec out[MAX_IOV], in[MAX_IOV];
	uint64_t asize = 4 + 2ull * q->size, usize = 4 + 8ull * q->size;
	struct vring_avail *avail = virtio_guest(vm, q->avail, asize);
	struct vring_used *used = virtio_guest(vm, q->used, usize);
	bool any = false;

	if (!avail || !used)
		return;
	for (;;) {
		uint16_t idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);

		if (idx == q->last_avail)
			break;
		if ((uint16_t)(idx - q->last_avail) > q->size) {
			vmm_fail(vm, "%s: avail index jumped", q->name);
			return;
		}
		while (q->last_avail != idx) {
			uint16_t head = avail->ring[q->last_avail % q->size];
			uint32_t len = 0;
			int nout, nin;

			if (vq_chain(q, head, out, &nout, in, &nin))
				len = vd->ops->request(vd, q, out, nout, in,
						       nin);
			else
				fprintf(stderr,
					"msix-vmm: %s: bad descriptor chain\n",
					q->name);
			uint16_t u = used->idx;
			used->ring[u % q->size].id = head;
			used->ring[u % q->size].len = len;
			__atomic_store_n(&used->idx, (uint16_t)(u + 1),
					 __ATOMIC_RELEASE);
			q->last_avail++;
			atomic_fetch_add(&q->requests, 1);
			any = true;
		}
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (any && !(__atomic_load_n(&avail->flags, __ATOMIC_ACQUIRE) &
		     VRING_AVAIL_F_NO_INTERRUPT))
		vq_interrupt(q);
}

static void *vq_thread(void *arg)
{
	struct vq *q = arg;
	struct virtio_dev *vd = q->vd;

	while (!atomic_load(&vd->stop)) {
		struct pollfd p = { .fd = q->kick_fd, .events = POLLIN };
		uint64_t cnt;

		if (poll(&p, 1, 200) <= 0)
			continue;
		(void)!read(q->kick_fd, &cnt, sizeof(cnt));
		pthread_mutex_lock(&q->lock);
		if (q->enabled && (vd->status & VIRTIO_CONFIG_S_DRIVER_OK))
			vq_process(q);
		pthread_mutex_unlock(&q->lock);
	}
	return NULL;
}

static void vq_reset(struct vq *q)
{
	pthread_mutex_lock(&q->lock);
	q->enabled = false;
	q->size = QUEUE_MAX;
	q->desc = q->avail = q->used = 0;
	q->last_avail = 0;
	q->msix_vector = set_vector(q->vd, q->msix_vector,
				    VIRTIO_MSI_NO_VECTOR);
	pthread_mutex_unlock(&q->lock);
}

static void device_reset(struct virtio_dev *vd)
{
	for (int i = 0; i < vd->nr_queues; i++)
		vq_reset(&vd->q[i]);
	vd->config_vector = set_vector(vd, vd->config_vector,
				       VIRTIO_MSI_NO_VECTOR);
	vd->status = 0;
	vd->driver_features = 0;
	vd->dfselect = vd->gfselect = 0;
	vd->queue_select = 0;
	vd->isr = 0;
}

/* --------------------------------------------------- common config */

#define COMMON(f) offsetof(struct virtio_pci_common_cfg, f)

static uint32_t common_read(struct virtio_dev *vd, uint32_t off)
{
	struct vq *q = vd->queue_select < vd->nr_queues
			       ? &vd->q[vd->queue_select]
			       : NULL;

	switch (off) {
	case COMMON(device_feature_select): return vd->dfselect;
	case COMMON(device_feature):
		return vd->dfselect < 2
			       ? (uint32_t)(vd->features >> (32 * vd->dfselect))
			       : 0;
	case COMMON(guest_feature_select): return vd->gfselect;
	case COMMON(guest_feature):
		return vd->gfselect < 2 ? (uint32_t)(vd->driver_features >>
						     (32 * vd->gfselect))
					: 0;
	case COMMON(msix_config): return vd->config_vector;
	case COMMON(num_queues): return vd->nr_queues;
	case COMMON(device_status): return vd->status;
	case COMMON(config_generation): return 0;
	case COMMON(queue_select): return vd->queue_select;
	}
	if (!q)
		return 0;
	switch (off) {
	case COMMON(queue_size): return q->size;
	case COMMON(queue_msix_vector): return q->msix_vector;
	case COMMON(queue_enable): return q->enabled;
	case COMMON(queue_notify_off): return q->index;
	case COMMON(queue_desc_lo): return (uint32_t)q->desc;
	case COMMON(queue_desc_hi): return (uint32_t)(q->desc >> 32);
	case COMMON(queue_avail_lo): return (uint32_t)q->avail;
	case COMMON(queue_avail_hi): return (uint32_t)(q->avail >> 32);
	case COMMON(queue_used_lo): return (uint32_t)q->used;
	case COMMON(queue_used_hi): return (uint32_t)(q->used >> 32);
	}
	return 0;
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffull) | ((uint64_t)v << 32);
}

static void common_write(struct virtio_dev *vd, uint32_t off, uint32_t v)
{
	struct vq *q = vd->queue_select < vd->nr_queues
			       ? &vd->q[vd->queue_select]
			       : NULL;

	switch (off) {
	case COMMON(device_feature_select): vd->dfselect = v; return;
	case COMMON(guest_feature_select): vd->gfselect = v; return;
	case COMMON(guest_feature):
		if (vd->gfselect == 0)
			set_lo(&vd->driver_features, v);
		else if (vd->gfselect == 1)
			set_hi(&vd->driver_features, v);
		return;
	case COMMON(msix_config):
		vd->config_vector = set_vector(vd, vd->config_vector,
					       (uint16_t)v);
		return;
	case COMMON(device_status):
		if ((v & 0xff) == 0) {
			device_reset(vd);
			return;
		}
		if ((v & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    ((vd->driver_features & ~vd->features) ||
		     !(vd->driver_features & (1ull << VIRTIO_F_VERSION_1))))
			v &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
		vd->status = (uint8_t)v;
		if (v & VIRTIO_CONFIG_S_DRIVER_OK) /* pick up early kicks */
			for (int i = 0; i < vd->nr_queues; i++)
				(void)!eventfd_write(vd->q[i].kick_fd, 1);
		return;
	case COMMON(queue_select): vd->queue_select = (uint16_t)v; return;
	}
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	switch (off) {
	case COMMON(queue_size):
		if (!q->enabled && v && v <= QUEUE_MAX && !(v & (v - 1)))
			q->size = (uint16_t)v;
		break;
	case COMMON(queue_msix_vector):
		q->msix_vector = set_vector(vd, q->msix_vector, (uint16_t)v);
		break;
	case COMMON(queue_enable):
		if (v == 1 && !q->enabled) {
			q->last_avail = 0;
			q->enabled = true;
		}
		break;
	case COMMON(queue_desc_lo): set_lo(&q->desc, v); break;
	case COMMON(queue_desc_hi): set_hi(&q->desc, v); break;
	case COMMON(queue_avail_lo): set_lo(&q->avail, v); break;
	case COMMON(queue_avail_hi): set_hi(&q->avail, v); break;
	case COMMON(queue_used_lo): set_lo(&q->used, v); break;
	case COMMON(queue_used_hi): set_hi(&q->used, v); break;
	}
	pthread_mutex_unlock(&q->lock);
}

/* ------------------------------------------------------- PCI side */

static struct virtio_dev *to_vd(struct pci_fn *f)
{
	return f->opaque;
}

static uint64_t bar_read(struct pci_fn *f, int bar, uint64_t off,
			 uint32_t size)
{
	struct virtio_dev *vd = to_vd(f);
	uint64_t v = 0;

	if (bar == MSIX_BAR) {
		pthread_rwlock_wrlock(&vd->msix_lock);
		int r = libmsix_mmio_read(vd->msix, MSIX_BAR, off, size, &v);
		if (r == 0)
			trace_mmio(vd->vm, vd->trace_id, false, bar, off, size,
				   v);
		else
			v = 0;
		pthread_rwlock_unlock(&vd->msix_lock);
		return v;
	}
	pthread_mutex_lock(&vd->lock);
	if (off < OFF_ISR) {
		/* Fields are 8, 16 or 32 bits; a narrower read of a field
		 * reads its low bytes. */
		uint32_t base = (uint32_t)off & ~3u;
		if (off == COMMON(msix_config) + 0 ||
		    off == COMMON(num_queues) || off == COMMON(queue_select) ||
		    off == COMMON(queue_size) ||
		    off == COMMON(queue_msix_vector) ||
		    off == COMMON(queue_enable) ||
		    off == COMMON(queue_notify_off) ||
		    off == COMMON(device_status) ||
		    off == COMMON(config_generation))
			base = (uint32_t)off;
		v = common_read(vd, base) >> (8 * (off - base));
	} else if (off < OFF_DEVICE) {
		if (off == OFF_ISR) {
			v = vd->isr; /* read clears (§4.1.4.5) */
			vd->isr = 0;
		}
	} else if (off < OFF_NOTIFY) {
		if (vd->ops->cfg_read)
			v = vd->ops->cfg_read(vd, (uint32_t)(off - OFF_DEVICE),
					      size);
	}
	pthread_mutex_unlock(&vd->lock);
	if (size < 8)
		v &= (1ull << (8 * size)) - 1;
	return v;
}

static void bar_write(struct pci_fn *f, int bar, uint64_t off, uint32_t size,
		      uint64_t val)
{
	struct virtio_dev *vd = to_vd(f);

	if (bar == MSIX_BAR) {
		pthread_rwlock_wrlock(&vd->msix_lock);
		if (libmsix_mmio_write(vd->msix, MSIX_BAR, off, size, val) !=
		    -ENOENT)
			trace_mmio(vd->vm, vd->trace_id, true, bar, off, size,
				   val);
		pthread_rwlock_unlock(&vd->msix_lock);
		return;
	}
	if (off >= OFF_NOTIFY) {
		uint64_t qi = (off - OFF_NOTIFY) / NOTIFY_MULT;

		if (qi < vd->nr_queues)
			(void)!eventfd_write(vd->q[qi].kick_fd, 1);
		return;
	}
	if (off >= OFF_ISR)
		return; /* ISR and device config are read-only here */
	pthread_mutex_lock(&vd->lock);
	common_write(vd, (uint32_t)off, (uint32_t)val);
	pthread_mutex_unlock(&vd->lock);
}

static bool in_cap(uint32_t off, uint32_t size)
{
	return off < CAP_MSIX + 12 && off + size > CAP_MSIX;
}

static void cfg_read(struct pci_fn *f, uint32_t off, uint32_t size,
		     uint32_t *val)
{
	struct virtio_dev *vd = to_vd(f);

	if (!in_cap(off, size))
		return;
	pthread_rwlock_wrlock(&vd->msix_lock);
	libmsix_config_read(vd->msix, off, size, val);
	trace_config(vd->vm, vd->trace_id, false, off, size, *val);
	pthread_rwlock_unlock(&vd->msix_lock);
}

static void cfg_write(struct pci_fn *f, uint32_t off, uint32_t size,
		      uint32_t val)
{
	struct virtio_dev *vd = to_vd(f);

	if (!in_cap(off, size))
		return;
	pthread_rwlock_wrlock(&vd->msix_lock);
	trace_config(vd->vm, vd->trace_id, true, off, size, val);
	libmsix_config_write(vd->msix, off, size, val);
	pthread_rwlock_unlock(&vd->msix_lock);
}

static void command(struct pci_fn *f, uint16_t cmd)
{
	struct virtio_dev *vd = to_vd(f);

	pthread_rwlock_wrlock(&vd->msix_lock);
	vd->pci_command = cmd;
	libmsix_set_bus_master(vd->msix, cmd & PCI_COMMAND_MASTER);
	pthread_rwlock_unlock(&vd->msix_lock);
}

static const struct pci_fn_ops virtio_pci_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
	.bar_read = bar_read,
	.bar_write = bar_write,
	.command = command,
};

static void put_cap(uint8_t *c, uint8_t at, uint8_t next, uint8_t type,
		    uint32_t offset, uint32_t len, uint8_t caplen)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_next = next,
		.cap_len = caplen,
		.cfg_type = type,
		.bar = 0,
		.offset = offset,
		.length = len,
	};
	memcpy(c + at, &cap, sizeof(cap));
}

void virtio_init(struct virtio_dev *vd, struct vmm *vm, const char *name,
		 uint16_t type, uint16_t nr_queues, uint64_t features)
{
	static int slot = 1;
	uint8_t *c = vd->pci.cfg;

	vd->vm = vm;
	vd->name = name;
	vd->device_id = type;
	vd->features = features | (1ull << VIRTIO_F_VERSION_1);
	vd->nr_queues = nr_queues;
	vd->nr_vectors = nr_queues + 1u; /* config + one per queue */
	vd->config_vector = VIRTIO_MSI_NO_VECTOR;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_rwlock_init(&vd->msix_lock, NULL);
	for (uint16_t i = 0; i < nr_queues; i++) {
		struct vq *q = &vd->q[i];

		q->vd = vd;
		q->index = i;
		q->size = QUEUE_MAX;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_mutex_init(&q->lock, NULL);
		snprintf(q->name, sizeof(q->name), "%s queue %u", name, i);
	}

	/* Type 0 header (§4.1.2: device ID 0x1040 + type, revision 1). */
	c[PCI_VENDOR_ID] = 0xf4;
	c[PCI_VENDOR_ID + 1] = 0x1a;
	uint16_t did = 0x1040 + type;
	memcpy(c + PCI_DEVICE_ID, &did, 2);
	c[PCI_REVISION_ID] = 1;
	c[PCI_CLASS_DEVICE] = 0x80;
	c[PCI_CLASS_DEVICE + 1] = type == 2 ? 0x01 : 0xff;
	c[PCI_SUBSYSTEM_VENDOR_ID] = 0xf4;
	c[PCI_SUBSYSTEM_VENDOR_ID + 1] = 0x1a;
	c[PCI_SUBSYSTEM_ID] = 0x40;
	c[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	c[PCI_CAPABILITY_LIST] = CAP_MSIX;
	put_cap(c, CAP_COMMON, CAP_ISR, VIRTIO_PCI_CAP_COMMON_CFG, OFF_COMMON,
		sizeof(struct virtio_pci_common_cfg), 16);
	put_cap(c, CAP_ISR, CAP_DEVICE, VIRTIO_PCI_CAP_ISR_CFG, OFF_ISR, 4, 16);
	put_cap(c, CAP_DEVICE, CAP_NOTIFY, VIRTIO_PCI_CAP_DEVICE_CFG,
		OFF_DEVICE, 0x100, 16);
	put_cap(c, CAP_NOTIFY, 0, VIRTIO_PCI_CAP_NOTIFY_CFG, OFF_NOTIFY,
		NOTIFY_MULT * nr_queues, sizeof(struct virtio_pci_notify_cap));
	uint32_t mult = NOTIFY_MULT;
	memcpy(c + CAP_NOTIFY + offsetof(struct virtio_pci_notify_cap,
					 notify_off_multiplier),
	       &mult, 4);
	vd->pci.bar_size[0] = BAR0_SIZE;
	vd->pci.bar_size[MSIX_BAR] = BAR1_SIZE;
	vd->pci.ops = &virtio_pci_ops;
	vd->pci.opaque = vd;

	/* The MSI-X capability at 0x40, table and PBA in BAR 1. */
	vd->msix_cfg = (struct libmsix_config){
		.size = sizeof(vd->msix_cfg),
		.nr_vectors = vd->nr_vectors,
		.cap_offset = CAP_MSIX,
		.next_cap = CAP_COMMON,
		.table_bir = MSIX_BAR,
		.table_offset = 0,
		.pba_bir = MSIX_BAR,
		.pba_offset = PBA_OFFSET,
		.bar_type = { LIBMSIX_BAR_MEM32, LIBMSIX_BAR_MEM32 },
		.bar_size = { BAR0_SIZE, BAR1_SIZE },
		.policy = vm->policy,
		.log = msix_log,
		.fault = msix_fault,
		.opaque = vd,
	};
	vd->trace_id = vm->ndev;
	pci_add(vm, slot++, &vd->pci);
	trace_device(vm, vd);
}

/* Create the function's MSI-X state; its Command register starts at 0, so
 * Bus Master is off until the driver sets it. */
int virtio_create(struct virtio_dev *vd)
{
	int r = virtio_msix_create(vd);

	if (r == 0)
		libmsix_set_bus_master(vd->msix, false);
	return r;
}

/*
 * After a timeout: what every queue looks like, to name the one that
 * stalled. A queue whose driver added requests the device did not take
 * (avail != last_avail) stalled in the device; one whose requests are all
 * used but whose vector is masked, pending or not live lost its interrupt.
 */
void virtio_dump(struct virtio_dev *vd)
{
	for (int i = 0; i < vd->nr_queues; i++) {
		struct vq *q = &vd->q[i];
		struct vring_avail *a;
		struct vring_used *u;
		struct libmsix_vector_info info = { 0 };

		if (!q->enabled)
			continue;
		a = virtio_guest(vd->vm, q->avail, 4);
		u = virtio_guest(vd->vm, q->used, 4);
		if (q->msix_vector != VIRTIO_MSI_NO_VECTOR)
			libmsix_get_vector_info(vd->msix, q->msix_vector, &info);
		fprintf(stderr,
			"msix-vmm: %s: avail %u taken %u used %u requests %lu "
			"interrupts %lu vector %u%s%s%s\n",
			q->name, a ? a->idx : 0, q->last_avail, u ? u->idx : 0,
			(unsigned long)atomic_load(&q->requests),
			(unsigned long)atomic_load(&q->interrupts),
			q->msix_vector, info.masked ? " masked" : "",
			info.pending ? " PENDING" : "",
			info.live ? " live" : " not-live");
	}
}

void virtio_start(struct virtio_dev *vd)
{
	for (int i = 0; i < vd->nr_queues; i++)
		pthread_create(&vd->q[i].thread, NULL, vq_thread, &vd->q[i]);
}

void virtio_stop(struct virtio_dev *vd)
{
	atomic_store(&vd->stop, true);
	for (int i = 0; i < vd->nr_queues; i++)
		if (vd->q[i].thread)
			pthread_join(vd->q[i].thread, NULL);
}
