/* SPDX-License-Identifier: MIT */
/*
 * One test per bug class of the MSI-X security history (V1..V25, "Security
 * bug classes" in docs/rules.md), named after it, each driving libmsix the
 * way the original bug was triggered and checking that it cannot happen
 * here. The exhaustive sweeps behind several of them are
 * test_access_matrix.c (R25/R29), test_config_matrix.c (R1-R8) and
 * test_faults.c (V5); the thread races of V23 are test_threads.c.
 *
 * Not applicable, so no test:
 *  V6 / V25 (XSA-120, CVE-2020-12888: accesses with Memory Space decoding
 *   off reach the device): libmsix never touches a physical BAR or
 *   config space -- it emulates the table and PBA in memory and the VMM
 *   decides whether to route an MMIO access to it at all.
 */
#include <pthread.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "helpers.h"

/* See test_access_matrix.c: passing ck_assert_*() calls cost a write(2). */
#define REQUIRE(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define HOST_BITS \
	(LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED | LIBMSIX_HOST_UNMASKED)

static bool under_valgrind(void)
{
	const char *s = getenv("LIBMSIX_UNDER_VALGRIND");

	return s && *s && strcmp(s, "0") != 0;
}

/* ------------------------------------------------------------------------ */
/* Shared checks                                                             */
/* ------------------------------------------------------------------------ */

/* Everything the guest and the engine see of one device. */
struct state {
	bool enabled, fmask;
	struct libmsix_vector_info v[LIBMSIX_MAX_VECTORS];
	uint32_t rec_host[LIBMSIX_MAX_VECTORS];
};

static void state_take(struct tdev *t, struct state *s)
{
	s->enabled = libmsix_enabled(t->dev);
	s->fmask = libmsix_function_masked(t->dev);
	for (uint32_t v = 0; v < t->n; v++) {
		REQUIRE(libmsix_get_vector_info(t->dev, v, &s->v[v]) == 0, "info");
		s->rec_host[v] = libmsix_recorder_host(t->rec, v);
	}
}

static void state_expect(struct tdev *t, const struct state *s,
			 const char *what)
{
	struct state *now = calloc(1, sizeof(*now));

	ck_assert_ptr_nonnull(now);
	state_take(t, now);
	REQUIRE(now->enabled == s->enabled && now->fmask == s->fmask,
		"%s changed Message Control", what);
	for (uint32_t v = 0; v < t->n; v++)
		REQUIRE(memcmp(&now->v[v], &s->v[v], sizeof(s->v[v])) == 0 &&
				now->rec_host[v] == s->rec_host[v],
			"%s changed vector %u", what, v);
	free(now);
}

/* No contract violation; the engine's host view is the backend's. */
static void views_agree(struct tdev *t)
{
	ck_assert_uint_eq(libmsix_recorder_violations(t->rec), 0);
	for (uint32_t v = 0; v < t->n; v++) {
		struct libmsix_vector_info i;

		ck_assert_int_eq(libmsix_get_vector_info(t->dev, v, &i), 0);
		ck_assert_uint_eq(i.host & HOST_BITS,
				  libmsix_recorder_host(t->rec, v));
	}
}

/* After the Linux bring-up unmask all but every fourth vector and N-1,
 * and pend N-1. */
static void bring_live(struct tdev *t)
{
	linux_bringup(t);
	for (uint32_t v = 0; v < t->n; v++)
		ck_assert_int_eq(set_vmask(t, v, v % 4 == 3 || v == t->n - 1),
				 0);
	ck_assert_int_eq(libmsix_notify(t->dev, t->n - 1), LIBMSIX_LATCHED);
}

static uint64_t counter_bad(struct tdev *t)
{
	struct libmsix_stats c;

	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	return c.bad_accesses;
}

/* A log sink that counts. */
struct logcount {
	uint64_t calls;
	int worst;
};

static void count_log(void *opaque, int level, const char *msg)
{
	struct logcount *l = opaque;

	(void)msg;
	l->calls++;
	if (l->calls == 1 || level < l->worst)
		l->worst = level;
}

/* ------------------------------------------------------------------------ */
/* QEMU                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * V1, CVE-2015-7549: a PBA write dispatched through a NULL .write. Every
 * size at every PBA byte, and the rest of its page, with 0 and ~0: nothing
 * crashes, nothing changes, bits >= N stay 0 (R21, R22).
 */
START_TEST(test_V1_pba_write_cve_2015_7549)
{
	struct tdev t = tdev_new(65);
	uint64_t pba = TEST_PBA_OFFSET(65), bad;
	struct state *before = calloc(1, sizeof(*before));

	ck_assert_ptr_nonnull(before);
	bring_live(&t);
	ck_assert_int_eq(set_vmask(&t, 64, true), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 64), LIBMSIX_LATCHED);
	ck_assert_int_eq(set_vmask(&t, 0, true), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	state_take(&t, before);
	bad = counter_bad(&t);
	libmsix_recorder_clear(t.rec);
	for (uint64_t off = pba; off < pba + TEST_PAGE; off++) {
		for (uint32_t size = 1; size <= 8; size++) {
			int want = off < pba + 16 ? 0 : -ENOENT;
			int r0 = tbl_write(&t, off, size, 0);
			int r1 = tbl_write(&t, off, size, UINT64_MAX);

			REQUIRE(r0 == want && r1 == want,
				"PBA write off +0x%llx size %u: %d %d",
				(unsigned long long)(off - pba), size, r0, r1);
			if (want == 0)
				bad += 2;
		}
	}
	state_expect(&t, before, "PBA writes");
	ck_assert_uint_eq(counter_bad(&t), bad);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	ck_assert_uint_eq(pba_read(&t, 0), 1);
	/* R21: vector 64 is bit 0 of QWORD 1; bits 65..127 are 0. */
	ck_assert_uint_eq(pba_read(&t, 1), 1);
	free(before);
	tdev_free(&t);
}
END_TEST

/*
 * V2, CVE-2020-13754: an access whose size runs past the end of the array
 * behind the region. The table ends exactly at the end of its BAR and the
 * PBA exactly at the end of its own; every size at every offset of the last
 * 16 bytes and the 8 past them. Run under ASan (LIBMSIX_SANITIZE) or
 * Valgrind this is the out-of-bounds detector; here the values are checked.
 */
