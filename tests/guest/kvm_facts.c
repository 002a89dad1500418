/* SPDX-License-Identifier: MIT */
/*
 * What the KVM backend relies on, checked on the real (nested) KVM with
 * raw ioctls and the tiny VM: if a kernel changes one of these, this test
 * names it before the backend's own tests fail in a harder-to-read way.
 *   - KVM_CAP_IRQ_ROUTING is the table size; GSI cap-1 is accepted, GSI cap
 *     and a table of cap+1 entries are EINVAL; each upload replaces all.
 *   - KVM_SIGNAL_MSI returns 1 when delivered, 0 when no vCPU matches.
 *   - An eventfd signalled while its irqfd's GSI has no route is consumed:
 *     the interrupt is lost (why the backend never lets that happen).
 *   - KVM_IRQFD deassign leaves the count in the eventfd; assign injects it
 *     once and leaves the eventfd readable (why the backend drains first).
 *   - Assigning one eventfd twice is EBUSY; deassigning a pair never
 *     assigned returns 0.
 * Exit 0 when all hold.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmvm.h"

#define GSI_A 100u

static struct kvm_irq_routing *table(uint32_t nr)
{
	struct kvm_irq_routing *t =
		calloc(1, sizeof(*t) + nr * sizeof(t->entries[0]));

	REQUIRE(t, "calloc");
	t->nr = nr;
	return t;
}

static void msi_entry(struct kvm_irq_routing_entry *e, uint32_t gsi,
		      uint8_t vector)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = KVMVM_MSI_ADDR;
	e->u.msi.data = vector;
}

static int set_routes(struct kvmvm *vm, struct kvm_irq_routing *t)
{
	return ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
}

static int irqfd(struct kvmvm *vm, int efd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd r = { .fd = (uint32_t)efd, .gsi = gsi,
			       .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(vm->vm_fd, KVM_IRQFD, &r) < 0 ? -errno : 0;
}

static void fire(int efd)
{
	uint64_t one = 1;

	REQUIRE(write(efd, &one, sizeof(one)) == sizeof(one), "eventfd write");
}

/* Without reading it: a write-back would wake an assigned irqfd. */
static bool readable(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	struct kvmvm vm;
	struct kvm_irq_routing *t;
	struct kvm_msi msi;
	int cap, efd, r;
	uint64_t t0;

	t0 = kvmvm_now_ns();
	if (kvmvm_create(&vm) < 0) {
		printf("kvm_facts: %s\n", vm.error);
		return 1;
	}
	REQUIRE(kvmvm_start(&vm, 10000) == 0, "%s", vm.error);
	printf("kvm_facts: nested VM up in %.1f ms\n",
	       (double)(kvmvm_now_ns() - t0) / 1e6);

	cap = ioctl(vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	printf("kvm_facts: KVM_CAP_IRQ_ROUTING = %d\n", cap);
	REQUIRE(cap > 0, "no IRQ routing");

	/* Table limits. */
	t = table(1);
	msi_entry(&t->entries[0], (uint32_t)cap - 1, 0x30);
	CHECK(set_routes(&vm, t) == 0, "GSI %d refused", cap - 1);
	msi_entry(&t->entries[0], (uint32_t)cap, 0x30);
	r = set_routes(&vm, t);
	CHECK(r == -EINVAL, "GSI %d: %d, expected EINVAL", cap, r);
	free(t);
	t = table((uint32_t)cap + 1);
	for (uint32_t i = 0; i <= (uint32_t)cap; i++)
		msi_entry(&t->entries[i], i % (uint32_t)cap, 0x30);
	r = set_routes(&vm, t);
	CHECK(r == -EINVAL, "%d entries: %d, expected EINVAL", cap + 1, r);
	free(t);

	/* KVM_SIGNAL_MSI: 1 delivered, 0 nobody. */
	memset(&msi, 0, sizeof(msi));
	msi.address_lo = KVMVM_MSI_ADDR;
	msi.data = 0x41;
	r = ioctl(vm.vm_fd, KVM_SIGNAL_MSI, &msi);
	CHECK(r == 1, "KVM_SIGNAL_MSI to APIC 0 returned %d", r);
	CHECK(kvmvm_wait(&vm, 0x41, 1, 5000), "vector 0x41 never arrived");
	msi.address_lo = KVMVM_MSI_ADDR | (7u << 12); /* APIC ID 7: none */
	r = ioctl(vm.vm_fd, KVM_SIGNAL_MSI, &msi);
	CHECK(r == 0, "KVM_SIGNAL_MSI to APIC 7 returned %d", r);

	/* An irqfd whose GSI has no route eats the interrupt. */
	t = table(1);
	msi_entry(&t->entries[0], GSI_A + 1, 0x42);
	REQUIRE(set_routes(&vm, t) == 0, "route");
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	REQUIRE(efd >= 0, "eventfd");
	CHECK(irqfd(&vm, efd, GSI_A, true) == 0, "assign without route");
	fire(efd);
	kvmvm_settle(&vm, 200);
	CHECK(!readable(efd), "the eventfd kept the count");
	CHECK(kvmvm_count(&vm, 0x42) == 0, "delivered without a route?");
	msi_entry(&t->entries[0], GSI_A, 0x42);
	REQUIRE(set_routes(&vm, t) == 0, "route");
	kvmvm_settle(&vm, 200);
	CHECK(kvmvm_count(&vm, 0x42) == 0,
	      "the lost interrupt came back when the route appeared");
	printf("kvm_facts: eventfd signalled with no route: lost (as expected)\n");

	/* With the route: one write, one interrupt. */
	fire(efd);
	CHECK(kvmvm_wait(&vm, 0x42, 1, 5000), "irqfd with route: nothing");

	/* EBUSY twice; deassign of a pair never assigned is 0. */
	r = irqfd(&vm, efd, GSI_A, true);
	CHECK(r == -EBUSY, "second assign: %d, expected EBUSY", r);
	r = irqfd(&vm, efd, GSI_A + 7, false);
	CHECK(r == 0, "deassign never assigned: %d", r);

	/* Deassign keeps the count; assign injects once, stays readable. */
	CHECK(irqfd(&vm, efd, GSI_A, false) == 0, "deassign");
	fire(efd);
	kvmvm_settle(&vm, 100);
	CHECK(kvmvm_count(&vm, 0x42) == 1, "delivered while deassigned");
	CHECK(irqfd(&vm, efd, GSI_A, true) == 0, "re-assign");
	CHECK(kvmvm_wait(&vm, 0x42, 2, 5000), "re-assign injected nothing");
	kvmvm_settle(&vm, 100);
	CHECK(kvmvm_count(&vm, 0x42) == 2, "re-assign injected %u",
	      kvmvm_count(&vm, 0x42) - 1);
	CHECK(readable(efd), "eventfd not readable after re-assign: the "
			     "backend's drain-before-assign is then moot");
	printf("kvm_facts: re-assign injects the kept count once and leaves the "
	       "eventfd readable (as expected)\n");

	/* Reading it while deassigned: re-assign injects nothing. */
	fire(efd); /* the wakeup consumes the stale count too */
	CHECK(kvmvm_wait(&vm, 0x42, 3, 5000), "live irqfd");
	CHECK(irqfd(&vm, efd, GSI_A, false) == 0, "deassign");
	fire(efd);
	CHECK(readable(efd), "count not kept while deassigned");
	{
		uint64_t v;

		CHECK(read(efd, &v, sizeof(v)) == sizeof(v), "drain");
	}
	CHECK(irqfd(&vm, efd, GSI_A, true) == 0, "assign after drain");
	kvmvm_settle(&vm, 200);
	CHECK(kvmvm_count(&vm, 0x42) == 3, "assign after drain: %u interrupts, "
	      "expected 3", kvmvm_count(&vm, 0x42));
	CHECK(irqfd(&vm, efd, GSI_A, false) == 0, "deassign");
	close(efd);
	free(t);

	CHECK(atomic_load(&vm.oddities) == 0, "guest oddities");
	kvmvm_destroy(&vm);
	printf("kvm_facts: %s (%d failures)\n",
	       kvmvm_failures ? "FAIL" : "ok", kvmvm_failures);
	return kvmvm_failures ? 1 : 0;
}
