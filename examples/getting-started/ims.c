/* SPDX-License-Identifier: MIT */
/*
 * IMS-backed vectors: a guest sees an ordinary MSI-X capability with 8
 * vectors, and the device model backs each live one with a slot of an
 * Interrupt Message Store that has only 4. A slot holds (address, data,
 * cookie, mask); the cookie here is the PASID the device tags its message
 * with.
 *
 * The store is libmsix's software IMS device (struct libmsix_soft_ims): a
 * device model or a variant driver that owns a real store implements
 * struct libmsix_ims_hw the same way. Linux has no in-kernel IMS since 6.10
 * (docs/ims.md).
 */
#include <libmsix.h>
#include <libmsix-ims.h>

#include "guest.h"

#define NR_VECTORS 8u
#define NR_SLOTS 4u
#define PASID 0x2a

/* Where the store's slots send their messages (the interrupt fabric). */
struct fabric {
	unsigned int messages;
	struct libmsix_msg last;
	uint64_t last_cookie;
};

static void fabric_sink(void *opaque, uint32_t slot,
			const struct libmsix_msg *msg, uint64_t cookie)
{
	struct fabric *f = opaque;

	(void)slot;
	f->messages++;
	f->last = *msg;
	f->last_cookie = cookie;
}

int main(void)
{
	struct fabric fabric = { 0 };
	struct libmsix_soft_ims *soft;
	CHECK(libmsix_soft_ims_create(NR_SLOTS, fabric_sink, &fabric, &soft) == 0);
	struct libmsix_ims_store *store;
	CHECK(libmsix_ims_store_create(libmsix_soft_ims_hw(soft), &store) == 0);

	/* One device on the store: all 4 slots reserved at creation, so a
	 * shortage fails here (-ENOSPC), not while the guest runs. */
	struct libmsix_ims_config icfg = {
		.size = sizeof(icfg),
		.nr_vectors = NR_VECTORS,
		.reserve = NR_SLOTS,
		.default_cookie = PASID,
	};
	struct libmsix_ims *ims;
	CHECK(libmsix_ims_create(store, &icfg, &ims) == 0);

	struct libmsix_config cfg = gs_config(NR_VECTORS);
	struct libmsix_dev *dev;
	CHECK(libmsix_dev_create(&cfg, libmsix_ims_backend(ims), &dev) == 0);
	CHECK(libmsix_vector_use_all(dev) == 0);

	struct guest g = guest_direct(dev, &cfg);
	guest_bring_up(&g, NR_VECTORS);
	/* Masked vectors hold no slot: only the two the guest unmasks do. */
	CHECK(guest_unmask(&g, 0) == 0);
	CHECK(guest_unmask(&g, 5) == 0);
	struct libmsix_ims_stats st;
	CHECK(libmsix_ims_get_stats(ims, &st) == 0);
	CHECK(st.held == 2);

	/* The device raises vector 5's slot: the slot itself sends the
	 * message, tagged with the PASID. */
	int slot = libmsix_ims_vector_slot(ims, 5);
	CHECK(slot >= 0);
	CHECK(libmsix_soft_ims_raise(soft, (uint32_t)slot) == LIBMSIX_DELIVERED);
	CHECK(fabric.messages == 1 && fabric.last.data == guest_data(5));
	CHECK(fabric.last_cookie == PASID);

	/* Masked by the guest, the slot latches; the guest's PBA shows it
	 * (libmsix reads the slot's pending bit), and the unmask sends it
	 * once. */
	CHECK(guest_mask(&g, 5) == 0);
	CHECK(libmsix_soft_ims_raise(soft, (uint32_t)slot) == LIBMSIX_LATCHED);
	CHECK(guest_pending(&g, 5) == 1);
	CHECK(guest_unmask(&g, 5) == 0);
	CHECK(fabric.messages == 2);

	/* A device model can raise a vector through libmsix as well. */
	CHECK(libmsix_notify(dev, 0) == LIBMSIX_DELIVERED);
	CHECK(fabric.messages == 3 && fabric.last.data == guest_data(0));

	struct libmsix_soft_ims_stats ss;
	CHECK(libmsix_soft_ims_get_stats(soft, &ss) == 0);
	printf("ims: %u vectors, %u slots, %u claimed; %u messages, "
	       "%llu slot-rule violations\n", NR_VECTORS, NR_SLOTS, ss.claimed,
	       fabric.messages, (unsigned long long)ss.violations);
	CHECK(ss.violations == 0);

	libmsix_dev_destroy(dev);
	libmsix_ims_destroy(ims);
	CHECK(libmsix_ims_store_destroy(store) == 0);
	libmsix_soft_ims_destroy(soft);
	printf("ims: ok\n");
	return 0;
}
