/* SPDX-License-Identifier: MIT */
/*
 * The public API's argument contract: the .size of the structs that carry
 * one (an older, smaller struct is accepted and its missing members read
 * as 0; a newer, larger one is refused with -E2BIG when a byte this
 * library does not know is set, as libbpf does), and the log line that
 * names the argument and the rule of a refusal.
 */
#include <stdio.h>
#include <syslog.h>

#include "helpers.h"

static char logged[1024];
static unsigned nlogged;

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	nlogged++;
	snprintf(logged, sizeof(logged), "%s", msg);
}

static struct libmsix_config logged_config(uint32_t n)
{
	struct libmsix_config cfg = test_config(n);

	cfg.log = log_cb;
	cfg.log_level = LOG_DEBUG;
	logged[0] = 0;
	nlogged = 0;
	return cfg;
}

static void assert_logged(const char *a, const char *b)
{
	ck_assert_msg(strstr(logged, a) && (!b || strstr(logged, b)),
		      "expected \"%s\"%s%s%s in the log, got \"%s\"", a,
		      b ? " and \"" : "", b ? b : "", b ? "\"" : "", logged);
}

START_TEST(test_size_of_config)
{
	struct libmsix_recorder *rec;
	struct libmsix_backend *be;
	struct libmsix_config cfg = logged_config(4);
	struct libmsix_dev *dev = NULL;
	void *g;

	ck_assert_int_eq(libmsix_recorder_create(0, 0, &rec), 0);
	be = libmsix_recorder_backend(rec);

	/* An older header without the last member (opaque): accepted. */
	cfg.size = offsetof(struct libmsix_config, opaque);
	ck_assert_int_eq(libmsix_dev_create(&cfg, be, &dev), 0);
	ck_assert_int_eq(libmsix_dev_destroy(dev), 0);
	/* One without intx and log either: the missing log reads as NULL. */
	cfg.size = offsetof(struct libmsix_config, log);
	cfg.nr_vectors = 0;
	ck_assert_int_eq(libmsix_dev_create(&cfg, be, &dev), -EINVAL);
	ck_assert_uint_eq(nlogged, 0);
	cfg = logged_config(4);
	/* Not even .size itself. */
	cfg.size = sizeof(size_t) - 1;
	ck_assert_int_eq(libmsix_dev_create(&cfg, be, &dev), -EINVAL);
	cfg.size = sizeof(cfg);

	/* A newer header: zero tail accepted, a set byte refused. */
	g = grown_struct(&cfg, sizeof(cfg), 16, 0);
	ck_assert_int_eq(libmsix_dev_create(g, be, &dev), 0);
	ck_assert_int_eq(libmsix_dev_destroy(dev), 0);
	free(g);
	g = grown_struct(&cfg, sizeof(cfg), 16, 0x80);
	dev = NULL;
	ck_assert_int_eq(libmsix_dev_create(g, be, &dev), -E2BIG);
	ck_assert_ptr_null(dev);
	assert_logged("cfg->size", "not all 0");
	free(g);
	libmsix_recorder_destroy(rec);
}
END_TEST

static int null_deliver(struct libmsix_backend *be, uint32_t v,
			const struct libmsix_msg *msg)
{
	return 0;
}

/* Ops tables: one older than poll is read up to deliver; a newer one's
 * ops this library would never call must be NULL. */
START_TEST(test_size_of_backend_ops)
{
	struct big_ops {
		struct libmsix_backend_ops ops;
		void (*future_op)(void);
	} big = { .ops = { .size = sizeof(big), .deliver = null_deliver } };
	struct libmsix_backend be = { .ops = &big.ops };
	struct libmsix_config cfg = logged_config(4);
	struct libmsix_dev *dev = NULL;

	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), 0);
	ck_assert_int_eq(libmsix_dev_destroy(dev), 0);
	big.future_op = (void (*)(void))null_deliver;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), -E2BIG);
	assert_logged("be->ops->size", "not all NULL");
	big.ops.size = offsetof(struct libmsix_backend_ops, poll);
	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), 0);
	ck_assert_int_eq(libmsix_dev_destroy(dev), 0);
	big.ops.size = offsetof(struct libmsix_backend_ops, poll) - 1;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), -EINVAL);
	assert_logged("be->ops->size", "oldest");
	big.ops.size = sizeof(big.ops);
	big.ops.deliver = NULL;
	ck_assert_int_eq(libmsix_dev_create(&cfg, &be, &dev), -EINVAL);
	assert_logged("be->ops->deliver", NULL);
	ck_assert_int_eq(libmsix_dev_create(&cfg, NULL, &dev), -EINVAL);
	assert_logged("be is NULL", NULL);
}
END_TEST

