/* SPDX-License-Identifier: MIT */
/*
 * The whole passthrough path, for real: the ivshmem-doorbell device bound to
 * vfio-pci in this (L1) guest rings its own MSI-X vector; VFIO signals the
 * vector's irqfd eventfd; KVM routes it into the tiny nested VM (L2), whose
 * vCPU takes the interrupt and reports the vector. libmsix drives it all
 * through the passthrough backend (lib/passthrough.c) while this program
 * plays the L2 guest's driver against the virtual MSI-X table.
 *
 * Usage: kvm_pt_doorbell [USED]
 *   USED: vectors the guest driver request_irq()s, default min(N, 64) where
 *   N is the device's table size (LIBMSIX_TEST_VECTORS). A 2048-entry table
 *   is more than one L1 vCPU has IDT vectors for (about 200 host IRQs).
 *
 * For each policy: a Linux-style bring-up (Enable|Function Mask, mask all,
 * program, clear Function Mask, unmask USED vectors one at a time), with
 * the ioctls it cost, printed next to QEMU's; then one real doorbell per
 * vector, each of which must arrive exactly once. With the auto policy:
 * masks by KVM_IRQFD and by trigger swap (Function Mask) latch in the PBA
 * and replay exactly once; a doorbell rung before the vector has a host
 * vector arrives once on unmask; the cost of a mask+unmask cycle, measured
 * for both strategies. Nothing may leak. Exit 0 when every check holds.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "kvmvm.h"
#include "libmsix-kvm.h"
#include "libmsix-vfio.h"

#define BASE 0x20u
#define WAIT_MS 5000
#define QUIET_MS 200

static struct kvmvm vm;
static struct libmsix_vfio *vf;
static struct libmsix_kvm_vm *table;
static uint64_t bar0;
static uint32_t own_id, n_vectors;
static const char *kernel;

struct setup {
	struct libmsix_kvm *kvm;
	struct libmsix_passthrough *pt;
	struct gdev g;
	uint32_t faults;
};

static void on_fault(void *opaque, uint32_t v, int err)
{
	struct setup *s = opaque;

	s->faults++;
	if (s->faults <= 3)
		printf("  fault: vector %u: %s\n", v, strerror(-err));
}

static void on_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= 4)
		printf("  log(%d): %s\n", level, msg);
}

static void doorbell(uint32_t v)
{
	uint32_t val = own_id << 16 | v;
	int fd = libmsix_vfio_device_fd(vf);

	REQUIRE(pwrite(fd, &val, 4, (off_t)(bar0 + 12)) == 4, "doorbell");
}

/* The bring-up's result: see bringup() for the one error a 2048-entry
 * table may give in this guest. */
static bool bringup_ok(int err)
{
	return err == 0 || (err == -ENOSPC && n_vectors > 200);
}

static uint8_t gv(uint32_t v)
{
	return kvmvm_vector(BASE, v);
}

/* Ring @v and expect exactly one more interrupt on its guest vector. */
static bool ring_expect(uint32_t v)
{
	uint32_t before = kvmvm_count(&vm, gv(v));

	doorbell(v);
	return kvmvm_wait(&vm, gv(v), before + 1, WAIT_MS);
}

static void setup(struct setup *s, enum libmsix_policy policy,
		  enum libmsix_pt_mask mask)
{
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = n_vectors, .reserve = n_vectors,
	};
	struct libmsix_passthrough_config pc = { .size = sizeof(pc),
						 .mask = mask };
	int err;

	memset(s, 0, sizeof(*s));
	err = libmsix_kvm_create(table, &kc, &s->kvm);
	REQUIRE(err == 0, "KVM device: %d", err);
	err = libmsix_passthrough_create(vf, s->kvm, &pc, &s->pt);
	REQUIRE(err == 0, "passthrough: %d", err);
	err = gdev_create(&s->g, libmsix_passthrough_backend(s->pt), n_vectors,
			  policy, on_fault, s);
	REQUIRE(err == 0, "libmsix device: %d", err);
}

