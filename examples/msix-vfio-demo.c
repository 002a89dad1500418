/* SPDX-License-Identifier: MIT */
/*
 * msix-vfio-demo: a VMM for one real vfio-pci function, built on libmsix.
 *
 *   msix-vfio-demo [--device DDDD:BB:DD.F] [--policy P|all] [--used U]
 *                  [--verbose]
 *
 * It mirrors the device's MSI-X capability into a virtual one, then plays a
 * Linux guest driver against the virtual table, so that libmsix drives the
 * real VFIO_DEVICE_SET_IRQS:
 *
 *   1. Enable | Function Mask; mask every entry; program every message;
 *      clear Function Mask (pci_msix_setup_entries / msix_capability_init);
 *   2. unmask the used vectors one at a time in ascending order
 *      (request_irq per vector);
 *   3. later: mask one, reprogram it, unmask it; set and clear Function Mask;
 *   4. finally disable MSI-X.
 *
 * On an ivshmem-doorbell device (1af4:1110) it also makes the device raise
 * real interrupts through its doorbell and checks that each one arrives on
 * the right eventfd with the programmed message, is latched while masked
 * (the virtual PBA shows it) and replayed once on unmask, that a vector
 * raised before its host vector exists arrives once it does, and that
 * nothing is lost across a NORESIZE re-enable. On any other device it runs
 * the lifecycle without raising interrupts and says so.
 *
 * --policy all (the default) runs every policy, each on a freshly opened
 * device, and prints one summary table. --used U: the device model uses
 * vectors 0..U-1 (default: all N); the host must be able to hold U vectors.
 * Exit: 0 all checks passed; 1 a check failed or the device could not be
 * used; 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>

#include "host.h"
#include "mvmm.h"

#define WAIT_MS 2000

struct run {
	enum libmsix_policy policy;
	struct libmsix_vfio_stats bring;	/* after every used vector is unmasked */
	struct libmsix_vfio_stats total;
	struct libmsix_stats cnt;
	/*
	 * raised: doorbells rung; expected: deliveries they call for (edges
	 * raised while masked coalesce); delivered: every message the guest
	 * got; lost: raised interrupts not followed by any delivery of their
	 * vector; dropped: interrupts the device dropped while a NORESIZE
	 * re-enable had MSI-X off, each covered by the engine's replay of the
	 * vector; extra: deliveries beyond expected plus those replays.
	 */
	uint64_t raised, expected, delivered, lost, dropped, extra;
	int msi_irqs;				/* host vectors after bring-up */
	double bring_ms;			/* wall time of the bring-up */
	int failures;
	bool late_had_host_vector;
};

static int verbose;

#define CHECK(r, cond, ...)                                       \
	do {                                                      \
		if (!(cond)) {                                    \
			(r)->failures++;                          \
			printf("    FAIL: " __VA_ARGS__);         \
			printf("\n");                             \
		} else if (verbose) {                             \
			printf("    ok: " __VA_ARGS__);           \
			printf("\n");                             \
		}                                                 \
	} while (0)

