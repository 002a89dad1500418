/* SPDX-License-Identifier: MIT */
/*
 * Config-space sweep of the MSI-X capability (R1, R2, R4, R7, R8; V7, V10,
 * V19): every byte offset from cap - 4 to cap + 16, so that accesses straddle
 * the capability's start and its end (XSA-128), widths 1, 2 and 4, values
 * 0, ~0, per-byte patterns of bits 7:6 and random ones, from every
 * Enable/Function Mask state, on three geometries.
 *
 * The oracle is the capability as §7.7.2 lays it out, built here from the
 * geometry: ID 0x11, the next pointer, Message Control = N - 1 | Function
 * Mask << 14 | Enable << 15 (bits 13:11 RsvdP, 0), Table and PBA
 * Offset/BIR. Only Message Control bits 15:14 are writable and they take the
 * bits of whatever byte of the write lands on cap + 3.
 */
#include "helpers.h"

/* See test_access_matrix.c: passing ck_assert_*() calls cost a write(2). */
#define REQUIRE(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

struct geometry {
	uint32_t n;
	uint16_t cap;
	uint8_t next;
	uint8_t tbir, pbir;
	uint32_t toff, poff;
};

/*
 * Smallest N at the default place; the largest N at the lowest capability
 * offset with the structures in two BARs; N = 65 at the highest capability
 * offset (cap + 16 lies past the 256-byte header space) in BAR 5.
 */
static const struct geometry geos[] = {
	{ 1, 0x50, 0x00, 0, 0, 0x0, 0x1000 },
	{ 2048, 0x40, 0x70, 2, 4, 0x10000, 0x8 },
	{ 65, 0xf4, 0x48, 5, 5, 0x800, 0x1000 },
};

#define NGEOS (sizeof(geos) / sizeof(geos[0]))

struct cdev {
	const struct geometry *g;
	struct libmsix_config cfg;
	struct tdev t;
};

static struct cdev cdev_new(const struct geometry *g)
{
	struct cdev c = { .g = g };

	c.cfg = test_config(g->n);
	c.cfg.cap_offset = g->cap;
	c.cfg.next_cap = g->next;
	c.cfg.table_bir = g->tbir;
	c.cfg.table_offset = g->toff;
	c.cfg.pba_bir = g->pbir;
	c.cfg.pba_offset = g->poff;
	memset(c.cfg.bar_type, 0, sizeof(c.cfg.bar_type));
	memset(c.cfg.bar_size, 0, sizeof(c.cfg.bar_size));
	c.cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	c.cfg.bar_size[0] = 0x4000;
	c.cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	c.cfg.bar_size[2] = 0x20000;
	c.cfg.bar_type[4] = LIBMSIX_BAR_MEM64;
	c.cfg.bar_size[4] = 0x1000;
	c.cfg.bar_type[5] = LIBMSIX_BAR_NONE;
	if (g->tbir == 5) {
		c.cfg.bar_type[4] = LIBMSIX_BAR_NONE;
		c.cfg.bar_type[5] = LIBMSIX_BAR_MEM32;
		c.cfg.bar_size[5] = 0x2000;
	}
	c.t = tdev_new_cfg(&c.cfg, 0, 0);
	return c;
}

static int cwrite(struct cdev *c, uint32_t off, uint32_t size, uint32_t val)
{
	return libmsix_config_write(c->t.dev, off, size, val);
}

static int msgctl(struct cdev *c, bool en, bool fm)
{
	return cwrite(c, c->g->cap + PCI_MSIX_FLAGS, 2,
		      (en ? PCI_MSIX_FLAGS_ENABLE : 0) |
			      (fm ? PCI_MSIX_FLAGS_MASKALL : 0));
}

static void tbl_dword(struct cdev *c, uint32_t v, uint32_t dw, uint32_t val)
{
	int r = libmsix_mmio_write(c->t.dev, c->g->tbir,
				   c->g->toff + 16ull * v + 4 * dw, 4, val);

	REQUIRE(r == 0, "table write %u.%u: %d", v, dw, r);
}

/*
 * Programmed entries; a few unmasked (so transitions do backend work and
 * replays) and a few pending, blocked under Function Mask. Ends enabled with
 * Function Mask set.
 */
