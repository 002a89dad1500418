/* SPDX-License-Identifier: MIT */
/* A fake KVM VM fd (see fake_kvm.h). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_kvm.h"

static void fake_kvm_trace(struct fake_kvm *f, char c)
{
	if (f->trace_len + 1 < sizeof(f->trace)) {
		f->trace[f->trace_len++] = c;
		f->trace[f->trace_len] = 0;
	}
}

const struct kvm_irq_routing_entry *fake_kvm_route(struct fake_kvm *f,
						      uint32_t gsi)
{
	for (uint32_t i = 0; i < f->nr; i++)
		if (f->table[i].gsi == gsi &&
		    f->table[i].type == KVM_IRQ_ROUTING_MSI)
			return &f->table[i];
	return NULL;
}

static int fake_kvm_set_routing(struct fake_kvm *f, struct kvm_irq_routing *t)
{
	if (t->nr > f->cap || t->flags)
		return -EINVAL;
	for (uint32_t i = 0; i < t->nr; i++) {
		const struct kvm_irq_routing_entry *e = &t->entries[i];

		if (e->gsi >= f->cap || e->flags)
			return -EINVAL;
		if (e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		for (uint32_t j = 0; j < i; j++)
			if (t->entries[j].gsi == e->gsi)
				return -EINVAL;
	}
	memcpy(f->table, t->entries, t->nr * sizeof(t->entries[0]));
	f->nr = t->nr;
	f->uploads++;
	for (uint32_t i = 0; i < t->nr; i++)
		f->msi_entries += t->entries[i].type == KVM_IRQ_ROUTING_MSI;
	fake_kvm_trace(f, 'U');
	for (uint32_t i = 0; i < f->nr_irqfds; i++)
		if (!fake_kvm_route(f, f->irqfds[i].gsi))
			f->violations++; /* #3827: route gone under an irqfd */
	return 0;
}

static bool readable(int fd)
{
	uint64_t v;

	/* Peek by reading and writing back: the fake owns the semantics. */
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return false;
	ck_assert_int_eq(write(fd, &v, sizeof(v)), sizeof(v));
	return true;
}

static int fake_kvm_irqfd(struct fake_kvm *f, struct kvm_irqfd *r)
{
	if (r->flags & KVM_IRQFD_FLAG_DEASSIGN) {
		f->deassigns++;
		fake_kvm_trace(f, 'D');
		for (uint32_t i = 0; i < f->nr_irqfds; i++) {
			if (f->irqfds[i].fd == (int)r->fd &&
			    f->irqfds[i].gsi == r->gsi) {
				f->irqfds[i] = f->irqfds[--f->nr_irqfds];
				break;
			}
		}
		return 0; /* KVM: deassigning a pair never assigned is 0 */
	}
	for (uint32_t i = 0; i < f->nr_irqfds; i++)
		if (f->irqfds[i].fd == (int)r->fd)
			return -EBUSY;
	if (r->gsi >= f->cap || f->nr_irqfds == FAKE_KVM_MAX_IRQFDS)
		return -EINVAL;
	if (!fake_kvm_route(f, r->gsi))
		f->violations++; /* #6348: assigned before its route */
	if (f->fire_at_assign == (int)r->fd) {
		uint64_t one = 1;

		ck_assert_int_eq(write((int)r->fd, &one, sizeof(one)),
				 sizeof(one));
		f->fire_at_assign = -1;
	}
	f->irqfds[f->nr_irqfds++] = (struct fake_kvm_irqfd){ (int)r->fd, r->gsi };
	f->assigns++;
	fake_kvm_trace(f, 'A');
	/* KVM injects a count already there, and leaves it readable. */
	if (readable((int)r->fd))
		f->injected++;
	return 0;
}

static int fake_kvm_ioctl_locked(struct fake_kvm *f, int fd,
				 unsigned long req, void *arg)
{
	ck_assert_int_eq(fd, FAKE_KVM_FD);
	if (f->fail_k && (f->fail_req == 0 || f->fail_req == req) &&
	    --f->fail_k == 0)
		return f->fail_err;
	switch (req) {
	case KVM_CHECK_EXTENSION:
		switch ((long)arg) {
		case KVM_CAP_IRQ_ROUTING:
			return (int)f->cap;
		case KVM_CAP_SIGNAL_MSI:
			return f->no_signal_msi ? 0 : 1;
		default:
			return 1;
		}
	case KVM_SET_GSI_ROUTING:
		return f->no_irqchip ? -EINVAL : fake_kvm_set_routing(f, arg);
	case KVM_IRQFD:
		return f->no_irqchip ? -EINVAL : fake_kvm_irqfd(f, arg);
	case KVM_IRQ_LINE:
		return f->no_irqchip ? -ENXIO : 0;
	case KVM_SIGNAL_MSI:
		if (f->no_irqchip)
			return -EINVAL;
		f->signals++;
		f->last_msi = *(struct kvm_msi *)arg;
		fake_kvm_trace(f, 'S');
		return f->signal_msi_ret;
	default:
		return -ENOTTY;
	}
}

int fake_kvm_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct fake_kvm *f = opaque;
	int r;

	pthread_mutex_lock(&f->mu);
	r = fake_kvm_ioctl_locked(f, fd, req, arg);
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* KVM's irqfd wakeup reads the whole count (a stale one an assign left
 * readable too) and injects once; no route: the interrupt is lost. */
void fake_kvm_fire(struct fake_kvm *f, int efd)
{
	uint64_t one = 1, v;

	pthread_mutex_lock(&f->mu);
	for (uint32_t i = 0; i < f->nr_irqfds; i++) {
		if (f->irqfds[i].fd != efd)
			continue;
		if (read(efd, &v, sizeof(v)) < 0)
			ck_assert_int_eq(errno, EAGAIN);
		if (fake_kvm_route(f, f->irqfds[i].gsi))
			f->injected++;
		pthread_mutex_unlock(&f->mu);
		return;
	}
	ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
	pthread_mutex_unlock(&f->mu);
}

unsigned fake_kvm_count(const struct fake_kvm *f, char c)
{
	unsigned n = 0;

	for (size_t i = 0; i < f->trace_len; i++)
		n += f->trace[i] == c;
	return n;
}

void fake_kvm_clear(struct fake_kvm *f)
{
	f->trace_len = 0;
	f->trace[0] = 0;
}

struct fake_kvm *fake_kvm_new(uint32_t cap)
{
	struct fake_kvm *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->cap = cap;
	f->signal_msi_ret = 1;
	f->fire_at_assign = -1;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}