START_TEST(test_size_of_recorder_rule)
{
	struct libmsix_recorder *rec;
	struct libmsix_rec_rule r = { .size = sizeof(r), .err = -EIO,
				      .vector = LIBMSIX_REC_ANY_VECTOR };
	void *g;

	ck_assert_int_eq(libmsix_recorder_create(0, 0, &rec), 0);
	g = grown_struct(&r, sizeof(r), 8, 0);
	ck_assert_int_eq(libmsix_recorder_add_rule(rec, g), 0);
	free(g);
	g = grown_struct(&r, sizeof(r), 8, 1);
	ck_assert_int_eq(libmsix_recorder_add_rule(rec, g), -E2BIG);
	free(g);
	r.size = 2;
	ck_assert_int_eq(libmsix_recorder_add_rule(rec, &r), -EINVAL);
	libmsix_recorder_destroy(rec);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Every -EINVAL says which argument broke which rule                        */
/* ------------------------------------------------------------------------ */

static struct tdev logged_dev(uint32_t n)
{
	struct libmsix_config cfg = logged_config(n);

	return tdev_new_cfg(&cfg, 0, 0);
}

START_TEST(test_einval_names_argument_and_rule)
{
	struct tdev t = logged_dev(8);
	uint32_t v32;
	uint64_t v64;

	ck_assert_int_eq(libmsix_notify(t.dev, 99), -EINVAL);
	assert_logged("libmsix_notify(): vector 99", "outside the table (0..7)");
	ck_assert_int_eq(libmsix_clear_pending(t.dev, 8), -EINVAL);
	assert_logged("libmsix_clear_pending(): vector 8", NULL);
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP, 3, &v32), -EINVAL);
	assert_logged("libmsix_config_read(): size 3", "1, 2 or 4");
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP, 4, NULL), -EINVAL);
	assert_logged("libmsix_config_read(): val is NULL", NULL);
	ck_assert_int_eq(libmsix_config_write(t.dev, TEST_CAP, 8, 0), -EINVAL);
	assert_logged("libmsix_config_write(): size 8", NULL);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 6, 0, 4, &v64), -EINVAL);
	assert_logged("libmsix_mmio_read(): bar 6", "0..5");
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, 0, 9, 0), -EINVAL);
	assert_logged("libmsix_mmio_write(): size 9", "1..8");
	ck_assert_int_eq(libmsix_vector_use(t.dev, 8), -EINVAL);
	assert_logged("libmsix_vector_use(): vector 8", NULL);
	ck_assert_int_eq(libmsix_vector_unuse_all(t.dev), 0);
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 2), -EINVAL);
	assert_logged("libmsix_vector_unuse(): vector 2", "already 0");
	ck_assert_int_eq(libmsix_get_vector_info(t.dev, 0, NULL), -EINVAL);
	assert_logged("libmsix_get_vector_info(): info is NULL", NULL);
	ck_assert_int_eq(libmsix_get_stats(t.dev, NULL), -EINVAL);
	assert_logged("libmsix_get_stats(): out is NULL", NULL);
	ck_assert_int_eq(libmsix_save(t.dev, NULL, 0), -EINVAL);
	assert_logged("libmsix_save(): buf is NULL", NULL);
	tdev_free(&t);
}
END_TEST

/* A VMM calling wrong in a loop does not flood the log either. */
START_TEST(test_einval_log_is_rate_limited)
{
	struct tdev t = logged_dev(8);

	for (int i = 0; i < 100000; i++)
		ck_assert_int_eq(libmsix_notify(t.dev, 8), -EINVAL);
	ck_assert_uint_le(nlogged, 4 + 17);
	ck_assert_uint_ge(nlogged, 4);
	tdev_free(&t);
}
END_TEST

/* A rejected snapshot names the field, and the rule it broke. */
START_TEST(test_rejected_snapshot_names_the_field)
{
	static const struct {
		size_t at;	/* byte offset in the blob */
		uint8_t x;	/* xor'ed into it */
		const char *a, *b;
	} bad[] = {
		{ 0, 0x01, "magic", NULL },
		{ 4, 0x01, "version word", NULL },
		{ 8, 0x01, "nr_vectors 9", "this device has 8" },
		{ 12, 0x80, "flags 0x", "unknown bits 0x80" },
		{ 16, 0x01, "reserved header words", NULL },
		{ 24 + 16 * 2, 0x02, "table entry 2", "bits 1:0" },
		{ 24 + 16 * 5 + 12, 0x04, "table entry 5", "Vector Control" },
		{ 24 + 16 * 8 + 16 + 1, 0x80, "PBA", "vectors 8 and up" },
	};
	struct tdev t = logged_dev(8);
	size_t sz = libmsix_save_size(t.dev);
	uint8_t *good = malloc(sz), *b = malloc(sz);

	ck_assert_ptr_nonnull(good);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(libmsix_save(t.dev, good, sz), (long)sz);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(b, good, sz);
		b[bad[i].at] ^= bad[i].x;
		ck_assert_int_eq(libmsix_load(t.dev, b, sz), -EINVAL);
		assert_logged("libmsix_load(): snapshot rejected", bad[i].a);
		assert_logged(bad[i].a, bad[i].b);
	}
	ck_assert_int_eq(libmsix_load(t.dev, good, sz - 1), -EINVAL);
	assert_logged("length", NULL);
	ck_assert_int_eq(libmsix_load(t.dev, good, sz), 0);
	free(good);
	free(b);
	tdev_free(&t);
}
END_TEST

/* Backend errors are logged as errno text, not numbers. */
START_TEST(test_backend_errors_logged_as_text)
{
	struct tdev t = logged_dev(8);
	char num[16];

	linux_bringup(&t);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EIO), 0);
	ck_assert_int_eq(set_vmask(&t, 3, false), -EIO);
	assert_logged("vector 3 stays blocked", strerror(EIO));
	snprintf(num, sizeof(num), "%d", -EIO);
	ck_assert_ptr_null(strstr(logged, num));
	tdev_free(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("size");

	tcase_add_test(tc, test_size_of_config);
	tcase_add_test(tc, test_size_of_backend_ops);
	tcase_add_test(tc, test_size_of_recorder_rule);
	suite_add_tcase(s, tc);
	tc = tcase_create("einval");
	tcase_add_test(tc, test_einval_names_argument_and_rule);
	tcase_add_test(tc, test_einval_log_is_rate_limited);
	tcase_add_test(tc, test_rejected_snapshot_names_the_field);
	tcase_add_test(tc, test_backend_errors_logged_as_text);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
