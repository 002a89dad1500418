/* SPDX-License-Identifier: MIT */
/*
 * Deferred KVM routing (LIBMSIX_KVM_ROUTING_DEFERRED) on a real KVM: the
 * tiny VM's vCPU counts every interrupt it takes. Runs in the test guest
 * (nested KVM, Linux 6.1 and 6.12), as every tests/guest/kvm_*.c does.
 *
 *   - A Linux bring-up of N vectors uploads nothing until the flush, and
 *     then one table; meanwhile every vector is live through the VMM
 *     (consume + notify = KVM_SIGNAL_MSI), afterwards through its irqfd.
 *   - A count that sits in the eventfd at the flush is injected once by
 *     KVM's assign; the stale count the assign leaves behind is not
 *     replayed by a later mask and unmask.
 *   - The race: a producer thread raises one interrupt at a time and waits
 *     for the vCPU to take it, a VMM thread serves the eventfds, and the
 *     main thread changes the vectors' messages (an affinity change, which
 *     waits for the batch again) and flushes, over and over. Every
 *     interrupt must arrive exactly once, on the vector of its message.
 * Exit 0 when every check holds, 77 without /dev/kvm.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "kvmvm.h"
#include "libmsix-kvm.h"

#define N 16u
#define BASE 0x40u  /* vector v's guest vector: BASE + v ... */
#define BASE2 0x80u /* ... or BASE2 + v after an affinity change */
#define WAIT_MS 10000
#define ROUNDS 40u

static struct kvmvm vm;
static struct gdev g;
static struct libmsix_kvm_vm *kvm_vm;
static struct libmsix_kvm *k;
static _Atomic int served[N]; /* the fallback callback's fds */
static _Atomic bool stop;
static _Atomic uint32_t served_by_vmm;

static void on_fallback(void *opaque, uint32_t v, int fd)
{
	(void)opaque;
	if (v < N)
		atomic_store(&served[v], fd);
}

static void on_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	printf("  log(%d): %s\n", level, msg);
}

static void fire(uint32_t v)
{
	uint64_t one = 1;
	int fd = libmsix_kvm_vector_eventfd(k, v);

	REQUIRE(fd >= 0, "vector %u has no eventfd", v);
	REQUIRE(write(fd, &one, sizeof(one)) == sizeof(one), "eventfd write");
}

/* What the VMM's event loop does for a readable eventfd it was given. */
static int serve(uint32_t v)
{
	int r = libmsix_kvm_consume(k, v);

	if (r == 1) {
		atomic_fetch_add(&served_by_vmm, 1);
		r = libmsix_notify(g.dev, v);
		CHECK(r >= 0, "notify %u: %d", v, r);
		return 1;
	}
	return 0;
}

static struct libmsix_kvm_vm_stats vstats(void)
{
	struct libmsix_kvm_vm_stats s;

	REQUIRE(libmsix_kvm_vm_get_stats(kvm_vm, &s) == 0, "stats");
	return s;
}

static void bringup_is_one_upload(void)
{
	uint64_t uploads = vstats().uploads;

	REQUIRE(gdev_linux_bringup(&g, BASE) == 0, "bring-up");
	for (uint32_t v = 0; v < N; v++) {
		REQUIRE(gdev_program(&g, v, KVMVM_MSI_ADDR,
				     kvmvm_vector(BASE, v)) == 0, "program");
		REQUIRE(gdev_mask(&g, v, false) == 0, "unmask %u", v);
		CHECK(atomic_load(&served[v]) ==
			      libmsix_kvm_vector_eventfd(k, v),
		      "vector %u not handed to the VMM", v);
	}
	CHECK(vstats().uploads == uploads, "%llu uploads before the flush",
	      (unsigned long long)(vstats().uploads - uploads));
	CHECK(vstats().deferred == N, "%u deferred", vstats().deferred);

	/* Live through the VMM. */
	fire(2);
	CHECK(serve(2) == 1, "the VMM found nothing in vector 2's eventfd");
	CHECK(kvmvm_wait(&vm, kvmvm_vector(BASE, 2), 1, WAIT_MS),
	      "vector 2 (through the VMM) never arrived");

	/* 5 waits in its eventfd at the flush: KVM's assign injects it. */
	fire(5);
	CHECK(libmsix_kvm_vm_flush(kvm_vm) == (int)N, "flush");
	CHECK(vstats().uploads == uploads + 1, "%llu uploads for the bring-up",
	      (unsigned long long)(vstats().uploads - uploads));
	CHECK(kvmvm_wait(&vm, kvmvm_vector(BASE, 5), 1, WAIT_MS),
	      "vector 5 (waiting at the flush) never arrived");
	for (uint32_t v = 0; v < N; v++)
		CHECK(atomic_load(&served[v]) == -1,
		      "vector %u still with the VMM", v);
	CHECK(libmsix_kvm_consume(k, 5) == -EBUSY, "consume after the flush");

	/* Through the irqfd now; the stale count of 5 is not replayed by a
	 * mask + unmask (it was dropped before the deassign). */
	for (uint32_t v = 0; v < N; v++) {
		uint32_t before = kvmvm_count(&vm, kvmvm_vector(BASE, v));

		fire(v);
		CHECK(kvmvm_wait(&vm, kvmvm_vector(BASE, v), before + 1,
				 WAIT_MS), "vector %u through its irqfd", v);
	}
	REQUIRE(gdev_mask(&g, 5, true) == 0, "mask");
	CHECK(!gdev_pending(&g, 5), "a stale count became pending");
	REQUIRE(gdev_mask(&g, 5, false) == 0, "unmask");
	kvmvm_settle(&vm, 100);
	CHECK(kvmvm_count(&vm, kvmvm_vector(BASE, 5)) == 2,
	      "vector 5 arrived %u times, expected 2",
	      kvmvm_count(&vm, kvmvm_vector(BASE, 5)));
	CHECK(kvmvm_count(&vm, kvmvm_vector(BASE, 2)) == 2,
	      "vector 2 arrived %u times, expected 2",
	      kvmvm_count(&vm, kvmvm_vector(BASE, 2)));
}