START_TEST(test_V2_mismatched_size_cve_2020_13754)
{
	struct libmsix_config cfg = test_config(1);
	struct tdev t;

	cfg.table_bir = 0;
	cfg.table_offset = TEST_PAGE - 16;
	cfg.pba_bir = 2;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[0] = TEST_PAGE;
	cfg.bar_size[2] = TEST_PAGE;
	cfg.pba_offset = TEST_PAGE - 8;
	t = tdev_new_cfg(&cfg, 0, 0);
	ck_assert_int_eq(tbl_write(&t, TEST_PAGE - 16, 8, 0x11223344556677c0ull),
			 0);
	ck_assert_int_eq(tbl_write(&t, TEST_PAGE - 8, 4, 0xa1b2c3d4), 0);
	for (uint32_t bir = 0; bir <= 2; bir += 2) {
		uint64_t end = TEST_PAGE;

		for (uint64_t off = end - 16; off < end + 8; off++) {
			for (uint32_t size = 1; size <= 8; size++) {
				uint64_t val = 0x5555;
				int r = libmsix_mmio_read(t.dev, bir, off, size,
							  &val);
				uint64_t base = bir ? end - 8 : end - 16;

				if (off + size <= base || off >= end) {
					REQUIRE(r == -ENOENT && val == 0x5555,
						"BAR %u off 0x%llx size %u",
						bir, (unsigned long long)off,
						size);
				} else if (off < base || off + size > end) {
					REQUIRE(r == 0 && val == (size == 8
						? UINT64_MAX
						: (1ull << (8 * size)) - 1),
						"straddling BAR %u off 0x%llx size "
						"%u: 0x%llx", bir,
						(unsigned long long)off, size,
						(unsigned long long)val);
				} else {
					REQUIRE(r == 0, "inside: %d", r);
				}
				r = libmsix_mmio_write(t.dev, bir, off, size,
						       UINT64_MAX);
				REQUIRE(r == 0 || r == -ENOENT, "write %d", r);
			}
		}
	}
	/* The aligned QWORD writes at the end took effect; nothing else. */
	ck_assert_uint_eq(tbl_read(&t, TEST_PAGE - 8, 4), 0xffffffffu);
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

/* V3: QWORD accesses to the table and the PBA are defined (R26, R27). */
START_TEST(test_V3_qword_access)
{
	struct tdev t = tdev_new(64);

	linux_bringup(&t);
	ck_assert_int_eq(tbl_write(&t, 16 * 5, 8, 0x00000001fee01004ull), 0);
	ck_assert_int_eq(tbl_write(&t, 16 * 5 + 8, 8, 0x00000000000052a1ull),
			 0);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5, 8), 0x00000001fee01004ull);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5 + 8, 8), 0x52a1);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(last_delivery(&t)->msg.address, 0x1fee01004ull);
	ck_assert_uint_eq(last_delivery(&t)->msg.data, 0x52a1);
	ck_assert_int_eq(set_vmask(&t, 63, true), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 63), LIBMSIX_LATCHED);
	ck_assert_uint_eq(pba_read(&t, 0), 1ull << 63);
	tdev_free(&t);
}
END_TEST

/* V4: Mask is 1 in every entry after creation and after reset (R30). */
START_TEST(test_V4_mask_bit_after_reset)
{
	struct tdev t = tdev_new(70);

	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(tbl_read(&t, 16u * v + 12, 4), 1);
	bring_live(&t);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(tbl_write(&t, 16u * v + 12, 4, 0), 0);
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	libmsix_recorder_clear(t.rec);
	for (uint32_t v = 0; v < t.n; v++) {
		ck_assert_uint_eq(tbl_read(&t, 16u * v + 12, 4), 1);
		ck_assert_uint_eq(tbl_read(&t, 16u * v, 8), 0);
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	}
	ck_assert_uint_eq(pba_read(&t, 0) | pba_read(&t, 1), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_LATCHED);
	ck_assert_uint_eq(deliveries(&t), 0);
	tdev_free(&t);
}
END_TEST

/*
 * V5 (kvm_irqchip_commit_routes assertion): a route, unmask, alloc or
 * commit failure caused by a guest unmask or enable is an error return; the
 * vector stays blocked and latches, and retry brings it back. Every op of
 * those transitions is failed in turn in test_faults.c; here each kind once.
 */
START_TEST(test_V5_route_failure_no_abort)
{
	static const enum libmsix_rec_kind kinds[] = {
		LIBMSIX_REC_ALLOC, LIBMSIX_REC_ROUTE, LIBMSIX_REC_UNMASK,
		LIBMSIX_REC_COMMIT,
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (int on_enable = 0; on_enable < 2; on_enable++) {
			struct tdev t = tdev_new(4);
			struct libmsix_vector_info info;
			int r;

			linux_bringup(&t);
			if (on_enable) {
				ck_assert_int_eq(set_msgctl(&t, 0), 0);
				ck_assert_int_eq(set_vmask(&t, 2, false), 0);
			}
			ck_assert_int_eq(libmsix_recorder_fail(t.rec, kinds[i],
							       1, -EIO), 0);
			r = on_enable ? set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE)
				      : set_vmask(&t, 2, false);
			ck_assert_int_eq(r, -EIO);
			ck_assert_int_eq(libmsix_get_vector_info(t.dev, 2, &info), 0);
			ck_assert(!info.live && !info.masked);
			ck_assert(info.host & LIBMSIX_HOST_FAULT);
			views_agree(&t);
			ck_assert_int_eq(libmsix_notify(t.dev, 2),
					 LIBMSIX_LATCHED);
			libmsix_recorder_clear(t.rec);
			ck_assert_int_eq(libmsix_retry(t.dev), 0);
			ck_assert_uint_eq(deliveries_of(&t, 2), 1);
			views_agree(&t);
			tdev_free(&t);
		}
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Xen                                                                       */
/* ------------------------------------------------------------------------ */

/*
 * V7, XSA-128: config writes spanning the capability and its neighbours.
 * Straddling the start and the end, the bytes outside are the VMM's (a read
 * returns them as passed in), the RO registers keep their values, and only
 * a transition the covered Message Control byte asks for reaches the
 * backend.
 */
START_TEST(test_V7_straddling_config_write_xsa128)
{
	struct tdev t = tdev_new(16);
	uint32_t v;

	bring_live(&t);
	libmsix_recorder_clear(t.rec);
	/* cap-2..cap+1 and cap+10..cap+13: no Message Control byte 1. */
	ck_assert_int_eq(cfg_write(&t, TEST_CAP - 2, 4, UINT32_MAX), 0);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 10, 4, UINT32_MAX), 0);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 11, 2, 0), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	v = 0xa5a5a5a5;
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP - 2, 4, &v), 0);
	ck_assert_uint_eq(v, 0x0011a5a5u);
	v = 0xa5a5a5a5;
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP + 10, 4, &v), 0);
	ck_assert_uint_eq(v & 0xffff0000u, 0xa5a50000u);
	ck_assert_uint_eq(v & 0xffff,
			  (TEST_PBA_OFFSET(16) | 0) >> 16 & 0xffff);
	/* cap+2..cap+5 with Function Mask set: one transition, no more. */
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 2, 4, 0xffffc000u), 0);
	ck_assert(libmsix_function_masked(t.dev));
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 4, 4), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec,
						      LIBMSIX_REC_COMMIT), 1);
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

/*
 * V8, XSA-129: the guest's mask bits are virtual. Under Function Mask they
 * change nothing at the host; when the backend refuses an unmask the guest
 * still reads its own Vector Control, and the engine's own masking of the
 * host vector never shows in it.
 */
START_TEST(test_V8_guest_mask_is_virtual_xsa129)
{
	struct tdev t = tdev_new(8);

	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	libmsix_recorder_clear(t.rec);
	for (int i = 0; i < 3; i++)
		for (uint32_t v = 0; v < t.n; v++)
			ck_assert_int_eq(set_vmask(&t, v, i % 2), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(tbl_read(&t, 16u * v + 12, 4), 0);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_UNMASK, 3,
					       -EBUSY), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), -EBUSY);
	for (uint32_t v = 0; v < t.n; v++) {
		ck_assert_uint_eq(tbl_read(&t, 16u * v + 12, 4), 0);
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	}
	ck_assert(!libmsix_function_masked(t.dev));
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), HOST_BITS);
	tdev_free(&t);
}
END_TEST

