/* SPDX-License-Identifier: MIT */
/*
 * Route uploads of a Linux-style MSI-X bring-up on real KVM (/dev/kvm), per
 * routing mode and allocation policy, next to QEMU's algorithm and the
 * floor, all in one run:
 *
 *   bench_routing [--n N]... [--runs R] [--mode M]
 *
 * The device is an irqfd device (struct libmsix_kvm, LIBMSIX_KVM_F_IRQFD)
 * on a fresh VM with an in-kernel irqchip; no vCPU runs, KVM answers every
 * ioctl natively. The VM keeps 24 IOAPIC routes in every upload, as a VMM
 * does. Bring-up, as Linux drives it: Message Control Enable|Function Mask;
 * every entry masked and programmed; Function Mask cleared; then for each
 * vector, as request_irq() does: write its message, unmask it. The
 * deferred mode then flushes once, as a VMM's event loop does when the
 * guest's burst is over. Timed: from the first guest access to the last
 * ioctl.
 *
 *   mode=deferred   LIBMSIX_KVM_ROUTING_DEFERRED, one flush at the end
 *   mode=immediate  LIBMSIX_KVM_ROUTING_IMMEDIATE (an upload per unmask)
 *   mode=qemu       QEMU's algorithm, replayed here with the same ioctls:
 *                   at each unmask add the vector's route, upload the
 *                   whole table, assign its irqfd
 *   mode=floor      no library: one upload of all N routes, then N
 *                   KVM_IRQFD
 * Every mode creates its N eventfds inside the timed bring-up: an irqfd
 * needs one, and libmsix creates a vector's when it allocates it.
 *
 * One line per (mode, policy, N):
 *   mode=M policy=P n=N uploads=U entries=E ioctls=I ms=T
 * entries counts the device's route entries uploaded (the VMM's 24 not
 * included); ioctls counts every ioctl on the VM fd during the bring-up.
 * ms is wall time, the fastest of R runs (default 15; no more once a run
 * took over 200 ms) after one run that is not counted: other programs only
 * ever add time. Then per N the ratios qemu/deferred and deferred/floor
 * (deferred: its slowest policy), of wall time and of this process's CPU
 * time (user + system, also the fastest run): on a loaded machine the
 * scheduler adds wall time to a run at random, and the CPU time is what
 * the bring-up itself cost. Exit 0 when
 * every run completed, 77 when /dev/kvm cannot be used. --mode M runs one
 * mode only (for a profiler).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/pci_regs.h>

#include "libmsix-kvm.h"

#define CAP 0x50u
#define PAGE 4096u
#define IRQCHIP_GSIS 24u
#define MAX_N 2048u
#define MAX_RUNS 15

enum mode { M_DEFERRED, M_IMMEDIATE, M_QEMU, M_FLOOR, M_COUNT };
static const char *const mode_name[M_COUNT] = {
	"deferred", "immediate", "qemu", "floor",
};

struct counts {
	unsigned long uploads, entries, ioctls;
};

static int kvm_fd = -1;

/* A timestamp: wall time, and this process's CPU time (user + system). */
struct stamp {
	uint64_t wall, cpu;
};

/* Milliseconds of wall and CPU time between two stamps. */
struct took {
	double wall, cpu;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct stamp now(void)
{
	struct stamp s = { clock_ns(CLOCK_MONOTONIC),
			   clock_ns(CLOCK_PROCESS_CPUTIME_ID) };

	return s;
}

/* Sleep a little before the clock starts: the scheduler then lets a task
 * that slept run its slice, and a run of a few milliseconds is less often
 * cut by other programs (it costs them nothing). */
static void settle(void)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
}

static struct took since(struct stamp t0, struct stamp t1)
{
	struct took t = { (double)(t1.wall - t0.wall) / 1e6,
			  (double)(t1.cpu - t0.cpu) / 1e6 };

	return t;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_routing: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Every ioctl on the VM fd, counted: the library's and the replays'. */
static int vm_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct counts *c = opaque;
	int r;

