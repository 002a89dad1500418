/* SPDX-License-Identifier: MIT */
/*
 * The version: libmsix_version() of the library the test runs with is the
 * LIBMSIX_VERSION the header announces (CMake checks that the header agrees
 * with project(VERSION)), and LIBMSIX_VERSION_CODE() orders versions.
 */
#include <check.h>

#include "helpers.h"
#include "libmsix.h"

START_TEST(test_version_runtime_matches_header)
{
	uint32_t v = libmsix_version();

	ck_assert_uint_eq(v, LIBMSIX_VERSION);
	ck_assert_uint_eq(v >> 16, LIBMSIX_VERSION_MAJOR);
	ck_assert_uint_eq((v >> 8) & 0xff, LIBMSIX_VERSION_MINOR);
	ck_assert_uint_eq(v & 0xff, LIBMSIX_VERSION_PATCH);
	ck_assert_uint_eq(v >> 24, 0);
}
END_TEST

START_TEST(test_version_code_orders_versions)
{
	ck_assert_uint_lt(LIBMSIX_VERSION_CODE(0, 1, 255), LIBMSIX_VERSION_CODE(0, 2, 0));
	ck_assert_uint_lt(LIBMSIX_VERSION_CODE(0, 255, 255), LIBMSIX_VERSION_CODE(1, 0, 0));
	ck_assert_uint_lt(LIBMSIX_VERSION_CODE(1, 2, 3), LIBMSIX_VERSION_CODE(1, 2, 4));
	ck_assert_uint_eq(LIBMSIX_VERSION_CODE(1, 2, 3), 0x010203u);
}
END_TEST

static Suite *version_suite(void)
{
	Suite *s = suite_create("version");
	TCase *tc = tcase_create("version");

	tcase_add_test(tc, test_version_runtime_matches_header);
	tcase_add_test(tc, test_version_code_orders_versions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(version_suite());
}