static void say(const char *fmt, ...) LIBMSIX_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("  ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t sum_delivered(const struct mvmm *m)
{
	uint64_t s = 0;

	for (uint32_t v = 0; v < m->n; v++)
		s += m->delivered[v];
	return s;
}

/* Ring @v and expect exactly one delivery of it, with its message. */
static void ring_expect(struct mvmm *m, struct run *r, uint32_t v,
			uint32_t gen)
{
	uint64_t before = m->delivered[v], all = m->deliveries;
	int err;

	err = mvmm_ring(m, v);
	CHECK(r, err == 0, "doorbell %u: %s", v, strerror(-err));
	r->raised++;
	r->expected++;
	err = mvmm_wait(m, v, before + 1, WAIT_MS);
	r->lost += err != 0;
	CHECK(r, err == 0, "vector %u: raised, not delivered within %d ms", v,
	      WAIT_MS);
	CHECK(r, m->deliveries - all == 1,
	      "vector %u: %" PRIu64 " deliveries for one interrupt", v,
	      m->deliveries - all);
	CHECK(r, m->last[v].address == mvmm_msg_addr(v) &&
			 m->last[v].data == mvmm_msg_data(v, gen),
	      "vector %u: delivered message %#" PRIx64 "/%#x, programmed %#" PRIx64 "/%#x",
	      v, m->last[v].address, m->last[v].data, mvmm_msg_addr(v),
	      mvmm_msg_data(v, gen));
}

/* The virtual capability must read like the real one. */
static void check_mirror(struct mvmm *m, struct run *r)
{
	uint32_t w0, w1, w2;

	mvmm_read_cap(m, 0, &w0);
	mvmm_read_cap(m, 1, &w1);
	mvmm_read_cap(m, 2, &w2);
	CHECK(r, (w0 & 0xff) == PCI_CAP_ID_MSIX &&
			 ((w0 >> 16) & PCI_MSIX_FLAGS_QSIZE) + 1u == m->n,
	      "virtual capability %08x mirrors N=%u", w0, m->n);
	CHECK(r, w1 == m->info.table && w2 == m->info.pba,
	      "virtual table/PBA registers %08x/%08x equal the device's %08x/%08x",
	      w1, w2, m->info.table, m->info.pba);
}

/* Step 1: Linux's msix_capability_init. */
static void bringup_setup(struct mvmm *m, struct run *r)
{
	int err = mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);

	CHECK(r, err == 0, "Enable|Function Mask: %s", strerror(-err));
	for (uint32_t v = 0; v < m->n; v++) {
		err = mvmm_set_mask(m, v, true);
		if (!err)
			err = mvmm_program(m, v, mvmm_msg_addr(v),
					   mvmm_msg_data(v, 0));
		if (err) {
			CHECK(r, 0, "entry %u: %s", v, strerror(-err));
			break;
		}
	}
	err = mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE);
	CHECK(r, err == 0, "clear Function Mask: %s", strerror(-err));
}

/*
 * Before any unmask, raise the last used vector. Under lazy/incremental it
 * has no host vector yet: the interrupt waits in the device's own PBA (the
 * kernel keeps the physical entry masked) and must arrive exactly once when
 * the vector is allocated. Under preallocate it has one, on its mask
 * eventfd: the virtual PBA must show it.
 */
static void raise_late_vector(struct mvmm *m, struct run *r, uint32_t late)
{
	int hfd = libmsix_vfio_host_fd(m->vfio, late);
	bool vpba = false, dpba = false;

	r->late_had_host_vector = hfd >= 0;
	CHECK(r, mvmm_ring(m, late) == 0, "doorbell %u", late);
	r->raised++;
	r->expected++;
	if (hfd >= 0) {
		CHECK(r, mvmm_wait_readable(hfd, WAIT_MS) == 0,
		      "vector %u: interrupt reached its mask eventfd", late);
		mvmm_pba(m, late, &vpba);
		CHECK(r, vpba, "vector %u masked with a host vector: virtual PBA shows it pending",
		      late);
		say("vector %u raised while masked: caught on its mask eventfd, virtual PBA bit set",
		    late);
	} else {
		/* The device raises asynchronously: wait for its PBA bit. */
		for (int i = 0; i < WAIT_MS / 10 && !dpba; i++) {
			mvmm_pump(m, 10);
			mvmm_device_pba(m, late, &dpba);
		}
		CHECK(r, dpba, "vector %u without a host vector: the device holds it in its PBA",
		      late);
		mvmm_pba(m, late, &vpba);
		say("vector %u raised before it has a host vector: held in the device's PBA (virtual PBA %u)",
		    late, vpba);
	}
	CHECK(r, m->delivered[late] == 0, "vector %u not delivered while masked",
	      late);
}

/*
 * The last unmask of the bring-up, after every live vector was rung and not
 * yet processed: under NORESIZE lazy this unmask disables and re-enables
 * MSI-X at the host. Nothing rung before may be lost.
 */