static void teardown(struct setup *s)
{
	struct libmsix_kvm_stats c;

	gdev_destroy(&s->g);
	libmsix_passthrough_destroy(s->pt);
	REQUIRE(libmsix_kvm_get_stats(s->kvm, &c) == 0, "counters");
	CHECK(c.gsis == 0, "GSIs left: %llu", (unsigned long long)c.gsis);
	libmsix_kvm_destroy(s->kvm);
}

struct cost {
	uint64_t uploads, irqfds, set_irqs, request_irq, reenables;
};

static struct cost cost_now(struct setup *s)
{
	struct libmsix_kvm_stats kc;
	struct libmsix_vfio_stats vs;
	struct libmsix_stats lc;
	struct cost c;

	REQUIRE(libmsix_kvm_get_stats(s->kvm, &kc) == 0, "kvm counters");
	REQUIRE(libmsix_vfio_get_stats(vf, &vs) == 0, "vfio stats");
	REQUIRE(libmsix_get_stats(s->g.dev, &lc) == 0, "counters");
	c.uploads = kc.route_uploads;
	c.irqfds = kc.irqfd_assign + kc.irqfd_deassign;
	c.set_irqs = vs.set_irqs;
	c.request_irq = vs.vectors_set_up;
	c.reenables = vs.reenables;
	return c;
}

static struct cost cost_diff(struct cost a, struct cost b)
{
	return (struct cost){ b.uploads - a.uploads, b.irqfds - a.irqfds,
			      b.set_irqs - a.set_irqs,
			      b.request_irq - a.request_irq,
			      b.reenables - a.reenables };
}

/* A Linux-style bring-up of @used vectors, then a doorbell per vector. */
static void bringup(enum libmsix_policy policy, uint32_t used, bool noresize)
{
	struct libmsix_stats lc;
	struct setup s;
	struct cost c0, c;
	uint64_t lost = 0, t0;
	int err;
	uint64_t m = used;

	setup(&s, policy, LIBMSIX_PT_MASK_AUTO);
	c0 = cost_now(&s);
	t0 = kvmvm_now_ns();
	err = gdev_linux_bringup(&s.g, BASE);
	/* Preallocating every vector of a 2048-entry table needs more host
	 * IRQs than a one-vCPU guest has IDT vectors: VFIO's SET_IRQS says
	 * ENOSPC at the enable edge and the unmasks allocate one by one. */
	if (err == -ENOSPC && n_vectors > 200)
		printf("  %s: preallocating %u host vectors failed (ENOSPC); "
		       "vectors are allocated at unmask instead\n",
		       libmsix_policy_name(policy), n_vectors);
	else
		CHECK(err == 0, "%s: bring-up: %d", libmsix_policy_name(policy),
		      err);
	for (uint32_t v = 0; v < used; v++) {
		err = gdev_mask(&s.g, v, false);
		CHECK(err == 0, "%s: unmask %u: %d",
		      libmsix_policy_name(policy), v, err);
	}
	t0 = kvmvm_now_ns() - t0;
	c = cost_diff(c0, cost_now(&s));
	REQUIRE(libmsix_get_stats(s.g.dev, &lc) == 0, "counters");
	printf("| %-5s | %-11s | %4u | %4u | %6llu | %6llu | %6llu | %7llu | %8llu | %5llu | %6llu | %7.1f | "
	       "QEMU: %llu ioctls (%llu SET_IRQS), %llu request_irq |\n",
	       kernel, libmsix_policy_name(policy), n_vectors, used,
	       (unsigned long long)c.uploads, (unsigned long long)c.irqfds,
	       (unsigned long long)c.set_irqs,
	       (unsigned long long)(c.uploads + c.irqfds + c.set_irqs),
	       (unsigned long long)c.request_irq,
	       (unsigned long long)c.reenables,
	       (unsigned long long)lc.spurious_replays, (double)t0 / 1e6,
	       (unsigned long long)(noresize ? 4 * m + 1 : 3 * m + 1),
	       (unsigned long long)(noresize ? 2 * m + 1 : m + 1),
	       (unsigned long long)(noresize ? m * (m + 1) / 2 : m));
	fflush(stdout);
	CHECK(s.faults == 0, "%s: %u vectors faulted",
	      libmsix_policy_name(policy), s.faults);
	CHECK(c.uploads == used, "%s: %llu uploads for %u unmasks",
	      libmsix_policy_name(policy), (unsigned long long)c.uploads, used);
	CHECK(c.irqfds == used, "%s: %llu irqfd ops",
	      libmsix_policy_name(policy), (unsigned long long)c.irqfds);

	/* Replays after NORESIZE re-enables (the engine's choice: spurious
	 * rather than lost) land during bring-up; count the doorbells alone. */
	kvmvm_settle(&vm, QUIET_MS);
	memset((void *)vm.count, 0, sizeof(vm.count));
	for (uint32_t v = 0; v < used; v++)
		if (!ring_expect(v))
			lost++;
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(lost == 0, "%s: %llu of %u doorbells never arrived",
	      libmsix_policy_name(policy), (unsigned long long)lost, used);
	/* Exactly once: each guest vector counted its own doorbells. */
	if (used <= 0xd0)
		for (uint32_t v = 0; v < used; v++)
			CHECK(kvmvm_count(&vm, gv(v)) == 1,
			      "%s: vector %u arrived %u times",
			      libmsix_policy_name(policy), v,
			      kvmvm_count(&vm, gv(v)));
	teardown(&s);
	memset((void *)vm.count, 0, sizeof(vm.count));
}