static void populate(struct cdev *c)
{
	uint32_t n = c->g->n;

	ck_assert_int_eq(msgctl(c, true, true), 0);
	for (uint32_t v = 0; v < n; v++) {
		tbl_dword(c, v, 0, (uint32_t)test_addr(v));
		tbl_dword(c, v, 2, test_data(v));
		if (v % 256 == 0 || v == n - 1 || v == 3)
			tbl_dword(c, v, 3, 0);
	}
	for (uint32_t v = 0; v < n; v += 2)
		REQUIRE(libmsix_notify(c->t.dev, v) == LIBMSIX_LATCHED,
			"notify %u did not latch", v);
}

/* The capability bytes as §7.7.2 defines them for this geometry. */
static void cap_image(const struct cdev *c, bool en, bool fm, uint8_t img[12])
{
	uint32_t ctl = (c->g->n - 1) | (fm ? PCI_MSIX_FLAGS_MASKALL : 0) |
		       (en ? PCI_MSIX_FLAGS_ENABLE : 0);
	uint32_t tbl = c->g->toff | c->g->tbir, pba = c->g->poff | c->g->pbir;

	img[0] = PCI_CAP_ID_MSIX;
	img[1] = c->g->next;
	img[2] = (uint8_t)ctl;
	img[3] = (uint8_t)(ctl >> 8);
	for (int i = 0; i < 4; i++) {
		img[4 + i] = (uint8_t)(tbl >> (8 * i));
		img[8 + i] = (uint8_t)(pba >> (8 * i));
	}
}

/* Read the whole capability back byte by byte and compare. */
static void expect_cap(struct cdev *c, bool en, bool fm, const char *why)
{
	uint8_t img[12];

	cap_image(c, en, fm, img);
	for (uint32_t i = 0; i < 12; i++) {
		uint32_t v = 0xabababab;

		REQUIRE(libmsix_config_read(c->t.dev, c->g->cap + i, 1, &v) == 0,
			"config_read failed");
		REQUIRE(v == (0xababab00u | img[i]),
			"N=%u cap 0x%x %s: cap byte %u reads 0x%02x, want 0x%02x",
			c->g->n, c->g->cap, why, i, v & 0xff, img[i]);
	}
	REQUIRE(libmsix_enabled(c->t.dev) == en &&
			libmsix_function_masked(c->t.dev) == fm,
		"N=%u %s: Enable %d Function Mask %d, want %d %d", c->g->n,
		why, libmsix_enabled(c->t.dev),
		libmsix_function_masked(c->t.dev), en, fm);
}

static uint32_t rng = 0x2545f491;

static uint32_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* 0, ~0, bits 7:6 of every byte in each combination, and random values. */
#define NVALS 10
static void values(uint32_t vals[NVALS])
{
	vals[0] = 0;
	vals[1] = UINT32_MAX;
	vals[2] = 0x40404040;
	vals[3] = 0x80808080;
	vals[4] = 0xc0c0c0c0;
	vals[5] = 0x3f3f3f3f;
	for (int i = 6; i < NVALS; i++)
		vals[i] = xorshift();
}

static const uint32_t widths[] = { 1, 2, 4 };

/* ------------------------------------------------------------------------ */

/* One read: bytes inside the capability are its registers, the rest and
 * the bytes past the width are what the VMM passed in. */
static void read_case(struct cdev *c, int st, const uint8_t img[12],
		      uint32_t off, uint32_t w, uint32_t in)
{
	uint32_t cap = c->g->cap, out = in;

	REQUIRE(libmsix_config_read(c->t.dev, off, w, &out) == 0,
		"read off 0x%x width %u failed", off, w);
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t at = off + i;
		uint8_t got = (uint8_t)(out >> (8 * i));
		uint8_t want = (uint8_t)(in >> (8 * i));

		if (i < w && at >= cap && at < cap + 12)
			want = img[at - cap];
		REQUIRE(got == want,
			"N=%u state %d read off 0x%x width %u in 0x%08x: "
			"byte %u = 0x%02x, want 0x%02x",
			c->g->n, st, off, w, in, i, got, want);
	}
}

