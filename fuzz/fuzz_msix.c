/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the generic-fuzz op model of QEMU's
 * tests/qtest/fuzz/generic_fuzz.c, without a VM. The input's first bytes
 * pick a geometry (N, table/PBA layout of V15, capability offset), a policy
 * and a recording backend (live resize or NORESIZE, budget); the rest is a
 * stream of operations:
 *
 *   config read/write at any offset and width, MMIO read/write of any BAR
 *   at any offset and size, notify / clear_pending / use / unuse / use_all
 *   / unuse_all with arbitrary vector numbers, begin / commit, reset,
 *   Bus Master, retry, backend failure injection, poll injection, and
 *   snapshot save / mutate / load (V21), including blobs built from fuzz
 *   bytes.
 *
 * A small reference model (what the guest and the device model wrote: the
 * capability bits, every table entry, the use counts, Bus Master, open
 * transactions) is the oracle. After every op:
 *  - every register the guest can read (capability, table, PBA) matches the
 *    model; bytes outside the capability are never changed on a read;
 *  - deliveries only for vectors that are enabled, unmasked (vector and
 *    function), used, with Bus Master on, carrying the entry's message;
 *  - PBA bits only below N, and only for enabled, used vectors;
 *  - a live vector is one the model says should be; outside transactions,
 *    one the model says should be live is live or faulted;
 *  - notify's result agrees with the model;
 *  - the recorder saw no backend-contract violation, and the engine's host
 *    view of each vector is the backend's committed state;
 *  - a live vector is routed with exactly the table's message, unless the
 *    guest rewrote it while its host vector was unmasked (R41: then the
 *    route follows at the next unmask);
 *  - outside transactions, and unless a rolled-back commit still waits for
 *    libmsix_retry(), a host vector is unmasked only under a live vector;
 *  - guest accesses produce a bounded number of log lines (V9).
 * At the end, destroy releases every host vector.
 *
 * Any broken invariant aborts with a message: a crash to libFuzzer.
 * fuzz_main.c drives the same entry point from a fixed pseudo-random
 * stream (and replays files) so that CTest runs it everywhere.
 * FUZZ_MSIX_TRACE=1 prints the ops of an input as they run.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <linux/pci_regs.h>

#include "libmsix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN LIBMSIX_MAX_VECTORS
#define HOST_BITS \
	(LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED | LIBMSIX_HOST_UNMASKED)

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_msix: invariant broken: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* FUZZ_MSIX_TRACE=1: print every op (for minimised reproducers). */
static int trace = -1;

#define TRACE(...)                                           \
	do {                                                 \
		if (trace)                                   \
			fprintf(stderr, __VA_ARGS__);        \
	} while (0)