/* Masks with the auto strategy: exact PBA, one replay, nothing lost. */
static void masking(uint32_t used)
{
	struct libmsix_passthrough_stats pc;
	struct setup s;
	struct cost c0, c;
	uint32_t before;

	setup(&s, LIBMSIX_POLICY_AUTO, LIBMSIX_PT_MASK_AUTO);
	/* Vector 3 rings while the guest has it masked: on a dynamic host it
	 * has no host vector yet (incremental) and the device keeps it in its
	 * own PBA until VFIO attaches the vector; on a NORESIZE host it was
	 * preallocated and the interrupt waits in its eventfd. Either way it
	 * arrives once, at unmask. (Before the first unmask the host has
	 * MSI-X off altogether on a dynamic host; see docs/kvm.md.) */
	CHECK(bringup_ok(gdev_linux_bringup(&s.g, BASE)), "bring-up");
	CHECK(gdev_mask(&s.g, 0, false) == 0, "unmask 0");
	doorbell(3);
	for (uint32_t v = 1; v < used; v++)
		CHECK(gdev_mask(&s.g, v, false) == 0, "unmask %u", v);
	CHECK(kvmvm_wait(&vm, gv(3), 1, WAIT_MS),
	      "doorbell rung before allocation never arrived");
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, gv(3)) == 1, "early doorbell arrived %u times",
	      kvmvm_count(&vm, gv(3)));

	/* One vector: a trigger swap to VFIO's mask eventfd; the interrupt
	 * waits there, the PBA shows it, unmask replays it once. */
	c0 = cost_now(&s);
	before = kvmvm_count(&vm, gv(1));
	CHECK(gdev_mask(&s.g, 1, true) == 0, "mask 1");
	doorbell(1);
	doorbell(1);
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, gv(1)) == before, "delivered while masked");
	CHECK(gdev_pending(&s.g, 1), "PBA bit 1 not set while masked");
	CHECK(gdev_mask(&s.g, 1, false) == 0, "unmask 1");
	CHECK(kvmvm_wait(&vm, gv(1), before + 1, WAIT_MS), "1 not replayed");
	kvmvm_settle(&vm, QUIET_MS);
	CHECK(kvmvm_count(&vm, gv(1)) == before + 1, "1 replayed %u times",
	      kvmvm_count(&vm, gv(1)) - before);
	CHECK(!gdev_pending(&s.g, 1), "PBA bit 1 still set");
	c = cost_diff(c0, cost_now(&s));
	CHECK(c.set_irqs == 2 && c.irqfds == 0 && c.uploads == 0,
	      "single mask cycle: %llu SET_IRQS, %llu KVM_IRQFD, %llu uploads",
	      (unsigned long long)c.set_irqs, (unsigned long long)c.irqfds,
	      (unsigned long long)c.uploads);
	CHECK(ring_expect(1), "vector 1 dead after its mask cycle");

	/* Function Mask: every live vector masked in one commit, by trigger
	 * swap, one SET_IRQS per direction for the contiguous run. */
	c0 = cost_now(&s);
	CHECK(gdev_msgctl(&s.g, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) == 0,
	      "FM set");
	for (uint32_t v = 0; v < used && v < 6; v += 2)
		doorbell(v);
	kvmvm_settle(&vm, QUIET_MS);
	for (uint32_t v = 0; v < used && v < 6; v++)
		CHECK(gdev_pending(&s.g, v) == !(v & 1),
		      "PBA bit %u under Function Mask: %d", v,
		      gdev_pending(&s.g, v));
	for (uint32_t v = 0; v < used && v < 6; v++)
		vm.count[gv(v)] = 0;
	CHECK(gdev_msgctl(&s.g, PCI_MSIX_FLAGS_ENABLE) == 0, "FM clear");
	for (uint32_t v = 0; v < used && v < 6; v += 2)
		CHECK(kvmvm_wait(&vm, gv(v), 1, WAIT_MS), "%u not replayed", v);
	kvmvm_settle(&vm, QUIET_MS);
	for (uint32_t v = 0; v < used && v < 6; v++)
		CHECK(kvmvm_count(&vm, gv(v)) == !(v & 1),
		      "after Function Mask, vector %u arrived %u times", v,
		      kvmvm_count(&vm, gv(v)));
	c = cost_diff(c0, cost_now(&s));
	printf("kvm_pt_doorbell: Function Mask set+clear with %u live vectors: "
	       "%llu SET_IRQS, %llu KVM_IRQFD, %llu uploads\n", used,
	       (unsigned long long)c.set_irqs, (unsigned long long)c.irqfds,
	       (unsigned long long)c.uploads);
	CHECK(c.irqfds == 0 && c.uploads == 0, "Function Mask used KVM ops");
	REQUIRE(libmsix_passthrough_get_stats(s.pt, &pc) == 0, "counters");
	CHECK(pc.masks_irqfd == 0 && pc.masks_swap == used + 1,
	      "masks: %llu by irqfd, %llu by swap",
	      (unsigned long long)pc.masks_irqfd,
	      (unsigned long long)pc.masks_swap);
	for (uint32_t v = 0; v < used; v++)
		CHECK(ring_expect(v), "vector %u dead after Function Mask", v);
	teardown(&s);
	memset((void *)vm.count, 0, sizeof(vm.count));
}