/* V7: config_read replaces exactly the bytes inside the capability. */
START_TEST(test_config_read_overlays_only_cap_bytes)
{
	for (size_t gi = 0; gi < NGEOS; gi++) {
		struct cdev c = cdev_new(&geos[gi]);
		uint32_t cap = c.g->cap, vals[NVALS];

		populate(&c);
		for (int st = 0; st < 4; st++) {
			uint8_t img[12];
			size_t ops;

			ck_assert_int_eq(msgctl(&c, st & 1, st & 2), 0);
			cap_image(&c, st & 1, st & 2, img);
			ops = libmsix_recorder_count(c.t.rec);
			for (uint32_t off = cap - 4; off <= cap + 16; off++) {
				for (size_t wi = 0; wi < 3; wi++) {
					values(vals);
					for (int k = 0; k < NVALS; k++)
						read_case(&c, st, img, off,
							  widths[wi], vals[k]);
				}
			}
			/* Reads never reach the backend. */
			ck_assert_uint_eq(libmsix_recorder_count(c.t.rec), ops);
		}
		tdev_free(&c.t);
	}
}
END_TEST

struct guest_vec {
	uint64_t address;
	uint32_t data, ctrl, use;
};

static void guest_layer(struct cdev *c, struct guest_vec *gv)
{
	for (uint32_t v = 0; v < c->g->n; v++) {
		struct libmsix_vector_info i;

		REQUIRE(libmsix_get_vector_info(c->t.dev, v, &i) == 0, "info");
		gv[v].address = i.msg.address;
		gv[v].data = i.msg.data;
		gv[v].ctrl = i.vector_control;
		gv[v].use = i.use_count;
	}
}

static void full_state(struct cdev *c, struct libmsix_vector_info *vi)
{
	for (uint32_t v = 0; v < c->g->n; v++)
		REQUIRE(libmsix_get_vector_info(c->t.dev, v, &vi[v]) == 0, "info");
}

/* Scratch state for the write sweep of one geometry. */
struct wsweep {
	struct cdev c;
	struct guest_vec *before, *after;
	struct libmsix_vector_info *vi0, *vi1;
	uint64_t cases, effective;
};

/* One write from state (en0, fm0). */
static void write_case(struct wsweep *ws, bool en0, bool fm0, uint32_t off,
		       uint32_t w, uint32_t val)
{
	struct cdev *c = &ws->c;
	uint32_t cap = c->g->cap, n = c->g->n;
	bool covers = off <= cap + 3 && cap + 3 < off + w;
	/* The Message Control high byte of the write, if it has one (and
	 * only then a shift below 32). */
	uint8_t b = covers ? (uint8_t)(val >> (8 * (cap + 3 - off))) : 0;
	bool en = covers ? b & 0x80 : en0, fm = covers ? b & 0x40 : fm0;
	size_t ops;
	int r;

	REQUIRE(msgctl(c, en0, fm0) == 0, "msgctl");
	libmsix_recorder_clear(c->t.rec);
	if (en == en0 && fm == fm0)
		full_state(c, ws->vi0);
	r = cwrite(c, off, w, val);
	REQUIRE(r == 0, "write off 0x%x width %u val 0x%08x: %d", off, w, val,
		r);
	expect_cap(c, en, fm, "after write");
	guest_layer(c, ws->after);
	REQUIRE(memcmp(ws->before, ws->after, n * sizeof(*ws->after)) == 0,
		"N=%u write off 0x%x width %u val 0x%08x changed a table "
		"entry",
		n, off, w, val);
	ws->cases++;
	if (en != en0 || fm != fm0) {
		ws->effective++;
		return;
	}
	ops = libmsix_recorder_count(c->t.rec);
	full_state(c, ws->vi1);
	REQUIRE(ops == 0 && memcmp(ws->vi0, ws->vi1, n * sizeof(*ws->vi1)) == 0,
		"N=%u write off 0x%x width %u val 0x%08x without a "
		"transition: %zu backend ops, vectors %s",
		n, off, w, val, ops,
		memcmp(ws->vi0, ws->vi1, n * sizeof(*ws->vi1)) ? "changed"
							       : "same");
}