static void last_unmask_keeps_everything(struct mvmm *m, struct run *r,
					 uint32_t late)
{
	uint64_t *before = calloc(late, sizeof(*before));
	uint64_t reen = 0, spur0;
	struct libmsix_stats c;
	int err;

	if (!before) {
		CHECK(r, 0, "out of memory");
		return;
	}
	libmsix_get_stats(m->dev, &c);
	spur0 = c.spurious_replays;
	reen = c.disruptive_reenables;
	for (uint32_t v = 0; v < late; v++) {
		before[v] = m->delivered[v];
		if (m->doorbell) {
			CHECK(r, mvmm_ring(m, v) == 0, "doorbell %u", v);
			r->raised++;
			r->expected++;
		}
	}
	err = mvmm_set_mask(m, late, false);
	CHECK(r, err == 0, "unmask %u: %s", late, strerror(-err));
	libmsix_get_stats(m->dev, &c);
	if (c.disruptive_reenables > reen)
		say("unmask of vector %u re-enabled MSI-X at the host (NORESIZE growth); %" PRIu64
		    " live vectors replayed",
		    late, c.spurious_replays - spur0);
	if (!m->doorbell) {
		free(before);
		return;
	}
	err = mvmm_wait(m, late, 1, WAIT_MS);
	r->lost += err != 0;
	CHECK(r, err == 0, "vector %u raised before its unmask arrived after it", late);
	for (uint32_t v = 0; v < late; v++) {
		err = mvmm_wait(m, v, before[v] + 1, WAIT_MS);
		if (err)
			break;
	}
	/* Whatever the device dropped in the window, each vector must have
	 * had a message since its doorbell: a real one or the replay. */
	mvmm_pump(m, 50);
	{
		uint32_t missing = 0;

		for (uint32_t v = 0; v < late; v++)
			missing += m->delivered[v] == before[v];
		r->lost += missing;
		CHECK(r, missing == 0,
		      "every vector rung before the last unmask got a message after it (%u did not)",
		      missing);
	}
	CHECK(r, m->delivered[late] == 1,
	      "vector %u delivered exactly once (%" PRIu64 ")", late,
	      m->delivered[late]);
	free(before);
}

/* Step 3: mask, raise twice, reprogram, unmask: one replay, new message. */
static void mask_reprogram_unmask(struct mvmm *m, struct run *r, uint32_t v)
{
	uint64_t before = m->delivered[v];
	struct libmsix_stats c0, c1;
	bool vpba = false;
	int err, hfd;

	libmsix_get_stats(m->dev, &c0);
	err = mvmm_set_mask(m, v, true);
	CHECK(r, err == 0, "mask %u: %s", v, strerror(-err));
	hfd = libmsix_vfio_host_fd(m->vfio, v);
	if (m->doorbell) {
		/*
		 * The device raises asynchronously: wait until each interrupt
		 * has reached the mask eventfd before the next step, or it
		 * would count as raised after the unmask.
		 */
		for (int i = 0; i < 2; i++) {
			CHECK(r, mvmm_ring(m, v) == 0, "doorbell %u", v);
			r->raised++;
			CHECK(r, hfd >= 0 && mvmm_wait_readable(hfd, WAIT_MS) == 0,
			      "vector %u: masked interrupt %d reached the mask eventfd",
			      v, i + 1);
			mvmm_pump(m, 0);
		}
		r->expected++; /* two edges while masked coalesce (PCIe 6.1.4.5) */
		mvmm_pba(m, v, &vpba);
		CHECK(r, vpba, "vector %u: virtual PBA shows the masked interrupt", v);
		CHECK(r, m->delivered[v] == before, "vector %u: nothing delivered while masked", v);
	}
	err = mvmm_program(m, v, mvmm_msg_addr(v), mvmm_msg_data(v, 1));
	CHECK(r, err == 0, "reprogram %u: %s", v, strerror(-err));
	err = mvmm_set_mask(m, v, false);
	CHECK(r, err == 0, "unmask %u: %s", v, strerror(-err));
	if (!m->doorbell)
		return;
	mvmm_pump(m, 50);
	libmsix_get_stats(m->dev, &c1);
	r->lost += m->delivered[v] == before;
	CHECK(r, m->delivered[v] == before + 1,
	      "vector %u: replayed exactly once on unmask (%" PRIu64 ")", v,
	      m->delivered[v] - before);
	CHECK(r, c1.replayed == c0.replayed + 1, "vector %u: counted as a replay", v);
	CHECK(r, m->last[v].data == mvmm_msg_data(v, 1),
	      "vector %u: replay carries the reprogrammed message", v);
	mvmm_pba(m, v, &vpba);
	CHECK(r, !vpba, "vector %u: PBA clear after the replay", v);
	ring_expect(m, r, v, 1);
}