/*
 * The cost of one mask+unmask cycle of vector 0, and of a Function Mask
 * toggle with @used live vectors, for both strategies. This nested TCG
 * guest shares two host cores with whatever else runs, so the strategies
 * take turns over several rounds and the median round is reported.
 */
enum { ROUNDS = 5, CYCLES = 50, TOGGLES = 4 };

struct sample {
	double cycle_us[ROUNDS], toggle_us[ROUNDS];
	struct cost cycle, toggle; /* summed over the rounds */
};

static double median(double *x, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
			double t = x[j];

			x[j] = x[j - 1];
			x[j - 1] = t;
		}
	return x[n / 2];
}

static void add(struct cost *a, struct cost b)
{
	a->uploads += b.uploads;
	a->irqfds += b.irqfds;
	a->set_irqs += b.set_irqs;
	a->request_irq += b.request_irq;
}

static void round_of(enum libmsix_pt_mask mask, uint32_t used, int r,
		     struct sample *out)
{
	struct setup s;
	struct cost c0;
	uint64_t t;

	setup(&s, LIBMSIX_POLICY_AUTO, mask);
	CHECK(bringup_ok(gdev_linux_bringup(&s.g, BASE)), "bring-up");
	for (uint32_t v = 0; v < used; v++)
		CHECK(gdev_mask(&s.g, v, false) == 0, "unmask %u", v);
	if (r == 0) {
		/* Exact with this strategy too: latched, shown, replayed once. */
		kvmvm_settle(&vm, QUIET_MS);
		memset((void *)vm.count, 0, sizeof(vm.count));
		CHECK(gdev_mask(&s.g, 1, true) == 0, "mask 1");
		doorbell(1);
		kvmvm_settle(&vm, QUIET_MS);
		CHECK(kvmvm_count(&vm, gv(1)) == 0, "delivered while masked");
		CHECK(gdev_pending(&s.g, 1), "PBA bit 1 not set while masked");
		CHECK(gdev_mask(&s.g, 1, false) == 0, "unmask 1");
		CHECK(kvmvm_wait(&vm, gv(1), 1, WAIT_MS), "1 not replayed");
		kvmvm_settle(&vm, QUIET_MS);
		CHECK(kvmvm_count(&vm, gv(1)) == 1, "1 replayed %u times",
		      kvmvm_count(&vm, gv(1)));
	}
	c0 = cost_now(&s);
	t = kvmvm_now_ns();
	for (int i = 0; i < CYCLES; i++) {
		gdev_mask(&s.g, 0, true);
		gdev_mask(&s.g, 0, false);
	}
	out->cycle_us[r] = (double)(kvmvm_now_ns() - t) / CYCLES / 1e3;
	add(&out->cycle, cost_diff(c0, cost_now(&s)));