/*
 * R1, R2, R4, R7 (V10, V19): from every state, a write of any width and
 * value at any offset around the capability changes Message Control bits
 * 15:14 -- to the bits of its byte at cap + 3, if it covers that byte -- and
 * nothing else: not the header, QSIZE, reserved bits, the BIR/offset
 * registers, nor any table entry. A write that misses cap + 3 makes no
 * backend call and changes no vector.
 */
START_TEST(test_config_write_changes_only_msgctl_15_14)
{
	for (size_t gi = 0; gi < NGEOS; gi++) {
		struct wsweep ws = { .c = cdev_new(&geos[gi]) };
		uint32_t cap = ws.c.g->cap, n = ws.c.g->n, vals[NVALS];

		ws.before = calloc(n, sizeof(*ws.before));
		ws.after = calloc(n, sizeof(*ws.after));
		ws.vi0 = calloc(n, sizeof(*ws.vi0));
		ws.vi1 = calloc(n, sizeof(*ws.vi1));
		ck_assert(ws.before && ws.after && ws.vi0 && ws.vi1);
		populate(&ws.c);
		guest_layer(&ws.c, ws.before);
		for (int st = 0; st < 4; st++) {
			for (uint32_t off = cap - 4; off <= cap + 16; off++) {
				for (size_t wi = 0; wi < 3; wi++) {
					values(vals);
					for (int k = 0; k < NVALS; k++)
						write_case(&ws, st & 1, st & 2,
							   off, widths[wi],
							   vals[k]);
				}
			}
		}
		/* Writes that changed the state and writes that did not: the
		 * sweep can fail both ways. */
		ck_assert_uint_gt(ws.effective, 0);
		ck_assert_uint_gt(ws.cases - ws.effective, 0);
		ck_assert_uint_eq(libmsix_recorder_violations(ws.c.t.rec), 0);
		free(ws.before);
		free(ws.after);
		free(ws.vi0);
		free(ws.vi1);
		tdev_free(&ws.c.t);
	}
}
END_TEST

/* One way of writing Message Control byte 1. */
struct form {
	const char *name;
	uint32_t off, width; /* relative to cap */
	uint32_t (*val)(uint8_t hi);
};

/* Garbage wherever a form also covers read-only bytes (R1, R2, R4, R7). */
static uint32_t f_dword0(uint8_t hi)
{
	return 0x07ffa5c3u | (uint32_t)hi << 24 | 0x38u << 24;
}

static uint32_t f_word2(uint8_t hi)
{
	return 0x3fffu | (uint32_t)hi << 8;
}

static uint32_t f_byte3(uint8_t hi)
{
	return 0x3fu | hi;
}

static uint32_t f_word3(uint8_t hi)
{
	return 0xff3fu | hi;
}

static uint32_t f_dword1(uint8_t hi)
{
	return 0xff3fffffu | (uint32_t)hi << 16;
}

static uint32_t f_dword3(uint8_t hi)
{
	return 0xffffff3fu | hi;
}

static const struct form forms[] = {
	{ "dword at cap+0", 0, 4, f_dword0 },
	{ "word at cap+2", 2, 2, f_word2 },
	{ "byte at cap+3", 3, 1, f_byte3 },
	{ "word at cap+3", 3, 2, f_word3 },
	{ "dword at cap+1", 1, 4, f_dword1 },
	{ "dword at cap+3", 3, 4, f_dword3 },
};

#define NFORMS (sizeof(forms) / sizeof(forms[0]))

/* What one form did: state, backend calls, deliveries. */
struct outcome {
	struct libmsix_vector_info *vi;
	struct libmsix_rec_op *ops;
	size_t nops;
	struct libmsix_stats cnt;
};