/* Function Mask over live vectors: latched, then replayed once. */
static void function_mask(struct mvmm *m, struct run *r, uint32_t v)
{
	uint64_t before = m->delivered[v];
	bool vpba = false;
	int err;

	err = mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	CHECK(r, err == 0, "set Function Mask: %s", strerror(-err));
	if (m->doorbell) {
		int hfd = libmsix_vfio_host_fd(m->vfio, v);

		CHECK(r, mvmm_ring(m, v) == 0, "doorbell %u", v);
		r->raised++;
		r->expected++;
		CHECK(r, hfd >= 0 && mvmm_wait_readable(hfd, WAIT_MS) == 0,
		      "vector %u: function-masked interrupt reached the mask eventfd", v);
		mvmm_pba(m, v, &vpba);
		CHECK(r, vpba, "vector %u: PBA pending under Function Mask", v);
	}
	err = mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE);
	CHECK(r, err == 0, "clear Function Mask: %s", strerror(-err));
	if (m->doorbell) {
		mvmm_pump(m, 50);
		r->lost += m->delivered[v] == before;
		CHECK(r, m->delivered[v] == before + 1,
		      "vector %u: replayed once when Function Mask cleared", v);
	}
}

static void run_policy(const char *addr, enum libmsix_policy p, uint32_t used,
		       struct run *r)
{
	struct mvmm_opts o = { .address = addr, .policy = p, .used = used,
			       .verbose = verbose };
	struct libmsix_vfio_info info;
	uint32_t late;
	int fds0 = host_open_fds(), err;
	struct mvmm m;
	uint64_t total, spurious;
	double t0;

	memset(r, 0, sizeof(*r));
	r->policy = p;
	printf("== policy %s ==\n", libmsix_policy_name(p));
	err = mvmm_open(&m, &o);
	if (err) {
		r->failures++;
		return;
	}
	info = m.info;
	late = m.used - 1;
	say("%s: N=%u, VFIO MSI-X flags %#x (%s), device model uses vectors 0..%u%s",
	    addr, m.n, info.irq_flags,
	    info.live_resize ? "dynamic MSI-X" : "NORESIZE", late,
	    m.doorbell ? "" : "; not an ivshmem-doorbell: no interrupts raised, lifecycle only");
	/* vfio-pci leaves Bus Master off; without it interrupts vanish. */
	err = libmsix_vfio_set_bus_master(m.vfio, true);
	CHECK(r, err == 0, "Bus Master on: %s", strerror(-err));
	check_mirror(&m, r);

	t0 = now_ms();
	bringup_setup(&m, r);
	if (m.doorbell)
		raise_late_vector(&m, r, late);
	for (uint32_t v = 0; v < late; v++) {
		err = mvmm_set_mask(&m, v, false);
		CHECK(r, err == 0, "unmask %u: %s", v, strerror(-err));
		if (err)
			break;
		if (m.doorbell)
			ring_expect(&m, r, v, 0);
	}
	last_unmask_keeps_everything(&m, r, late);
	r->bring_ms = now_ms() - t0;
	libmsix_vfio_get_stats(m.vfio, &r->bring);
	r->msi_irqs = host_msi_irqs(addr);
	{
		int trig = host_vfio_triggers(addr, NULL, 0);

		if (trig >= 0)
			CHECK(r, (uint32_t)trig == r->bring.host_vectors,
			      "host holds %d vfio triggers, the backend counts %u", trig,
			      r->bring.host_vectors);
	}
	CHECK(r, m.wrong_fd == 0,
	      "every interrupt arrived on its own vector's eventfd (%" PRIu64 " did not)",
	      m.wrong_fd);

