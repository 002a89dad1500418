/* SPDX-License-Identifier: MIT */
/*
 * R25/R29 exhaustive access matrix, for every table/PBA layout of V15.
 *
 * For N in {1, 63, 64, 65, 2048} and each layout, every byte offset of every
 * naturally aligned 4 KiB page that holds part of the table or the PBA, in
 * every BAR that holds either, is read and written with sizes 1..8. The
 * oracle is written from the documentation (libmsix_mmio_read() and
 * libmsix_mmio_write() in libmsix.h, the R25 choice at the top of
 * lib/model.c), not from classify():
 *
 *  - an access touching neither structure of its BAR is -ENOENT and a read
 *    leaves *val alone;
 *  - a read that lies wholly inside one structure returns the bytes of the
 *    registers it covers, built here from libmsix_get_vector_info(), never
 *    through the MMIO path under test; any other read that touches a
 *    structure returns all ones;
 *  - aligned DWORD/QWORD table writes take effect; every other write that
 *    touches a structure (PBA writes included, R22) returns 0, is counted in
 *    bad_accesses, makes no backend call and changes no state anywhere.
 *
 * State is compared through libmsix_get_vector_info() of every vector, the
 * Enable/Function Mask bits and the recorder's committed host state.
 *
 * Under Valgrind (LIBMSIX_UNDER_VALGRIND=1, set by the memcheck runs) the
 * N = 2048 matrices and the second device state ("live") are sampled --
 * every offset within 64 bytes of a structure or page boundary plus every
 * 13th offset elsewhere (13 is coprime to 16, so every alignment inside an
 * entry is still hit) -- because the full sweep takes minutes there. The
 * blocked-state matrices for N <= 65 stay exhaustive under Valgrind, and
 * native runs sweep every offset of every page for every N and state.
 */
#include <stdio.h>

#include "helpers.h"

/*
 * check's ck_assert_*() records every passing assertion (a write(2) each):
 * millions of them would make the sweep I/O bound. The hot paths below use
 * REQUIRE, which only calls into check when it fails.
 */
#define REQUIRE(cond, ...)                      \
	do {                                    \
		if (!(cond))                    \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)
