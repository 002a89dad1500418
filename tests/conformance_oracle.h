/* SPDX-License-Identifier: MIT */
/*
 * The conformance suite's oracle, in the style of QEMU's qtest MSI-X
 * helpers: the recording backend's list of deliveries is "the DWORDs that
 * appeared in guest memory", and each test states exactly which (vector,
 * address, data) triples it expects there, plus what the guest reads back
 * from the capability, the table and the PBA.
 *
 * Also: an observer for the log, INTx and fault callbacks, and helpers that
 * assert libmsix_dev_create() rejects a geometry for the rule the test
 * names (the log line names the rule), so a rejection for the wrong reason
 * fails the test.
 */
#ifndef LIBMSIX_CONFORMANCE_ORACLE_H
#define LIBMSIX_CONFORMANCE_ORACLE_H

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "helpers.h"

/* ------------------------------------------------------------------------ */
/* Callbacks the VMM would install                                           */
/* ------------------------------------------------------------------------ */

struct obs {
	unsigned intx;		/* libmsix_intx_fn calls */
	unsigned logs;		/* log lines received */
	unsigned faults;	/* libmsix_fault_fn calls */
	char last_log[256];
};

static inline void obs_log(void *opaque, int level, const char *msg)
{
	struct obs *o = opaque;

	(void)level;
	o->logs++;
	snprintf(o->last_log, sizeof(o->last_log), "%s", msg);
}

static inline void obs_intx(void *opaque)
{
	((struct obs *)opaque)->intx++;
}

static inline void obs_fault(void *opaque, uint32_t vector, int err)
{
	(void)vector;
	(void)err;
	((struct obs *)opaque)->faults++;
}

/* test_config(n) with every callback pointed at @o. */
static inline struct libmsix_config obs_config(uint32_t n, struct obs *o)
{
	struct libmsix_config cfg = test_config(n);

	memset(o, 0, sizeof(*o));
	cfg.log = obs_log;
	cfg.intx = obs_intx;
	cfg.fault = obs_fault;
	cfg.opaque = o;
	return cfg;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */
/* ------------------------------------------------------------------------ */

/* libmsix_dev_create() on a throwaway recorder; the device is destroyed. */
static inline int try_create(const struct libmsix_config *in, struct obs *o)
{
	struct libmsix_config cfg = *in;
	struct libmsix_recorder *rec;
	struct libmsix_dev *dev = NULL;
	int err;

	memset(o, 0, sizeof(*o));
	cfg.log = obs_log;
	cfg.opaque = o;
	ck_assert_int_eq(libmsix_recorder_create(0, 0,
						 &rec), 0);
	err = libmsix_dev_create(&cfg, libmsix_recorder_backend(rec), &dev);
	if (err)
		ck_assert_ptr_null(dev);
	libmsix_dev_destroy(dev);
	libmsix_recorder_destroy(rec);
	return err;
}

/* Creation fails with -EINVAL and the log names @rule, e.g. "(R11)". */
#define ck_create_rejects(cfg, rule)                                         \
	do {                                                                 \
		struct obs o_;                                               \
		ck_assert_int_eq(try_create(cfg, &o_), -EINVAL);             \
		ck_assert_msg(strstr(o_.last_log, rule) != NULL,             \
			      "rejected, but not for %s: \"%s\"", rule,      \
			      o_.last_log);                                  \
	} while (0)

#define ck_create_accepts(cfg)                                               \
	do {                                                                 \
		struct obs o_;                                               \
		ck_assert_msg(try_create(cfg, &o_) == 0, "rejected: \"%s\"", \
			      o_.last_log);                                  \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Guest views                                                               */
/* ------------------------------------------------------------------------ */

/* Message Control as the guest reads it (word at cap + 2). */
static inline uint16_t msgctl(struct tdev *t)
{
	return (uint16_t)cfg_read(t, TEST_CAP + PCI_MSIX_FLAGS, 2);
}

/* The 12 capability bytes, read one byte at a time. */
static inline void cap_bytes(struct tdev *t, uint8_t out[PCI_CAP_MSIX_SIZEOF])
{
	for (uint32_t i = 0; i < PCI_CAP_MSIX_SIZEOF; i++)
		out[i] = (uint8_t)cfg_read(t, TEST_CAP + i, 1);
}

/* A defined (aligned DWORD) read of BAR @bir. */
static inline uint32_t bar_rd32(struct tdev *t, uint32_t bir, uint64_t off)
{
	uint64_t v = 0;

	ck_assert_int_eq(libmsix_mmio_read(t->dev, bir, off, 4, &v), 0);
	return (uint32_t)v;
}

static inline uint64_t bar_rd64(struct tdev *t, uint32_t bir, uint64_t off)
{
	uint64_t v = 0;

	ck_assert_int_eq(libmsix_mmio_read(t->dev, bir, off, 8, &v), 0);
	return v;
}

static inline uint32_t vctrl(struct tdev *t, uint32_t v)
{
	return (uint32_t)tbl_read(t, 16u * v + PCI_MSIX_ENTRY_VECTOR_CTRL, 4);
}

static inline struct libmsix_stats counters(struct tdev *t)
{
	struct libmsix_stats c;

	ck_assert_int_eq(libmsix_get_stats(t->dev, &c), 0);
	return c;
}

/* ------------------------------------------------------------------------ */
/* Deliveries                                                                */
/* ------------------------------------------------------------------------ */

/* One expected message: vector @v sent @addr / @data. */
struct want {
	uint32_t v;
	uint64_t addr;
	uint32_t data;
};

#define WANT(v_) { (v_), test_addr(v_), test_data(v_) }

/*
 * The deliveries recorded since the last libmsix_recorder_clear() are
 * exactly @w[0..n) as a multiset: same count, each (vector, address, data)
 * matched once. The spec does not order messages of different vectors, so
 * neither does the oracle. Clears the recording afterwards.
 */
static inline void ck_delivered(struct tdev *t, const struct want *w, size_t n)
{
	size_t total = libmsix_recorder_count(t->rec), got = 0;
	bool used[64] = { false };

	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);
		size_t k;

		if (op->kind != LIBMSIX_REC_DELIVER)
			continue;
		got++;
		for (k = 0; k < n; k++)
			if (!used[k] && w[k].v == op->start &&
			    w[k].addr == op->msg.address &&
			    w[k].data == op->msg.data)
				break;
		ck_assert_msg(k < n,
			      "unexpected delivery #%zu: vector %u addr 0x%llx data 0x%x",
			      got, op->start,
			      (unsigned long long)op->msg.address, op->msg.data);
		used[k] = true;
	}
	ck_assert_msg(got == n, "%zu deliveries, expected %zu", got, n);
	libmsix_recorder_clear(t->rec);
}

#define ck_delivered_none(t) ck_delivered((t), NULL, 0)

/* The ROUTE ops recorded so far for @v; the last one's message in @msg. */
static inline size_t routes_of(struct tdev *t, uint32_t v,
			       struct libmsix_msg *msg)
{
	size_t n = 0, total = libmsix_recorder_count(t->rec);

	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		if (op->kind == LIBMSIX_REC_ROUTE && op->start == v) {
			n++;
			if (msg)
				*msg = op->msg;
		}
	}
	return n;
}

#endif /* LIBMSIX_CONFORMANCE_ORACLE_H */
