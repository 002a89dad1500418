/* SPDX-License-Identifier: MIT */
/* The lifecycle engine: policies, batching, rollback, replay. */
#include <pthread.h>

#include "helpers.h"

/* Unmask vectors 0..n-1 one at a time, as request_irq() does. */
static void unmask_ascending(struct tdev *t)
{
	for (uint32_t v = 0; v < t->n; v++)
		ck_assert_int_eq(set_vmask(t, v, false), 0);
}

START_TEST(test_lazy_unmask_allocates_one_vector)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ALLOC), 0);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_vmask(&t, 7, false), 0);
	/* alloc(7,1), route(7), unmask(7), one commit: nothing else. */
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 4);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 0)->kind, LIBMSIX_REC_ALLOC);
	ck_assert_uint_eq(libmsix_recorder_op(t.rec, 0)->start, 7);
	ck_assert_uint_eq(libmsix_recorder_op(t.rec, 0)->count, 1);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 1)->kind, LIBMSIX_REC_ROUTE);
	ck_assert_uint_eq(libmsix_recorder_op(t.rec, 1)->msg.data, test_data(7));
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 2)->kind, LIBMSIX_REC_UNMASK);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 3)->kind, LIBMSIX_REC_COMMIT);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 7),
			  LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED |
				  LIBMSIX_HOST_UNMASKED);
	ck_assert_int_eq(libmsix_notify(t.dev, 7), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(last_delivery(&t)->msg.address, test_addr(7));
	tdev_free(&t);
}
END_TEST

START_TEST(test_mask_keeps_route_and_host_vector)
{
	struct tdev t = tdev_new(4);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	/* mask(2) + commit only. */
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 2);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 0)->kind, LIBMSIX_REC_MASK);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	/* unmask(2) + commit: same message, no route update. */
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 2);
	ck_assert_int_eq(libmsix_recorder_op(t.rec, 0)->kind, LIBMSIX_REC_UNMASK);
	tdev_free(&t);
}
END_TEST

START_TEST(test_noresize_lazy_grows_by_one)
{
	struct libmsix_config cfg = test_config(16);
	struct libmsix_stats c;
	struct tdev t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);

	linux_bringup(&t);
	unmask_ascending(&t);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 15);
	ck_assert_uint_eq(c.host_vectors, 16);
	tdev_free(&t);
}
END_TEST

START_TEST(test_noresize_incremental_grows_geometrically)
{
	struct libmsix_config cfg = test_config(2048);
	struct libmsix_stats c;
	struct tdev t;

	cfg.policy = LIBMSIX_POLICY_INCREMENTAL;
	cfg.bar_size[0] = TEST_BAR_SIZE(2048);
	t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);
	linux_bringup(&t);
	libmsix_recorder_clear(t.rec);
	unmask_ascending(&t);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c), 0);
	/* 1 -> 2 -> 4 ... -> 2048: eleven growths, the first not disruptive. */
	ck_assert_uint_eq(c.disruptive_reenables, 11);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ALLOC), 12);
	ck_assert_uint_eq(c.host_vectors, 2048);
	/* Each growth replayed every vector that was live before it. */
	ck_assert_uint_eq(c.spurious_replays, 2047);
	tdev_free(&t);
}
END_TEST

START_TEST(test_noresize_auto_preallocates_used)
{
	struct libmsix_config cfg = test_config(64);
	struct libmsix_stats c;
	struct tdev t;

	cfg.policy = LIBMSIX_POLICY_AUTO;
	t = tdev_new_cfg(&cfg, LIBMSIX_BE_NORESIZE, 0);
	linux_bringup(&t);
	unmask_ascending(&t);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ALLOC), 1);
	ck_assert_uint_eq(c.host_vectors, 64);
	tdev_free(&t);
}
END_TEST

START_TEST(test_function_mask_clear_is_one_commit)
{
	struct tdev t = tdev_new(64);

	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	for (uint32_t v = 0; v < t.n; v++) {
		set_msg(&t, v, test_addr(v), test_data(v));
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	}
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT), 1);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_ALLOC), 1);
	ck_assert_uint_eq(deliveries(&t), 1);
	ck_assert_uint_eq(deliveries_of(&t, 5), 1);
	tdev_free(&t);
}
END_TEST

