/* SPDX-License-Identifier: MIT */
/*
 * A fake KVM VM fd for unit tests, in place of /dev/kvm: plug
 * fake_kvm_ioctl() and a struct fake_kvm into struct
 * libmsix_kvm_vm_config's ioctl and ioctl_opaque, with vm_fd FAKE_KVM_FD.
 *
 * It checks what KVM checks (GSI < capacity, at most capacity entries, one
 * MSI entry per GSI, EBUSY for an eventfd assigned twice) and counts in
 * @violations what KVM does not check but should never happen: an irqfd
 * assigned to a GSI without a route or a route removed under an assigned
 * irqfd. It behaves like the kernel where the backends depend on it: an
 * irqfd assigned to a readable eventfd injects once and leaves the eventfd
 * readable, and a write to an assigned irqfd's eventfd is consumed by its
 * wakeup (a stale count left by an assign too); KVM_IRQFD deassign of a pair
 * never assigned is 0. Thread-safe: its ioctls and fires are atomic with
 * respect to each other, as KVM's are (race tests fire from other threads).
 */
#ifndef LIBMSIX_TEST_FAKE_KVM_H
#define LIBMSIX_TEST_FAKE_KVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define FAKE_KVM_FD 1000
#define FAKE_KVM_MAX_IRQFDS 4096

struct fake_kvm_irqfd {
	int fd;
	uint32_t gsi;
};

struct fake_kvm {
	pthread_mutex_t mu; /* held by every ioctl and fire */
	uint32_t cap;
	bool no_signal_msi;
	/* A VM without KVM_CREATE_IRQCHIP: KVM_IRQ_LINE is -ENXIO, MSIs,
	 * routes and irqfds -EINVAL. */
	bool no_irqchip;
	int signal_msi_ret;
	struct kvm_irq_routing_entry table[4096];
	uint32_t nr;
	struct fake_kvm_irqfd irqfds[FAKE_KVM_MAX_IRQFDS];
	uint32_t nr_irqfds;
	/* What happened. */
	unsigned uploads, assigns, deassigns, signals, injected;
	unsigned long msi_entries; /* MSI entries in all uploads together */
	unsigned violations;
	char trace[4096]; /* "U" upload, "A" assign, "D" deassign, "S" signal */
	size_t trace_len;
	struct kvm_msi last_msi;
	/* A producer writes this eventfd just before KVM assigns it (once;
	 * -1: none): the write that races an assign. */
	int fire_at_assign;
	/* Fail the k-th ioctl of @fail_req (0: any) with @fail_err. */
	unsigned long fail_req;
	unsigned fail_k;
	int fail_err;
};

/* A fake VM of @cap GSIs that answers KVM_SIGNAL_MSI with 1; free(). */
struct fake_kvm *fake_kvm_new(uint32_t cap);
/* struct libmsix_kvm_vm_config.ioctl: @opaque is the struct fake_kvm. */
int fake_kvm_ioctl(void *opaque, int fd, unsigned long req, void *arg);
/* @gsi's MSI route, or NULL. */
const struct kvm_irq_routing_entry *fake_kvm_route(struct fake_kvm *f,
						   uint32_t gsi);
/* A producer signals @efd: an assigned irqfd consumes the count and
 * injects once if its GSI has a route; anything else accumulates in the
 * eventfd. */
void fake_kvm_fire(struct fake_kvm *f, int efd);
/* How many @c ('U', 'A', 'D', 'S') the trace holds. */
unsigned fake_kvm_count(const struct fake_kvm *f, char c);
/* Empty the trace. */
void fake_kvm_clear(struct fake_kvm *f);

#endif /* LIBMSIX_TEST_FAKE_KVM_H */
