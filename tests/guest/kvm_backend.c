/* SPDX-License-Identifier: MIT */
/*
 * The KVM backend against the real (nested) KVM: a device model whose
 * vectors are irqfds of the tiny VM, driven through libmsix as a guest
 * driver would. The "producer" is this program writing a vector's eventfd.
 * Checks, on the real kernel: Linux-style bring-up (one upload and one
 * irqfd per request_irq), a burst is one upload, Function Mask toggles cost
 * irqfd ops and no upload, masked interrupts latch exactly (PBA) and replay
 * once, the notify path (KVM_SIGNAL_MSI), a VMM route on GSI 4095 kept in
 * every upload, a real KVM_IRQFD failure (EBUSY) rolled back, fallback to
 * userspace injection when the pool is empty, and nothing leaked.
 * Also measures a mask+unmask cycle by irqfd deassign/assign.
 * Exit 0 when every check holds.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "kvmvm.h"
#include "libmsix-kvm.h"

#define N 32u
#define BASE 0x40u /* vector v of the device is guest vector BASE + v */
#define WAIT_MS 5000
#define QUIET_MS 150 /* long enough for a stray interrupt to show up */

static struct kvmvm vm;
static uint32_t faults;
static int last_fault;

static void on_fault(void *opaque, uint32_t v, int err)
{
	(void)opaque;
	(void)v;
	faults++;
	last_fault = err;
}

static void on_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	printf("  log(%d): %s\n", level, msg);
}

static void fire(struct libmsix_kvm *k, uint32_t v)
{
	uint64_t one = 1;
	int fd = libmsix_kvm_vector_eventfd(k, v);

	REQUIRE(fd >= 0, "vector %u has no eventfd", v);
	REQUIRE(write(fd, &one, sizeof(one)) == sizeof(one), "eventfd write");
}

/* Fire @v and expect exactly one more interrupt on its guest vector. */
static bool fire_expect(struct libmsix_kvm *k, uint32_t v)
{
	uint32_t before = kvmvm_count(&vm, (uint8_t)(BASE + v));

	fire(k, v);
	return kvmvm_wait(&vm, (uint8_t)(BASE + v), before + 1, WAIT_MS);
}

static struct libmsix_kvm_stats kc(struct libmsix_kvm *k)
{
	struct libmsix_kvm_stats c;

	REQUIRE(libmsix_kvm_get_stats(k, &c) == 0, "counters");
	return c;
}

static uint64_t ops(const struct libmsix_kvm_stats *c)
{
	return c->route_uploads + c->irqfd_assign + c->irqfd_deassign;
}