START_TEST(test_no_commit_when_nothing_changed)
{
	struct tdev t = tdev_new(4);

	linux_bringup(&t);
	libmsix_recorder_clear(t.rec);
	/* Rewriting the same values, and masked-entry programming. */
	ck_assert_int_eq(set_vmask(&t, 1, true), 0);
	set_msg(&t, 1, test_addr(9), test_data(9));
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	tdev_free(&t);
}
END_TEST

/*
 * The ops contract: no commit when nothing was staged. A deliver-only
 * backend has no mask, unmask, route or unroute op, so most of a bring-up
 * stages nothing on it -- and under NORESIZE it used to get a commit for
 * each of those accesses all the same.
 */
static void no_bare_commit(uint32_t be_flags, enum libmsix_policy policy)
{
	struct libmsix_config cfg = test_config(8);
	struct tdev t;
	size_t staged = 0, commits = 0;

	cfg.policy = policy;
	t = tdev_new_cfg(&cfg, be_flags | LIBMSIX_RECORDER_DELIVER_ONLY, 0);
	linux_bringup(&t);
	unmask_ascending(&t);
	for (uint32_t v = 0; v < t.n; v += 2)
		ck_assert_int_eq(set_vmask(&t, v, true), 0);
	unmask_ascending(&t);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	for (size_t i = 0; i < libmsix_recorder_count(t.rec); i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t.rec, i);

		switch (op->kind) {
		case LIBMSIX_REC_COMMIT:
			ck_assert_msg(staged > 0,
				      "flags 0x%x policy %s: commit (op %zu) with nothing staged",
				      be_flags, libmsix_policy_name(policy), i);
			staged = 0;
			commits++;
			break;
		case LIBMSIX_REC_DELIVER:
		case LIBMSIX_REC_POLL:
			break;
		default:
			staged++;
			break;
		}
	}
	/* It did allocate, and release at the disable. */
	ck_assert_uint_gt(commits, 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 0), 0);
	tdev_free(&t);
}

START_TEST(test_no_commit_when_nothing_staged)
{
	static const enum libmsix_policy p[] = {
		LIBMSIX_POLICY_AUTO, LIBMSIX_POLICY_LAZY,
		LIBMSIX_POLICY_PREALLOCATE, LIBMSIX_POLICY_INCREMENTAL,
	};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		no_bare_commit(LIBMSIX_BE_NORESIZE, p[i]);
		no_bare_commit(0, p[i]);
	}
}
END_TEST

/* Another thread's libmsix_commit() on @dev: its result. */
static void *commit_thread(void *arg)
{
	return (void *)(intptr_t)libmsix_commit(arg);
}

static int commit_elsewhere(struct libmsix_dev *dev)
{
	pthread_t th;
	void *ret;

	ck_assert_int_eq(pthread_create(&th, NULL, commit_thread, dev), 0);
	ck_assert_int_eq(pthread_join(th, &ret), 0);
	return (int)(intptr_t)ret;
}

/*
 * Misuse fails at once instead of hanging: a commit from a thread that did
 * not begin the transaction used to wait for ever for the lock its owner
 * holds (the test's timeout would catch that).
 */
START_TEST(test_commit_from_another_thread_is_eperm)
{
	struct tdev t = tdev_new(4);

	ck_assert_int_eq(commit_elsewhere(t.dev), -EPERM); /* none open */
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(commit_elsewhere(t.dev), -EPERM);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_int_eq(commit_elsewhere(t.dev), -EPERM);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT),
			  0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), -EPERM);
	ck_assert(libmsix_enabled(t.dev));
	tdev_free(&t);
}
END_TEST

struct tx_holder {
	struct libmsix_dev *dev;
	pthread_barrier_t opened, checked;
	int commit_ret;
};

