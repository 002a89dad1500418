/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: a device on a recording backend in a standard layout,
 * and guest-side accessors that go through the public API exactly as a VMM's
 * MMIO and config handlers would.
 *
 * Standard layout: capability at config 0x50; table in BAR 0 at 0; PBA in
 * BAR 0 at TEST_PBA_OFFSET(n), the page after the table; BAR 0 is a 64-bit
 * memory BAR large enough for both.
 */
#ifndef LIBMSIX_TEST_HELPERS_H
#define LIBMSIX_TEST_HELPERS_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "libmsix.h"

#define TEST_CAP 0x50u
#define TEST_PAGE 4096u
/* The table rounded up to whole pages; the PBA starts there. */
#define TEST_PBA_OFFSET(n) ((((n) * 16u) + TEST_PAGE - 1) / TEST_PAGE * TEST_PAGE)
#define TEST_BAR_SIZE(n) (TEST_PBA_OFFSET(n) + TEST_PAGE)

struct tdev {
	struct libmsix_recorder *rec;
	struct libmsix_dev *dev;
	uint32_t n;
};

static inline struct libmsix_config test_config(uint32_t n)
{
	struct libmsix_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = TEST_CAP;
	cfg.table_bir = 0;
	cfg.table_offset = 0;
	cfg.pba_bir = 0;
	cfg.pba_offset = TEST_PBA_OFFSET(n);
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[0] = TEST_BAR_SIZE(n);
	cfg.policy = LIBMSIX_POLICY_LAZY;
	return cfg;
}

/* A device with @n vectors on a recorder with @be_flags, every vector used. */
static inline struct tdev tdev_new_cfg(const struct libmsix_config *cfg,
				       uint32_t be_flags, uint32_t budget)
{
	struct tdev t = { .n = cfg->nr_vectors };

	ck_assert_int_eq(libmsix_recorder_create(be_flags, budget, &t.rec), 0);
	ck_assert_int_eq(libmsix_dev_create(cfg, libmsix_recorder_backend(t.rec),
					    &t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(t.dev), 0);
	return t;
}

static inline struct tdev tdev_new(uint32_t n)
{
	struct libmsix_config cfg = test_config(n);

	return tdev_new_cfg(&cfg, 0, 0);
}

static inline void tdev_free(struct tdev *t)
{
	ck_assert_int_eq(libmsix_dev_destroy(t->dev), 0);
	ck_assert_uint_eq(libmsix_recorder_violations(t->rec), 0);
	libmsix_recorder_destroy(t->rec);
}

/*
 * A public struct that begins with its own size_t size, as a newer header
 * would have it: the @n bytes of @s, then @tail more bytes, all 0 but the
 * last, which is @last. .size says n + tail. free() it.
 */
static inline void *grown_struct(const void *s, size_t n, size_t tail,
				 unsigned char last)
{
	unsigned char *b = (unsigned char *)calloc(1, n + tail);

	ck_assert_ptr_nonnull(b);
	memcpy(b, s, n);
	*(size_t *)(void *)b = n + tail;
	b[n + tail - 1] = last;
	return b;
}

/* Guest accesses. */
static inline uint32_t cfg_read(struct tdev *t, uint32_t off, uint32_t size)
{
	uint32_t v = 0;

	ck_assert_int_eq(libmsix_config_read(t->dev, off, size, &v), 0);
	return v;
}

static inline int cfg_write(struct tdev *t, uint32_t off, uint32_t size,
			    uint32_t val)
{
	return libmsix_config_write(t->dev, off, size, val);
}

/* Message Control as a 16-bit word write at cap + 2. */
static inline int set_msgctl(struct tdev *t, uint16_t bits)
{
	return cfg_write(t, TEST_CAP + PCI_MSIX_FLAGS, 2, bits);
}

static inline uint64_t tbl_read(struct tdev *t, uint64_t off, uint32_t size)
{
	uint64_t v = 0;

	ck_assert_int_eq(libmsix_mmio_read(t->dev, 0, off, size, &v), 0);
	return v;
}

static inline int tbl_write(struct tdev *t, uint64_t off, uint32_t size,
			    uint64_t val)
{
	return libmsix_mmio_write(t->dev, 0, off, size, val);
}

static inline uint64_t pba_read(struct tdev *t, uint32_t qword)
{
	return tbl_read(t, TEST_PBA_OFFSET(t->n) + 8u * qword, 8);
}

static inline bool pba_bit(struct tdev *t, uint32_t v)
{
	return (pba_read(t, v / 64) >> (v % 64)) & 1;
}

/* Program entry @v's message with DWORD writes, as Linux does. */
static inline void set_msg(struct tdev *t, uint32_t v, uint64_t addr,
			   uint32_t data)
{
	ck_assert_int_eq(tbl_write(t, 16u * v, 4, (uint32_t)addr), 0);
	ck_assert_int_eq(tbl_write(t, 16u * v + 4, 4, (uint32_t)(addr >> 32)), 0);
	ck_assert_int_eq(tbl_write(t, 16u * v + 8, 4, data), 0);
}

static inline int set_vmask(struct tdev *t, uint32_t v, bool masked)
{
	return tbl_write(t, 16u * v + 12, 4, masked ? 1 : 0);
}

/* The message a vector is programmed with in these tests. */
static inline uint64_t test_addr(uint32_t v)
{
	return 0xfee00000u | (v % 256) << 12;
}

static inline uint32_t test_data(uint32_t v)
{
	return 0x4000u + v;
}

/* Linux's bring-up: Enable|Function Mask, mask all, program, clear FM. */
static inline void linux_bringup(struct tdev *t)
{
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	for (uint32_t v = 0; v < t->n; v++) {
		ck_assert_int_eq(set_vmask(t, v, true), 0);
		set_msg(t, v, test_addr(v), test_data(v));
	}
	ck_assert_int_eq(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE), 0);
}