	c0 = cost_now(&s);
	t = kvmvm_now_ns();
	for (int i = 0; i < TOGGLES; i++) {
		gdev_msgctl(&s.g, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		gdev_msgctl(&s.g, PCI_MSIX_FLAGS_ENABLE);
	}
	out->toggle_us[r] = (double)(kvmvm_now_ns() - t) / TOGGLES / 1e3;
	add(&out->toggle, cost_diff(c0, cost_now(&s)));
	kvmvm_settle(&vm, QUIET_MS);
	memset((void *)vm.count, 0, sizeof(vm.count));
	for (uint32_t v = 0; v < used; v++)
		CHECK(ring_expect(v), "vector %u dead after the cycles", v);
	teardown(&s);
	memset((void *)vm.count, 0, sizeof(vm.count));
}

static void report(const char *name, uint32_t used, struct sample *x)
{
	double cycles = ROUNDS * CYCLES, toggles = ROUNDS * TOGGLES;
	double cm = median(x->cycle_us, ROUNDS), tm = median(x->toggle_us, ROUNDS);

	printf("| %-5s | %-5s | one vector | %7.1f us (min %.1f) | %4.2f SET_IRQS + %4.2f KVM_IRQFD | %4.2f |\n",
	       kernel, name, cm, x->cycle_us[0],
	       (double)x->cycle.set_irqs / cycles,
	       (double)x->cycle.irqfds / cycles,
	       (double)x->cycle.request_irq / cycles);
	printf("| %-5s | %-5s | Function Mask, %u live | %7.1f us (min %.1f) | %5.1f SET_IRQS + %5.1f KVM_IRQFD | %5.1f |\n",
	       kernel, name, used, tm, x->toggle_us[0], (double)x->toggle.set_irqs / toggles,
	       (double)x->toggle.irqfds / toggles,
	       (double)x->toggle.request_irq / toggles);
	CHECK(x->cycle.set_irqs + x->cycle.irqfds + x->cycle.uploads ==
		      2 * (uint64_t)cycles,
	      "%s: %llu ioctls for %.0f mask+unmask cycles", name,
	      (unsigned long long)(x->cycle.set_irqs + x->cycle.irqfds +
				   x->cycle.uploads), cycles);
}

static void measure(uint32_t used)
{
	static struct sample irqfd, swap;

	for (int r = 0; r < ROUNDS; r++) {
		round_of(LIBMSIX_PT_MASK_IRQFD, used, r, &irqfd);
		round_of(LIBMSIX_PT_MASK_SWAP, used, r, &swap);
	}
	printf("| kernel | mask | what | median per cycle | ioctls per cycle | host request_irq per cycle |\n");
	report("irqfd", used, &irqfd);
	report("swap", used, &swap);
}

int main(int argc, char **argv)
{
	struct libmsix_vfio_opts vo = { .size = sizeof(vo), .log = on_log };
	struct libmsix_kvm_vm_config tc = { .size = sizeof(tc),
					    .flags = LIBMSIX_KVM_VM_X86_IRQCHIP,
					    .log = on_log };
	struct libmsix_vfio_info info;
	struct libmsix_kvm_vm_stats bu;
	const char *dev = getenv("LIBMSIX_TEST_DEVICE");
	static const enum libmsix_policy policies[] = {
		LIBMSIX_POLICY_LAZY, LIBMSIX_POLICY_PREALLOCATE,
		LIBMSIX_POLICY_INCREMENTAL, LIBMSIX_POLICY_AUTO,
	};
	uint32_t used;
	int fds0, err;
	bool noresize;

	/* Two eventfds per vector at most (irqfd, VFIO mask): 2048-entry
	 * tables need more than the default 1024 fds. */
	{
		struct rlimit rl = { 16384, 16384 };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			printf("kvm_pt_doorbell: cannot raise RLIMIT_NOFILE: %s\n",
			       strerror(errno));
	}
	kernel = getenv("LIBMSIX_TEST_KERNEL");
	if (!kernel)
		kernel = "?";
	if (!dev)
		SKIP("LIBMSIX_TEST_DEVICE is not set (run me in the guest)");
	fds0 = kvmvm_open_fds();
	REQUIRE(kvmvm_create(&vm) == 0, "%s", vm.error);
	REQUIRE(kvmvm_start(&vm, 10000) == 0, "%s", vm.error);
	err = libmsix_vfio_open(dev, &vo, &vf);
	REQUIRE(err == 0, "libmsix_vfio_open(%s): %d", dev, err);
	REQUIRE(libmsix_vfio_get_info(vf, &info) == 0, "info");
	REQUIRE(libmsix_vfio_set_bus_master(vf, true) == 0, "bus master");
	bar0 = info.bar_offset[0];
	REQUIRE(pread(libmsix_vfio_device_fd(vf), &own_id, 4,
		      (off_t)(bar0 + 8)) == 4, "IVPosition");
	n_vectors = info.irq_count;
	noresize = !info.live_resize;
	used = n_vectors < 64 ? n_vectors : 64;
	if (argc > 1)
		used = (uint32_t)strtoul(argv[1], NULL, 0);
	REQUIRE(used >= 6 && used <= n_vectors, "USED %u out of 6..%u", used,
		n_vectors);
	printf("kvm_pt_doorbell: %s: %s, %u MSI-X vectors, %s, id %u\n", kernel,
	       dev, n_vectors, noresize ? "NORESIZE" : "dynamic", own_id);

	tc.vm_fd = vm.vm_fd;
	REQUIRE(libmsix_kvm_vm_create(&tc, &table) == 0, "route table");

	printf("| kernel | policy | N | used | route uploads | KVM_IRQFD | SET_IRQS | ioctls | host request_irq | MSI-X off/on | spurious replays | ms | QEMU |\n");
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		/* Growing a NORESIZE prefix one vector at a time is QEMU's
		 * N(N+1)/2 request_irq: 2.1 million for 2048, hours here. */
		if (policies[i] == LIBMSIX_POLICY_LAZY && noresize && used > 256) {
			printf("| %-5s | lazy        | %4u | %4u | skipped: %llu host request_irq, as QEMU |\n",
			       kernel, n_vectors, used,
			       (unsigned long long)used * (used + 1) / 2);
			continue;
		}
		bringup(policies[i], used, noresize);
	}
	masking(used);
	measure(used < 64 ? used : 64);

	REQUIRE(libmsix_kvm_vm_get_stats(table, &bu) == 0, "budget");
	CHECK(bu.held == 0, "GSIs held at the end: %u", bu.held);
	CHECK(libmsix_kvm_vm_destroy(table) == 0, "VM table destroy");
	libmsix_vfio_close(vf);
	CHECK(atomic_load(&vm.oddities) == 0, "guest oddities");
	CHECK(!atomic_load(&vm.dead), "vCPU died: %s", vm.error);
	kvmvm_destroy(&vm);
	CHECK(kvmvm_open_fds() == fds0, "fds: %d before, %d after", fds0,
	      kvmvm_open_fds());
	printf("kvm_pt_doorbell: %s (%d failures)\n",
	       kvmvm_failures ? "FAIL" : "ok", kvmvm_failures);
	return kvmvm_failures ? 1 : 0;
}