static void *hold_transaction(void *arg)
{
	struct tx_holder *h = arg;

	ck_assert_int_eq(libmsix_begin(h->dev), 0);
	pthread_barrier_wait(&h->opened);
	pthread_barrier_wait(&h->checked);
	h->commit_ret = libmsix_commit(h->dev);
	return NULL;
}

/*
 * Destroying a device with a transaction open freed a mutex its owner
 * still held (or waited for ever for it): -EBUSY, and nothing changes.
 */
START_TEST(test_destroy_with_transaction_open_is_ebusy)
{
	struct tdev t = tdev_new(4);
	struct tx_holder h = { .dev = t.dev };
	pthread_t th;

	ck_assert_int_eq(libmsix_dev_destroy(NULL), 0);
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_dev_destroy(t.dev), -EBUSY);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert(libmsix_enabled(t.dev));

	/* The same while another thread holds the transaction. */
	pthread_barrier_init(&h.opened, NULL, 2);
	pthread_barrier_init(&h.checked, NULL, 2);
	ck_assert_int_eq(pthread_create(&th, NULL, hold_transaction, &h), 0);
	pthread_barrier_wait(&h.opened);
	ck_assert_int_eq(libmsix_dev_destroy(t.dev), -EBUSY);
	pthread_barrier_wait(&h.checked);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(h.commit_ret, 0);
	pthread_barrier_destroy(&h.opened);
	pthread_barrier_destroy(&h.checked);
	tdev_free(&t);
}
END_TEST

START_TEST(test_backend_failure_on_unmask_rolls_back)
{
	struct tdev t = tdev_new(4);
	struct libmsix_vector_info info;

	linux_bringup(&t);
	ck_assert_int_eq(libmsix_recorder_fail(t.rec, LIBMSIX_REC_COMMIT, 1,
					       -EBUSY), 0);
	ck_assert_int_eq(set_vmask(&t, 3, false), -EBUSY);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 3), 0);
	ck_assert_int_eq(libmsix_get_vector_info(t.dev, 3, &info), 0);
	ck_assert(!info.masked);
	ck_assert(!info.live);
	ck_assert_uint_eq(info.host, LIBMSIX_HOST_FAULT);
	/* Blocked: latches, PBA shows it, nothing lost. */
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 3));
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 3), 1);
	ck_assert(!pba_bit(&t, 3));
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_DELIVERED);
	tdev_free(&t);
}
END_TEST

START_TEST(test_budget_exhaustion_faults_not_asserts)
{
	struct libmsix_config cfg = test_config(8);
	struct tdev t = tdev_new_cfg(&cfg, 0, 2);
	struct libmsix_stats c;

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&t, 1, false), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), -ENOSPC);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_get_stats(t.dev, &c), 0);
	ck_assert_uint_eq(c.faults, 1);
	ck_assert_uint_eq(c.host_vectors, 2);
	/* Free one: the guest masks vector 0 and the device unuses it. */
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 0), 0);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_retry(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 2), 1);
	tdev_free(&t);
}
END_TEST

START_TEST(test_transaction_batches_restore)
{
	struct tdev t = tdev_new(32);

	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	for (uint32_t v = 0; v < t.n; v++) {
		set_msg(&t, v, test_addr(v), test_data(v));
		ck_assert_int_eq(set_vmask(&t, v, false), 0);
	}
	ck_assert_int_eq(libmsix_notify(t.dev, 9), LIBMSIX_LATCHED);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT), 1);
	ck_assert_uint_eq(deliveries_of(&t, 9), 1);
	ck_assert_int_eq(libmsix_commit(t.dev), -EPERM);
	tdev_free(&t);
}
END_TEST

START_TEST(test_disable_releases_everything)
{
	struct tdev t = tdev_new(8);

	linux_bringup(&t);
	unmask_ascending(&t);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	tdev_free(&t);
}
END_TEST

/*
 * On a backend with no per-vector op (an emulated device whose deliver
 * injects the MSI), once a vector is live, masking and unmasking it needs
 * nothing from the engine, and takes none of its path: no commit. It still
 * does everything the spec asks: latch while masked (R34), the PBA bit,
 * Vector Control reads back, one delivery on unmask with the message
 * written while masked (R35, R41), and Function Mask on top (R36).
 */
