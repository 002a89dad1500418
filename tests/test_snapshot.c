/* SPDX-License-Identifier: MIT */
/* Snapshots: round trip, pending bits survive, hostile blobs change nothing. */
#include "helpers.h"

static void *save(struct tdev *t, size_t *len)
{
	size_t size = libmsix_save_size(t->dev);
	void *buf = malloc(size);
	long n;

	ck_assert_ptr_nonnull(buf);
	n = libmsix_save(t->dev, buf, size);
	ck_assert_int_eq(n, (long)size);
	*len = size;
	return buf;
}

/* Every guest-visible register and the use counts, for comparison. */
static void state_of(struct tdev *t, uint32_t *out)
{
	for (uint32_t v = 0; v < t->n; v++) {
		struct libmsix_vector_info info;

		ck_assert_int_eq(libmsix_get_vector_info(t->dev, v, &info), 0);
		out[5 * v] = (uint32_t)info.msg.address;
		out[5 * v + 1] = (uint32_t)(info.msg.address >> 32);
		out[5 * v + 2] = info.msg.data;
		out[5 * v + 3] = info.vector_control | info.pending << 8;
		out[5 * v + 4] = info.use_count;
	}
}

START_TEST(test_snapshot_round_trip_replays_pending_once)
{
	struct tdev src = tdev_new(65), dst;
	struct libmsix_config cfg = test_config(65);
	uint32_t a[65 * 5], b[65 * 5];
	size_t len;
	void *blob;

	linux_bringup(&src);
	ck_assert_int_eq(set_vmask(&src, 3, false), 0);
	ck_assert_int_eq(libmsix_notify(src.dev, 64), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_vector_use(src.dev, 10), 0);
	/* Vector 3 live; 64 masked with pending; Function Mask on, so 3's
	 * interrupt latches too. */
	ck_assert_int_eq(set_msgctl(&src, PCI_MSIX_FLAGS_ENABLE |
						  PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(libmsix_notify(src.dev, 3), LIBMSIX_LATCHED);
	blob = save(&src, &len);

	/* The destination has no uses of its own: they travel in the blob. */
	ck_assert_int_eq(libmsix_recorder_create(0, 0,
						 &dst.rec), 0);
	ck_assert_int_eq(libmsix_dev_create(&cfg,
					    libmsix_recorder_backend(dst.rec),
					    &dst.dev), 0);
	dst.n = 65;
	ck_assert_int_eq(libmsix_load(dst.dev, blob, len), 0);
	state_of(&src, a);
	state_of(&dst, b);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert(libmsix_function_masked(dst.dev));
	ck_assert_uint_eq(deliveries(&dst), 0);
	/* Clearing Function Mask delivers 3 once; 64 stays latched. */
	ck_assert_int_eq(set_msgctl(&dst, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(deliveries(&dst), 1);
	ck_assert_uint_eq(deliveries_of(&dst, 3), 1);
	ck_assert(pba_bit(&dst, 64));
	free(blob);
	tdev_free(&src);
	tdev_free(&dst);
}
END_TEST

START_TEST(test_snapshot_restore_is_one_commit)
{
	struct tdev src = tdev_new(64), dst = tdev_new(64);
	size_t len;
	void *blob;

	linux_bringup(&src);
	for (uint32_t v = 0; v < 64; v++)
		ck_assert_int_eq(set_vmask(&src, v, false), 0);
	blob = save(&src, &len);
	libmsix_recorder_clear(dst.rec);
	ck_assert_int_eq(libmsix_load(dst.dev, blob, len), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(dst.rec, LIBMSIX_REC_COMMIT), 1);
	ck_assert_uint_eq(libmsix_recorder_count_kind(dst.rec, LIBMSIX_REC_ROUTE), 64);
	ck_assert_int_eq(libmsix_notify(dst.dev, 63), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(last_delivery(&dst)->msg.data, test_data(63));
	free(blob);
	tdev_free(&src);
	tdev_free(&dst);
}
END_TEST

/*
 * A restore with nothing for the host to do (Enable on, every vector masked,
 * a live-resize backend, so the auto policy allocates at first unmask)
 * stages nothing and so makes no backend op and no commit; the first unmask
 * afterwards is an ordinary one-commit bring-up.
 */
START_TEST(test_snapshot_restore_with_nothing_live_makes_no_commit)
{
	struct tdev src = tdev_new(64), dst = tdev_new(64);
	size_t len;
	void *blob;

	linux_bringup(&src);
	ck_assert_int_eq(libmsix_notify(src.dev, 9), LIBMSIX_LATCHED);
	blob = save(&src, &len);
	libmsix_recorder_clear(dst.rec);
	ck_assert_int_eq(libmsix_load(dst.dev, blob, len), 0);
	ck_assert_uint_eq(libmsix_recorder_count(dst.rec), 0);
	ck_assert(libmsix_enabled(dst.dev));
	ck_assert(pba_bit(&dst, 9));
	ck_assert_int_eq(set_vmask(&dst, 9, false), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(dst.rec, LIBMSIX_REC_COMMIT), 1);
	ck_assert_uint_eq(deliveries_of(&dst, 9), 1);
	ck_assert(!pba_bit(&dst, 9));
	free(blob);
	tdev_free(&src);
	tdev_free(&dst);
}
END_TEST

/* Load @blob into a used, configured device: must fail and change nothing. */
static void expect_rejected(struct tdev *t, const uint8_t *blob, size_t len)
{
	uint32_t before[65 * 5], after[65 * 5];
	size_t ops = libmsix_recorder_count(t->rec);

	state_of(t, before);
	ck_assert_int_eq(libmsix_load(t->dev, blob, len), -EINVAL);
	state_of(t, after);
	ck_assert_mem_eq(before, after, sizeof(before));
	ck_assert_uint_eq(libmsix_recorder_count(t->rec), ops);
}

static void poke32(uint8_t *b, size_t off, uint32_t v)
{
	memcpy(b + off, &v, 4); /* the tests run little-endian */
}

START_TEST(test_snapshot_malformed_blobs_change_nothing)
{
	struct tdev t = tdev_new(65);
	uint8_t *blob, *bad;
	size_t len;

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	blob = save(&t, &len);
	bad = malloc(len + 8);
	ck_assert_ptr_nonnull(bad);

	/* Every truncation, and one byte too many. */
	for (size_t l = 0; l < len; l += (l < 64 ? 1 : 97))
		expect_rejected(&t, blob, l);
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_rejected(&t, bad, len + 1);

#define MUTATE(off, val)                     \
	do {                                 \
		memcpy(bad, blob, len);      \
		poke32(bad, (off), (val));   \
		expect_rejected(&t, bad, len); \
	} while (0)
	MUTATE(0, 0x12345678);			/* magic */
	MUTATE(4, 2 | 24u << 16);		/* version */
	MUTATE(4, 1 | 16u << 16);		/* header size */
	MUTATE(8, 64);				/* N */
	MUTATE(8, 0xffffffff);			/* N overflow */
	MUTATE(12, 0x8);			/* unknown flag */
	MUTATE(16, 1);				/* reserved */
	MUTATE(24 + 16 * 5, 0xfee00003);	/* R15 address bits 1:0 */
	MUTATE(24 + 16 * 5 + 12, 0x10001);	/* R19 Vector Control bits */
	/* R21: PBA bit 65 (no entry) set. */
	memcpy(bad, blob, len);
	bad[len - 8 + 1] |= 0x2;
	expect_rejected(&t, bad, len);
#undef MUTATE

	/* A blob of another size of device. */
	{
		struct tdev other = tdev_new(64);
		size_t olen;
		void *oblob = save(&other, &olen);

		expect_rejected(&t, oblob, olen);
		free(oblob);
		tdev_free(&other);
	}
	free(bad);
	free(blob);
	tdev_free(&t);
}
END_TEST

START_TEST(test_snapshot_random_mutations_never_crash)
{
	struct tdev t = tdev_new(65);
	uint8_t *blob, *bad;
	uint32_t seed = 12345;
	size_t len;

	linux_bringup(&t);
	blob = save(&t, &len);
	bad = malloc(len);
	ck_assert_ptr_nonnull(bad);
	for (int i = 0; i < 2000; i++) {
		memcpy(bad, blob, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			bad[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));
		}
		/* Either accepted (a valid blob) or rejected; never a crash,
		 * and never a contract violation at the backend. */
		int err = libmsix_load(t.dev, bad, len);

		ck_assert(err == 0 || err == -EINVAL);
	}
	ck_assert_uint_eq(libmsix_recorder_violations(t.rec), 0);
	free(bad);
	free(blob);
	tdev_free(&t);
}
END_TEST

START_TEST(test_snapshot_bad_arguments)
{
	struct tdev t = tdev_new(4);
	uint8_t small[8];

	ck_assert_int_eq(libmsix_save(NULL, small, sizeof(small)), -EINVAL);
	ck_assert_int_eq(libmsix_save(t.dev, NULL, 100), -EINVAL);
	ck_assert_int_eq(libmsix_save(t.dev, small, sizeof(small)), -ENOSPC);
	ck_assert_int_eq(libmsix_load(t.dev, NULL, 0), -EINVAL);
	ck_assert_uint_eq(libmsix_save_size(NULL), 0);
	ck_assert_uint_eq(libmsix_save_size(t.dev), 24 + 18 * 4 + 8);
	tdev_free(&t);
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_add_test(tc, test_snapshot_round_trip_replays_pending_once);
	tcase_add_test(tc, test_snapshot_restore_is_one_commit);
	tcase_add_test(tc, test_snapshot_restore_with_nothing_live_makes_no_commit);
	tcase_add_test(tc, test_snapshot_malformed_blobs_change_nothing);
	tcase_add_test(tc, test_snapshot_random_mutations_never_crash);
	tcase_add_test(tc, test_snapshot_bad_arguments);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(snapshot_suite());
}