/*
 * V9, XSA-130: 10^6 invalid accesses (unaligned and odd-size table writes,
 * PBA writes, straddling writes) and 10^5 guest unmasks the backend
 * refuses produce a bounded number of log lines; every one is counted.
 */
START_TEST(test_V9_log_flood_bounded)
{
	struct libmsix_config cfg = test_config(64);
	struct logcount lc = { 0, 0 };
	const uint64_t pba = TEST_PBA_OFFSET(64);
	uint64_t accesses = 1000000, unmasks = 100000;
	struct tdev t;

	if (under_valgrind()) {
		/* The bound is logarithmic: 10^5 shows it as well, and 10^6
		 * takes a minute under Valgrind. */
		accesses = 100000;
		unmasks = 10000;
	}
	cfg.log = count_log;
	cfg.log_level = LOG_DEBUG;
	cfg.opaque = &lc;
	t = tdev_new_cfg(&cfg, 0, 1);
	linux_bringup(&t);
	ck_assert_uint_eq(lc.calls, 0);
	for (uint64_t i = 0; i < accesses; i++) {
		int r;

		switch (i % 4) {
		case 0:
			r = tbl_write(&t, 16 * (i % 64) + 1, 4, i);
			break;
		case 1:
			r = tbl_write(&t, pba + (i % 8), 8, UINT64_MAX);
			break;
		case 2:
			r = tbl_write(&t, 16 * (i % 64) + 12, 2, 0);
			break;
		default:
			r = tbl_write(&t, 16 * 64 - 4, 8, 0);
			break;
		}
		REQUIRE(r == 0, "bad access %llu: %d", (unsigned long long)i, r);
	}
	ck_assert_uint_eq(counter_bad(&t), accesses);
	/* Two kinds, each 4 + log2(count) lines at most. */
	ck_assert_uint_gt(lc.calls, 0);
	ck_assert_uint_le(lc.calls, 2 * (4 + 20));
	/* Budget 1: vector 0 takes it, vector 1 faults on every unmask. */
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	lc.calls = 0;
	for (uint64_t i = 0; i < unmasks; i++) {
		REQUIRE(set_vmask(&t, 1, false) == -ENOSPC, "unmask %llu",
			(unsigned long long)i);
		REQUIRE(set_vmask(&t, 1, true) == 0, "mask");
	}
	ck_assert_uint_gt(lc.calls, 0);
	ck_assert_uint_le(lc.calls, 3 * (4 + 20));
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

/* V10, XSA-131: default-deny, every capability byte written with ~0 and 0
 * through every width: only Message Control bits 15:14 ever change. */
START_TEST(test_V10_config_default_deny_xsa131)
{
	struct tdev t = tdev_new(33);
	uint32_t cap[3];

	for (int i = 0; i < 3; i++)
		cap[i] = cfg_read(&t, TEST_CAP + 4 * i, 4);
	for (uint32_t off = TEST_CAP; off < TEST_CAP + 12; off++) {
		for (uint32_t w = 1; w <= 4; w *= 2) {
			for (int val = 0; val < 2; val++) {
				ck_assert_int_eq(cfg_write(&t, off, w,
							   val ? UINT32_MAX : 0),
						 0);
				for (int i = 0; i < 3; i++)
					ck_assert_uint_eq(
						cfg_read(&t, TEST_CAP + 4 * i, 4) &
							(i ? UINT32_MAX
							   : 0x3fffffffu),
						cap[i] & (i ? UINT32_MAX
							    : 0x3fffffffu));
			}
		}
	}
	tdev_free(&t);
}
END_TEST

/*
 * V11, XSA-164: table writes past entry N-1 in the table's page. N = 1 in
 * a 4 KiB page: offsets 16..4095 are not the table (the VMM's, -ENOENT),
 * every write there changes nothing, and reads never return anything.
 */
START_TEST(test_V11_table_write_past_n_xsa164)
{
	struct libmsix_config cfg = test_config(1);
	struct tdev t;
	struct state *before = calloc(1, sizeof(*before));

	ck_assert_ptr_nonnull(before);
	cfg.pba_bir = 2;
	cfg.pba_offset = 0;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[2] = TEST_PAGE;
	t = tdev_new_cfg(&cfg, 0, 0);
	bring_live(&t);
	state_take(&t, before);
	for (uint64_t off = 16; off < TEST_PAGE; off++) {
		for (uint32_t size = 1; size <= 8; size++) {
			uint64_t val = 77;

			REQUIRE(tbl_write(&t, off, size, UINT64_MAX) == -ENOENT,
				"write off 0x%llx", (unsigned long long)off);
			REQUIRE(libmsix_mmio_read(t.dev, 0, off, size, &val) ==
						-ENOENT &&
					val == 77,
				"read off 0x%llx", (unsigned long long)off);
		}
	}
	state_expect(&t, before, "writes past entry N-1");
	free(before);
	tdev_free(&t);
}
END_TEST

/*
 * V12 (Xen vMSI-X alignment): misaligned reads return register bytes of
 * this structure or all ones, never the neighbour's bytes: the PBA right
 * after the table is not read through a table access straddling into it.
 */
START_TEST(test_V12_misaligned_read_no_leak)
{
	struct libmsix_config cfg = test_config(2);
	struct tdev t;

	cfg.pba_offset = 32; /* right after the 2-entry table */
	t = tdev_new_cfg(&cfg, 0, 0);
	linux_bringup(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_uint_eq(tbl_read(&t, 32, 8), 2);
	set_msg(&t, 1, 0x12345678fee00000ull, 0xcafef00d);
	/* Straddling the table end into the PBA. */
	for (uint64_t off = 25; off < 32; off++)
		for (uint32_t size = 32 - (uint32_t)off + 1; size <= 8; size++)
			ck_assert_uint_eq(tbl_read(&t, off, size),
					  size == 8 ? UINT64_MAX
						    : (1ull << (8 * size)) - 1);
	/* Inside: the register bytes, at any alignment. */
	ck_assert_uint_eq(tbl_read(&t, 16 + 1, 4), 0x78fee000u);
	ck_assert_uint_eq(tbl_read(&t, 16 + 6, 4), 0xf00d1234u);
	ck_assert_uint_eq(tbl_read(&t, 16 + 11, 1), 0xca);
	tdev_free(&t);
}
END_TEST

/*
 * V13, XSA-337: geometry is fixed at creation. Changing the caller's
 * config afterwards and writing all ones over the capability (QSIZE, BIR,
 * offsets) moves no bound: entry N-1 is still the last, the PBA stays put.
 */
START_TEST(test_V13_geometry_frozen)
{
	struct libmsix_config cfg = test_config(8);
	struct tdev t = tdev_new_cfg(&cfg, 0, 0);
	uint64_t val;

	cfg.nr_vectors = 2048;
	cfg.table_offset = 0x100;
	cfg.pba_bir = 4;
	cfg.bar_size[0] = 1ull << 40;
	cfg.cap_offset = 0x40;
	for (uint32_t off = TEST_CAP; off < TEST_CAP + 12; off += 4)
		ck_assert_int_eq(cfg_write(&t, off, 4, UINT32_MAX), 0);
	ck_assert_uint_eq(libmsix_nr_vectors(t.dev), 8);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 4) & 0x3fffffffu,
			  0x00070011u);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 4, 4), 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 8, 4), TEST_PBA_OFFSET(8));
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 16 * 8, 4, &val), -ENOENT);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 16 * 7 + 12, 4, &val), 0);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, TEST_PBA_OFFSET(8), 8,
					   &val), 0);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 4, 0, 8, &val), -ENOENT);
	ck_assert_int_eq(libmsix_notify(t.dev, 8), -EINVAL);
	tdev_free(&t);
}
END_TEST