	mask_reprogram_unmask(&m, r, late / 2);
	function_mask(&m, r, 0);

	err = mvmm_set_msgctl(&m, 0);
	CHECK(r, err == 0, "disable MSI-X: %s", strerror(-err));
	libmsix_vfio_get_stats(m.vfio, &r->total);
	CHECK(r, !r->total.msix_on && r->total.host_vectors == 0,
	      "MSI-X off at the host after disable");
	err = host_vfio_triggers(addr, NULL, 0);
	CHECK(r, err <= 0, "no vfio triggers left in /proc/interrupts (%d)", err);
	err = host_msi_irqs(addr);
	CHECK(r, err <= 0, "no host MSI-X vectors left (%d)", err);

	libmsix_get_stats(m.dev, &r->cnt);
	total = sum_delivered(&m);
	spurious = r->cnt.spurious_replays;
	r->delivered = total;
	if (total - spurious > r->expected)
		r->extra = total - spurious - r->expected;
	else
		r->dropped = r->expected - (total - spurious);
	if (m.doorbell) {
		CHECK(r, r->lost == 0, "%" PRIu64 " interrupts lost", r->lost);
		CHECK(r, r->extra == 0,
		      "%" PRIu64 " deliveries beyond the raised ones and the %" PRIu64
		      " replays a re-enable accounts for",
		      r->extra, spurious);
		CHECK(r, r->dropped <= spurious,
		      "%" PRIu64 " interrupts the device dropped are covered by %" PRIu64
		      " re-enable replays",
		      r->dropped, spurious);
		if (r->dropped)
			say("the device dropped %" PRIu64 " interrupts while a re-enable had MSI-X off; "
			    "the engine's replay of every live vector covered them",
			    r->dropped);
	}
	mvmm_close(&m);
	CHECK(r, host_open_fds() == fds0, "every fd closed (%d open, %d before)",
	      host_open_fds(), fds0);
	say("%s", r->failures ? "FAILED" : "passed");
}

static void print_table(const char *addr, const struct run *runs, int nr,
			uint32_t n, uint32_t used, uint32_t irq_flags)
{
	uint64_t u = used;

	printf("\nSummary for %s: N=%u, %u used, %s (VFIO MSI-X flags %#x)\n",
	       addr, n, used,
	       (irq_flags & 8) ? "NORESIZE" : "dynamic MSI-X", irq_flags);
	printf("%-12s | %9s %9s %8s %9s | %9s %9s %9s | %7s %9s %8s %9s %8s %5s | %s\n",
	       "policy", "bring-up", "bring-up", "host", "bring-up",
	       "total", "total", "re-", "raised", "delivered", "replayed",
	       "re-enable", "device", "lost", "result");
	printf("%-12s | %9s %9s %8s %9s | %9s %9s %9s | %7s %9s %8s %9s %8s %5s |\n",
	       "", "SET_IRQS", "req_irq", "vectors", "ms", "SET_IRQS",
	       "req_irq", "enables", "", "", "", "replays", "dropped", "");
	for (int i = 0; i < nr; i++) {
		const struct run *r = &runs[i];

		printf("%-12s | %9" PRIu64 " %9" PRIu64 " %8d %9.0f | %9" PRIu64
		       " %9" PRIu64 " %9" PRIu64 " | %7" PRIu64 " %9" PRIu64
		       " %8" PRIu64 " %9" PRIu64 " %8" PRIu64 " %5" PRIu64 " | %s\n",
		       libmsix_policy_name(r->policy), r->bring.set_irqs,
		       r->bring.vectors_set_up, r->msi_irqs, r->bring_ms,
		       r->total.set_irqs,
		       r->total.vectors_set_up, r->total.reenables, r->raised,
		       r->delivered, r->cnt.replayed, r->cnt.spurious_replays,
		       r->dropped, r->lost, r->failures ? "FAIL" : "ok");
	}
	printf("auto is incremental with dynamic MSI-X and preallocate under NORESIZE (README, Policies).\n"
	       "bring-up: from Enable|Function Mask until every used vector is unmasked; req_irq: vectors\n"
	       "given an eventfd (one request_irq each in the host); host vectors: the host's msi_irqs;\n"
	       "ms: wall time, doorbells and their checks included (information, not a target).\n"
	       "delivered: every message, replays included. re-enable replays: live vectors the engine\n"
	       "replays after a NORESIZE re-enable (a spurious interrupt is allowed, a lost one is not).\n"
	       "device dropped: interrupts the device dropped while MSI-X was off for a re-enable, each\n"
	       "covered by such a replay. lost: a raised interrupt never followed by a message.\n");
	printf("QEMU's algorithm for the same bring-up (hw/vfio/pci.c, VFIO ioctls only):\n"
	       "  dynamic: %" PRIu64 " SET_IRQS, %" PRIu64 " request_irq;"
	       " NORESIZE: %" PRIu64 " SET_IRQS, %" PRIu64 " request_irq, %" PRIu64
	       " MSI-X off/on cycles\n",
	       1 + u, u, 1 + 2 * u, u * (u + 1) / 2, u);
	printf("  (with an in-kernel irqchip QEMU adds one KVM_SET_GSI_ROUTING and one KVM_IRQFD per vector:\n"
	       "   3N+1 and 4N+1 ioctls in all)\n");
}

