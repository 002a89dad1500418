/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for a device model, with libmsix's recording backend: no VM,
 * no host device. The recorder records every backend op libmsix makes,
 * checks the backend contract (staging order, ranges, all-or-nothing
 * commits) and can fail the k-th op of a kind, so error paths can be
 * tested. These tests use plain C; the same calls work in any framework
 * (libmsix's own tests use check).
 *
 * The device model under test: a NIC whose receive queue q signals MSI-X
 * vector q while the driver has the queue enabled.
 */
#include <errno.h>
#include <stdbool.h>

#include <libmsix.h>

#include "guest.h"

#define NR_QUEUES 4

struct nic {
	struct libmsix_dev *msix;
	uint32_t faults;	/* vectors a backend failure left blocked */
	int last_fault_err;
};

static void nic_fault(void *opaque, uint32_t vector, int err)
{
	struct nic *nic = opaque;

	(void)vector;
	nic->faults++;
	nic->last_fault_err = err;
}

/* The driver enables or disables receive queue @q. */
static int nic_queue_enable(struct nic *nic, uint32_t q, bool on)
{
	return on ? libmsix_vector_use(nic->msix, q)
		  : libmsix_vector_unuse(nic->msix, q);
}

/* A packet arrived on queue @q. */
static int nic_rx(struct nic *nic, uint32_t q)
{
	return libmsix_notify(nic->msix, q);
}

/* The NIC's MSI-X on @rec; @nic stays where it is (the fault callback's
 * opaque points at it). */
static void nic_init(struct nic *nic, struct libmsix_recorder *rec)
{
	struct libmsix_config cfg = gs_config(NR_QUEUES);

	*nic = (struct nic){ 0 };
	cfg.fault = nic_fault;
	cfg.opaque = nic;
	CHECK(libmsix_dev_create(&cfg, libmsix_recorder_backend(rec),
				 &nic->msix) == 0);
}

/* Each test's fixture: a recorder, the NIC on it with queue @q enabled, and
 * a guest that has brought up every vector (all masked). */
static struct guest fixture(struct nic *nic, struct libmsix_recorder **rec,
			    uint32_t q)
{
	struct libmsix_config cfg = gs_config(NR_QUEUES);

	CHECK(libmsix_recorder_create(0, 0, rec) == 0);
	nic_init(nic, *rec);
	struct guest g = guest_direct(nic->msix, &cfg);
	CHECK(nic_queue_enable(nic, q, true) == 0);
	guest_bring_up(&g, NR_QUEUES);
	return g;
}

/* The kind of the recorder's op @i, 0 past the end. */
static enum libmsix_rec_kind kind_at(struct libmsix_recorder *rec, size_t i)
{
	const struct libmsix_rec_op *op = libmsix_recorder_op(rec, i);

	return op ? op->kind : 0;
}

/* A queue's vector goes live in one commit: alloc, route, unmask, commit;
 * its interrupts carry the message the guest programmed. */
static void test_unmask_is_one_commit(void)
{
	struct libmsix_recorder *rec;
	struct nic nic;
	struct guest g = fixture(&nic, &rec, 2);
	/* Masked vectors hold nothing at the host (the auto policy). */
	CHECK(libmsix_recorder_count_kind(rec, LIBMSIX_REC_ALLOC) == 0);

	libmsix_recorder_clear(rec);
	CHECK(guest_unmask(&g, 2) == 0);
	CHECK(libmsix_recorder_count(rec) == 4);
	CHECK(kind_at(rec, 0) == LIBMSIX_REC_ALLOC);
	CHECK(kind_at(rec, 1) == LIBMSIX_REC_ROUTE);
	CHECK(kind_at(rec, 2) == LIBMSIX_REC_UNMASK);
	CHECK(kind_at(rec, 3) == LIBMSIX_REC_COMMIT);
	CHECK(libmsix_recorder_host(rec, 2) ==
	      (LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED |
	       LIBMSIX_HOST_UNMASKED));

	CHECK(nic_rx(&nic, 2) == LIBMSIX_DELIVERED);
	const struct libmsix_rec_op *op =
		libmsix_recorder_op(rec, libmsix_recorder_count(rec) - 1);
	CHECK(op->kind == LIBMSIX_REC_DELIVER && op->start == 2);
	CHECK(op->msg.address == guest_addr(2) && op->msg.data == guest_data(2));

	/* A queue the driver never enabled: dropped, nothing delivered. */
	CHECK(nic_rx(&nic, 3) == LIBMSIX_DROPPED);
	CHECK(libmsix_recorder_violations(rec) == 0);
	libmsix_dev_destroy(nic.msix);
	libmsix_recorder_destroy(rec);
}

/* The host refuses a vector: the guest's unmask reports the error, the
 * fault callback fires, interrupts latch instead of being lost, and
 * libmsix_retry() delivers them once the host has room again. */
static void test_host_refusal_latches_until_retry(void)
{
	struct libmsix_recorder *rec;
	struct nic nic;
	struct guest g = fixture(&nic, &rec, 0);

	/* The next alloc fails as a host out of vectors would. */
	CHECK(libmsix_recorder_fail(rec, LIBMSIX_REC_ALLOC, 1, -ENOSPC) == 0);
	CHECK(guest_unmask(&g, 0) == -ENOSPC);
	CHECK(nic.faults == 1 && nic.last_fault_err == -ENOSPC);
	CHECK(libmsix_recorder_host(rec, 0) == 0);	/* rolled back */

	CHECK(nic_rx(&nic, 0) == LIBMSIX_LATCHED);
	CHECK(nic_rx(&nic, 0) == LIBMSIX_LATCHED);	/* coalesces (R36) */
	CHECK(guest_pending(&g, 0) == 1);

	libmsix_recorder_clear(rec);
	CHECK(libmsix_retry(nic.msix) == 0);
	CHECK(libmsix_recorder_count_kind(rec, LIBMSIX_REC_COMMIT) == 1);
	CHECK(libmsix_recorder_count_kind(rec, LIBMSIX_REC_DELIVER) == 1);
	CHECK(guest_pending(&g, 0) == 0);
	CHECK(libmsix_recorder_violations(rec) == 0);
	libmsix_dev_destroy(nic.msix);
	libmsix_recorder_destroy(rec);
}

int main(void)
{
	test_unmask_is_one_commit();
	test_host_refusal_latches_until_retry();
	printf("recorder-tests: 2 tests passed\n");
	return 0;
}