/*
 * V14 (Xen vPCI PBA checks lost): R25 for the PBA. Unaligned reads inside
 * return its bytes, reads straddling its end all ones, the rest of its page
 * is not the PBA, and no write of any size changes it.
 */
START_TEST(test_V14_pba_access_rules)
{
	struct tdev t = tdev_new(40);
	uint64_t pba = TEST_PBA_OFFSET(40), val;

	linux_bringup(&t);
	for (uint32_t v = 0; v < 40; v += 3)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_LATCHED);
	ck_assert_uint_eq(pba_read(&t, 0), 0x9249249249ull);
	ck_assert_uint_eq(tbl_read(&t, pba + 1, 2), 0x2492);
	ck_assert_uint_eq(tbl_read(&t, pba + 4, 4), 0x92);
	ck_assert_uint_eq(tbl_read(&t, pba + 3, 1), 0x49);
	ck_assert_uint_eq(tbl_read(&t, pba + 4, 8), UINT64_MAX);
	ck_assert_uint_eq(tbl_read(&t, pba + 7, 2), 0xffff);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, pba + 8, 1, &val),
			 -ENOENT);
	for (uint64_t off = pba; off < pba + 8; off++)
		for (uint32_t size = 1; size <= 8; size++)
			ck_assert_int_eq(tbl_write(&t, off, size, 0), 0);
	ck_assert_uint_eq(pba_read(&t, 0), 0x9249249249ull);
	tdev_free(&t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* bhyve, ACRN                                                               */
/* ------------------------------------------------------------------------ */

/*
 * V15, FreeBSD D20523 / ACRN #1210: the PBA in another BAR at an offset
 * inside the table's range. Table accesses at that offset reach the table
 * (writes work), the PBA BAR reads the PBA, and PBA writes change nothing.
 */
START_TEST(test_V15_pba_other_bar_overlapping_offset)
{
	struct libmsix_config cfg = test_config(16);
	struct tdev t;
	uint64_t off = 16 * 4; /* entry 4's address, and the PBA in BAR 2 */

	cfg.pba_bir = 2;
	cfg.pba_offset = (uint32_t)off;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[2] = TEST_PAGE;
	t = tdev_new_cfg(&cfg, 0, 0);
	linux_bringup(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 4), LIBMSIX_LATCHED);
	ck_assert_int_eq(tbl_write(&t, off, 8, 0xfee0400cull), 0);
	ck_assert_uint_eq(tbl_read(&t, off, 8), 0xfee0400cull);
	ck_assert_uint_eq(tbl_read(&t, off + 8, 4), test_data(4));
	{
		uint64_t q = 0;

		ck_assert_int_eq(libmsix_mmio_read(t.dev, 2, off, 8, &q), 0);
		ck_assert_uint_eq(q, 1u << 4);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, 2, off, 8, 0), 0);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, 2, off + 8, 4, 0),
				 -ENOENT);
		ck_assert_int_eq(libmsix_mmio_read(t.dev, 2, off, 8, &q), 0);
		ck_assert_uint_eq(q, 1u << 4);
	}
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	tdev_free(&t);
}
END_TEST

/*
 * V16, ACRN #2624: an N beyond what the library can hold, or a layout whose
 * size arithmetic would wrap, is refused at creation -- never truncated.
 */
START_TEST(test_V16_oversized_geometry_rejected)
{
	static const uint32_t bad_n[] = { 0, 2049, 4096, 65535, 65536,
					  UINT32_MAX };
	struct libmsix_recorder *rec;
	struct libmsix_dev *dev = NULL;
	struct libmsix_config cfg;

	ck_assert_int_eq(libmsix_recorder_create(0, 0, &rec), 0);
	for (size_t i = 0; i < sizeof(bad_n) / sizeof(bad_n[0]); i++) {
		cfg = test_config(1);
		cfg.nr_vectors = bad_n[i];
		cfg.bar_size[0] = UINT64_MAX;
		ck_assert_int_eq(libmsix_dev_create(&cfg,
						    libmsix_recorder_backend(rec),
						    &dev), -EINVAL);
		ck_assert_ptr_null(dev);
	}
	/* Table at 0xfffffff8 with N = 2048 ends past a 4 GiB BAR. */
	cfg = test_config(2048);
	cfg.table_offset = 0xfffffff8u;
	cfg.pba_offset = 0x1000;
	cfg.bar_size[0] = 1ull << 32;
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_recorder_backend(rec),
					    &dev), -EINVAL);
	cfg.table_offset = 0x2000;
	cfg.pba_offset = 0xfffffff8u;
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_recorder_backend(rec),
					    &dev), -EINVAL);
	ck_assert_ptr_null(dev);
	libmsix_recorder_destroy(rec);
}
END_TEST

/* V17, bhyve assert(size == 4): table writes of sizes 1..8 at every offset
 * of an entry, aligned or not, never abort; only aligned 4/8 count. */
START_TEST(test_V17_odd_size_table_write_no_abort)
{
	struct tdev t = tdev_new(4);
	uint64_t bad;

	linux_bringup(&t);
	bad = counter_bad(&t);
	for (uint64_t off = 16; off < 32; off++) {
		for (uint32_t size = 1; size <= 8; size++) {
			bool defined = (size == 4 || size == 8) &&
				       off % size == 0;

			ck_assert_int_eq(tbl_write(&t, off, size, 0x0101010101010101ull),
					 0);
			if (!defined)
				bad++;
		}
	}
	ck_assert_uint_eq(counter_bad(&t), bad);
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* cloud-hypervisor, crosvm                                                  */
/* ------------------------------------------------------------------------ */

/*
 * V18, CH #6657, #7917, #8138: vector numbers from device models and virtio
 * registers (0xffff = "no vector") are range-checked by every entry point
 * that takes one, and a rejected call changes nothing (R40).
 */
START_TEST(test_V18_guest_indices)
{
	struct tdev t = tdev_new(64);
	const uint32_t bad[] = { 64, 65, 2047, 2048, 0xffff, 0x10000,
				 UINT32_MAX };
	struct state *before = calloc(1, sizeof(*before));
	struct libmsix_stats c0, c1;
	struct libmsix_vector_info info;

	ck_assert_ptr_nonnull(before);
	bring_live(&t);
	state_take(&t, before);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c0), 0);
	libmsix_recorder_clear(t.rec);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(libmsix_notify(t.dev, bad[i]), -EINVAL);
		ck_assert_int_eq(libmsix_clear_pending(t.dev, bad[i]), -EINVAL);
		ck_assert_int_eq(libmsix_vector_use(t.dev, bad[i]), -EINVAL);
		ck_assert_int_eq(libmsix_vector_unuse(t.dev, bad[i]), -EINVAL);
		ck_assert_int_eq(libmsix_get_vector_info(t.dev, bad[i], &info),
				 -EINVAL);
	}
	state_expect(&t, before, "out-of-range vectors");
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c1), 0);
	ck_assert_uint_eq(c1.notified, c0.notified);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	free(before);
	tdev_free(&t);
}
END_TEST

