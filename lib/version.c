/* SPDX-License-Identifier: MIT */
/*
 * libmsix_version(): the version this library was built as, from the
 * LIBMSIX_VERSION_* macros of the header it was compiled with (checked
 * against project(VERSION) at configure time).
 */
#include "libmsix.h"

uint32_t libmsix_version(void)
{
	return LIBMSIX_VERSION;
}