static void run_form(const struct geometry *g, int from, int to,
		     const struct form *fo, struct outcome *out)
{
	struct cdev c = cdev_new(g);
	uint8_t hi = (uint8_t)((to & 1 ? 0x80 : 0) | (to & 2 ? 0x40 : 0));

	populate(&c);
	ck_assert_int_eq(msgctl(&c, from & 1, from & 2), 0);
	libmsix_recorder_clear(c.t.rec);
	ck_assert_int_eq(cwrite(&c, g->cap + fo->off, fo->width, fo->val(hi)),
			 0);
	expect_cap(&c, to & 1, to & 2, fo->name);
	out->vi = calloc(g->n, sizeof(*out->vi));
	ck_assert_ptr_nonnull(out->vi);
	full_state(&c, out->vi);
	ck_assert_int_eq(libmsix_get_stats(c.t.dev, &out->cnt), 0);
	out->nops = libmsix_recorder_count(c.t.rec);
	out->ops = calloc(out->nops + 1, sizeof(*out->ops));
	ck_assert_ptr_nonnull(out->ops);
	for (size_t i = 0; i < out->nops; i++)
		out->ops[i] = *libmsix_recorder_op(c.t.rec, i);
	tdev_free(&c.t);
}

static bool same_op(const struct libmsix_rec_op *a,
		    const struct libmsix_rec_op *b)
{
	return a->kind == b->kind && a->start == b->start &&
	       a->count == b->count && a->msg.address == b->msg.address &&
	       a->msg.data == b->msg.data;
}

/* @o, what form @name did, is what the dword at cap+0 did (@ref). */
static void expect_same_outcome(const struct geometry *g, int from, int to,
				const char *name, const struct outcome *ref,
				const struct outcome *o)
{
	REQUIRE(memcmp(ref->vi, o->vi, g->n * sizeof(*o->vi)) == 0,
		"N=%u %d->%d: %s state differs", g->n, from, to, name);
	REQUIRE(o->nops == ref->nops,
		"N=%u %d->%d: %s made %zu backend calls, dword at cap+0 %zu",
		g->n, from, to, name, o->nops, ref->nops);
	for (size_t i = 0; i < o->nops; i++)
		REQUIRE(same_op(&o->ops[i], &ref->ops[i]),
			"N=%u %d->%d: %s op %zu differs", g->n, from, to, name,
			i);
	ck_assert_uint_eq(o->cnt.delivered + o->cnt.replayed,
			  ref->cnt.delivered + ref->cnt.replayed);
	ck_assert_uint_eq(o->cnt.host_vectors, ref->cnt.host_vectors);
}

/*
 * R8 (CH #3714, #7956): every write form that covers Message Control byte 1
 * gives identical state, identical backend calls and identical deliveries,
 * from every state to every state, and the RO bytes it also covers keep
 * their values.
 */
START_TEST(test_config_write_forms_identical)
{
	for (size_t gi = 0; gi < NGEOS; gi++) {
		for (int from = 0; from < 4; from++) {
			for (int to = 0; to < 4; to++) {
				const struct geometry *g = &geos[gi];
				struct outcome ref, o;

				run_form(g, from, to, &forms[0], &ref);
				for (size_t fi = 1; fi < NFORMS; fi++) {
					run_form(g, from, to, &forms[fi], &o);
					expect_same_outcome(g, from, to,
							    forms[fi].name,
							    &ref, &o);
					free(o.vi);
					free(o.ops);
				}
				free(ref.vi);
				free(ref.ops);
			}
		}
	}
}
END_TEST

/* Widths other than 1, 2, 4 and NULL pointers: -EINVAL, nothing changes. */
START_TEST(test_config_bad_width_rejected)
{
	static const uint32_t bad[] = { 0, 3, 5, 8, 16, UINT32_MAX };
	struct cdev c = cdev_new(&geos[0]);
	uint32_t cap = c.g->cap;

	populate(&c);
	libmsix_recorder_clear(c.t.rec);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (uint32_t off = cap - 4; off <= cap + 16; off++) {
			uint32_t v = 0x12345678;

			ck_assert_int_eq(libmsix_config_read(c.t.dev, off, bad[i], &v),
					 -EINVAL);
			ck_assert_uint_eq(v, 0x12345678);
			ck_assert_int_eq(cwrite(&c, off, bad[i], 0), -EINVAL);
			ck_assert_int_eq(cwrite(&c, off, bad[i], UINT32_MAX), -EINVAL);
		}
	}
	ck_assert_int_eq(libmsix_config_read(c.t.dev, cap, 4, NULL), -EINVAL);
	ck_assert_int_eq(libmsix_config_read(NULL, cap, 4, &cap), -EINVAL);
	ck_assert_int_eq(libmsix_config_write(NULL, cap, 4, 0), -EINVAL);
	expect_cap(&c, true, true, "after rejected accesses");
	ck_assert_uint_eq(libmsix_recorder_count(c.t.rec), 0);
	tdev_free(&c.t);
}
END_TEST