/*
 * V19, CH #3749 (writable Table Size), #3714/#7956 (dword write at cap+0
 * ignored), #1744 (entries not masked by default).
 */
START_TEST(test_V19_ch_msgctl_mask_and_dword_write)
{
	struct tdev t = tdev_new(16);

	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_uint_eq(tbl_read(&t, 16u * v + 12, 4), 1);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, 0x04710000u | 0xc0000000u),
			 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 2, 2), 0xc000 | 15);
	ck_assert(libmsix_enabled(t.dev) && libmsix_function_masked(t.dev));
	ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, 0x80000000u), 0);
	ck_assert(libmsix_enabled(t.dev) && !libmsix_function_masked(t.dev));
	ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, 0x07ff0011u), 0);
	ck_assert(!libmsix_enabled(t.dev));
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 2, 2), 15);
	tdev_free(&t);
}
END_TEST

/*
 * V20, crosvm observations: Table Size is 11 bits (B10 in crosvm's
 * bitfield), and trigger() indexed the table unchecked.
 */
START_TEST(test_V20_qsize_eleven_bits)
{
	static const uint32_t ns[] = { 1024, 1025, 1536, 2047, 2048 };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct tdev t = tdev_new(ns[i]);

		ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 2, 2), ns[i] - 1);
		ck_assert_int_eq(libmsix_notify(t.dev, ns[i] - 1),
				 LIBMSIX_DROPPED);
		ck_assert_int_eq(libmsix_notify(t.dev, ns[i]), -EINVAL);
		tdev_free(&t);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

/* What a blob says, decoded here from the documented format (snapshot.c). */
struct blob_view {
	uint32_t n, flags;
	uint32_t words[LIBMSIX_MAX_VECTORS][4];
	uint16_t use[LIBMSIX_MAX_VECTORS];
	bool pending[LIBMSIX_MAX_VECTORS];
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void blob_decode(const uint8_t *b, struct blob_view *bv)
{
	const uint8_t *p = b + 24;

	bv->n = le32(b + 8);
	bv->flags = le32(b + 12);
	for (uint32_t v = 0; v < bv->n; v++)
		for (int w = 0; w < 4; w++, p += 4)
			bv->words[v][w] = le32(p);
	for (uint32_t v = 0; v < bv->n; v++, p += 2)
		bv->use[v] = (uint16_t)(p[0] | p[1] << 8);
	for (uint32_t v = 0; v < bv->n; v++)
		bv->pending[v] = (p[v / 8] >> (v % 8)) & 1;
}

/* The device now holds what the blob says (pending bits may have been
 * delivered or dropped, never invented). */
static void expect_blob_state(struct tdev *t, const struct blob_view *bv,
			      const char *ctx)
{
	REQUIRE(libmsix_enabled(t->dev) == !!(bv->flags & 1) &&
			libmsix_function_masked(t->dev) == !!(bv->flags & 2),
		"%s: Message Control not restored", ctx);
	for (uint32_t v = 0; v < t->n; v++) {
		struct libmsix_vector_info i;

		REQUIRE(libmsix_get_vector_info(t->dev, v, &i) == 0, "info");
		REQUIRE((uint32_t)i.msg.address == bv->words[v][0] &&
				(uint32_t)(i.msg.address >> 32) ==
					bv->words[v][1] &&
				i.msg.data == bv->words[v][2] &&
				i.vector_control == bv->words[v][3] &&
				i.use_count == bv->use[v],
			"%s: vector %u not restored", ctx, v);
		REQUIRE(!i.pending || bv->pending[v],
			"%s: vector %u pending from nowhere", ctx, v);
		REQUIRE((i.host & HOST_BITS) == libmsix_recorder_host(t->rec, v),
			"%s: vector %u host views differ", ctx, v);
	}
	REQUIRE(libmsix_recorder_violations(t->rec) == 0,
		"%s: contract violations", ctx);
}

static struct tdev snap_source(uint32_t n, uint8_t **blob, size_t *len)
{
	struct tdev t = tdev_new(n);
	long r;

	bring_live(&t);
	ck_assert_int_eq(set_vmask(&t, 1, true), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 2), 0);
	*len = libmsix_save_size(t.dev);
	*blob = malloc(*len);
	ck_assert_ptr_nonnull(*blob);
	r = libmsix_save(t.dev, *blob, *len);
	ck_assert_int_eq(r, (long)*len);
	return t;
}

/* Load @b into a fresh device: rejected with nothing changed, or accepted
 * and then the device is what the blob says. */
static int load_check(uint32_t n, const uint8_t *b, size_t len,
		      const char *ctx)
{
	struct tdev t = tdev_new(n);
	struct state *before = calloc(1, sizeof(*before));
	struct blob_view *bv = calloc(1, sizeof(*bv));
	size_t ops;
	int r;

	ck_assert(before && bv);
	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	state_take(&t, before);
	ops = libmsix_recorder_count(t.rec);
	r = libmsix_load(t.dev, b, len);
	if (r == -EINVAL) {
		state_expect(&t, before, ctx);
		REQUIRE(libmsix_recorder_count(t.rec) == ops,
			"%s: rejected blob reached the backend", ctx);
	} else {
		REQUIRE(r == 0, "%s: load returned %d", ctx, r);
		blob_decode(b, bv);
		expect_blob_state(&t, bv, ctx);
		/* Deliveries only for vectors the blob makes live. */
		for (size_t i = ops; i < libmsix_recorder_count(t.rec); i++) {
			const struct libmsix_rec_op *op =
				libmsix_recorder_op(t.rec, i);
			uint32_t v = op->start;

			if (op->kind != LIBMSIX_REC_DELIVER)
				continue;
			REQUIRE(v < n && (bv->flags & 5) == 5 &&
					!(bv->words[v][3] & 1) && bv->use[v],
				"%s: delivered vector %u the blob masks", ctx,
				v);
		}
	}
	free(before);
	free(bv);
	tdev_free(&t);
	return r;
}

/*
 * V21, Firecracker #5918: a tampered snapshot. Every byte of a real blob
 * flipped three ways, truncated, extended, or from a device of another N:
 * each is either rejected with nothing changed, or accepted and restored
 * exactly as it reads -- never a crash, never state the blob did not say.
 */