int main(void)
{
	struct libmsix_kvm_vm_config vc = { .size = sizeof(vc) };
	struct libmsix_kvm_config dc = { .size = sizeof(dc) };
	struct libmsix_kvm_vm *kvm;
	struct libmsix_kvm *k, *kb;
	struct libmsix_kvm_stats c0, c1;
	struct libmsix_kvm_vm_stats bu;
	struct gdev g, gb;
	int fds0, err, gsi;
	uint32_t r0;
	uint64_t t0;

	fds0 = kvmvm_open_fds();
	REQUIRE(kvmvm_create(&vm) == 0, "%s", vm.error);
	REQUIRE(kvmvm_start(&vm, 10000) == 0, "%s", vm.error);

	vc.flags = LIBMSIX_KVM_VM_X86_IRQCHIP; /* KVM_CREATE_IRQCHIP's routes */
	vc.vm_fd = vm.vm_fd;
	vc.log = on_log;
	REQUIRE(libmsix_kvm_vm_create(&vc, &kvm) == 0, "vm table");
	dc.flags = LIBMSIX_KVM_F_IRQFD;
	dc.nr_vectors = N;
	dc.reserve = N;
	REQUIRE(libmsix_kvm_create(kvm, &dc, &k) == 0, "device");
	REQUIRE(gdev_create(&g, libmsix_kvm_backend(k), N, LIBMSIX_POLICY_LAZY,
			    on_fault, NULL) == 0, "libmsix device");

	/* ---- Linux bring-up: request_irq() one vector at a time. */
	REQUIRE(gdev_linux_bringup(&g, BASE) == 0, "bring-up");
	c0 = kc(k);
	CHECK(ops(&c0) == 0, "KVM work while everything is masked: %llu",
	      (unsigned long long)ops(&c0));
	for (uint32_t v = 0; v < N; v++) {
		CHECK(gdev_mask(&g, v, false) == 0, "unmask %u", v);
		CHECK(fire_expect(k, v), "vector %u did not arrive", v);
	}
	c1 = kc(k);
	printf("kvm_backend: bring-up of %u vectors: %llu route uploads, "
	       "%llu irqfd assigns (QEMU: %u + %u)\n", N,
	       (unsigned long long)c1.route_uploads,
	       (unsigned long long)c1.irqfd_assign, N, N);
	CHECK(c1.route_uploads == N, "uploads %llu",
	      (unsigned long long)c1.route_uploads);
	CHECK(c1.irqfd_assign == N, "assigns %llu",
	      (unsigned long long)c1.irqfd_assign);
	CHECK(c1.signal_msi == 0, "userspace injections %llu",
	      (unsigned long long)c1.signal_msi);

	/* ---- Masked: the PBA shows it, unmask replays it once. */
	c0 = kc(k);
	CHECK(gdev_mask(&g, 3, true) == 0, "mask");
	fire(k, 3);
	fire(k, 3);
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, BASE + 3) == 1, "delivered while masked");
	CHECK(gdev_pending(&g, 3), "PBA bit not set while masked");
	CHECK(gdev_mask(&g, 3, false) == 0, "unmask");
	CHECK(kvmvm_wait(&vm, BASE + 3, 2, WAIT_MS), "not replayed");
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, BASE + 3) == 2, "replayed %u times",
	      kvmvm_count(&vm, BASE + 3) - 1);
	CHECK(!gdev_pending(&g, 3), "PBA bit still set");
	c1 = kc(k);
	CHECK(c1.route_uploads == c0.route_uploads, "mask cycle uploaded");
	CHECK(c1.irqfd_deassign - c0.irqfd_deassign == 1 &&
		      c1.irqfd_assign - c0.irqfd_assign == 1,
	      "mask cycle: %llu deassign, %llu assign",
	      (unsigned long long)(c1.irqfd_deassign - c0.irqfd_deassign),
	      (unsigned long long)(c1.irqfd_assign - c0.irqfd_assign));
	/* Without a PBA read in between: the drain before assign finds it. */
	CHECK(gdev_mask(&g, 4, true) == 0, "mask");
	fire(k, 4);
	CHECK(gdev_mask(&g, 4, false) == 0, "unmask");
	CHECK(kvmvm_wait(&vm, BASE + 4, 2, WAIT_MS), "not replayed");
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, BASE + 4) == 2, "vector 4: %u interrupts",
	      kvmvm_count(&vm, BASE + 4));
	CHECK(fire_expect(k, 4), "vector 4 dead after the cycle");

	/* ---- Cost of one mask+unmask cycle by irqfd deassign/assign. */
	c0 = kc(k);
	t0 = kvmvm_now_ns();
	for (int i = 0; i < 200; i++) {
		gdev_mask(&g, 5, true);
		gdev_mask(&g, 5, false);
	}
	t0 = kvmvm_now_ns() - t0;
	c1 = kc(k);
	printf("kvm_backend: mask+unmask by KVM_IRQFD: %.1f us per cycle, "
	       "%.2f ioctls per cycle (200 cycles)\n", (double)t0 / 200e3,
	       (double)(ops(&c1) - ops(&c0)) / 200);
	CHECK(ops(&c1) - ops(&c0) == 400, "ioctls %llu",
	      (unsigned long long)(ops(&c1) - ops(&c0)));
	CHECK(fire_expect(k, 5), "vector 5 dead after the cycles");

	/* ---- Function Mask with N live vectors: irqfds only. */
	c0 = kc(k);
	CHECK(gdev_msgctl(&g, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) == 0,
	      "FM set");
	fire(k, 7);
	CHECK(gdev_msgctl(&g, PCI_MSIX_FLAGS_ENABLE) == 0, "FM clear");
	c1 = kc(k);
	CHECK(c1.route_uploads == c0.route_uploads, "Function Mask uploaded");
	CHECK(c1.irqfd_deassign - c0.irqfd_deassign == N &&
		      c1.irqfd_assign - c0.irqfd_assign == N,
	      "Function Mask toggle: irqfd ops");
	CHECK(kvmvm_wait(&vm, BASE + 7, 2, WAIT_MS),
	      "vector 7 caught under Function Mask not replayed");

	/* ---- Disable, then a restore-like burst: one upload. */
	CHECK(gdev_msgctl(&g, 0) == 0, "disable");
	c0 = kc(k);
	CHECK(c0.gsis == 0, "GSIs held after disable: %llu",
	      (unsigned long long)c0.gsis);
	CHECK(libmsix_begin(g.dev) == 0, "begin");
	CHECK(gdev_msgctl(&g, PCI_MSIX_FLAGS_ENABLE) == 0, "enable");
	for (uint32_t v = 0; v < N; v++)
		CHECK(gdev_mask(&g, v, false) == 0, "unmask %u", v);
	CHECK(libmsix_commit(g.dev) == 0, "commit");
	c1 = kc(k);
	CHECK(c1.route_uploads - c0.route_uploads == 1,
	      "burst of %u: %llu uploads", N,
	      (unsigned long long)(c1.route_uploads - c0.route_uploads));
	for (uint32_t v = 0; v < N; v++)
		CHECK(fire_expect(k, v), "vector %u after the burst", v);

	/* ---- Notify path: KVM_SIGNAL_MSI with the table's message. */
	c0 = kc(k);
	{
		uint32_t before = kvmvm_count(&vm, BASE + 9);

		CHECK(libmsix_notify(g.dev, 9) == LIBMSIX_DELIVERED, "notify");
		CHECK(kvmvm_wait(&vm, BASE + 9, before + 1, WAIT_MS),
		      "notify did not arrive");
	}
	/* A message to APIC ID 7, which has no vCPU: 0 from KVM, counted. */
	CHECK(gdev_mask(&g, 10, true) == 0, "mask");
	CHECK(gdev_program(&g, 10, KVMVM_MSI_ADDR | (7u << 12), BASE + 10) == 0,
	      "program");
	CHECK(gdev_mask(&g, 10, false) == 0, "unmask");
	CHECK(libmsix_notify(g.dev, 10) == LIBMSIX_DELIVERED, "notify nobody");
	c1 = kc(k);
	CHECK(c1.signal_msi - c0.signal_msi == 2 &&
		      c1.signal_msi_unmatched - c0.signal_msi_unmatched == 1,
	      "KVM_SIGNAL_MSI counts");

	/* ---- The VMM's own route on the last GSI (4095 here), kept in
	 * every upload; GSI 4096 does not exist. */
	REQUIRE(libmsix_kvm_vm_get_stats(kvm, &bu) == 0, "budget");
	CHECK(bu.capacity == 4096, "capacity %u", bu.capacity);
	{
		struct kvm_irq_routing_entry e;

		memset(&e, 0, sizeof(e));
		e.gsi = bu.capacity - 1;
		e.type = KVM_IRQ_ROUTING_MSI;
		e.u.msi.address_lo = KVMVM_MSI_ADDR;
		e.u.msi.data = 0x30;
		CHECK(libmsix_kvm_vm_set_routes(kvm, &e, 1) == -EINVAL,
		      "route on a GSI that is not the VMM's");
		CHECK(libmsix_kvm_vm_reserve(kvm, bu.capacity, 1) == -EINVAL,
		      "GSI %u reserved", bu.capacity);
		err = libmsix_kvm_vm_reserve(kvm, e.gsi, 1);
		CHECK(err == 0, "reserve GSI %u: %d", e.gsi, err);
		err = libmsix_kvm_vm_set_routes(kvm, &e, 1);
		CHECK(err == 0, "VMM route on GSI %u: %d", e.gsi, err);
		/* Check it is live in KVM: an irqfd of our own on it. */
		{
			int efd = eventfd(0, EFD_CLOEXEC);
			struct kvm_irqfd r = { .fd = (uint32_t)efd, .gsi = e.gsi };
			uint64_t one = 1;

			CHECK(ioctl(vm.vm_fd, KVM_IRQFD, &r) == 0, "VMM irqfd");
			CHECK(write(efd, &one, 8) == 8, "write");
			CHECK(kvmvm_wait(&vm, 0x30, 1, WAIT_MS),
			      "the VMM's route on GSI %u does not deliver", e.gsi);
			r.flags = KVM_IRQFD_FLAG_DEASSIGN;
			CHECK(ioctl(vm.vm_fd, KVM_IRQFD, &r) == 0, "deassign");
			close(efd);
		}
		/* A device upload keeps it, and the device's routes too. */
		uint32_t before = kvmvm_count(&vm, BASE + 12);

		CHECK(gdev_mask(&g, 11, true) == 0, "mask");
		CHECK(gdev_program(&g, 11, KVMVM_MSI_ADDR, BASE + 12) == 0, "msg");
		CHECK(gdev_mask(&g, 11, false) == 0, "unmask");
		fire(k, 11);
		CHECK(kvmvm_wait(&vm, BASE + 12, before + 1, WAIT_MS),
		      "vector 11's new route does not deliver");
		r0 = kvmvm_count(&vm, 0x30);
		CHECK(r0 == 1, "VMM vector 0x30: %u", r0);
		CHECK(gdev_program(&g, 11, KVMVM_MSI_ADDR, BASE + 11) == 0, "msg");
	}

	/* ---- A KVM ioctl failing for real: the VMM (wrongly) assigns vector
	 * 13's eventfd to a GSI of its own while the guest has it masked; the
	 * guest's unmask then gets EBUSY from KVM_IRQFD. */
	{
		struct kvm_irqfd r;
		int fds = kvmvm_open_fds();
		uint32_t f0 = faults, before = kvmvm_count(&vm, BASE + 13);

		CHECK(gdev_mask(&g, 13, true) == 0, "mask");
		memset(&r, 0, sizeof(r));
		r.fd = (uint32_t)libmsix_kvm_vector_eventfd(k, 13);
		r.gsi = bu.capacity - 1;
		CHECK(ioctl(vm.vm_fd, KVM_IRQFD, &r) == 0, "rogue irqfd");
		gsi = libmsix_kvm_vector_gsi(k, 13);
		c0 = kc(k);
		err = gdev_mask(&g, 13, false);
		CHECK(err == -EBUSY, "unmask over a rogue irqfd: %d", err);
		CHECK(faults == f0 + 1 && last_fault == -EBUSY, "fault callback");
		c1 = kc(k);
		CHECK(c1.errors == c0.errors + 1, "errors");
		CHECK(c1.gsis == c0.gsis, "GSIs %llu -> %llu",
		      (unsigned long long)c0.gsis, (unsigned long long)c1.gsis);
		CHECK(libmsix_kvm_vector_gsi(k, 13) == gsi, "GSI changed");
		CHECK(kvmvm_open_fds() == fds, "fds leaked");
		/* Blocked, not lost: with the rogue irqfd gone the interrupt
		 * waits in the eventfd, shows in the PBA and is replayed. */
		r.flags = KVM_IRQFD_FLAG_DEASSIGN;
		CHECK(ioctl(vm.vm_fd, KVM_IRQFD, &r) == 0, "rogue deassign");
		fire(k, 13);
		kvmvm_settle(&vm, QUIET_MS);
		CHECK(gdev_pending(&g, 13), "interrupt of a faulted vector lost");
		CHECK(libmsix_retry(g.dev) == 0, "retry");
		CHECK(kvmvm_wait(&vm, BASE + 13, before + 1, WAIT_MS),
		      "not replayed");
		CHECK(fire_expect(k, 13), "vector 13 dead after the retry");
	}

	/* ---- Run-time exhaustion: the VMM takes every free GSI but one;
	 * device B overcommits with fallback: 1 irqfd, 3 userspace. */
	{
		uint32_t first = 24 + N, count = bu.capacity - 2 - first;
		struct libmsix_kvm_config db = {
			.size = sizeof(db),
			.flags = LIBMSIX_KVM_F_IRQFD | LIBMSIX_KVM_F_FORCE |
				 LIBMSIX_KVM_F_FALLBACK,
			.nr_vectors = 4,
		};
		uint32_t fb = 0;

		err = libmsix_kvm_vm_reserve(kvm, first, count);
		CHECK(err == 0, "reserve [%u, +%u): %d", first, count, err);
		REQUIRE(libmsix_kvm_vm_get_stats(kvm, &bu) == 0, "budget");
		CHECK(bu.available == 1, "available %u", bu.available);
		REQUIRE(libmsix_kvm_create(kvm, &db, &kb) == 0, "device B");
		REQUIRE(gdev_create(&gb, libmsix_kvm_backend(kb), 4,
				    LIBMSIX_POLICY_LAZY, on_fault, NULL) == 0,
			"libmsix device B");
		CHECK(gdev_linux_bringup(&gb, 0x80) == 0, "B bring-up");
		for (uint32_t v = 0; v < 4; v++)
			CHECK(gdev_mask(&gb, v, false) == 0, "B unmask %u", v);
		c1 = kc(kb);
		CHECK(c1.gsis == 1 && c1.fallback_vectors == 3,
		      "B: %llu GSIs, %llu in fallback",
		      (unsigned long long)c1.gsis,
		      (unsigned long long)c1.fallback_vectors);
		for (uint32_t v = 0; v < 4; v++) {
			uint32_t before = kvmvm_count(&vm, (uint8_t)(0x80 + v));
			uint64_t one = 1;
			int fd = libmsix_kvm_vector_eventfd(kb, v);

			CHECK(write(fd, &one, 8) == 8, "write");
			if (libmsix_kvm_vector_gsi(kb, v) < 0) {
				/* The VMM's loop: readable -> consume -> notify. */
				CHECK(libmsix_kvm_consume(kb, v) == 1, "consume");
				CHECK(libmsix_notify(gb.dev, v) ==
					      LIBMSIX_DELIVERED, "notify");
				fb++;
			}
			CHECK(kvmvm_wait(&vm, (uint8_t)(0x80 + v), before + 1,
					 WAIT_MS), "B vector %u", v);
		}
		CHECK(fb == 3, "fallback vectors %u", fb);
		REQUIRE(libmsix_kvm_vm_get_stats(kvm, &bu) == 0, "budget");
		printf("kvm_backend: budget: capacity %u, VMM %u GSIs/%u entries, "
		       "reserved %u, demand %u, held %u, available %u, "
		       "overcommit %u, exhausted %llu, fallbacks %llu, uploads %llu\n",
		       bu.capacity, bu.vmm_gsis, bu.vmm_entries, bu.reserved,
		       bu.demand, bu.held, bu.available, bu.overcommit,
		       (unsigned long long)bu.exhausted,
		       (unsigned long long)bu.fallbacks,
		       (unsigned long long)bu.uploads);
		CHECK(bu.exhausted == 3 && bu.fallbacks == 3, "budget counts");
		gdev_destroy(&gb);
		libmsix_kvm_destroy(kb);
	}

	/* ---- Teardown: nothing left behind. */
	gdev_destroy(&g);
	c1 = kc(k);
	CHECK(c1.gsis == 0, "GSIs after destroy: %llu",
	      (unsigned long long)c1.gsis);
	libmsix_kvm_destroy(k);
	REQUIRE(libmsix_kvm_vm_get_stats(kvm, &bu) == 0, "budget");
	CHECK(bu.held == 0, "VM GSIs held %u", bu.held);
	CHECK(libmsix_kvm_vm_destroy(kvm) == 0, "VM table destroy");
	CHECK(atomic_load(&vm.oddities) == 0, "guest oddities");
	CHECK(!atomic_load(&vm.dead), "vCPU died: %s", vm.error);
	kvmvm_destroy(&vm);
	CHECK(kvmvm_open_fds() == fds0, "fds: %d before, %d after", fds0,
	      kvmvm_open_fds());
	printf("kvm_backend: %s (%d failures)\n", kvmvm_failures ? "FAIL" : "ok",
	       kvmvm_failures);
	return kvmvm_failures ? 1 : 0;
}
