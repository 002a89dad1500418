/* SPDX-License-Identifier: MIT */
/*
 * msix-ims-demo: guest MSI-X vectors backed by a smaller IMS store.
 *
 *   msix-ims-demo [--vectors N] [--slots S] [--emulated E] [--quiet]
 *
 * A device with a guest MSI-X table of N vectors (default 64) sits on the
 * software IMS device of libmsix, a store of S slots (default 16), which it
 * shares with a second, small device (8 vectors, 4 slots reserved). The
 * first device reserves the rest of the store; its last E vectors (default
 * 4) are emulated: the device model raises them itself and they need no
 * slot. The demo plays a Linux guest driver against the virtual table and
 * the device against its slots, and prints what happens:
 *
 *   1. the budget at setup, and a reservation that cannot be met (-ENOSPC);
 *   2. bring-up: Enable | Function Mask, mask all, program, clear Function
 *      Mask, then unmask every vector (request_irq): which vectors get a
 *      slot, which fault (-ENOSPC, blocked, latching), which are emulated;
 *   3. interrupts: a slot raised while live, while masked (the PBA shows it,
 *      the unmask sends it once), a faulted vector latching, an emulated one;
 *   4. a PASID-like cookie changed while the vector is live;
 *   5. a slot write that fails: rolled back, nothing leaked, retried;
 *   6. the guest frees vectors and libmsix_retry() brings faulted ones live,
 *      delivering what they latched exactly once;
 *   7. disable: every slot reset and back in the pool.
 *
 * Exit: 0 all checks passed; 1 a check failed; 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "libmsix-ims.h"
#include "libmsix.h"

#define CAP 0x50u
#define PAGE 4096u

static int failures;
static int quiet;

#define CHECK(cond, ...)                                              \
	do {                                                          \
		if (!(cond)) {                                        \
			failures++;                                   \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, \
			       #cond);                                \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
		}                                                     \
	} while (0)

static const char *result(int err)
{
	return err ? strerror(-err) : "ok";
}

static void say(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Where interrupts end up                                                   */
/* ------------------------------------------------------------------------ */

/* What the guest received, per message data (vector = data - 0x4000). */
struct guest {
	uint32_t n;
	uint64_t *got;		/* per vector */
	uint64_t *cookie;	/* last cookie that came with it */
	uint64_t from_slots, from_vmm;
};

static uint32_t msg_data(uint32_t dev, uint32_t v)
{
	return 0x4000u + dev * 0x1000u + v;
}

static uint64_t msg_addr(uint32_t v)
{
	return 0xfee00000u | (v % 256) << 12;
}

static void guest_got(struct guest *g, uint32_t data, uint64_t cookie)
{
	uint32_t v = data - 0x4000u;

	/* The second device's messages (0x5000 + v) are counted apart. */
	if (data >= 0x4000u && v < g->n) {
		g->got[v]++;
		g->cookie[v] = cookie;
	}
}

/* The soft IMS device's wire: a slot sent its message. */
static void slot_sink(void *opaque, uint32_t slot, const struct libmsix_msg *m,
		      uint64_t cookie)
{
	struct guest *g = opaque;

	g->from_slots++;
	guest_got(g, m->data, cookie);
}