static int parse_policy(const char *s, enum libmsix_policy *p)
{
	for (int i = LIBMSIX_POLICY_AUTO; i <= LIBMSIX_POLICY_INCREMENTAL; i++) {
		if (!strcmp(s, libmsix_policy_name((enum libmsix_policy)i))) {
			*p = (enum libmsix_policy)i;
			return 0;
		}
	}
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: msix-vfio-demo [--device DDDD:BB:DD.F] "
		"[--policy lazy|preallocate|incremental|auto|all]\n"
		"                      [--used U] [--verbose]\n"
		"  --device   vfio-pci function (default $LIBMSIX_TEST_DEVICE)\n"
		"  --policy   allocation policy, or all (default)\n"
		"  --used     the device model uses vectors 0..U-1 (default all)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "policy", required_argument, NULL, 'p' },
		{ "used", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum libmsix_policy list[4] = { LIBMSIX_POLICY_AUTO, LIBMSIX_POLICY_LAZY,
					LIBMSIX_POLICY_PREALLOCATE,
					LIBMSIX_POLICY_INCREMENTAL };
	const char *addr = getenv("LIBMSIX_TEST_DEVICE");
	struct run runs[4];
	struct libmsix_vfio_info info = { 0 };
	int nr = 4, c, failed = 0;
	unsigned long used = 0;
	uint32_t n = 0, u;

	while ((c = getopt_long(argc, argv, "d:p:u:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			addr = optarg;
			break;
		case 'p':
			if (!strcmp(optarg, "all")) {
				nr = 4;
			} else if (parse_policy(optarg, &list[0]) == 0) {
				nr = 1;
			} else {
				usage();
				return 2;
			}
			break;
		case 'u':
			used = strtoul(optarg, NULL, 0);
			if (used == 0 || used > LIBMSIX_MAX_VECTORS) {
				usage();
				return 2;
			}
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc || !addr || !*addr) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nr; i++) {
		run_policy(addr, list[i], (uint32_t)used, &runs[i]);
		failed |= runs[i].failures != 0;
	}
	/* Geometry for the table header, from a plain open. */
	{
		struct mvmm m;
		struct mvmm_opts o = { .address = addr, .used = (uint32_t)used };

		if (mvmm_open(&m, &o) == 0) {
			info = m.info;
			n = m.n;
			u = m.used;
			mvmm_close(&m);
		} else {
			u = (uint32_t)used;
			failed = 1;
		}
	}
	print_table(addr, runs, nr, n, u, info.irq_flags);
	return failed ? 1 : 0;
}