/* Deliveries recorded since the last recorder_clear. */
static inline size_t deliveries(struct tdev *t)
{
	return libmsix_recorder_count_kind(t->rec, LIBMSIX_REC_DELIVER);
}

/* Deliveries of vector @v with its test message. */
static inline size_t deliveries_of(struct tdev *t, uint32_t v)
{
	size_t n = 0, total = libmsix_recorder_count(t->rec);

	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		if (op->kind == LIBMSIX_REC_DELIVER && op->start == v)
			n++;
	}
	return n;
}

static inline const struct libmsix_rec_op *last_delivery(struct tdev *t)
{
	size_t total = libmsix_recorder_count(t->rec);

	while (total--) {
		const struct libmsix_rec_op *op =
			libmsix_recorder_op(t->rec, total);

		if (op->kind == LIBMSIX_REC_DELIVER)
			return op;
	}
	return NULL;
}

/* File descriptors this process has open now (leak checks). */
static inline int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* Run one suite; exit status for CTest. */
/*
 * A log sink that keeps the last line (test_log_last()) and counts lines
 * (test_log_count()), for configs whose opaque belongs to another callback.
 */
static inline char *test_log_last(void)
{
	static char last[1024];

	return last;
}

static inline unsigned *test_log_count(void)
{
	static unsigned n;

	return &n;
}

static inline void test_log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(test_log_last(), 1024, "%s", msg);
	(*test_log_count())++;
}

static inline void test_log_clear(void)
{
	test_log_last()[0] = 0;
	*test_log_count() = 0;
}

/* Whether the last line logged holds @a, and @b unless it is NULL. */
static inline bool test_logged(const char *a, const char *b)
{
	const char *last = test_log_last();

	return strstr(last, a) && (!b || strstr(last, b));
}

static inline const char *test_or_empty(const char *s)
{
	return s ? s : "";
}

#define assert_test_logged(a, b)                                             \
	ck_assert_msg(test_logged((a), (b)),                                   \
		      "expected \"%s\" and \"%s\" in the log, got \"%s\"", (a), \
		      test_or_empty(b), test_log_last())

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* LIBMSIX_TEST_HELPERS_H */