/* The VMM's injector (KVM_SIGNAL_MSI in a real VMM): emulated vectors. */
static int vmm_deliver(void *opaque, uint32_t vector,
		       const struct libmsix_msg *m)
{
	struct guest *g = opaque;

	g->from_vmm++;
	guest_got(g, m->data, 0);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* A device: libmsix + its IMS backend, and the guest's accesses to it       */
/* ------------------------------------------------------------------------ */

struct dev {
	const char *name;
	uint32_t id, n;
	struct libmsix_ims *ims;
	struct libmsix_dev *dev;
	uint32_t pba;		/* PBA offset in BAR 0 */
};

static int dev_open(struct dev *d, struct libmsix_ims_store *st, uint32_t n,
		    uint32_t reserve, struct guest *g)
{
	struct libmsix_ims_config ic = {
		.size = sizeof(ic),
		.nr_vectors = n,
		.reserve = reserve,
		.deliver = vmm_deliver,
		.opaque = g,
	};
	struct libmsix_config cfg;
	int err;

	d->n = n;
	d->pba = (n * 16 + PAGE - 1) / PAGE * PAGE;
	err = libmsix_ims_create(st, &ic, &d->ims);
	if (err)
		return err;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = CAP;
	cfg.pba_offset = d->pba;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[0] = d->pba + PAGE;
	cfg.policy = LIBMSIX_POLICY_AUTO;
	err = libmsix_dev_create(&cfg, libmsix_ims_backend(d->ims), &d->dev);
	if (!err)
		err = libmsix_vector_use_all(d->dev);
	return err;
}

static void dev_close(struct dev *d)
{
	libmsix_dev_destroy(d->dev);
	libmsix_ims_destroy(d->ims);
}

static int set_msgctl(struct dev *d, uint16_t bits)
{
	return libmsix_config_write(d->dev, CAP + PCI_MSIX_FLAGS, 2, bits);
}

static int set_mask(struct dev *d, uint32_t v, bool masked)
{
	return libmsix_mmio_write(d->dev, 0, 16u * v + PCI_MSIX_ENTRY_VECTOR_CTRL,
				  4, masked);
}

static void program(struct dev *d, uint32_t v)
{
	uint64_t a = msg_addr(v);

	libmsix_mmio_write(d->dev, 0, 16u * v, 4, (uint32_t)a);
	libmsix_mmio_write(d->dev, 0, 16u * v + 4, 4, (uint32_t)(a >> 32));
	libmsix_mmio_write(d->dev, 0, 16u * v + 8, 4, msg_data(d->id, v));
}

static bool pba_bit(struct dev *d, uint32_t v)
{
	uint64_t q = 0;

	libmsix_mmio_read(d->dev, 0, d->pba + 8u * (v / 64), 8, &q);
	return (q >> (v % 64)) & 1;
}

/* Linux: msix_capability_init() + pci_msix_setup_entries(). */
static void bringup(struct dev *d)
{
	set_msgctl(d, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < d->n; v++) {
		set_mask(d, v, true);
		program(d, v);
	}
	set_msgctl(d, PCI_MSIX_FLAGS_ENABLE);
}

/* Print [lo, hi) runs of vectors for which @pick is true. */
static void print_runs(const char *what, struct dev *d,
		       bool (*pick)(struct dev *, uint32_t))
{
	bool any = false;

	say("  %-10s", what);
	for (uint32_t v = 0; v < d->n;) {
		uint32_t lo;

		if (!pick(d, v)) {
			v++;
			continue;
		}
		lo = v;
		while (v < d->n && pick(d, v))
			v++;
		say(" %u", lo);
		if (v - lo > 1)
			say("-%u", v - 1);
		any = true;
	}
	say("%s\n", any ? "" : " none");
}

static bool has_slot(struct dev *d, uint32_t v)
{
	return libmsix_ims_vector_slot(d->ims, v) >= 0;
}

static bool faulted(struct dev *d, uint32_t v)
{
	struct libmsix_vector_info i;

	return libmsix_get_vector_info(d->dev, v, &i) == 0 &&
	       (i.host & LIBMSIX_HOST_FAULT);
}

static bool live_without_slot(struct dev *d, uint32_t v)
{
	struct libmsix_vector_info i;

	return libmsix_get_vector_info(d->dev, v, &i) == 0 && i.live &&
	       !has_slot(d, v);
}

static uint32_t count(struct dev *d, bool (*pick)(struct dev *, uint32_t))
{
	uint32_t c = 0;

	for (uint32_t v = 0; v < d->n; v++)
		c += pick(d, v);
	return c;
}

static void print_budget(struct libmsix_ims_store *st)
{
	struct libmsix_ims_store_stats b;

	libmsix_ims_store_get_stats(st, &b);
	say("  store: %u slots, %u devices, %u reserved, %u held (peak %u), "
	    "%u available\n", b.capacity, b.devices, b.reserved, b.held,
	    b.peak, b.available);
	say("  demand: %u slots if every vector were used; %u beyond what "
	    "reservations and free slots cover\n", b.demand, b.overcommit);
	say("  slot writes %" PRIu64 " (%" PRIu64 " failed), rollbacks %"
	    PRIu64 ", allocations refused %" PRIu64 "\n", b.writes,
	    b.write_errors, b.rollbacks, b.exhausted);
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: msix-ims-demo [--vectors N] [--slots S] "
		   "[--emulated E] [--quiet]\n"
		   "  N: guest MSI-X vectors, 16..2048 (64)\n"
		   "  S: IMS slots, 9..N (16); 4 go to a second device\n"
		   "  E: emulated vectors at the end of the table, 0..N-12 (4)\n");
}