#define CHECK(cond, ...)                  \
	do {                              \
		if (!(cond))              \
			fail(__VA_ARGS__); \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t get16(struct input *in)
{
	return (uint16_t)(get8(in) | get8(in) << 8);
}

static uint32_t get32(struct input *in)
{
	return get16(in) | (uint32_t)get16(in) << 16;
}

static uint64_t get64(struct input *in)
{
	return get32(in) | (uint64_t)get32(in) << 32;
}

/* ------------------------------------------------------------------------ */
/* The reference model                                                       */
/* ------------------------------------------------------------------------ */

struct model {
	uint32_t n;
	uint16_t cap;
	uint8_t next;
	uint32_t tbir, pbir;
	uint64_t tbase, tend, pbase, pend;
	bool enable, fmask, bme;
	unsigned tx;
	uint32_t w[MAXN][4];	/* addr lo, addr hi, data, vector control */
	uint16_t use[MAXN];
	/* Routes the backend committed, and whether the guest rewrote the
	 * message of a host-unmasked vector since (R41: then stale is OK). */
	struct libmsix_msg routed[MAXN], staged[MAXN];
	bool has_staged[MAXN], stale_ok[MAXN];
	/* A backend op failed since the last clean retry: the host may hold
	 * what a rolled-back commit left (libmsix_retry() undoes it). */
	bool rolled_back;
};

struct fz {
	struct model m;
	struct libmsix_recorder *rec;
	/*
	 * Deliver-only mode (LIBMSIX_RECORDER_DELIVER_ONLY): no route,
	 * unroute, mask, unmask or poll op, as for an emulated device. With
	 * live resize, live vectors then mask and unmask without the engine.
	 */
	bool deliver_only;
	struct libmsix_dev *dev;
	uint64_t guest_logs;	/* log lines during guest accesses */
	bool in_guest_access;
	uint8_t saved[24 + 18 * MAXN + 8 * (MAXN / 64)];
	size_t saved_len;
	uint8_t blob[24 + 18 * MAXN + 8 * (MAXN / 64) + 16];
	struct libmsix_vector_info info[MAXN];
};

static bool wants_live(const struct model *m, uint32_t v)
{
	return m->enable && !m->fmask && m->bme && !(m->w[v][3] & 1) &&
	       m->use[v] > 0;
}

static uint64_t msg_addr(const struct model *m, uint32_t v)
{
	return (uint64_t)m->w[v][1] << 32 | m->w[v][0];
}

static void log_sink(void *opaque, int level, const char *msg)
{
	struct fz *f = opaque;

	(void)level;
	(void)msg;
	if (f->in_guest_access)
		f->guest_logs++;
}

/* ------------------------------------------------------------------------ */
/* Geometry                                                                  */
/* ------------------------------------------------------------------------ */

static const uint32_t n_choices[16] = { 1, 2, 3, 4, 7, 8, 16, 31,
					32, 63, 64, 65, 128, 129, 1000, 2048 };

static int setup(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	struct libmsix_config cfg;
	uint8_t g = get8(in), p = get8(in), l = get8(in);
	uint32_t n = n_choices[g & 15], tlen, plen, budget;
	static const uint32_t budgets[8] = { 0, 0, 0, 0, 1, 2, 5, 64 };
	uint32_t be_flags = (p & 4) ? LIBMSIX_BE_NORESIZE : 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = (g & 0x30) == 0x10 ? 0x40 : (g & 0x30) == 0x20 ? 0xf4 : 0x50;
	cfg.next_cap = (uint8_t)(g & 0xc0);
	cfg.policy = (enum libmsix_policy)(p & 3);
	cfg.flags = (p & 8) ? LIBMSIX_F_PREALLOC_ALL : 0;
	cfg.log = log_sink;
	cfg.log_level = LOG_DEBUG;
	cfg.opaque = f;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_type[3] = LIBMSIX_BAR_MEM32;
	tlen = 16 * n;
	plen = (n + 63) / 64 * 8;
	switch (l % 5) {
	case 0: /* same BAR, disjoint pages */
		cfg.table_offset = 0;
		cfg.pba_offset = (tlen + 4095) / 4096 * 4096;
		break;
	case 1: /* same BAR, PBA first, sharing a page */
		cfg.pba_offset = 0;
		cfg.table_offset = plen;
		break;
	case 2: /* same BAR, table first, adjacent */
		cfg.table_offset = 8 * (l >> 4);
		cfg.pba_offset = cfg.table_offset + tlen;
		break;
	case 3: /* different BARs, same offset */
		cfg.pba_bir = 2;
		cfg.table_offset = cfg.pba_offset = 0x1000;
		break;
	default: /* different BARs, overlapping offsets */
		cfg.table_bir = 3;
		cfg.pba_bir = 0;
		cfg.table_offset = 0x800;
		cfg.pba_offset = 0x800 + 8 * (n / 2);
		break;
	}
	for (int b = 0; b < 4; b++)
		cfg.bar_size[b] = 0x10000;
	budget = budgets[p >> 5];
	f->deliver_only = p & 0x10;
	if (libmsix_recorder_create(be_flags |
					    (f->deliver_only
						     ? LIBMSIX_RECORDER_DELIVER_ONLY
						     : 0),
				    budget, &f->rec))
		return -1;
	if (libmsix_dev_create(&cfg, libmsix_recorder_backend(f->rec),
			       &f->dev))
		fail("geometry N=%u layout %u rejected", n, l % 5);
	m->n = n;
	m->cap = cfg.cap_offset;
	m->next = cfg.next_cap;
	m->tbir = cfg.table_bir;
	m->pbir = cfg.pba_bir;
	m->tbase = cfg.table_offset;
	m->tend = m->tbase + tlen;
	m->pbase = cfg.pba_offset;
	m->pend = m->pbase + plen;
	m->bme = true;
	for (uint32_t v = 0; v < n; v++)
		m->w[v][3] = 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

static uint8_t cap_byte(const struct fz *f, uint32_t i)
{
	const struct model *m = &f->m;
	uint32_t word;

	switch (i / 4) {
	case 0:
		word = PCI_CAP_ID_MSIX | (uint32_t)m->next << 8 | (m->n - 1) << 16 |
		       (m->fmask ? (uint32_t)PCI_MSIX_FLAGS_MASKALL << 16 : 0) |
		       (m->enable ? (uint32_t)PCI_MSIX_FLAGS_ENABLE << 16 : 0);
		break;
	case 1:
		word = (uint32_t)m->tbase | m->tbir;
		break;
	default:
		word = (uint32_t)m->pbase | m->pbir;
		break;
	}
	return (uint8_t)(word >> (8 * (i % 4)));
}

enum hit { H_NONE, H_TABLE, H_PBA, H_ONES };

static enum hit classify(const struct model *m, uint32_t bir, uint64_t off,
			 uint32_t size, uint64_t *rel)
{
	/* Offsets may be anything: compare without forming off + size. */
	bool tt = bir == m->tbir && off < m->tend &&
		  (off >= m->tbase || m->tbase - off < size);
	bool tp = bir == m->pbir && off < m->pend &&
		  (off >= m->pbase || m->pbase - off < size);

	if (!tt && !tp)
		return H_NONE;
	if (tt && tp)
		return H_ONES;
	if (tt) {
		*rel = off - m->tbase;
		return off >= m->tbase && m->tend - off >= size ? H_TABLE
								: H_ONES;
	}
	*rel = off - m->pbase;
	return off >= m->pbase && m->pend - off >= size ? H_PBA : H_ONES;
}

static void refresh_info(struct fz *f)
{
	for (uint32_t v = 0; v < f->m.n; v++)
		CHECK(libmsix_get_vector_info(f->dev, v, &f->info[v]) == 0,
		      "vector_info(%u) failed", v);
}

static uint8_t pba_byte(const struct fz *f, uint64_t rel)
{
	uint8_t b = 0;

	for (uint32_t k = 0; k < 8; k++) {
		uint64_t v = rel * 8 + k;

		if (v < f->m.n && f->info[v].pending)
			b |= (uint8_t)(1u << k);
	}
	return b;
}

static uint8_t table_byte(const struct fz *f, uint64_t rel)
{
	return (uint8_t)(f->m.w[rel / 16][rel % 16 / 4] >> (8 * (rel % 4)));
}

/* What the device must look like after every op. */
static void check_state(struct fz *f)
{
	struct model *m = &f->m;
	uint64_t pba[MAXN / 64];
	uint32_t v;

	CHECK(libmsix_recorder_violations(f->rec) == 0,
	      "%zu backend contract violations",
	      libmsix_recorder_violations(f->rec));
	CHECK(libmsix_enabled(f->dev) == m->enable &&
		      libmsix_function_masked(f->dev) == m->fmask,
	      "Message Control %d/%d, model %d/%d", libmsix_enabled(f->dev),
	      libmsix_function_masked(f->dev), m->enable, m->fmask);
	/* The PBA as the guest reads it, by QWORD, first: a read may poll a
	 * bit in, and the per-vector state below must include it. */
	for (uint32_t q = 0; q < (m->n + 63) / 64; q++)
		CHECK(libmsix_mmio_read(f->dev, m->pbir, m->pbase + 8ull * q, 8,
					&pba[q]) == 0,
		      "PBA QWORD %u read failed", q);
	refresh_info(f);
	for (uint32_t q = 0; q < (m->n + 63) / 64; q++) {
		uint64_t want = 0;

		for (uint32_t k = 0; k < 64 && 64 * q + k < m->n; k++)
			if (f->info[64 * q + k].pending)
				want |= 1ull << k;
		/* Bits >= N are 0 (R21). */
		CHECK(pba[q] == want, "PBA QWORD %u = %llx, want %llx", q,
		      (unsigned long long)pba[q], (unsigned long long)want);
	}
	for (v = 0; v < m->n; v++) {
		const struct libmsix_vector_info *i = &f->info[v];
		uint32_t be = libmsix_recorder_host(f->rec, v);
		/* Deliver-only: the backend holds host vectors, nothing else. */
		uint32_t bits = f->deliver_only ? LIBMSIX_HOST_ALLOCATED
						: HOST_BITS;

		CHECK((uint32_t)i->msg.address == m->w[v][0] &&
			      (uint32_t)(i->msg.address >> 32) == m->w[v][1] &&
			      i->msg.data == m->w[v][2] &&
			      i->vector_control == m->w[v][3] &&
			      i->masked == (m->w[v][3] & 1),
		      "vector %u entry differs from the model", v);
		CHECK(i->use_count == m->use[v], "vector %u use %u, model %u",
		      v, i->use_count, m->use[v]);
		CHECK((i->host & bits) == be,
		      "vector %u engine host 0x%x, backend 0x%x", v,
		      i->host & bits, be);
		CHECK(!i->live || wants_live(m, v),
		      "vector %u live but the guest has it blocked", v);
		CHECK(!i->live || be == bits,
		      "vector %u live without a live host vector (0x%x)", v,
		      be);
		CHECK(!i->live || !(i->host & LIBMSIX_HOST_FAULT),
		      "vector %u live and faulted", v);
		CHECK(m->tx || !wants_live(m, v) || i->live ||
			      (i->host & LIBMSIX_HOST_FAULT),
		      "vector %u should be live: not live, not faulted", v);
		CHECK(!i->pending || (m->enable && m->use[v]),
		      "vector %u pending while disabled or unused", v);
		if (!(be & LIBMSIX_HOST_UNMASKED))
			m->stale_ok[v] = false;
		/* Inside a transaction the backend lags on purpose; after a
		 * rolled-back commit, until a retry. */
		CHECK(m->tx || m->rolled_back ||
			      !(be & LIBMSIX_HOST_UNMASKED) || i->live,
		      "vector %u unmasked at the host but not live", v);
		CHECK(!i->live || m->stale_ok[v] || f->deliver_only ||
			      (m->routed[v].address == msg_addr(m, v) &&
			       m->routed[v].data == m->w[v][2]),
		      "vector %u unmasked at the host with route %llx/%x, "
		      "table %llx/%x",
		      v, (unsigned long long)m->routed[v].address,
		      m->routed[v].data, (unsigned long long)msg_addr(m, v),
		      m->w[v][2]);
	}
	CHECK(f->guest_logs <= 4 * (4 + 64),
	      "guest accesses logged %llu lines",
	      (unsigned long long)f->guest_logs);
}

/*
 * Backend ops recorded by the last op: deliveries must be for vectors the
 * model has live, with the table's message; routes become committed on a
 * successful commit. Then forget them.
 */
static void check_ops(struct fz *f)
{
	struct model *m = &f->m;
	size_t total = libmsix_recorder_count(f->rec);

	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(f->rec, i);
		uint32_t v = op->start;

		if (op->err)
			m->rolled_back = true;
		switch (op->kind) {
		case LIBMSIX_REC_DELIVER:
			CHECK(v < m->n && wants_live(m, v),
			      "delivered vector %u, which is not live", v);
			CHECK(op->msg.address == msg_addr(m, v) &&
				      op->msg.data == m->w[v][2],
			      "vector %u delivered %llx/%x, table %llx/%x", v,
			      (unsigned long long)op->msg.address,
			      op->msg.data, (unsigned long long)msg_addr(m, v),
			      m->w[v][2]);
			break;
		case LIBMSIX_REC_ALLOC:
		case LIBMSIX_REC_RELEASE:
			CHECK(op->count > 0 && v < m->n &&
				      op->count <= m->n - v,
			      "range [%u, +%u) outside N=%u", v, op->count,
			      m->n);
			break;
		case LIBMSIX_REC_ROUTE:
			CHECK(v < m->n, "route of vector %u", v);
			if (op->err == 0) {
				m->staged[v] = op->msg;
				m->has_staged[v] = true;
			}
			break;
		case LIBMSIX_REC_COMMIT:
		case LIBMSIX_REC_ABORT:
			for (uint32_t x = 0; x < m->n; x++) {
				if (!m->has_staged[x])
					continue;
				if (op->kind == LIBMSIX_REC_COMMIT &&
				    op->err == 0) {
					m->routed[x] = m->staged[x];
					m->stale_ok[x] = false;
				}
				m->has_staged[x] = false;
			}
			break;
		default:
			CHECK(op->kind == LIBMSIX_REC_POLL || v < m->n,
			      "op %d on vector %u", op->kind, v);
			break;
		}
	}
	libmsix_recorder_clear(f->rec);
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

static const uint32_t cfg_sizes[8] = { 1, 2, 4, 4, 2, 1, 3, 8 };

static uint32_t cfg_offset(struct fz *f, struct input *in)
{
	uint8_t b = get8(in);

	/* Mostly around the capability, sometimes anywhere. */
	if (b == 0xff)
		return get32(in);
	return f->m.cap - 8 + b % 32;
}

static void op_cfg_read(struct fz *f, struct input *in)
{
	uint32_t off = cfg_offset(f, in), size = cfg_sizes[get8(in) % 8];
	uint32_t in_val = get32(in), val = in_val;
	int r = libmsix_config_read(f->dev, off, size, &val);

	if (size != 1 && size != 2 && size != 4) {
		CHECK(r == -EINVAL && val == in_val, "config read size %u: %d",
		      size, r);
		return;
	}
	CHECK(r == 0, "config read: %d", r);
	for (uint32_t i = 0; i < 4; i++) {
		uint64_t at = (uint64_t)off + i;
		uint8_t want = (uint8_t)(in_val >> (8 * i));

		if (i < size && at >= f->m.cap && at < f->m.cap + 12u)
			want = cap_byte(f, (uint32_t)(at - f->m.cap));
		CHECK((uint8_t)(val >> (8 * i)) == want,
		      "config read off 0x%x size %u byte %u = %02x, want %02x",
		      off, size, i, (uint8_t)(val >> (8 * i)), want);
	}
}

static void op_cfg_write(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint32_t off = cfg_offset(f, in), size = cfg_sizes[get8(in) % 8];
	uint32_t val = get32(in);
	uint64_t hi = (uint64_t)m->cap + 3;
	int r = libmsix_config_write(f->dev, off, size, val);

	TRACE(" cfg_write 0x%x/%u = 0x%x -> %d", off, size, val, r);
	if (size != 1 && size != 2 && size != 4) {
		CHECK(r == -EINVAL, "config write size %u: %d", size, r);
		return;
	}
	CHECK(r <= 0, "config write returned %d", r);
	if (hi >= off && hi < (uint64_t)off + size) {
		uint8_t b = (uint8_t)(val >> (8 * (hi - off)));

		m->enable = b & 0x80;
		m->fmask = b & 0x40;
	}
}

static void mmio_target(struct fz *f, struct input *in, uint32_t *bir,
			uint64_t *off, uint32_t *size)
{
	struct model *m = &f->m;
	uint8_t mode = get8(in);
	uint16_t x = get16(in);

	*size = get8(in) % 10; /* 0 and 9 are invalid */
	switch (mode % 4) {
	case 0:
		*bir = m->tbir;
		*off = m->tbase + x % (m->tend - m->tbase + 32);
		*off = *off >= 16 ? *off - 16 : *off;
		if (mode & 4)
			*off &= ~3ull;
		break;
	case 1:
		*bir = m->pbir;
		*off = m->pbase + x % (m->pend - m->pbase + 32);
		*off = *off >= 16 ? *off - 16 : *off;
		break;
	case 2:
		*bir = (mode >> 2) % 8;
		*off = x;
		break;
	default:
		*bir = (mode >> 2) % 8;
		*off = get64(in);
		break;
	}
}

static void op_mmio_read(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint32_t bir, size;
	uint64_t off, rel = 0, val = 0x5a5a5a5a5a5a5a5aull, want = 0;
	enum hit h;
	int r;

	mmio_target(f, in, &bir, &off, &size);
	r = libmsix_mmio_read(f->dev, bir, off, size, &val);
	if (bir > 5 || size < 1 || size > 8) {
		CHECK(r == -EINVAL, "mmio read BAR %u size %u: %d", bir, size,
		      r);
		return;
	}
	h = classify(m, bir, off, size, &rel);
	if (h == H_NONE) {
		CHECK(r == -ENOENT && val == 0x5a5a5a5a5a5a5a5aull,
		      "mmio read BAR %u off %llx size %u outside: %d", bir,
		      (unsigned long long)off, size, r);
		return;
	}
	CHECK(r == 0, "mmio read: %d", r);
	if (h == H_ONES) {
		want = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
	} else {
		if (h == H_PBA)
			refresh_info(f);
		for (uint32_t i = 0; i < size; i++)
			want |= (uint64_t)(h == H_TABLE
						   ? table_byte(f, rel + i)
						   : pba_byte(f, rel + i))
				<< (8 * i);
	}
	CHECK(val == want, "mmio read BAR %u off %llx size %u = %llx, want %llx",
	      bir, (unsigned long long)off, size, (unsigned long long)val,
	      (unsigned long long)want);
}

static void table_write_model(struct fz *f, uint32_t v, uint32_t dw,
			      uint32_t val)
{
	struct model *m = &f->m;

	if (dw == 0)
		val &= ~3u;
	if (dw == 3)
		val &= 1u;
	/* R41: a live-at-host entry rewritten keeps its route until the
	 * next unmask. */
	if (dw < 3 && m->w[v][dw] != val &&
	    (libmsix_recorder_host(f->rec, v) & LIBMSIX_HOST_UNMASKED))
		m->stale_ok[v] = true;
	m->w[v][dw] = val;
}

static void op_mmio_write(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint32_t bir, size;
	uint64_t off, rel = 0, val;
	enum hit h;
	int r;

	mmio_target(f, in, &bir, &off, &size);
	val = get64(in);
	if (bir > 5 || size < 1 || size > 8) {
		CHECK(libmsix_mmio_write(f->dev, bir, off, size, val) == -EINVAL,
		      "mmio write BAR %u size %u accepted", bir, size);
		return;
	}
	h = classify(m, bir, off, size, &rel);
	if (h == H_TABLE && (size == 4 || size == 8) && rel % size == 0) {
		uint32_t v = (uint32_t)(rel / 16), dw = (uint32_t)(rel % 16 / 4);

		table_write_model(f, v, dw, (uint32_t)val);
		if (size == 8)
			table_write_model(f, v, dw + 1, (uint32_t)(val >> 32));
	}
	r = libmsix_mmio_write(f->dev, bir, off, size, val);
	TRACE(" mmio_write %u:%llx/%u = %llx -> %d", bir,
	      (unsigned long long)off, size, (unsigned long long)val, r);
	if (h == H_NONE)
		CHECK(r == -ENOENT, "mmio write outside: %d", r);
	else
		CHECK(r <= 0, "mmio write returned %d", r);
}

/* A vector number: mostly in range, sometimes the hostile ones (R40). */
static uint32_t vec_arg(struct fz *f, struct input *in)
{
	uint16_t x = get16(in);

	if (x & 0x8000)
		return (x & 0x4000) ? UINT32_MAX - (x & 0xff) : x & 0x3fff;
	return x % (f->m.n + 1);
}

static void op_notify(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint32_t v = vec_arg(f, in);
	struct libmsix_vector_info before;
	int r;

	if (v >= m->n) {
		CHECK(libmsix_notify(f->dev, v) == -EINVAL, "notify(%u)", v);
		return;
	}
	CHECK(libmsix_get_vector_info(f->dev, v, &before) == 0, "info");
	r = libmsix_notify(f->dev, v);
	TRACE(" notify %u -> %d", v, r);
	if (!m->enable || !m->use[v])
		CHECK(r == LIBMSIX_DROPPED, "notify %u: %d, want DROPPED", v, r);
	else if (before.live)
		CHECK(r == LIBMSIX_DELIVERED || r < 0,
		      "notify %u live: %d", v, r);
	else
		CHECK(r == LIBMSIX_LATCHED, "notify %u blocked: %d", v, r);
	if (r == LIBMSIX_LATCHED || r < 0) {
		struct libmsix_vector_info after;

		CHECK(libmsix_get_vector_info(f->dev, v, &after) == 0 &&
			      after.pending,
		      "notify %u returned %d but nothing is pending", v, r);
	}
}

static void op_use(struct fz *f, struct input *in, int kind)
{
	struct model *m = &f->m;
	uint32_t v = vec_arg(f, in);
	int r;

	switch (kind) {
	case 0:
		r = libmsix_vector_use(f->dev, v);
		if (v >= m->n)
			CHECK(r == -EINVAL, "use(%u): %d", v, r);
		else if (m->use[v] == UINT16_MAX)
			CHECK(r == -EOVERFLOW, "use at max: %d", r);
		else
			m->use[v]++;
		break;
	case 1:
		r = libmsix_vector_unuse(f->dev, v);
		if (v >= m->n || m->use[v] == 0)
			CHECK(r == -EINVAL, "unuse(%u): %d", v, r);
		else
			m->use[v]--;
		break;
	case 2: {
		bool full = false;

		for (uint32_t x = 0; x < m->n; x++)
			full |= m->use[x] == UINT16_MAX;
		r = libmsix_vector_use_all(f->dev);
		if (full)
			CHECK(r == -EOVERFLOW, "use_all at max: %d", r);
		else
			for (uint32_t x = 0; x < m->n; x++)
				m->use[x]++;
		break;
	}
	default:
		r = libmsix_vector_unuse_all(f->dev);
		memset(m->use, 0, sizeof(m->use));
		break;
	}
	TRACE(" use kind %d vector %u -> %d", kind, v, r);
	CHECK(r <= 0, "use op returned %d", r);
}

static void op_reset(struct fz *f)
{
	struct model *m = &f->m;

	CHECK(libmsix_reset(f->dev) <= 0, "reset");
	m->enable = m->fmask = false;
	for (uint32_t v = 0; v < m->n; v++) {
		memset(m->w[v], 0, sizeof(m->w[v]));
		m->w[v][3] = 1;
	}
}

static void op_fail(struct fz *f, struct input *in)
{
	static const int errs[4] = { -ENOSPC, -EBUSY, -EINVAL, -EIO };
	uint8_t a = get8(in), b = get8(in);

	TRACE(" fail kind %u k %u err %d", a % 11u, b % 9u, errs[(a >> 4) % 4]);
	CHECK(libmsix_recorder_fail(f->rec, (enum libmsix_rec_kind)(a % 11),
				    b % 9, errs[(a >> 4) % 4]) == 0,
	      "recorder_fail");
}

/* ------------------------------------------------------------------------ */
/* Snapshots (V21)                                                           */
/* ------------------------------------------------------------------------ */

static size_t blob_len(uint32_t n)
{
	return 24 + 18 * (size_t)n + 8 * (size_t)((n + 63) / 64);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An accepted blob is the new model (snapshot.c's format). */
static void model_from_blob(struct fz *f, const uint8_t *b, int r)
{
	struct model *m = &f->m;
	uint32_t flags = le32(b + 12);
	const uint8_t *p = b + 24;

	m->enable = flags & 1;
	m->fmask = flags & 2;
	m->bme = flags & 4;
	for (uint32_t v = 0; v < m->n; v++) {
		for (int w = 0; w < 4; w++, p += 4)
			m->w[v][w] = le32(p);
		/* A restore replaces whole entries at once: the engine must
		 * re-route live ones -- at the commit, if a transaction is
		 * open, and not if the commit failed. */
		m->stale_ok[v] = r != 0 || m->tx > 0;
	}
	for (uint32_t v = 0; v < m->n; v++, p += 2)
		m->use[v] = (uint16_t)(p[0] | p[1] << 8);
}

/* The format's rules, written from the libmsix_load() documentation. */
static bool blob_valid(const struct fz *f, const uint8_t *b, size_t len)
{
	uint32_t n = f->m.n;
	const uint8_t *p;

	if (len != blob_len(n) || le32(b) != 0x5849534du ||
	    le32(b + 4) != (1 | 24u << 16) || le32(b + 8) != n ||
	    (le32(b + 12) & ~7u) || le32(b + 16) || le32(b + 20))
		return false;
	for (uint32_t v = 0; v < n; v++) {
		p = b + 24 + 16 * (size_t)v;
		if ((le32(p) & 3) || (le32(p + 12) & ~1u))
			return false;
	}
	p = b + 24 + 18 * (size_t)n;
	for (uint32_t v = n; v % 64; v++)
		if ((p[v / 8] >> (v % 8)) & 1)
			return false;
	return true;
}

/*
 * A malformed blob is -EINVAL with nothing changed; a valid one is restored
 * whatever the backend says (0 or its errno -- which can be -EINVAL too:
 * VFIO returns it, so only the blob tells the two apart).
 */
static void load_and_check(struct fz *f, const uint8_t *b, size_t len)
{
	bool valid = blob_valid(f, b, len);
	int r = libmsix_load(f->dev, b, len);

	TRACE(" load %zu bytes (%svalid) -> %d", len, valid ? "" : "in", r);
	if (!valid) {
		/* Nothing reached the backend, and check_state() finds the
		 * device still equal to the unchanged model. */
		CHECK(r == -EINVAL, "malformed blob loaded: %d", r);
		CHECK(libmsix_recorder_count(f->rec) == 0,
		      "rejected blob reached the backend");
		return;
	}
	CHECK(r <= 0, "load returned %d", r);
	model_from_blob(f, b, r);
}

/* A valid blob whose fields come from fuzz bytes. */
static size_t blob_from_input(struct fz *f, struct input *in)
{
	uint32_t n = f->m.n;
	size_t len = blob_len(n);
	uint8_t *b = f->blob;

	put_le32(b, 0x5849534du);
	put_le32(b + 4, 1 | 24u << 16);
	put_le32(b + 8, n);
	put_le32(b + 12, get8(in) & 7);
	memset(b + 16, 0, 8);
	for (uint32_t v = 0; v < n; v++) {
		uint8_t *e = b + 24 + 16 * (size_t)v;
		uint8_t sel = get8(in);

		put_le32(e, (sel & 1) ? (get32(in) & ~3u) : 0xfee00000u | v << 4);
		put_le32(e + 4, (sel & 2) ? get32(in) : 0);
		put_le32(e + 8, (sel & 4) ? get32(in) : 0x4000 + v);
		put_le32(e + 12, (sel >> 3) & 1);
	}
	for (uint32_t v = 0; v < n; v++) {
		uint8_t *u = b + 24 + 16 * (size_t)n + 2 * (size_t)v;
		uint16_t use = get8(in) % 3;

		u[0] = (uint8_t)use;
		u[1] = 0;
	}
	for (uint32_t q = 0; q < (n + 63) / 64; q++) {
		uint64_t bits = get64(in);
		uint8_t *pp = b + 24 + 18 * (size_t)n + 8 * (size_t)q;

		if (64 * (q + 1) > n)
			bits &= (1ull << (n % 64)) - 1;
		for (int i = 0; i < 8; i++)
			pp[i] = (uint8_t)(bits >> (8 * i));
	}
	return len;
}

static void op_snapshot(struct fz *f, struct input *in)
{
	uint8_t mode = get8(in);
	size_t len = libmsix_save_size(f->dev);
	long r;

	CHECK(len == blob_len(f->m.n), "save_size %zu", len);
	TRACE(" snapshot mode %u", mode % 5u);
	switch (mode % 5) {
	case 0: /* save; load it back */
		r = libmsix_save(f->dev, f->saved, sizeof(f->saved));
		CHECK(r == (long)len, "save returned %ld", r);
		f->saved_len = len;
		check_ops(f); /* save may poll */
		load_and_check(f, f->saved, len);
		break;
	case 1: /* load what an earlier save wrote: a rollback */
		if (f->saved_len)
			load_and_check(f, f->saved, f->saved_len);
		break;
	case 2: { /* save, mutate a few bytes, load (Firecracker #5918) */
		unsigned k = get8(in) % 4 + 1;

		r = libmsix_save(f->dev, f->blob, sizeof(f->blob));
		CHECK(r == (long)len, "save returned %ld", r);
		check_ops(f);
		while (k--) {
			size_t at = get16(in) % len;

			f->blob[at] ^= (uint8_t)(get8(in) | 1);
		}
		load_and_check(f, f->blob, len);
		break;
	}
	case 3: /* a valid blob from fuzz bytes */
		len = blob_from_input(f, in);
		load_and_check(f, f->blob, len);
		break;
	default: { /* raw bytes, any length */
		size_t n = get16(in) % (len + 16);

		for (size_t i = 0; i < n; i++)
			f->blob[i] = get8(in);
		if (n >= 12) { /* get past the magic now and then */
			put_le32(f->blob, 0x5849534du);
			put_le32(f->blob + 4, 1 | 24u << 16);
			if (mode & 8)
				put_le32(f->blob + 8, f->m.n);
		}
		load_and_check(f, f->blob, n);
		break;
	}
	}
	r = libmsix_save(f->dev, f->blob, len - 1);
	CHECK(r == -ENOSPC, "save into a short buffer: %ld", r);
}

/* Linux's way of programming an entry, to reach deep states quickly. */
static void op_program(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint32_t v = get16(in) % m->n, bir = m->tbir;
	uint64_t e = m->tbase + 16ull * v;
	uint32_t lo = 0xfee00000u | (get8(in) << 12), data = get16(in);
	bool unmask = get8(in) & 1;

	TRACE(" program %u %x/%x unmask %d", v, lo, data, unmask);
	table_write_model(f, v, 0, lo);
	CHECK(libmsix_mmio_write(f->dev, bir, e, 4, lo) <= 0, "program");
	table_write_model(f, v, 2, data);
	CHECK(libmsix_mmio_write(f->dev, bir, e + 8, 4, data) <= 0, "program");
	table_write_model(f, v, 3, !unmask);
	CHECK(libmsix_mmio_write(f->dev, bir, e + 12, 4, !unmask) <= 0,
	      "program");
}

enum op {
	OP_CFG_READ, OP_CFG_WRITE, OP_MMIO_READ, OP_MMIO_WRITE, OP_NOTIFY,
	OP_CLEAR_PENDING, OP_USE, OP_UNUSE, OP_USE_ALL, OP_UNUSE_ALL,
	OP_BEGIN, OP_COMMIT, OP_RESET, OP_FAIL, OP_RETRY, OP_BME,
	OP_SET_POLL, OP_SNAPSHOT, OP_PROGRAM, OP_PROGRAM2, OP_MSGCTL,
	OP_COUNT,
};

static void run_op(struct fz *f, struct input *in)
{
	struct model *m = &f->m;
	uint8_t op = get8(in) % OP_COUNT;
	uint32_t v;
	int r;

	TRACE("op %u:", op);
	f->in_guest_access = op <= OP_MMIO_WRITE || op == OP_PROGRAM ||
			     op == OP_PROGRAM2 || op == OP_MSGCTL;
	switch (op) {
	case OP_CFG_READ:
		op_cfg_read(f, in);
		break;
	case OP_CFG_WRITE:
		op_cfg_write(f, in);
		break;
	case OP_MMIO_READ:
		op_mmio_read(f, in);
		break;
	case OP_MMIO_WRITE:
		op_mmio_write(f, in);
		break;
	case OP_NOTIFY:
		op_notify(f, in);
		break;
	case OP_CLEAR_PENDING:
		v = vec_arg(f, in);
		r = libmsix_clear_pending(f->dev, v);
		CHECK(r == (v < m->n ? 0 : -EINVAL), "clear_pending(%u)", v);
		break;
	case OP_USE:
	case OP_UNUSE:
	case OP_USE_ALL:
	case OP_UNUSE_ALL:
		op_use(f, in, op - OP_USE);
		break;
	case OP_BEGIN:
		r = libmsix_begin(f->dev);
		TRACE(" begin -> %d", r);
		CHECK(r == (m->tx >= 255 ? -EDEADLK : 0), "begin at %u: %d",
		      m->tx, r);
		if (r == 0)
			m->tx++;
		break;
	case OP_COMMIT:
		r = libmsix_commit(f->dev);
		TRACE(" commit -> %d", r);
		CHECK(m->tx ? r <= 0 : r == -EPERM, "commit at %u: %d", m->tx,
		      r);
		if (m->tx)
			m->tx--;
		break;
	case OP_RESET:
		TRACE(" reset");
		op_reset(f);
		break;
	case OP_FAIL:
		op_fail(f, in);
		break;
	case OP_RETRY:
		r = libmsix_retry(f->dev);
		TRACE(" retry -> %d", r);
		CHECK(r <= 0, "retry: %d", r);
		/* A clean retry outside a transaction leaves nothing behind. */
		if (r == 0 && !m->tx) {
			m->rolled_back = false;
			check_ops(f); /* unless it failed again */
		}
		break;
	case OP_BME:
		m->bme = get8(in) & 1;
		TRACE(" bme %d", m->bme);
		CHECK(libmsix_set_bus_master(f->dev, m->bme) <= 0, "bme");
		break;
	case OP_SET_POLL:
		v = vec_arg(f, in);
		CHECK(libmsix_recorder_set_poll(f->rec, v) ==
			      (v < MAXN ? 0 : -EINVAL),
		      "set_poll(%u)", v);
		break;
	case OP_SNAPSHOT:
		op_snapshot(f, in);
		break;
	case OP_PROGRAM:
	case OP_PROGRAM2:
		op_program(f, in);
		break;
	default: { /* Message Control as Linux writes it */
		uint8_t b = get8(in);

		m->enable = b & 1;
		m->fmask = b & 2;
		TRACE(" msgctl en %d fm %d", m->enable, m->fmask);
		r = libmsix_config_write(f->dev, m->cap + 2, 2,
					 (m->enable ? PCI_MSIX_FLAGS_ENABLE : 0) |
					 (m->fmask ? PCI_MSIX_FLAGS_MASKALL : 0));
		CHECK(r <= 0, "msgctl: %d", r);
		break;
	}
	}
	f->in_guest_access = false;
	TRACE("\n");
	check_ops(f);
	check_state(f);
	check_ops(f); /* PBA reads in check_state may poll */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct fz *f = calloc(1, sizeof(*f));

	if (!f)
		return 0;
	if (trace < 0)
		trace = getenv("FUZZ_MSIX_TRACE") != NULL;
	if (setup(f, &in) == 0) {
		unsigned ops = 0;

		TRACE("N=%u cap 0x%x table %u:%llx PBA %u:%llx\n", f->m.n,
		      f->m.cap, f->m.tbir, (unsigned long long)f->m.tbase,
		      f->m.pbir, (unsigned long long)f->m.pbase);
		check_state(f);
		/* Bounded: a long input is many short runs' worth. */
		while (in.n && ops++ < 512)
			run_op(f, &in);
		while (f->m.tx) {
			CHECK(libmsix_commit(f->dev) <= 0, "final commit");
			f->m.tx--;
			check_ops(f);
		}
		CHECK(libmsix_commit(f->dev) == -EPERM, "commit after all");
		check_state(f);
		/* Destroy releases everything (with no failure pending). */
		libmsix_recorder_fail(f->rec, 0, 0, -EIO);
		libmsix_dev_destroy(f->dev);
		for (uint32_t v = 0; v < MAXN; v++)
			CHECK(libmsix_recorder_host(f->rec, v) == 0,
			      "vector %u held after destroy", v);
		CHECK(libmsix_recorder_violations(f->rec) == 0,
		      "violations at destroy");
	}
	libmsix_recorder_destroy(f->rec);
	free(f);
	return 0;
}