struct producer {
	uint32_t fires, lost;
};

static void *producer(void *arg)
{
	struct producer *p = arg;

	for (uint32_t i = 0; !atomic_load(&stop); i++) {
		uint32_t before = atomic_load(&vm.total);
		uint64_t give_up = kvmvm_now_ns() + WAIT_MS * 1000000ull;

		fire(i % N);
		p->fires++;
		while (atomic_load(&vm.total) == before &&
		       kvmvm_now_ns() < give_up)
			usleep(20);
		if (atomic_load(&vm.total) == before) {
			p->lost++;
			break;
		}
	}
	return NULL;
}

static void *vmm_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		for (uint32_t v = 0; v < N; v++)
			if (atomic_load(&served[v]) >= 0)
				serve(v);
		usleep(10);
	}
	return NULL;
}

static void switch_race(void)
{
	struct producer p = { 0, 0 };
	pthread_t prod, vmm;
	uint32_t total0 = atomic_load(&vm.total);
	uint64_t uploads0 = vstats().uploads;

	REQUIRE(pthread_create(&vmm, NULL, vmm_thread, NULL) == 0, "thread");
	REQUIRE(pthread_create(&prod, NULL, producer, &p) == 0, "thread");
	for (uint32_t r = 0; r < ROUNDS; r++) {
		uint8_t base = (r & 1) ? BASE2 : BASE;

		/* An affinity change of every vector, as Linux makes it:
		 * mask, new message, unmask. Each waits for the batch. */
		for (uint32_t v = 0; v < N; v++) {
			REQUIRE(gdev_mask(&g, v, true) == 0, "mask");
			REQUIRE(gdev_program(&g, v, KVMVM_MSI_ADDR,
					     kvmvm_vector(base, v)) == 0,
				"program");
			REQUIRE(gdev_mask(&g, v, false) == 0, "unmask");
		}
		usleep((r % 5) * 200);
		CHECK(libmsix_kvm_vm_flush(kvm_vm) >= 0, "flush");
		usleep((r % 3) * 300);
	}
	atomic_store(&stop, true);
	pthread_join(prod, NULL);
	pthread_join(vmm, NULL);
	kvmvm_settle(&vm, 200);
	CHECK(p.lost == 0, "an interrupt never arrived (after %u)", p.fires);
	CHECK(atomic_load(&vm.total) - total0 == p.fires,
	      "%u interrupts taken for %u raised",
	      atomic_load(&vm.total) - total0, p.fires);
	CHECK(vstats().uploads - uploads0 <= ROUNDS, "%llu uploads, %u flushes",
	      (unsigned long long)(vstats().uploads - uploads0), ROUNDS);
	CHECK(vstats().deferred == 0, "%u vectors still wait",
	      vstats().deferred);
	printf("kvm_deferred: %u interrupts over %u flushes, each once; %u "
	       "served by the VMM, the rest by KVM\n",
	       p.fires, ROUNDS, atomic_load(&served_by_vmm));
}

int main(void)
{
	struct libmsix_kvm_vm_config vc = {
		.size = sizeof(vc),
		.flags = LIBMSIX_KVM_VM_X86_IRQCHIP,
		.log = on_log,
	};
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc),
		.flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = N,
		.reserve = N,
		.fallback = on_fallback,
	};
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt),
		.mode = LIBMSIX_KVM_ROUTING_DEFERRED,
	};
	int fds;

	if (access("/dev/kvm", R_OK | W_OK))
		SKIP("/dev/kvm: %s", strerror(errno));
	for (uint32_t v = 0; v < N; v++)
		served[v] = -1;
	fds = kvmvm_open_fds();
	REQUIRE(kvmvm_create(&vm) == 0, "%s", vm.error);
	REQUIRE(kvmvm_start(&vm, 10000) == 0, "%s", vm.error);
	vc.vm_fd = vm.vm_fd;
	REQUIRE(libmsix_kvm_vm_create(&vc, &kvm_vm) == 0, "VM table");
	REQUIRE(libmsix_kvm_vm_set_routing(kvm_vm, &rt) == 0, "deferred");
	REQUIRE(libmsix_kvm_create(kvm_vm, &kc, &k) == 0, "device");
	REQUIRE(gdev_create(&g, libmsix_kvm_backend(k), N, LIBMSIX_POLICY_LAZY,
			    NULL, NULL) == 0, "libmsix device");

	bringup_is_one_upload();
	switch_race();

	gdev_destroy(&g);
	libmsix_kvm_destroy(k);
	CHECK(libmsix_kvm_vm_destroy(kvm_vm) == 0, "VM table destroy");
	CHECK(atomic_load(&vm.oddities) == 0, "guest oddities");
	kvmvm_destroy(&vm);
	CHECK(kvmvm_open_fds() == fds, "fds leaked");
	printf("kvm_deferred: %s (%d failures)\n",
	       kvmvm_failures ? "FAIL" : "ok", kvmvm_failures);
	return kvmvm_failures ? 1 : 0;
}