START_TEST(test_V21_tampered_snapshot)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	const uint32_t n = 65;
	uint8_t *blob, *m;
	size_t len, accepted = 0, rejected = 0;
	struct tdev src = snap_source(n, &blob, &len);
	char ctx[64];

	ck_assert_int_eq(load_check(n, blob, len, "original"), 0);
	m = malloc(len + 8);
	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(m, blob, len);
			m[i] ^= flips[f];
			snprintf(ctx, sizeof(ctx), "byte %zu ^ 0x%02x", i,
				 flips[f]);
			if (load_check(n, m, len, ctx) == 0)
				accepted++;
			else
				rejected++;
		}
	}
	/* Both outcomes occurred: header, reserved bits and PBA bits >= N
	 * are refused; addresses, data and use counts are guest values. */
	ck_assert_uint_gt(accepted, 0);
	ck_assert_uint_gt(rejected, 0);
	memcpy(m, blob, len);
	m[len] = 0;
	ck_assert_int_eq(load_check(n, m, len + 1, "extended"), -EINVAL);
	/* Exact-size copies: an over-read shows under ASan and Valgrind. */
	for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 97) {
		uint8_t *c = malloc(cut ? cut : 1);

		ck_assert_ptr_nonnull(c);
		memcpy(c, blob, cut);
		ck_assert_int_eq(load_check(n, c, cut, "truncated"), -EINVAL);
		free(c);
	}
	ck_assert_int_eq(load_check(n + 1, blob, len, "other N"), -EINVAL);
	ck_assert_int_eq(load_check(n - 1, blob, len, "other N"), -EINVAL);
	/* A buffer too small to save into is refused, nothing written. */
	memset(m, 0xaa, len + 8);
	ck_assert_int_eq(libmsix_save(src.dev, m, len - 1), -ENOSPC);
	for (size_t i = 0; i < len + 8; i++)
		ck_assert_uint_eq(m[i], 0xaa);
	free(m);
	free(blob);
	tdev_free(&src);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Linux VFIO                                                                */
/* ------------------------------------------------------------------------ */

/*
 * V22, CVE-2016-9083/9084: (start, count) and (offset, size) ranges that
 * wrap. libmsix's public ranges are MMIO (offset, size), config (offset,
 * size) and snapshot (buffer, length); the backend ranges are alloc/release
 * (start, count), which the recorder checks -- and the engine only ever
 * emits non-empty ranges inside [0, N), checked over a NORESIZE growth to
 * 2048 vectors and a disable.
 */
START_TEST(test_V22_range_overflow)
{
	struct tdev t = tdev_new(64);
	struct libmsix_backend *be = libmsix_recorder_backend(t.rec);
	struct libmsix_msg msg = { 0xfee00000u, 1 };
	static const uint32_t starts[] = { UINT32_MAX, UINT32_MAX - 1, 2048,
					   2047, 1, 0 };
	static const uint32_t counts[] = { 2, UINT32_MAX, 0, 2, UINT32_MAX,
					   0 };
	uint64_t val = 9;
	uint32_t cval = 9;
	size_t viol = 0;

	linux_bringup(&t);
	/* MMIO: offset + size wraps past 2^64. */
	for (uint32_t size = 1; size <= 8; size++) {
		for (uint64_t off = UINT64_MAX - 8; off != 0; off++) {
			ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, off, size,
							   &val), -ENOENT);
			ck_assert_int_eq(tbl_write(&t, off, size, 0), -ENOENT);
		}
	}
	ck_assert_uint_eq(val, 9);
	/* Config: offset + size wraps past 2^32. */
	for (uint32_t off = UINT32_MAX - 3; off != 0; off++) {
		ck_assert_int_eq(libmsix_config_read(t.dev, off, 4, &cval), 0);
		ck_assert_int_eq(cfg_write(&t, off, 4, 0), 0);
	}
	ck_assert_uint_eq(cval, 9);
	ck_assert(libmsix_enabled(t.dev));
	/* The recorder refuses wrapping backend ranges and counts them. */
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		if (be->ops->alloc(be, starts[i], counts[i]) == 0)
			ck_abort_msg("alloc(%u, %u) accepted", starts[i],
				     counts[i]);
		be->ops->release(be, starts[i], counts[i]);
		viol += 2;
		ck_assert_uint_eq(libmsix_recorder_violations(t.rec), viol);
	}
	for (size_t i = 0; i < 3; i++) {
		be->ops->route(be, starts[i], &msg);
		be->ops->unroute(be, starts[i]);
		be->ops->mask(be, starts[i]);
		be->ops->unmask(be, starts[i]);
		viol += 4;
		ck_assert_uint_eq(libmsix_recorder_violations(t.rec), viol);
	}
	be->ops->abort(be);
	ck_assert_int_eq(libmsix_recorder_set_poll(t.rec, UINT32_MAX), -EINVAL);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, UINT32_MAX), 0);
	ck_assert_ptr_null(libmsix_recorder_op(t.rec, SIZE_MAX));
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, 0, 1, 5), -EINVAL);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, 99, 1, -EIO), -EINVAL);
	{
		/* A length that cannot be a blob's, huge or wrapped. */
		uint8_t hdr[24] = { 0x4d, 0x53, 0x49, 0x58, 1, 0, 24, 0, 64 };

		ck_assert_int_eq(libmsix_load(t.dev, hdr, SIZE_MAX), -EINVAL);
		ck_assert_int_eq(libmsix_load(t.dev, hdr, SIZE_MAX - 23),
				 -EINVAL);
		ck_assert_int_eq(libmsix_load(t.dev, hdr, sizeof(hdr)), -EINVAL);
		ck_assert_int_eq(libmsix_load(t.dev, hdr, 0), -EINVAL);
	}
	libmsix_dev_destroy(t.dev);
	libmsix_recorder_destroy(t.rec);

	/* What the engine itself emits. */
	{
		struct libmsix_config cfg = test_config(2048);
		struct tdev g;

		cfg.policy = LIBMSIX_POLICY_INCREMENTAL;
		g = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);
		linux_bringup(&g);
		for (uint32_t v = 0; v < g.n; v++)
			REQUIRE(set_vmask(&g, v, false) == 0, "unmask %u", v);
		ck_assert_int_eq(set_msgctl(&g, 0), 0);
		for (size_t i = 0; i < libmsix_recorder_count(g.rec); i++) {
			const struct libmsix_rec_op *op =
				libmsix_recorder_op(g.rec, i);

			if (op->kind == LIBMSIX_REC_ALLOC ||
			    op->kind == LIBMSIX_REC_RELEASE)
				REQUIRE(op->count > 0 &&
						op->start < g.n &&
						op->count <= g.n - op->start,
					"op %zu: [%u, +%u)", i, op->start,
					op->count);
			else if (op->kind != LIBMSIX_REC_COMMIT)
				REQUIRE(op->start < g.n, "op %zu: vector %u",
					i, op->start);
		}
		tdev_free(&g);
	}
}
END_TEST

/* A backend compiled against an older header: ops end after deliver. */
static int trap_poll(struct libmsix_backend *be, uint32_t v)
{
	(void)be;
	ck_abort_msg("poll of vector %u called beyond ops->size", v);
	return 0;
}