/* Offsets far from the capability, up to the 32-bit wrap, are not it. */
START_TEST(test_config_extreme_offsets_ignored)
{
	static const uint32_t offs[] = {
		0, 1, 0x3f, 0xff, 0x100, 0xffc, 0xfff, 0x1000, 0x10000 + 0x50,
		UINT32_MAX - 3, UINT32_MAX - 2, UINT32_MAX - 1, UINT32_MAX,
	};
	struct cdev c = cdev_new(&geos[0]);

	populate(&c);
	libmsix_recorder_clear(c.t.rec);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t wi = 0; wi < 3; wi++) {
			uint32_t v = 0x9abcdef0;

			ck_assert_int_eq(libmsix_config_read(c.t.dev, offs[i],
							     widths[wi], &v), 0);
			ck_assert_uint_eq(v, 0x9abcdef0);
			ck_assert_int_eq(cwrite(&c, offs[i], widths[wi], 0), 0);
			ck_assert_int_eq(cwrite(&c, offs[i], widths[wi], UINT32_MAX),
					 0);
		}
	}
	expect_cap(&c, true, true, "after far writes");
	ck_assert_uint_eq(libmsix_recorder_count(c.t.rec), 0);
	tdev_free(&c.t);
}
END_TEST

/* R2, R3, V20: QSIZE is N - 1 in all 11 bits, for every N class. */
START_TEST(test_config_qsize_read_only_every_n)
{
	static const uint32_t ns[] = { 1, 2, 31, 32, 63, 64, 65, 1023, 1024,
				       1025, 2047, 2048 };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct libmsix_config cfg = test_config(ns[i]);
		struct tdev t = tdev_new_cfg(&cfg, 0, 0);
		uint32_t ctl;

		ctl = cfg_read(&t, TEST_CAP + PCI_MSIX_FLAGS, 2);
		ck_assert_uint_eq(ctl & PCI_MSIX_FLAGS_QSIZE, ns[i] - 1);
		ck_assert_uint_eq(ctl & ~PCI_MSIX_FLAGS_QSIZE, 0);
		/* All ones through each width: only bits 15:14 follow. */
		ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, UINT32_MAX), 0);
		ctl = cfg_read(&t, TEST_CAP + PCI_MSIX_FLAGS, 2);
		ck_assert_uint_eq(ctl, (ns[i] - 1) | PCI_MSIX_FLAGS_ENABLE |
					       PCI_MSIX_FLAGS_MASKALL);
		ck_assert_int_eq(cfg_write(&t, TEST_CAP + 2, 1, 0xff), 0);
		ck_assert_int_eq(cfg_write(&t, TEST_CAP + 2, 2, 0x07ff), 0);
		ctl = cfg_read(&t, TEST_CAP + PCI_MSIX_FLAGS, 2);
		ck_assert_uint_eq(ctl, ns[i] - 1);
		/* R4: reserved bits 13:11 through the word and the byte. */
		ck_assert_int_eq(cfg_write(&t, TEST_CAP + 2, 2, 0x3800), 0);
		ck_assert_int_eq(cfg_write(&t, TEST_CAP + 3, 1, 0x38), 0);
		ctl = cfg_read(&t, TEST_CAP + PCI_MSIX_FLAGS, 2);
		ck_assert_uint_eq(ctl, ns[i] - 1);
		tdev_free(&t);
	}
}
END_TEST

static Suite *config_matrix_suite(void)
{
	Suite *s = suite_create("config_matrix");
	TCase *tc = tcase_create("config_matrix");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_config_read_overlays_only_cap_bytes);
	tcase_add_test(tc, test_config_write_changes_only_msgctl_15_14);
	tcase_add_test(tc, test_config_write_forms_identical);
	tcase_add_test(tc, test_config_bad_width_rejected);
	tcase_add_test(tc, test_config_extreme_offsets_ignored);
	tcase_add_test(tc, test_config_qsize_read_only_every_n);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(config_matrix_suite());
}
