/* SPDX-License-Identifier: MIT */
/*
 * The guest test programs' verdict: every check prints "ok: ..." or
 * "FAIL: ..." on a line of its own (the harness greps them), and failures
 * counts the FAILs for the exit status. One per program.
 */
#ifndef LIBMSIX_GUEST_CHECK_H
#define LIBMSIX_GUEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                     \
	do {                                                 \
		if (!(cond)) {                               \
			failures++;                          \
			printf("FAIL: " __VA_ARGS__);        \
		} else {                                     \
			printf("ok: " __VA_ARGS__);          \
		}                                            \
		printf("\n");                                \
	} while (0)

#endif