static int trap_enable(struct libmsix_backend *be, bool on)
{
	(void)be;
	ck_abort_msg("enable(%d) called beyond ops->size", on);
	return 0;
}

static unsigned minimal_delivered;

static int minimal_deliver(struct libmsix_backend *be, uint32_t v,
			   const struct libmsix_msg *msg)
{
	(void)be;
	(void)v;
	(void)msg;
	minimal_delivered++;
	return 0;
}

/* The whole lifecycle on a backend with the ops table @ops. */
static void minimal_backend_lifecycle(const struct libmsix_backend_ops *ops)
{
	struct libmsix_config cfg = test_config(4);
	struct libmsix_backend be = { .ops = ops };
	struct libmsix_dev *dev;
	size_t sz;
	uint8_t *b;
	uint64_t q;

	cfg.policy = LIBMSIX_POLICY_AUTO;
	minimal_delivered = 0;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), 0);
	ck_assert_int_eq(libmsix_notify(dev, 0), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_vector_use_all(dev), 0);
	ck_assert_int_eq(libmsix_config_write(dev, TEST_CAP + 2, 2,
					      PCI_MSIX_FLAGS_ENABLE |
						      PCI_MSIX_FLAGS_MASKALL),
			 0);
	ck_assert_int_eq(libmsix_notify(dev, 0), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_mmio_read(dev, 0, TEST_PBA_OFFSET(4), 8, &q),
			 0);
	ck_assert_uint_eq(q, 1);
	ck_assert_int_eq(libmsix_mmio_write(dev, 0, 12, 4, 0), 0);
	ck_assert_int_eq(libmsix_config_write(dev, TEST_CAP + 3, 1, 0x80), 0);
	ck_assert_uint_eq(minimal_delivered, 1);
	ck_assert_int_eq(libmsix_notify(dev, 0), LIBMSIX_DELIVERED);
	sz = libmsix_save_size(dev);
	b = malloc(sz);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(libmsix_save(dev, b, sz), (long)sz);
	ck_assert_int_eq(libmsix_load(dev, b, sz), 0);
	free(b);
	ck_assert_int_eq(libmsix_mmio_write(dev, 0, 12, 4, 1), 0);
	ck_assert_int_eq(libmsix_mmio_read(dev, 0, TEST_PBA_OFFSET(4), 8, &q),
			 0);
	ck_assert_int_eq(libmsix_retry(dev), 0);
	ck_assert_int_eq(libmsix_reset(dev), 0);
	ck_assert_int_eq(libmsix_notify(dev, 0), LIBMSIX_DROPPED);
	libmsix_dev_destroy(dev);
}

/*
 * V23, CVE-2024-26813 and the vfio/cdx records: a trigger before anything
 * is configured, on a disabled device, on an unused vector and on a vector
 * whose host route was torn down, never reaches a missing callback; nor
 * anything else on a backend that has nothing but deliver.
 */
START_TEST(test_V23_trigger_before_configured)
{
	static const struct libmsix_backend_ops only_deliver = {
		.size = sizeof(struct libmsix_backend_ops),
		.deliver = minimal_deliver,
	};
	struct tdev t = tdev_new(8);

	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_DROPPED);
	bring_live(&t);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 0), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 0), 0);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_clear_pending(t.dev, 1), 0);
	tdev_free(&t);
	minimal_backend_lifecycle(&only_deliver);
}
END_TEST

/*
 * Regression (V23 class: calling a callback that is not there): a backend
 * built against a header older than the poll op ends its ops table before
 * it, which libmsix_dev_create() accepts by ops->size, but PBA reads,
 * unmasks and save read the poll slot anyway -- past the backend's table.
 * Here the slots past ops->size hold traps.
 */
START_TEST(test_V23_old_abi_backend_poll_slot_not_read)
{
	const struct libmsix_backend_ops old_abi = {
		.size = offsetof(struct libmsix_backend_ops, poll),
		.deliver = minimal_deliver,
		.poll = trap_poll,
		.enable = trap_enable,
	};

	minimal_backend_lifecycle(&old_abi);
}
END_TEST

/*
 * V24 (vfio-pci MSI-X table mmap policy): guest table values reach the
 * backend only as route() of a vector going live, with the message as the
 * table holds it -- never while the entry is masked, never DWORD by DWORD
 * while it is live (R41), never a half-written 64-bit address.
 */
START_TEST(test_V24_guest_values_reach_backend_only_via_route)
{
	struct tdev t = tdev_new(4);

	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	libmsix_recorder_clear(t.rec);
	for (uint32_t i = 0; i < 100; i++) {
		ck_assert_int_eq(tbl_write(&t, 16, 4, 0xdead0000u + 4 * i), 0);
		ck_assert_int_eq(tbl_write(&t, 20, 4, i), 0);
		ck_assert_int_eq(tbl_write(&t, 24, 4, ~i), 0);
		ck_assert_int_eq(tbl_write(&t, 16, 8, 0xffffffff00000004ull), 0);
	}
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	set_msg(&t, 1, 0x00000002fee01000ull, 0x77);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ROUTE),
			  1);
	for (size_t i = 0; i < libmsix_recorder_count(t.rec); i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t.rec, i);

		if (op->kind == LIBMSIX_REC_ROUTE) {
			ck_assert_uint_eq(op->start, 1);
			ck_assert_uint_eq(op->msg.address, 0x2fee01000ull);
			ck_assert_uint_eq(op->msg.data, 0x77);
		}
	}
	/* Rewriting a live entry DWORD by DWORD routes nothing until the
	 * next unmask, which routes the whole new message. */
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(tbl_write(&t, 16, 4, 0xfee02000u), 0);
	ck_assert_int_eq(tbl_write(&t, 20, 4, 3), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ROUTE),
			  0);
	ck_assert_int_eq(set_vmask(&t, 1, true), 0);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ROUTE),
			  1);
	for (size_t i = 0; i < libmsix_recorder_count(t.rec); i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t.rec, i);

		if (op->kind == LIBMSIX_REC_ROUTE)
			ck_assert_uint_eq(op->msg.address, 0x3fee02000ull);
	}
	tdev_free(&t);
}
END_TEST


/* Route messages a recorder holds now: the last route op per vector. */
static uint32_t routed_data(struct tdev *t, uint32_t v)
{
	uint32_t data = 0;

	for (size_t i = 0; i < libmsix_recorder_count(t->rec); i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		if (op->kind == LIBMSIX_REC_ROUTE && op->start == v)
			data = op->msg.data;
	}
	return data;
}

/*
 * Regression (V21 class: restore input reaching the wrong place): loading
 * a blob into a device whose vector was live kept the backend's route on
 * the old message -- needs_route() only re-routed a vector whose host
 * vector was masked -- so a bypassing backend (KVM irqfd) kept sending
 * what the blob had replaced.
 */