#define REQUIRE_OK(expr)                                                   \
	do {                                                               \
		int r_ = (expr);                                           \
		REQUIRE(r_ == 0, AT "%s returned %d", CTX, #expr, r_); \
	} while (0)
/* Failure messages name the sweep: N and layout. */
#define AT "[N=%u, %s] "
#define CTX cur_n, cur_layout

#define PAGE 4096u

/* The V15 layouts. */
enum layout {
	L_SAME_BAR_DISJOINT_PAGES,	/* table page(s), then PBA page */
	L_SAME_BAR_PBA_FIRST,		/* PBA at 0, table right after: shared page */
	L_SAME_BAR_TABLE_FIRST,		/* table at 0, PBA right after it */
	L_SPLIT_SAME_OFFSET,		/* table BAR 0 @0x2000, PBA BAR 2 @0x2000 */
	L_SPLIT_OVERLAPPING,		/* PBA BAR 2 offset inside the table's range */
	L_COUNT,
};

static const char *const layout_name[L_COUNT] = {
	"same BAR, disjoint pages", "same BAR, PBA first, shared page",
	"same BAR, table first, adjacent", "different BARs, same offset",
	"different BARs, overlapping offsets",
};

/* Layout and N of the sweep running, for failure messages. */
static const char *cur_layout = "";
static uint32_t cur_n;

static const uint32_t sizes_n[] = { 1, 63, 64, 65, 2048 };

static bool under_valgrind(void)
{
	const char *s = getenv("LIBMSIX_UNDER_VALGRIND");

	return s && *s && strcmp(s, "0") != 0;
}

static uint32_t pba_len(uint32_t n)
{
	return (n + 63) / 64 * 8;
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static struct libmsix_config layout_config(uint32_t n, enum layout l)
{
	struct libmsix_config cfg = test_config(n);
	uint64_t tend, pend;

	cfg.bar_type[0] = LIBMSIX_BAR_MEM64; /* BARs 0 and 1 */
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	switch (l) {
	case L_SAME_BAR_DISJOINT_PAGES:
		cfg.table_bir = cfg.pba_bir = 0;
		cfg.table_offset = 0;
		cfg.pba_offset = (uint32_t)round_up(16u * n, PAGE);
		break;
	case L_SAME_BAR_PBA_FIRST:
		cfg.table_bir = cfg.pba_bir = 0;
		cfg.pba_offset = 0;
		cfg.table_offset = pba_len(n);
		break;
	case L_SAME_BAR_TABLE_FIRST:
		cfg.table_bir = cfg.pba_bir = 0;
		cfg.table_offset = 0;
		cfg.pba_offset = 16u * n;
		break;
	case L_SPLIT_SAME_OFFSET:
		cfg.table_bir = 0;
		cfg.pba_bir = 2;
		cfg.table_offset = cfg.pba_offset = 0x2000;
		break;
	default:
		cfg.table_bir = 0;
		cfg.pba_bir = 2;
		cfg.table_offset = 0x1000;
		/* Inside [table, table + 16N) numerically, in another BAR. */
		cfg.pba_offset = 0x1000 + 8 * (n / 2);
		break;
	}
	tend = cfg.table_offset + 16ull * n;
	pend = cfg.pba_offset + pba_len(n);
	/* One spare page past everything: accesses there are -ENOENT. */
	cfg.bar_size[0] = cfg.bar_size[2] =
		round_up(tend > pend ? tend : pend, PAGE) + PAGE;
	return cfg;
}

/* ------------------------------------------------------------------------ */
/* State snapshots                                                           */
/* ------------------------------------------------------------------------ */

struct snap {
	uint32_t n;
	bool enabled, fmask;
	struct libmsix_vector_info *v;
	uint32_t *rec_host;
};

static void snap_vector(struct tdev *t, struct snap *s, uint32_t v)
{
	REQUIRE_OK(libmsix_get_vector_info(t->dev, v, &s->v[v]));
	s->rec_host[v] = libmsix_recorder_host(t->rec, v);
}

static void snap_take(struct tdev *t, struct snap *s)
{
	s->n = t->n;
	if (!s->v) {
		s->v = calloc(t->n, sizeof(*s->v));
		s->rec_host = calloc(t->n, sizeof(*s->rec_host));
		ck_assert_ptr_nonnull(s->v);
		ck_assert_ptr_nonnull(s->rec_host);
	}
	s->enabled = libmsix_enabled(t->dev);
	s->fmask = libmsix_function_masked(t->dev);
	for (uint32_t v = 0; v < t->n; v++)
		snap_vector(t, s, v);
}

static void snap_free(struct snap *s)
{
	free(s->v);
	free(s->rec_host);
}

static bool info_eq(const struct libmsix_vector_info *a,
		    const struct libmsix_vector_info *b)
{
	return a->masked == b->masked && a->pending == b->pending &&
	       a->live == b->live && a->use_count == b->use_count &&
	       a->msg.address == b->msg.address && a->msg.data == b->msg.data &&
	       a->vector_control == b->vector_control && a->host == b->host;
}

/* Vector @v now equals the snapshot. */
static void expect_vector(struct tdev *t, const struct snap *s, uint32_t v,
			  const char *what, uint32_t bir, uint64_t off,
			  uint32_t size)
{
	struct libmsix_vector_info now;

	REQUIRE_OK(libmsix_get_vector_info(t->dev, v, &now));
	REQUIRE(info_eq(&now, &s->v[v]) &&
			libmsix_recorder_host(t->rec, v) == s->rec_host[v],
		AT "%s BAR %u off 0x%llx size %u changed vector %u: "
		   "ctrl %x->%x addr %llx->%llx data %x->%x pend %d->%d "
		   "live %d->%d host %x->%x",
		CTX, what, bir, (unsigned long long)off, size, v,
		      s->v[v].vector_control, now.vector_control,
		      (unsigned long long)s->v[v].msg.address,
		      (unsigned long long)now.msg.address, s->v[v].msg.data,
		      now.msg.data, s->v[v].pending, now.pending, s->v[v].live,
		      now.live, s->v[v].host, now.host);
}

static void expect_all(struct tdev *t, const struct snap *s, const char *what,
		       uint32_t bir, uint64_t off)
{
	REQUIRE(libmsix_enabled(t->dev) == s->enabled &&
			libmsix_function_masked(t->dev) == s->fmask,
		AT "%s near BAR %u off 0x%llx changed Message Control", CTX,
		what, bir, (unsigned long long)off);
	for (uint32_t v = 0; v < t->n; v++)
		expect_vector(t, s, v, what, bir, off, 0);
}

/* ------------------------------------------------------------------------ */
/* The oracle                                                                */
/* ------------------------------------------------------------------------ */

struct geo {
	uint32_t tbir, pbir;
	uint64_t tbase, tend, pbase, pend;
};

static struct geo geo_of(const struct libmsix_config *cfg)
{
	struct geo g = {
		.tbir = cfg->table_bir,
		.pbir = cfg->pba_bir,
		.tbase = cfg->table_offset,
		.tend = cfg->table_offset + 16ull * cfg->nr_vectors,
		.pbase = cfg->pba_offset,
		.pend = cfg->pba_offset + pba_len(cfg->nr_vectors),
	};

	return g;
}

/* Byte @rel of the table as the registers hold it (R14, R15, R19). */
static uint8_t table_byte(const struct snap *s, uint64_t rel)
{
	const struct libmsix_vector_info *i = &s->v[rel / 16];
	uint32_t word;

	switch (rel % 16 / 4) {
	case 0:
		word = (uint32_t)i->msg.address;
		break;
	case 1:
		word = (uint32_t)(i->msg.address >> 32);
		break;
	case 2:
		word = i->msg.data;
		break;
	default:
		word = i->vector_control;
		break;
	}
	return (uint8_t)(word >> (8 * (rel % 4)));
}

/* Byte @rel of the PBA: bit k of byte b is vector 8b + k (R20, R21). */
static uint8_t pba_byte(const struct snap *s, uint64_t rel)
{
	uint8_t b = 0;

	for (uint32_t k = 0; k < 8; k++) {
		uint64_t v = rel * 8 + k;

		if (v < s->n && s->v[v].pending)
			b |= (uint8_t)(1u << k);
	}
	return b;
}

enum hit { H_NONE, H_TABLE, H_PBA, H_ONES };

static enum hit oracle_hit(const struct geo *g, uint32_t bir, uint64_t off,
			   uint32_t size)
{
	uint64_t end = off + size; /* offsets here are small: no wrap */
	bool tt = bir == g->tbir && off < g->tend && end > g->tbase;
	bool tp = bir == g->pbir && off < g->pend && end > g->pbase;

	if (!tt && !tp)
		return H_NONE;
	if (tt && tp)
		return H_ONES;
	if (tt)
		return off >= g->tbase && end <= g->tend ? H_TABLE : H_ONES;
	return off >= g->pbase && end <= g->pend ? H_PBA : H_ONES;
}

static uint64_t oracle_read(const struct geo *g, const struct snap *s,
			    enum hit h, uint64_t off, uint32_t size)
{
	uint64_t v = 0;

	if (h == H_ONES)
		return size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
	for (uint32_t i = 0; i < size; i++) {
		uint8_t b = h == H_TABLE ? table_byte(s, off + i - g->tbase)
					 : pba_byte(s, off + i - g->pbase);

		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

/* ------------------------------------------------------------------------ */
/* Device set-up                                                             */
/* ------------------------------------------------------------------------ */

static uint64_t pat_addr(uint32_t v)
{
	return (uint64_t)(0x100u + v) << 32 | (0xfee00000u | v << 2);
}

static uint32_t pat_data(uint32_t v)
{
	return 0xa5000000u | v * 0x101u;
}

struct matrix {
	struct tdev t;
	struct libmsix_config cfg;
	struct geo g;
	struct snap s;
	uint64_t bad;		/* expected bad_accesses */
	bool sample;
	uint64_t reads, writes, defined_writes, enoent;
};

static uint64_t bad_accesses(struct tdev *t)
{
	struct libmsix_stats c;

	REQUIRE_OK(libmsix_get_stats(t->dev, &c));
	return c.bad_accesses;
}

/*
 * Every vector used and programmed with its own pattern, a third unmasked,
 * a fifth (and N-1) pending. @live: Function Mask cleared afterwards, so the
 * unmasked vectors are live with host resources; else everything stays
 * blocked under Function Mask and table writes cause no backend work.
 */
static void program(struct matrix *m, bool live)
{
	struct tdev *t = &m->t;
	uint32_t bir = m->g.tbir;

	REQUIRE_OK(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE |
					 PCI_MSIX_FLAGS_MASKALL));
	for (uint32_t v = 0; v < t->n; v++) {
		uint64_t e = m->g.tbase + 16ull * v;

		REQUIRE_OK(libmsix_mmio_write(t->dev, bir, e, 8, pat_addr(v)));
		REQUIRE_OK(libmsix_mmio_write(t->dev, bir, e + 8, 4,
					      pat_data(v)));
		REQUIRE_OK(libmsix_mmio_write(t->dev, bir, e + 12, 4,
					      v % 3 == 0 ? 0 : 1));
	}
	for (uint32_t v = 0; v < t->n; v++)
		if (v % 5 == 0 || v == t->n - 1)
			REQUIRE(libmsix_notify(t->dev, v) == LIBMSIX_LATCHED,
				AT "notify %u did not latch", CTX, v);
	if (live)
		REQUIRE_OK(set_msgctl(t, PCI_MSIX_FLAGS_ENABLE));
	ck_assert_uint_eq(libmsix_recorder_violations(t->rec), 0);
}

/* ------------------------------------------------------------------------ */
/* One access                                                                */
/* ------------------------------------------------------------------------ */

static void check_read(struct matrix *m, uint32_t bir, uint64_t off,
		       uint32_t size)
{
	const uint64_t poison = 0x5a5a5a5a5a5a5a5aull;
	enum hit h = oracle_hit(&m->g, bir, off, size);
	uint64_t a = poison, b = poison, want;
	size_t ops = libmsix_recorder_count(m->t.rec);
	int ra = libmsix_mmio_read(m->t.dev, bir, off, size, &a);
	int rb = libmsix_mmio_read(m->t.dev, bir, off, size, &b);

	m->reads += 2;
	if (h == H_NONE) {
		m->enoent++;
		REQUIRE(ra == -ENOENT && rb == -ENOENT && a == poison &&
				b == poison,
			AT "read BAR %u off 0x%llx size %u: %d, want -ENOENT "
			   "and *val untouched",
			CTX, bir, (unsigned long long)off, size, ra);
		return;
	}
	REQUIRE(ra == 0 && rb == 0,
		AT "read BAR %u off 0x%llx size %u returned %d/%d", CTX, bir,
		(unsigned long long)off, size, ra, rb);
	REQUIRE(a == b, AT "read BAR %u off 0x%llx size %u not deterministic",
		CTX, bir, (unsigned long long)off, size);
	want = oracle_read(&m->g, &m->s, h, off, size);
	REQUIRE(a == want,
		AT "read BAR %u off 0x%llx size %u = 0x%llx, want 0x%llx (%s)",
		CTX, bir, (unsigned long long)off, size, (unsigned long long)a,
		(unsigned long long)want,
		h == H_ONES ? "all ones" : "register bytes");
	/* Reads have no side effects on the backend (poll finds nothing). */
	REQUIRE(libmsix_recorder_count(m->t.rec) == ops,
		AT "read BAR %u off 0x%llx size %u called the backend", CTX,
		bir, (unsigned long long)off, size);
}

/*
 * After an ignored write: the table entries it could reach, +-1, are as they
 * were. All the rest is compared once per 16 offsets by sweep_page(): a
 * stray change persists until then, since nothing but defined writes to the
 * entry at hand (restored at once) changes state during the sweep.
 */
static void expect_near(struct matrix *m, uint32_t bir, uint64_t off,
			uint32_t size, const char *what)
{
	uint64_t lo = off > m->g.tbase ? (off - m->g.tbase) / 16 : 0;
	uint64_t hi = off + size > m->g.tbase ? (off + size - m->g.tbase) / 16
					      : 0;

	lo = lo > 0 ? lo - 1 : 0;
	hi = hi + 1 < m->t.n ? hi + 1 : m->t.n - 1;
	for (uint64_t v = lo; v <= hi; v++)
		expect_vector(&m->t, &m->s, (uint32_t)v, what, bir, off, size);
	/* The pending bits of the PBA bytes it could reach, +-8 bytes. */
	if (bir == m->g.pbir && off < m->g.pend + 8 &&
	    off + size + 8 > m->g.pbase) {
		lo = off > m->g.pbase + 8 ? (off - 8 - m->g.pbase) * 8 : 0;
		hi = (off + size + 8 - m->g.pbase) * 8;
		for (uint64_t v = lo; v < hi && v < m->t.n; v++)
			expect_vector(&m->t, &m->s, (uint32_t)v, what, bir,
				      off, size);
	}
}

/*
 * An aligned DWORD/QWORD table write: every bit of the covered registers is
 * flipped, the entry must read back as R15/R19 define, the engine may only
 * work on that vector; then the old value is written back.
 */
static void defined_write(struct matrix *m, uint32_t bir, uint64_t off,
			  uint32_t size)
{
	uint64_t rel = off - m->g.tbase;
	uint32_t v = (uint32_t)(rel / 16), dw = (uint32_t)(rel % 16 / 4);
	const struct libmsix_vector_info *old = &m->s.v[v];
	struct libmsix_vector_info now;
	uint32_t words[4] = {
		(uint32_t)old->msg.address, (uint32_t)(old->msg.address >> 32),
		old->msg.data, old->vector_control
	};
	uint32_t want[4];
	uint64_t orig = words[dw], val;
	size_t ops = libmsix_recorder_count(m->t.rec);
	int r;

	if (size == 8)
		orig |= (uint64_t)words[dw + 1] << 32;
	val = ~orig;
	m->defined_writes++;
	memcpy(want, words, sizeof(want));
	want[dw] = (uint32_t)val;
	if (size == 8)
		want[dw + 1] = (uint32_t)(val >> 32);
	want[0] &= ~3u;	/* R15: address bits 1:0 read as 0 */
	want[3] &= 1u;	/* R19: only the Mask bit is stored */
	r = libmsix_mmio_write(m->t.dev, bir, off, size, val);
	REQUIRE(r == 0, AT "defined write BAR %u off 0x%llx size %u: %d", CTX,
		bir, (unsigned long long)off, size, r);
	REQUIRE_OK(libmsix_get_vector_info(m->t.dev, v, &now));
	REQUIRE((uint32_t)now.msg.address == want[0] &&
			(uint32_t)(now.msg.address >> 32) == want[1] &&
			now.msg.data == want[2] && now.vector_control == want[3],
		AT "defined write BAR %u off 0x%llx size %u: entry %u reads "
		   "%08x %08x %08x %08x, want %08x %08x %08x %08x",
		CTX, bir, (unsigned long long)off, size, v,
		(uint32_t)now.msg.address, (uint32_t)(now.msg.address >> 32),
		now.msg.data, now.vector_control, want[0], want[1], want[2],
		want[3]);
	for (size_t i = ops; i < libmsix_recorder_count(m->t.rec); i++) {
		const struct libmsix_rec_op *op =
			libmsix_recorder_op(m->t.rec, i);

		REQUIRE(op->kind == LIBMSIX_REC_COMMIT || op->start == v,
			AT "write to entry %u made backend op %d on vector %u",
			CTX, v, op->kind, op->start);
	}
	r = libmsix_mmio_write(m->t.dev, bir, off, size, orig);
	REQUIRE(r == 0, AT "restoring write BAR %u off 0x%llx size %u: %d",
		CTX, bir, (unsigned long long)off, size, r);
	REQUIRE_OK(libmsix_get_vector_info(m->t.dev, v, &now));
	REQUIRE(now.msg.address == old->msg.address &&
			now.msg.data == old->msg.data &&
			now.vector_control == old->vector_control,
		AT "entry %u not restored by BAR %u off 0x%llx size %u", CTX, v,
		bir, (unsigned long long)off, size);
	/* Unmasking a blocked pending vector replays it and takes host
	 * resources: its new state is the baseline from here on. */
	snap_vector(&m->t, &m->s, v);
}

static void check_write(struct matrix *m, uint32_t bir, uint64_t off,
			uint32_t size)
{
	static const uint64_t vals[] = { 0, UINT64_MAX };
	enum hit h = oracle_hit(&m->g, bir, off, size);
	uint64_t rel = off - m->g.tbase, bad;

	if (h == H_TABLE && (size == 4 || size == 8) && rel % size == 0) {
		defined_write(m, bir, off, size);
		bad = bad_accesses(&m->t);
		REQUIRE(bad == m->bad,
			AT "defined write BAR %u off 0x%llx size %u counted as "
			   "bad",
			CTX, bir, (unsigned long long)off, size);
		return;
	}
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		size_t ops = libmsix_recorder_count(m->t.rec);
		int r = libmsix_mmio_write(m->t.dev, bir, off, size, vals[i]);
		int want = h == H_NONE ? -ENOENT : 0;

		m->writes++;
		if (h != H_NONE)
			m->bad++;
		REQUIRE(r == want,
			AT "write BAR %u off 0x%llx size %u: %d, want %d", CTX,
			bir, (unsigned long long)off, size, r, want);
		REQUIRE(libmsix_recorder_count(m->t.rec) == ops,
			AT "ignored write BAR %u off 0x%llx size %u called the "
			   "backend",
			CTX, bir, (unsigned long long)off, size);
		bad = bad_accesses(&m->t);
		REQUIRE(bad == m->bad,
			AT "write BAR %u off 0x%llx size %u: bad_accesses %llu, "
			   "want %llu",
			CTX, bir, (unsigned long long)off, size,
			(unsigned long long)bad, (unsigned long long)m->bad);
		expect_near(m, bir, off, size, "ignored write");
	}
}

/* ------------------------------------------------------------------------ */
/* The sweep                                                                 */
/* ------------------------------------------------------------------------ */

/* Within 64 bytes of a structure edge or a page edge: always swept. */
static bool near_edge(const struct geo *g, uint64_t off)
{
	const uint64_t edges[] = { g->tbase, g->tend, g->pbase, g->pend };

	if (off % PAGE < 64 || off % PAGE >= PAGE - 64)
		return true;
	for (size_t i = 0; i < 4; i++)
		if (off + 64 >= edges[i] && off <= edges[i] + 64)
			return true;
	return false;
}

static void sweep_page(struct matrix *m, uint32_t bir, uint64_t page)
{
	for (uint64_t off = page * PAGE; off < (page + 1) * PAGE; off++) {
		if (m->sample && !near_edge(&m->g, off) && off % 13)
			continue;
		for (uint32_t size = 1; size <= 8; size++) {
			check_read(m, bir, off, size);
			check_write(m, bir, off, size);
		}
		/* Everything else is still as it was (see file comment for
		 * why once per entry is enough: a stray change persists). */
		if (off % 16 == 15)
			expect_all(&m->t, &m->s, "writes", bir, off);
	}
	expect_all(&m->t, &m->s, "writes", bir, page * PAGE);
}

static bool page_in(uint64_t page, uint64_t base, uint64_t end)
{
	return end > base && page >= base / PAGE && page <= (end - 1) / PAGE;
}

static void run_matrix(uint32_t n, enum layout l, bool live)
{
	struct matrix m;
	uint64_t first, last;
	uint32_t bars[2];
	unsigned nbars;

	memset(&m, 0, sizeof(m));
	cur_layout = layout_name[l];
	cur_n = n;
	m.cfg = layout_config(n, l);
	m.g = geo_of(&m.cfg);
	m.t = tdev_new_cfg(&m.cfg, 0, 0);
	m.sample = under_valgrind() && (n > 65 || live);
	program(&m, live);
	libmsix_recorder_clear(m.t.rec);
	m.bad = bad_accesses(&m.t);
	snap_take(&m.t, &m.s);

	bars[0] = m.g.tbir;
	bars[1] = m.g.pbir;
	nbars = m.g.tbir == m.g.pbir ? 1 : 2;
	first = (m.g.tbase < m.g.pbase ? m.g.tbase : m.g.pbase) / PAGE;
	last = ((m.g.tend > m.g.pend ? m.g.tend : m.g.pend) - 1) / PAGE;
	/* Every page holding either structure, in every BAR holding either:
	 * the other BAR's pages at the same offsets are where V15 lived. */
	for (unsigned b = 0; b < nbars; b++)
		for (uint64_t p = first; p <= last; p++)
			if (page_in(p, m.g.tbase, m.g.tend) ||
			    page_in(p, m.g.pbase, m.g.pend))
				sweep_page(&m, bars[b], p);
	/* The split layouts sweep the other BAR's pages: must hit -ENOENT. */
	ck_assert_msg(m.enoent > 0 || nbars == 1,
		      AT "split layout sweep never left the structures", CTX);
	ck_assert_uint_gt(m.defined_writes, 0);
	ck_assert_uint_eq(libmsix_recorder_violations(m.t.rec), 0);
	snap_free(&m.s);
	tdev_free(&m.t);
}

static void run_all_layouts(uint32_t n, bool live)
{
	for (int l = 0; l < L_COUNT; l++)
		run_matrix(n, (enum layout)l, live);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_matrix_blocked_all_layouts)
{
	run_all_layouts(sizes_n[_i], false);
}
END_TEST

START_TEST(test_matrix_live_all_layouts)
{
	run_all_layouts(sizes_n[_i], true);
}
END_TEST

/* Outside the swept pages: other BARs, the spare page, huge offsets. */
static void outside_one(uint32_t n, enum layout l)
{
	static const uint64_t offs[] = {
		0, 8, 0xff8, 0x1000, 0x2000, 0x7ff8, 0x8000, 0xfffffff8ull,
		0x100000000ull, UINT64_MAX - 8, UINT64_MAX - 7, UINT64_MAX - 1,
		UINT64_MAX,
	};
	struct libmsix_config cfg = layout_config(n, l);
	struct tdev t = tdev_new_cfg(&cfg, 0, 0);
	struct geo g = geo_of(&cfg);
	uint64_t checked = 0;

	cur_layout = layout_name[l];
	cur_n = n;
	for (uint32_t bir = 0; bir < 6; bir++) {
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			for (uint32_t size = 1; size <= 8; size++) {
				uint64_t off = offs[i], val = 42;
				int r, w;

				/* Inside a structure BAR: the sweep's job. */
				if ((bir == g.tbir || bir == g.pbir) &&
				    off < cfg.bar_size[bir])
					continue;
				r = libmsix_mmio_read(t.dev, bir, off, size,
						      &val);
				w = libmsix_mmio_write(t.dev, bir, off, size,
						       ~0ull);
				REQUIRE(r == -ENOENT && w == -ENOENT &&
						val == 42,
					AT "BAR %u off 0x%llx size %u: read %d "
					   "write %d val %llu",
					CTX, bir, (unsigned long long)off, size,
					r, w, (unsigned long long)val);
				checked++;
			}
		}
	}
	/* The spare page past both structures, in the structures' BARs. */
	for (uint64_t off = cfg.bar_size[g.tbir] - PAGE;
	     off < cfg.bar_size[g.tbir]; off++) {
		uint64_t val = 42;
		int r;

		if (oracle_hit(&g, g.tbir, off, 8) != H_NONE)
			continue;
		r = libmsix_mmio_read(t.dev, g.tbir, off, 8, &val);
		REQUIRE(r == -ENOENT && val == 42,
			AT "spare page off 0x%llx: %d", CTX,
			(unsigned long long)off, r);
		checked++;
	}
	ck_assert_uint_gt(checked, 0);
	tdev_free(&t);
}

START_TEST(test_matrix_outside_is_enoent)
{
	for (uint32_t ni = 0; ni < 5; ni++)
		for (int l = 0; l < L_COUNT; l++)
			outside_one(sizes_n[ni], (enum layout)l);
}
END_TEST

/* Bad arguments are -EINVAL whatever the offset: BIR 6, 7, ~0; size 0, 9. */
START_TEST(test_matrix_bad_arguments_einval)
{
	struct tdev t = tdev_new(64);
	uint64_t val = 7;
	static const uint32_t birs[] = { 6, 7, 8, UINT32_MAX };
	static const uint32_t bad_sizes[] = { 0, 9, 16, UINT32_MAX };

	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(libmsix_mmio_read(t.dev, birs[i], 0, 4, &val),
				 -EINVAL);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, birs[i], 0, 4, 0),
				 -EINVAL);
	}
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 0, bad_sizes[i], &val),
				 -EINVAL);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, 0, bad_sizes[i], 0),
				 -EINVAL);
	}
	ck_assert_uint_eq(val, 7);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 0, 4, NULL), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_read(NULL, 0, 0, 4, &val), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_write(NULL, 0, 0, 4, 0), -EINVAL);
	tdev_free(&t);
}
END_TEST

static Suite *matrix_suite(void)
{
	Suite *s = suite_create("access_matrix");
	TCase *tc = tcase_create("matrix");

	/* Full N = 2048 sweeps take seconds natively, minutes under
	 * Valgrind (where they are sampled); fork mode enforces this. */
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_matrix_blocked_all_layouts, 0, 5);
	tcase_add_loop_test(tc, test_matrix_live_all_layouts, 0, 5);
	tcase_add_test(tc, test_matrix_outside_is_enoent);
	tcase_add_test(tc, test_matrix_bad_arguments_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(matrix_suite());
}