START_TEST(test_settled_vector_masks_without_the_engine)
{
	struct libmsix_config cfg = test_config(4);
	struct libmsix_vector_info info;
	struct tdev t = tdev_new_cfg(&cfg, LIBMSIX_RECORDER_DELIVER_ONLY,
				     0);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0); /* alloc + commit */
	ck_assert_uint_gt(libmsix_recorder_count(t.rec), 0);

	libmsix_recorder_clear(t.rec);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(set_vmask(&t, 2, true), 0);
		ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	}
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);

	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	ck_assert_uint_eq(tbl_read(&t, 16 * 2 + 12, 4), 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 2));
	set_msg(&t, 2, test_addr(9), test_data(9));
	ck_assert_int_eq(libmsix_get_vector_info(t.dev, 2, &info), 0);
	ck_assert(info.masked && info.pending && !info.live);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(tbl_read(&t, 16 * 2 + 12, 4), 0);
	ck_assert_uint_eq(deliveries(&t), 1);
	ck_assert_uint_eq(last_delivery(&t)->msg.address, test_addr(9));
	ck_assert_uint_eq(last_delivery(&t)->msg.data, test_data(9));
	ck_assert(!pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);

	/* Function Mask over a vector masked this way, then both cleared. */
	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_msgctl(&t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(deliveries(&t), 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);
	tdev_free(&t);
}
END_TEST

/*
 * The lock-free Vector Control write respects transactions: a vector
 * unmasked inside libmsix_begin()/libmsix_commit() latches its interrupts
 * until the commit and delivers them then, once, on a backend whose masks
 * otherwise take no lock. A mask inside a transaction still takes effect
 * at once.
 */
START_TEST(test_lock_free_unmask_waits_for_the_commit)
{
	struct libmsix_config cfg = test_config(4);
	struct tdev t = tdev_new_cfg(&cfg, LIBMSIX_RECORDER_DELIVER_ONLY,
				     0);

	linux_bringup(&t);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_int_eq(set_vmask(&t, 2, true), 0); /* lock-free */
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);

	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(deliveries(&t), 0);
	ck_assert(pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_uint_eq(deliveries(&t), 0);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 2), 1);
	ck_assert(!pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);

	/* Live before the transaction: a mask inside it blocks at once. */
	ck_assert_int_eq(libmsix_begin(t.dev), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);
	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_commit(t.dev), 0);
	ck_assert_uint_eq(deliveries_of(&t, 2), 3);
	/* And outside one, masking is lock-free again (no backend op). */
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(deliveries_of(&t, 2), 1);
	ck_assert_int_eq(set_vmask(&t, 2, true), 0);
	ck_assert_int_eq(set_vmask(&t, 2, false), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 1);
	tdev_free(&t);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");

	tcase_add_test(tc, test_lazy_unmask_allocates_one_vector);
	tcase_add_test(tc, test_mask_keeps_route_and_host_vector);
	tcase_add_test(tc, test_noresize_lazy_grows_by_one);
	tcase_add_test(tc, test_noresize_incremental_grows_geometrically);
	tcase_add_test(tc, test_noresize_auto_preallocates_used);
	tcase_add_test(tc, test_function_mask_clear_is_one_commit);
	tcase_add_test(tc, test_no_commit_when_nothing_changed);
	tcase_add_test(tc, test_no_commit_when_nothing_staged);
	tcase_add_test(tc, test_commit_from_another_thread_is_eperm);
	tcase_add_test(tc, test_destroy_with_transaction_open_is_ebusy);
	tcase_add_test(tc, test_backend_failure_on_unmask_rolls_back);
	tcase_add_test(tc, test_budget_exhaustion_faults_not_asserts);
	tcase_add_test(tc, test_transaction_batches_restore);
	tcase_add_test(tc, test_disable_releases_everything);
	tcase_add_test(tc, test_settled_vector_masks_without_the_engine);
	tcase_add_test(tc, test_lock_free_unmask_waits_for_the_commit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(engine_suite());
}
