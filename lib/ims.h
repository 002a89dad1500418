/* SPDX-License-Identifier: MIT */
/*
 * What the IMS backend (lib/ims.c) and the software IMS device
 * (lib/soft-ims.c) agree on about a slot's content.
 */
#ifndef LIBMSIX_IMS_PRIVATE_H
#define LIBMSIX_IMS_PRIVATE_H

#include <stdbool.h>

#include "libmsix-ims.h"

/* A slot at reset and after release: masked, no message, cookie 0. */
static const struct libmsix_ims_entry lmx_ims_reset_entry = { .masked = true };

/* Same message and cookie (the mask bit aside). */
static inline bool lmx_ims_same_msg(const struct libmsix_ims_entry *a,
				    const struct libmsix_ims_entry *b)
{
	return a->address == b->address && a->data == b->data &&
	       a->cookie == b->cookie;
}

#endif /* LIBMSIX_IMS_PRIVATE_H */