START_TEST(test_V21_load_into_live_device_reroutes)
{
	struct tdev a = tdev_new(4), b = tdev_new(4);
	size_t len = libmsix_save_size(b.dev);
	uint8_t *blob = malloc(len);

	ck_assert_ptr_nonnull(blob);
	linux_bringup(&a);
	linux_bringup(&b);
	ck_assert_int_eq(set_vmask(&a, 0, false), 0);
	set_msg(&b, 0, 0xfee0f000u, 0x9999);
	ck_assert_int_eq(set_vmask(&b, 0, false), 0);
	ck_assert_int_eq(libmsix_save(b.dev, blob, len), (long)len);
	ck_assert_uint_eq(routed_data(&a, 0), test_data(0));
	ck_assert_int_eq(libmsix_load(a.dev, blob, len), 0);
	ck_assert_uint_eq(routed_data(&a, 0), 0x9999);
	ck_assert_uint_eq(libmsix_recorder_host(a.rec, 0), HOST_BITS);
	views_agree(&a);
	free(blob);
	tdev_free(&a);
	tdev_free(&b);
}
END_TEST

/*
 * Regression, same cause: the documented R41 choice is that a message
 * written while the entry is unmasked reaches the route at the next unmask
 * of the vector or the function. A Function Mask set and clear inside one
 * transaction (as a restore or a VMM batching guest writes does) never
 * masked the host vector, so the route kept the old message.
 */
START_TEST(test_V24_route_follows_unmask_inside_transaction)
{
	struct tdev t = tdev_new(4);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(tbl_write(&t, 16 + 8, 4, 0x5151), 0);
	ck_assert_uint_eq(routed_data(&t, 1), test_data(1));
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(routed_data(&t, 1), 0x5151);
	/* The same for the vector's own mask and unmask. */
	ck_assert_int_eq(tbl_write(&t, 16 + 8, 4, 0x6262), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_vmask(&t, 1, true), 0);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(routed_data(&t, 1), 0x6262);
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

/*
 * Regression, found by fuzz/fuzz_msix.c: a vector going live from dropped
 * (MSI-X enabled with the entry already unmasked, or its use count going
 * 0 -> 1) stayed V_DROP until the commit, so inside a transaction -- a
 * migration restore, libmsix_load() in one -- its interrupts were dropped
 * instead of latched and delivered at the commit (libmsix_begin()).
 */
START_TEST(test_V23_notify_latches_while_going_live_in_transaction)
{
	struct tdev t = tdev_new(4);
	size_t len = libmsix_save_size(t.dev);
	uint8_t *blob = malloc(len);

	ck_assert_ptr_nonnull(blob);
	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(libmsix_save(t.dev, blob, len), (long)len);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 2), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_vector_use(t.dev, 2), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 1), 1);
	ck_assert_uint_eq(deliveries_of(&t, 2), 1);
	/* The same through a restore inside a transaction. */
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_load(t.dev, blob, len), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 1), 1);
	views_agree(&t);
	free(blob);
	tdev_free(&t);
}
END_TEST

/*
 * Regression, same find: a vector disabled and re-enabled (or unused and
 * used again) inside one transaction never had its host vector masked, and
 * the route kept the message the guest rewrote while MSI-X was off.
 */
START_TEST(test_V24_route_follows_reenable_inside_transaction)
{
	struct tdev t = tdev_new(4);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_int_eq(tbl_write(&t, 16 + 8, 4, 0x7373), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(routed_data(&t, 1), 0x7373);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 1), 0);
	ck_assert_int_eq(tbl_write(&t, 16 + 8, 4, 0x7474), 0);
	ck_assert_int_eq(libmsix_vector_use(t.dev, 1), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(routed_data(&t, 1), 0x7474);
	views_agree(&t);
	tdev_free(&t);
}
END_TEST

static void *take_lock(void *arg)
{
	struct libmsix_vector_info info;

	/* vector_info takes the device lock. */
	return (void *)(intptr_t)libmsix_get_vector_info(arg, 0, &info);
}

/*
 * Regression (V22 class: a bound that wraps), found by fuzz/fuzz_msix.c:
 * at the nesting limit of libmsix_begin(), every entry point's own inner
 * transaction failed to open but was still closed, so each guest access
 * or API call there decremented the VMM's depth: its commits then ended
 * the transaction early and the last one left the device lock held.
 */
START_TEST(test_V22_transaction_depth_limit_keeps_count)
{
	struct tdev t = tdev_new(4);
	struct timespec ts;
	pthread_t th;
	void *ret;

	linux_bringup(&t);
	for (int i = 0; i < 255; i++)
		ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), -EDEADLK);
	/* Entry points at the limit work and keep the count. */
	ck_assert_int_eq(libmsix_vector_unuse_all(t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(t.dev), 0);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), -EDEADLK);
	libmsix_recorder_clear(t.rec);
	for (int i = 0; i < 254; i++)
		ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 1), HOST_BITS);
	ck_assert_int_eq(libmsix_commit(t.dev), -EPERM);
	/* And the lock is free for another thread. */
	ck_assert_int_eq(pthread_create(&th, NULL, take_lock, t.dev), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	ck_assert_int_eq(pthread_timedjoin_np(th, &ret, &ts), 0);
	ck_assert_ptr_null(ret);
	tdev_free(&t);
}
END_TEST

static Suite *security_suite(void)
{
	Suite *s = suite_create("security");
	TCase *tc = tcase_create("security");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_V1_pba_write_cve_2015_7549);
	tcase_add_test(tc, test_V2_mismatched_size_cve_2020_13754);
	tcase_add_test(tc, test_V3_qword_access);
	tcase_add_test(tc, test_V4_mask_bit_after_reset);
	tcase_add_test(tc, test_V5_route_failure_no_abort);
	tcase_add_test(tc, test_V7_straddling_config_write_xsa128);
	tcase_add_test(tc, test_V8_guest_mask_is_virtual_xsa129);
	tcase_add_test(tc, test_V9_log_flood_bounded);
	tcase_add_test(tc, test_V10_config_default_deny_xsa131);
	tcase_add_test(tc, test_V11_table_write_past_n_xsa164);
	tcase_add_test(tc, test_V12_misaligned_read_no_leak);
	tcase_add_test(tc, test_V13_geometry_frozen);
	tcase_add_test(tc, test_V14_pba_access_rules);
	tcase_add_test(tc, test_V15_pba_other_bar_overlapping_offset);
	tcase_add_test(tc, test_V16_oversized_geometry_rejected);
	tcase_add_test(tc, test_V17_odd_size_table_write_no_abort);
	tcase_add_test(tc, test_V18_guest_indices);
	tcase_add_test(tc, test_V19_ch_msgctl_mask_and_dword_write);
	tcase_add_test(tc, test_V20_qsize_eleven_bits);
	tcase_add_test(tc, test_V21_tampered_snapshot);
	tcase_add_test(tc, test_V21_load_into_live_device_reroutes);
	tcase_add_test(tc, test_V22_range_overflow);
	tcase_add_test(tc, test_V22_transaction_depth_limit_keeps_count);
	tcase_add_test(tc, test_V23_trigger_before_configured);
	tcase_add_test(tc, test_V23_old_abi_backend_poll_slot_not_read);
	tcase_add_test(tc, test_V23_notify_latches_while_going_live_in_transaction);
	tcase_add_test(tc, test_V24_guest_values_reach_backend_only_via_route);
	tcase_add_test(tc, test_V24_route_follows_unmask_inside_transaction);
	tcase_add_test(tc, test_V24_route_follows_reenable_inside_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(security_suite());
}
