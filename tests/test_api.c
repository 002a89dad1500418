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

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("size");

	tcase_add_test(tc, test_size_of_config);
	tcase_add_test(tc, test_size_of_backend_ops);
	tcase_add_test(tc, test_size_of_recorder_rule);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