static bool parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vectors", required_argument, NULL, 'n' },
		{ "slots", required_argument, NULL, 's' },
		{ "emulated", required_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t n = 64, slots = 16, emulated = 4, reserve, slot, x;
	struct libmsix_soft_ims *soft = NULL;
	struct libmsix_ims_store *st = NULL;
	struct libmsix_stats c;
	struct guest g = { 0 };
	struct dev a = { .name = "A", .id = 0 }, b = { .name = "B", .id = 1 };
	struct libmsix_ims_config cc = {
		.size = sizeof(cc), .nr_vectors = 4, .reserve = 1,
	};
	struct libmsix_ims *c_ims = NULL;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "n:s:e:qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (!parse_u32(optarg, &n))
				goto bad;
			break;
		case 's':
			if (!parse_u32(optarg, &slots))
				goto bad;
			break;
		case 'e':
			if (!parse_u32(optarg, &emulated))
				goto bad;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || n < 16 || n > LIBMSIX_MAX_VECTORS || slots < 9 ||
	    slots > n || emulated > n - 12)
		goto bad;
	/* A keeps all but B's 4, and needs a few spare to show the fault
	 * path: vectors 0..11 at least are slot-backed. */
	reserve = slots - 4;

	g.n = n;
	g.got = calloc(n, sizeof(*g.got));
	g.cookie = calloc(n, sizeof(*g.cookie));
	if (!g.got || !g.cookie) {
		perror("calloc");
		free(g.got);
		free(g.cookie);
		return 1;
	}

	say("== setup: a store of %u IMS slots; device A: %u guest vectors "
	    "(%u emulated), device B: 8\n", slots, n, emulated);
	err = libmsix_soft_ims_create(slots, slot_sink, &g, &soft);
	if (!err)
		err = libmsix_ims_store_create(libmsix_soft_ims_hw(soft), &st);
	if (!err)
		err = dev_open(&a, st, n, reserve, &g);
	if (!err && emulated)
		err = libmsix_ims_set_emulated(a.ims, n - emulated, emulated,
					       true);
	if (!err)
		err = dev_open(&b, st, 8, 4, &g);
	if (err) {
		printf("FAIL setup: %s\n", strerror(-err));
		return 1;
	}
	say("  A reserves %u slots, B reserves 4\n", reserve);
	err = libmsix_ims_create(st, &cc, &c_ims);
	say("  device C asks for 1 reserved slot: %s (fails at setup, not at "
	    "guest run time)\n", strerror(-err));
	CHECK(err == -ENOSPC, "C's reservation: %d", err);
	print_budget(st);

	say("\n== bring-up of A: Linux style, then every vector unmasked\n");
	bringup(&a);
	for (uint32_t v = 0; v < n; v++) {
		err = set_mask(&a, v, false);
		CHECK(err == 0 || (err == -ENOSPC && v >= reserve),
		      "unmask %u: %d", v, err);
	}
	print_runs("slot:", &a, has_slot);
	print_runs("emulated:", &a, live_without_slot);
	print_runs("faulted:", &a, faulted);
	CHECK(count(&a, has_slot) == reserve, "%u slot-backed",
	      count(&a, has_slot));
	CHECK(count(&a, live_without_slot) == emulated, "%u emulated live",
	      count(&a, live_without_slot));
	CHECK(count(&a, faulted) == n - emulated - reserve, "%u faulted",
	      count(&a, faulted));
	bringup(&b);
	for (uint32_t v = 0; v < 8; v++)
		set_mask(&b, v, false);
	say("  B: %u of 8 vectors on slots\n", count(&b, has_slot));
	CHECK(count(&b, has_slot) == 4, "B holds %u", count(&b, has_slot));
	print_budget(st);

	say("\n== interrupts\n");
	slot = (uint32_t)libmsix_ims_vector_slot(a.ims, 3);
	err = libmsix_soft_ims_raise(soft, slot);
	say("  device raises slot %u (vector 3, live): %s; guest got %" PRIu64
	    "\n", slot, err == LIBMSIX_DELIVERED ? "sent" : "latched",
	    g.got[3]);
	CHECK(err == LIBMSIX_DELIVERED && g.got[3] == 1, "vector 3");

	set_mask(&a, 5, true);
	slot = (uint32_t)libmsix_ims_vector_slot(a.ims, 5);
	libmsix_soft_ims_raise(soft, slot);
	libmsix_soft_ims_raise(soft, slot);
	say("  guest masks 5; device raises slot %u twice: guest got %" PRIu64
	    ", PBA bit 5 = %d\n", slot, g.got[5], pba_bit(&a, 5));
	CHECK(g.got[5] == 0 && pba_bit(&a, 5), "vector 5 masked");
	set_mask(&a, 5, false);
	say("  guest unmasks 5: guest got %" PRIu64 ", PBA bit 5 = %d\n",
	    g.got[5], pba_bit(&a, 5));
	CHECK(g.got[5] == 1 && !pba_bit(&a, 5), "vector 5 replay");

	x = reserve; /* the first faulted vector */
	err = libmsix_notify(a.dev, x);
	say("  device model raises vector %u (faulted, no slot): %s, PBA bit "
	    "= %d\n", x, err == LIBMSIX_LATCHED ? "latched" : "?",
	    pba_bit(&a, x));
	CHECK(err == LIBMSIX_LATCHED && pba_bit(&a, x), "vector %u", x);

	if (emulated) {
		err = libmsix_notify(a.dev, n - 1);
		say("  device model raises vector %u (emulated): %s through the "
		    "VMM's injector\n", n - 1,
		    err == LIBMSIX_DELIVERED ? "delivered" : "?");
		CHECK(err == LIBMSIX_DELIVERED && g.got[n - 1] == 1 &&
			      g.from_vmm == 1, "emulated vector");
	}

	say("\n== a PASID-like cookie for vector 2, changed while it is live\n");
	slot = (uint32_t)libmsix_ims_vector_slot(a.ims, 2);
	err = libmsix_ims_set_cookie(a.ims, 2, 0x80000u | 17);
	libmsix_soft_ims_raise(soft, slot);
	say("  slot %u reprogrammed (mask, write, unmask): %s; next message "
	    "carries cookie 0x%" PRIx64 "\n", slot, result(err),
	    g.cookie[2]);
	CHECK(err == 0 && g.cookie[2] == (0x80000u | 17), "cookie");

	say("\n== a slot write fails while vector 5 goes live again\n");
	set_mask(&a, 5, true);
	libmsix_soft_ims_fail(soft, 1, 1, -EIO);
	err = set_mask(&a, 5, false);
	say("  unmask 5: %s; vector 5 %s, slot still held: %s\n",
	    result(err), faulted(&a, 5) ? "faulted (blocked)" : "live",
	    has_slot(&a, 5) ? "yes" : "no");
	CHECK(err == -EIO && faulted(&a, 5), "failed unmask");
	libmsix_notify(a.dev, 5);
	err = libmsix_retry(a.dev);
	say("  retry: vector 5 %s; what it latched meanwhile: delivered %s\n",
	    faulted(&a, 5) ? "still faulted" : "live",
	    g.got[5] == 2 ? "once" : "wrongly");
	CHECK(!faulted(&a, 5) && g.got[5] == 2, "vector 5 after retry");

	say("\n== the guest frees vectors 8..11; libmsix_retry() reuses slots\n");
	for (uint32_t v = 8; v < 12; v++) {
		set_mask(&a, v, true);
		libmsix_vector_unuse(a.dev, v);
	}
	err = libmsix_retry(a.dev);
	say("  retry: %s (faulted ones beyond the free slots stay blocked)\n",
	    result(err));
	print_runs("slot:", &a, has_slot);
	CHECK(has_slot(&a, x) && g.got[x] == 1 && !pba_bit(&a, x),
	      "vector %u live, latch delivered once (%" PRIu64 ")", x,
	      g.got[x]);
	print_budget(st);

	say("\n== disable\n");
	set_msgctl(&a, 0);
	set_msgctl(&b, 0);
	{
		struct libmsix_soft_ims_stats s;
		struct libmsix_ims_store_stats bud;

		libmsix_soft_ims_get_stats(soft, &s);
		libmsix_ims_store_get_stats(st, &bud);
		say("  slots held %u, claimed at the device %u; device saw %"
		    PRIu64 " writes, %" PRIu64 " rule violations\n", bud.held,
		    s.claimed, s.writes, s.violations);
		CHECK(bud.held == 0 && s.claimed == 0 && s.violations == 0,
		      "after disable");
	}
	libmsix_get_stats(a.dev, &c);
	say("  A: %" PRIu64 " delivered, %" PRIu64 " latched, %" PRIu64
	    " replayed, %" PRIu64 " faults, %" PRIu64 " commits\n",
	    c.delivered, c.latched, c.replayed, c.faults, c.be_commit);

	dev_close(&b);
	dev_close(&a);
	CHECK(libmsix_ims_store_destroy(st) == 0, "store destroy");
	libmsix_soft_ims_destroy(soft);
	free(g.got);
	free(g.cookie);
	printf("msix-ims-demo: %s\n", failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