	c->ioctls++;
	if (req == KVM_SET_GSI_ROUTING) {
		const struct kvm_irq_routing *t = arg;

		c->uploads++;
		c->entries += t->nr - IRQCHIP_GSIS;
	}
	r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

static int new_vm(void)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	if (vm < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	return vm;
}

static void ioapic_routes(struct kvm_irq_routing_entry *e)
{
	for (uint32_t gsi = 0; gsi < IRQCHIP_GSIS; gsi++) {
		memset(&e[gsi], 0, sizeof(e[gsi]));
		e[gsi].gsi = gsi;
		e[gsi].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[gsi].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[gsi].u.irqchip.pin = gsi;
	}
}

static uint64_t msg_addr(uint32_t v)
{
	return 0xfee00000u | (v % 8) << 12;
}

static uint32_t msg_data(uint32_t v)
{
	return 0x40u + v % 0xa0u;
}

/* ------------------------------------------------------------------------ */
/* Through libmsix                                                          */
/* ------------------------------------------------------------------------ */

static void on_fallback(void *opaque, uint32_t vector, int fd)
{
	/* A VMM adds @fd to its poll set here; nothing fires in this bench. */
	(void)opaque;
	(void)vector;
	(void)fd;
}

static void mmio32(struct libmsix_dev *dev, uint64_t off, uint32_t val)
{
	if (libmsix_mmio_write(dev, 0, off, 4, val) < 0) {
		fprintf(stderr, "bench_routing: table write at %#llx failed\n",
			(unsigned long long)off);
		exit(1);
	}
}

static void program(struct libmsix_dev *dev, uint32_t v)
{
	mmio32(dev, 16u * v, (uint32_t)msg_addr(v));
	mmio32(dev, 16u * v + 4, (uint32_t)(msg_addr(v) >> 32));
	mmio32(dev, 16u * v + 8, msg_data(v));
}

static void msgctl(struct libmsix_dev *dev, uint16_t bits)
{
	if (libmsix_config_write(dev, CAP + PCI_MSIX_FLAGS, 2, bits) < 0) {
		fprintf(stderr, "bench_routing: Message Control write failed\n");
		exit(1);
	}
}

static struct took run_library(enum mode m, enum libmsix_policy policy,
			  uint32_t n, struct counts *c)
{
	struct libmsix_kvm_vm_config vc = {
		.size = sizeof(vc), .ioctl = vm_ioctl, .ioctl_opaque = c,
	};
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = n, .reserve = n, .fallback = on_fallback,
	};
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt),
		.mode = m == M_DEFERRED ? LIBMSIX_KVM_ROUTING_DEFERRED
					: LIBMSIX_KVM_ROUTING_IMMEDIATE,
	};
	struct kvm_irq_routing_entry chip[IRQCHIP_GSIS];
	uint32_t table_pages = (16u * n + PAGE - 1) / PAGE;
	struct libmsix_config cfg;
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *k;
	struct libmsix_dev *dev;
	struct counts snap;
	struct stamp t0, t1;
	int vm_fd = new_vm(), r;

	vc.vm_fd = vm_fd;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = CAP;
	cfg.pba_offset = table_pages * PAGE;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[0] = (table_pages + 1) * PAGE;
	cfg.policy = policy;
	ioapic_routes(chip);
	if (libmsix_kvm_vm_create(&vc, &vm) || libmsix_kvm_vm_reserve(vm, 0, IRQCHIP_GSIS) ||
	    libmsix_kvm_vm_set_routes(vm, chip, IRQCHIP_GSIS) ||
	    libmsix_kvm_vm_set_routing(vm, &rt) ||
	    libmsix_kvm_create(vm, &kc, &k) ||
	    libmsix_dev_create(&cfg, libmsix_kvm_backend(k), &dev) ||
	    libmsix_vector_use_all(dev)) {
		fprintf(stderr, "bench_routing: library setup failed\n");
		exit(1);
	}
	memset(c, 0, sizeof(*c));

	settle();
	t0 = now();
	msgctl(dev, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < n; v++) {
		mmio32(dev, 16u * v + 12, PCI_MSIX_ENTRY_CTRL_MASKBIT);
		program(dev, v);
	}
	msgctl(dev, PCI_MSIX_FLAGS_ENABLE);
	for (uint32_t v = 0; v < n; v++) {
		program(dev, v);
		mmio32(dev, 16u * v + 12, 0);
	}
	r = libmsix_kvm_vm_flush(vm);
	t1 = now();
	snap = *c; /* not the teardown's ioctls */

	if (r < 0 || (m == M_DEFERRED && r != (int)n) ||
	    (m == M_IMMEDIATE && r != 0)) {
		fprintf(stderr, "bench_routing: flush returned %d\n", r);
		exit(1);
	}
	libmsix_dev_destroy(dev);
	libmsix_kvm_destroy(k);
	libmsix_kvm_vm_destroy(vm);
	close(vm_fd);
	*c = snap;
	return since(t0, t1);
}

/* ------------------------------------------------------------------------ */
/* Without the library: QEMU's algorithm and the floor                      */
/* ------------------------------------------------------------------------ */

static struct took run_replay(enum mode m, uint32_t n, struct counts *c)
{
	struct kvm_irq_routing *t =
		calloc(1, sizeof(*t) + (IRQCHIP_GSIS + n) * sizeof(t->entries[0]));
	int *efd = calloc(n, sizeof(*efd));
	int vm_fd = new_vm();
	struct stamp t0, t1;

