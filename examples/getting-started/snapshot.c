/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: save an emulated device's MSI-X state on the source of a
 * migration, load it on the destination. The blob is versioned and
 * little-endian, carries Enable, Function Mask, Bus Master, the table, the
 * use counts and the PBA, and is checked as hostile input when loaded.
 *
 * The device's backend here is the smallest one a device model can have:
 * only a deliver op (the README's "device model in 15 lines").
 */
#include <stddef.h>
#include <string.h>

#include <libmsix.h>

#include "guest.h"

#define NR_VECTORS 4u

/* Stands in for the VMM's injector (KVM_SIGNAL_MSI, an irqchip model). */
struct injector {
	struct libmsix_backend be;	/* embedded: container_of() finds us */
	unsigned int sent[NR_VECTORS];
};

static int inject(struct libmsix_backend *be, uint32_t vector,
		  const struct libmsix_msg *msg)
{
	struct injector *inj = (struct injector *)((char *)be -
		offsetof(struct injector, be));

	CHECK(msg->data == guest_data(vector));
	inj->sent[vector]++;
	return 0;
}

static const struct libmsix_backend_ops inject_ops = {
	.size = sizeof(inject_ops),
	.deliver = inject,
};

static const struct libmsix_config *config(void)
{
	static struct libmsix_config cfg;

	cfg = gs_config(NR_VECTORS);
	return &cfg;
}

static struct libmsix_dev *device(struct injector *inj)
{
	struct libmsix_dev *dev;

	*inj = (struct injector){ .be = { .ops = &inject_ops } };
	CHECK(libmsix_dev_create(config(), &inj->be, &dev) == 0);
	return dev;
}

int main(void)
{
	/* Source: vector 0 live; vector 2 masked with an interrupt waiting. */
	struct injector src_inj, dst_inj;
	struct libmsix_dev *src = device(&src_inj);
	struct guest g = guest_direct(src, config());

	for (uint32_t v = 0; v < NR_VECTORS; v++)
		CHECK(libmsix_vector_use(src, v) == 0);
	guest_bring_up(&g, NR_VECTORS);
	CHECK(guest_unmask(&g, 0) == 0);
	CHECK(libmsix_notify(src, 2) == LIBMSIX_LATCHED);

	/* Save. The VMM puts the blob in its own device-state stream. */
	size_t len = libmsix_save_size(src);
	uint8_t *blob = malloc(len);
	CHECK(blob && libmsix_save(src, blob, len) == (long)len);
	printf("snapshot: %zu bytes for %u vectors\n", len, NR_VECTORS);

	/* Destination: same geometry, no libmsix_vector_use() of its own --
	 * the use counts travel in the blob. */
	struct libmsix_dev *dst = device(&dst_inj);

	/* A tampered blob changes nothing (every field is checked first). */
	uint8_t *bad = malloc(len);
	CHECK(bad);
	memcpy(bad, blob, len);
	bad[16] ^= 1;				/* a reserved header field */
	CHECK(libmsix_load(dst, bad, len) == -EINVAL);
	CHECK(!libmsix_enabled(dst));
	free(bad);

	CHECK(libmsix_load(dst, blob, len) == 0);
	free(blob);
	g = guest_direct(dst, config());
	CHECK(libmsix_enabled(dst));
	CHECK(guest_pending(&g, 2) == 1);	/* still waiting */
	CHECK(libmsix_notify(dst, 0) == LIBMSIX_DELIVERED);
	/* The guest on the destination unmasks vector 2: delivered once. */
	CHECK(guest_unmask(&g, 2) == 0);
	CHECK(dst_inj.sent[0] == 1 && dst_inj.sent[2] == 1);
	CHECK(guest_pending(&g, 2) == 0);

	libmsix_dev_destroy(src);
	libmsix_dev_destroy(dst);
	printf("snapshot: ok\n");
	return 0;
}