	if (!t || !efd)
		die("calloc");
	ioapic_routes(t->entries);
	t->nr = IRQCHIP_GSIS;
	if (vm_ioctl(c, vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		die("KVM_SET_GSI_ROUTING");
	memset(c, 0, sizeof(*c));

	settle();
	t0 = now();
	for (uint32_t v = 0; v < n; v++) {
		efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd[v] < 0)
			die("eventfd");
	}
	for (uint32_t v = 0; v < n; v++) {
		struct kvm_irq_routing_entry *e = &t->entries[IRQCHIP_GSIS + v];
		struct kvm_irqfd irq = { .fd = (uint32_t)efd[v],
					 .gsi = IRQCHIP_GSIS + v };

		memset(e, 0, sizeof(*e));
		e->gsi = IRQCHIP_GSIS + v;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)msg_addr(v);
		e->u.msi.data = msg_data(v);
		t->nr = IRQCHIP_GSIS + v + 1;
		/* QEMU: add the route and commit the table at every unmask,
		 * then the irqfd; the floor uploads once, below. */
		if (m == M_QEMU) {
			if (vm_ioctl(c, vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
				die("KVM_SET_GSI_ROUTING");
			if (vm_ioctl(c, vm_fd, KVM_IRQFD, &irq) < 0)
				die("KVM_IRQFD");
		}
	}
	if (m == M_FLOOR) {
		if (vm_ioctl(c, vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
			die("KVM_SET_GSI_ROUTING");
		for (uint32_t v = 0; v < n; v++) {
			struct kvm_irqfd irq = { .fd = (uint32_t)efd[v],
						 .gsi = IRQCHIP_GSIS + v };

			if (vm_ioctl(c, vm_fd, KVM_IRQFD, &irq) < 0)
				die("KVM_IRQFD");
		}
	}
	t1 = now();

	for (uint32_t v = 0; v < n; v++)
		close(efd[v]);
	close(vm_fd);
	free(efd);
	free(t);
	return since(t0, t1);
}

/* ------------------------------------------------------------------------ */

/* The fastest of @runs, wall and CPU time each. */
static struct took measure(enum mode m, enum libmsix_policy p, uint32_t n,
			   int runs, struct counts *c)
{
	struct took best = { 1e30, 1e30 };

	/* A first run that is not counted: page faults, caches, KVM's
	 * first-use allocations. */
	if (m == M_QEMU || m == M_FLOOR)
		run_replay(m, n, c);
	else
		run_library(m, p, n, c);
	for (int i = 0; i < runs; i++) {
		struct took t = m == M_QEMU || m == M_FLOOR
					? run_replay(m, n, c)
					: run_library(m, p, n, c);

		if (t.wall < best.wall)
			best.wall = t.wall;
		if (t.cpu < best.cpu)
			best.cpu = t.cpu;
		if (t.wall > 200.0)
			break;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const enum libmsix_policy policies[] = {
		LIBMSIX_POLICY_AUTO, LIBMSIX_POLICY_LAZY,
		LIBMSIX_POLICY_PREALLOCATE, LIBMSIX_POLICY_INCREMENTAL,
	};
	uint32_t ns[8] = { 8, 64, 512, 2048 };
	unsigned nr_n = 4, given = 0;
	int runs = 15;
	const char *only = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc && given < 8) {
			ns[given++] = (uint32_t)strtoul(argv[++i], NULL, 0);
			nr_n = given;
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr,
				"usage: %s [--n N]... [--runs R] [--mode M]\n",
				argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS)
		runs = 15;
	for (unsigned i = 0; i < nr_n; i++) {
		if (ns[i] < 1 || ns[i] > MAX_N) {
			fprintf(stderr, "bench_routing: N must be 1..%u\n", MAX_N);
			return 2;
		}
	}
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}

	for (unsigned i = 0; i < nr_n; i++) {
		uint32_t n = ns[i];
		struct took slowest = { 0, 0 }, qemu = { 0, 0 }, floor_t = { 0, 0 };

		for (int m = 0; m < M_COUNT; m++) {
			unsigned np = m == M_QEMU || m == M_FLOOR ? 1 : 4;

			if (only && strcmp(only, mode_name[m]))
				continue;
			for (unsigned j = 0; j < np; j++) {
				struct counts c;
				struct took t = measure((enum mode)m,
							policies[j], n, runs,
							&c);
				const char *pn = m == M_QEMU ? "lazy"
						 : m == M_FLOOR
						 ? "none"
						 : libmsix_policy_name(policies[j]);

				printf("mode=%s policy=%s n=%u uploads=%lu "
				       "entries=%lu ioctls=%lu ms=%.3f\n",
				       mode_name[m], pn, n, c.uploads,
				       c.entries, c.ioctls, t.wall);
				fflush(stdout);
				/* Deferred: its slowest policy. */
				if (m == M_DEFERRED && t.wall > slowest.wall)
					slowest.wall = t.wall;
				if (m == M_DEFERRED && t.cpu > slowest.cpu)
					slowest.cpu = t.cpu;
				if (m == M_QEMU)
					qemu = t;
				if (m == M_FLOOR)
					floor_t = t;
			}
		}
		if (only)
			continue;
		printf("ratio n=%u wall: qemu/deferred=%.1f deferred/floor=%.2f "
		       "cpu: qemu/deferred=%.1f deferred/floor=%.2f\n",
		       n, qemu.wall / slowest.wall, slowest.wall / floor_t.wall,
		       qemu.cpu / slowest.cpu, slowest.cpu / floor_t.cpu);
	}
	close(kvm_fd);
	return 0;
}
