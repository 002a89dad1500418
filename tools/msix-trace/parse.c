/* SPDX-License-Identifier: MIT */
/*
 * The trace reader: JSON Lines of flat objects whose values are strings and
 * integers (docs/trace.md). A small parser of that subset of RFC 8259 is
 * enough and keeps the tool free of dependencies; everything else a line
 * could hold (nesting, fractions, a second object) is an error naming the
 * line. Every line is checked against the format and against the geometry
 * of its device before the first replay starts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "trace.h"

#define MAX_KEYS 32
#define MAX_STR 255

enum jtype { J_STR, J_INT, J_NEG, J_LIT };

struct jval {
	char key[MAX_STR + 1];
	enum jtype type;
	char str[MAX_STR + 1];
	bool long_str;		/* the string did not fit in @str */
	uint64_t u;		/* J_INT: the value; J_NEG: its magnitude */
};

struct jobj {
	struct jval v[MAX_KEYS];
	unsigned n;
};

struct ctx {
	struct trace *t;
	FILE *err;
	uint32_t line;
	const char *start;	/* the current line */
	const char *p, *end;	/* parse position in it, its end */
};

LIBMSIX_PRINTF(2, 3)
static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(c->err, "%s:%u: ", c->t->path, c->line);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	return -1;
}

static void skip_ws(struct ctx *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

/* What to call the position in an error: the character or "end of line". */
static const char *here(struct ctx *c, char *buf, size_t len)
{
	unsigned char ch;

	if (c->p >= c->end)
		return "end of line (truncated JSON?)";
	ch = (unsigned char)*c->p;
	if (ch >= 0x20 && ch < 0x7f)
		snprintf(buf, len, "'%c' at column %td", ch,
			 c->p - c->start + 1);
	else
		snprintf(buf, len, "byte 0x%02x", ch);
	return buf;
}

static int expect(struct ctx *c, char ch, const char *what)
{
	char buf[48];

	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 0;
	}
	return fail(c, "expected %s, found %s", what, here(c, buf, sizeof(buf)));
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A JSON string at c->p (after skip_ws). Escapes are decoded; a \u escape
 * of a non-ASCII code point is kept as '?': the format's strings are
 * names, and nothing compares them but "type" and "op". */
static int parse_string(struct ctx *c, char *out, bool *too_long)
{
	size_t n = 0;

	if (expect(c, '"', "'\"'"))
		return -1;
	*too_long = false;
	for (;;) {
		char ch;

		if (c->p >= c->end)
			return fail(c, "unterminated string (truncated JSON?)");
		ch = *c->p++;
		if (ch == '"')
			break;
		if ((unsigned char)ch < 0x20)
			return fail(c, "control byte 0x%02x inside a string",
				    (unsigned char)ch);
		if (ch == '\\') {
			if (c->p >= c->end)
				return fail(c, "unterminated string (truncated JSON?)");
			ch = *c->p++;
			switch (ch) {
			case '"': case '\\': case '/':
				break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u': {
				unsigned cp = 0;

				for (int i = 0; i < 4; i++) {
					int h = c->p < c->end ? hexval(*c->p) : -1;

					if (h < 0)
						return fail(c, "bad \\u escape in a string");
					cp = cp << 4 | (unsigned)h;
					c->p++;
				}
				ch = cp && cp < 0x80 ? (char)cp : '?';
				break;
			}
			default:
				return fail(c, "bad escape '\\%c' in a string", ch);
			}
		}
		if (n < MAX_STR)
			out[n++] = ch;
		else
			*too_long = true;
	}
	out[n] = '\0';
	return 0;
}

/* An integer: -?(0|[1-9][0-9]*), magnitude < 2^64. */
static int parse_int(struct ctx *c, struct jval *v, const char *key)
{
	bool neg = false;
	uint64_t u = 0;
	const char *start;

	if (*c->p == '-') {
		neg = true;
		c->p++;
	}
	start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (u > (UINT64_MAX - d) / 10)
			return fail(c, "\"%s\": number does not fit in 64 bits",
				    key);
		u = u * 10 + d;
		c->p++;
	}
	if (c->p == start)
		return fail(c, "\"%s\": bad number", key);
	if (c->p - start > 1 && *start == '0')
		return fail(c, "\"%s\": bad number (leading zero)", key);
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
		return fail(c, "\"%s\": bad number (not an integer)", key);
	if (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '_'))
		return fail(c, "\"%s\": bad number", key);
	if (neg && u > (uint64_t)INT64_MAX + 1)
		return fail(c, "\"%s\": number does not fit in 64 bits", key);
	v->type = neg ? J_NEG : J_INT;
	v->u = u;
	return 0;
}

static int parse_value(struct ctx *c, struct jval *v)
{
	static const char *const lits[] = { "true", "false", "null" };
	char buf[48];

	skip_ws(c);
	if (c->p >= c->end)
		return fail(c, "\"%s\": missing value (truncated JSON?)", v->key);
	if (*c->p == '"') {
		v->type = J_STR;
		return parse_string(c, v->str, &v->long_str);
	}
	if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
		return parse_int(c, v, v->key);
	if (*c->p == '{' || *c->p == '[')
		return fail(c, "\"%s\": nested objects and arrays are not part of the format",
			    v->key);
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t len = strlen(lits[i]);

		if ((size_t)(c->end - c->p) >= len &&
		    !memcmp(c->p, lits[i], len)) {
			c->p += len;
			v->type = J_LIT;
			return 0;
		}
	}
	return fail(c, "\"%s\": bad value, found %s", v->key,
		    here(c, buf, sizeof(buf)));
}

static int parse_object(struct ctx *c, struct jobj *o)
{
	o->n = 0;
	if (expect(c, '{', "'{' (one JSON object per line)"))
		return -1;
	skip_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
	} else {
		for (;;) {
			struct jval *v;
			bool long_key;

			if (o->n == MAX_KEYS)
				return fail(c, "more than %d keys", MAX_KEYS);
			v = &o->v[o->n];
			skip_ws(c);
			if (parse_string(c, v->key, &long_key))
				return -1;
			if (long_key)
				return fail(c, "a key longer than %d bytes", MAX_STR);
			for (unsigned i = 0; i < o->n; i++)
				if (!strcmp(o->v[i].key, v->key))
					return fail(c, "duplicate key \"%s\"", v->key);
			if (expect(c, ':', "':' after a key") ||
			    parse_value(c, v))
				return -1;
			o->n++;
			skip_ws(c);
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				continue;
			}
			if (expect(c, '}', "',' or '}'"))
				return -1;
			break;
		}
	}
	skip_ws(c);
	if (c->p != c->end) {
		char buf[48];

		return fail(c, "trailing data after the object: %s",
			    here(c, buf, sizeof(buf)));
	}
	return 0;
}

static const struct jval *find(const struct jobj *o, const char *key)
{
	for (unsigned i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].key, key))
			return &o->v[i];
	return NULL;
}

static int get_uint(struct ctx *c, const struct jobj *o, const char *key,
		    uint64_t max, uint64_t *out)
{
	const struct jval *v = find(o, key);

	if (!v)
		return fail(c, "missing key \"%s\"", key);
	if (v->type != J_INT)
		return fail(c, "\"%s\": bad number (expected an unsigned integer)",
			    key);
	if (v->u > max)
		return fail(c, "\"%s\": %llu is out of range (0..%llu)", key,
			    (unsigned long long)v->u, (unsigned long long)max);
	*out = v->u;
	return 0;
}

static int get_str(struct ctx *c, const struct jobj *o, const char *key,
		   const char **out)
{
	const struct jval *v = find(o, key);

	if (!v)
		return fail(c, "missing key \"%s\"", key);
	if (v->type != J_STR)
		return fail(c, "\"%s\": expected a string", key);
	if (v->long_str)
		return fail(c, "\"%s\": string longer than %d bytes", key,
			    MAX_STR);
	*out = v->str;
	return 0;
}

/* "op": one of @a, @b; returns 0 for @a, 1 for @b, -1 on error. */
static int get_op(struct ctx *c, const struct jobj *o, const char *a,
		  const char *b)
{
	const char *op;

	if (get_str(c, o, "op", &op))
		return -1;
	if (!strcmp(op, a))
		return 0;
	if (!strcmp(op, b))
		return 1;
	return fail(c, "\"op\": \"%s\" is neither \"%s\" nor \"%s\"", op, a, b);
}

static int get_dev(struct ctx *c, const struct jobj *o, struct trace_device **d)
{
	uint64_t dev;

	if (get_uint(c, o, "dev", TRACE_MAX_DEVICES - 1, &dev))
		return -1;
	if (!c->t->dev[dev].declared)
		return fail(c, "device %llu is used before its \"device\" line",
			    (unsigned long long)dev);
	*d = &c->t->dev[dev];
	return 0;
}

static int push(struct ctx *c, const struct trace_event *ev)
{
	struct trace *t = c->t;

	if (t->nr_ev == TRACE_MAX_EVENTS)
		return fail(c, "more than %u accesses: not replayed",
			    TRACE_MAX_EVENTS);
	if (t->nr_ev == t->cap_ev) {
		size_t cap = t->cap_ev ? 2 * t->cap_ev : 256;
		struct trace_event *ne = realloc(t->ev, cap * sizeof(*ne));

		if (!ne)
			return fail(c, "out of memory");
		t->ev = ne;
		t->cap_ev = cap;
	}
	t->ev[t->nr_ev] = *ev;
	t->ev[t->nr_ev].line = c->line;
	if (t->idle_next)
		t->ev[t->nr_ev].flags |= EVF_IDLE_BEFORE;
	t->idle_next = false;
	t->nr_ev++;
	return 0;
}

/* The BARs the trace does not describe: as small as holds the structures
 * (at least 4 KiB, a power of two, as PCI sizes BARs). */
static void size_bars(struct libmsix_config *cfg)
{
	uint64_t tend = cfg->table_offset + 16ull * cfg->nr_vectors;
	uint64_t pend = cfg->pba_offset + 8ull * ((cfg->nr_vectors + 63) / 64);

	for (unsigned b = 0; b < 6; b++) {
		uint64_t end = 0, size = 4096;

		if (b == cfg->table_bir)
			end = tend;
		if (b == cfg->pba_bir && pend > end)
			end = pend;
		if (!end)
			continue;
		while (size < end)
			size <<= 1;
		cfg->bar_type[b] = LIBMSIX_BAR_MEM32;
		cfg->bar_size[b] = size;
	}
}

struct logbuf {
	char msg[160];
};

static void keep_log(void *opaque, int level, const char *msg)
{
	struct logbuf *lb = opaque;

	if (!lb->msg[0])
		snprintf(lb->msg, sizeof(lb->msg), "%s", msg);
}

static int do_device(struct ctx *c, const struct jobj *o)
{
	struct libmsix_config *cfg;
	struct trace_device *d;
	struct libmsix_recorder *rec;
	struct libmsix_dev *md = NULL;
	struct logbuf lb = { { 0 } };
	uint64_t dev, n, cap, tb, to, pb, po, next = 0;
	const char *name;
	int err;

	if (get_uint(c, o, "dev", TRACE_MAX_DEVICES - 1, &dev) ||
	    get_str(c, o, "name", &name) ||
	    get_uint(c, o, "nr_vectors", LIBMSIX_MAX_VECTORS, &n) ||
	    get_uint(c, o, "cap_offset", 0xff, &cap) ||
	    get_uint(c, o, "table_bir", 5, &tb) ||
	    get_uint(c, o, "table_offset", UINT32_MAX, &to) ||
	    get_uint(c, o, "pba_bir", 5, &pb) ||
	    get_uint(c, o, "pba_offset", UINT32_MAX, &po))
		return -1;
	/* Optional: the Next Capability Pointer the function reports. */
	if (find(o, "next_cap") && get_uint(c, o, "next_cap", 0xff, &next))
		return -1;
	d = &c->t->dev[dev];
	if (d->declared)
		return fail(c, "device %llu is declared again (first on line %u)",
			    (unsigned long long)dev, d->line);
	if (strlen(name) > TRACE_MAX_NAME)
		return fail(c, "\"name\": longer than %u bytes", TRACE_MAX_NAME);
	if (n == 0)
		return fail(c, "\"nr_vectors\": 0 is out of range (1..%u)",
			    LIBMSIX_MAX_VECTORS);
	cfg = &d->cfg;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->nr_vectors = (uint32_t)n;
	cfg->cap_offset = (uint16_t)cap;
	cfg->next_cap = (uint8_t)next;
	cfg->table_bir = (uint8_t)tb;
	cfg->table_offset = (uint32_t)to;
	cfg->pba_bir = (uint8_t)pb;
	cfg->pba_offset = (uint32_t)po;
	size_bars(cfg);
	/* libmsix itself judges the geometry (PCIe Base 6.0 §7.7.2). */
	cfg->log = keep_log;
	cfg->log_level = LOG_DEBUG;
	cfg->opaque = &lb;
	err = libmsix_recorder_create(0, 0, &rec);
	if (err)
		return fail(c, "cannot create a recorder: %s", strerror(-err));
	err = libmsix_dev_create(cfg, libmsix_recorder_backend(rec), &md);
	libmsix_dev_destroy(md);
	libmsix_recorder_destroy(rec);
	cfg->log = NULL;
	cfg->log_level = 0;
	cfg->opaque = NULL;
	if (err)
		return fail(c, "libmsix rejects the geometry of device %llu: %s",
			    (unsigned long long)dev,
			    lb.msg[0] ? lb.msg : strerror(-err));
	d->declared = true;
	d->line = c->line;
	snprintf(d->name, sizeof(d->name), "%s", name);
	c->t->nr_devices++;
	return 0;
}

static bool overlaps(uint64_t off, uint64_t size, uint64_t start,
		     uint64_t len)
{
	return off < start + len && start < off + size;
}

static int check_size(struct ctx *c, uint64_t size, uint64_t val, bool mmio)
{
	if (size != 1 && size != 2 && size != 4 && !(mmio && size == 8))
		return fail(c, "\"size\": %llu is not %s",
			    (unsigned long long)size,
			    mmio ? "1, 2, 4 or 8" : "1, 2 or 4");
	if (size < 8 && val >> (8 * size))
		return fail(c, "\"val\": 0x%llx does not fit in %llu bytes",
			    (unsigned long long)val, (unsigned long long)size);
	return 0;
}

static int do_access(struct ctx *c, const struct jobj *o, bool mmio)
{
	struct trace_device *d;
	struct trace_event ev = { 0 };
	uint64_t off, size, val, bar = 0;
	int op;

	if (get_dev(c, o, &d))
		return -1;
	op = get_op(c, o, "read", "write");
	if (op < 0 || (mmio && get_uint(c, o, "bar", 5, &bar)) ||
	    get_uint(c, o, "off", UINT64_MAX, &off) ||
	    get_uint(c, o, "size", UINT64_MAX, &size) ||
	    get_uint(c, o, "val", UINT64_MAX, &val) ||
	    check_size(c, size, val, mmio))
		return -1;
	if (!mmio && off + size > TRACE_CONFIG_SPACE)
		return fail(c, "\"off\": %llu + size %llu is outside config space (0..%u)",
			    (unsigned long long)off, (unsigned long long)size,
			    TRACE_CONFIG_SPACE - 1);
	if (mmio) {
		const struct libmsix_config *g = &d->cfg;
		uint64_t tlen = 16ull * g->nr_vectors;
		uint64_t plen = 8ull * ((g->nr_vectors + 63) / 64);

		if (!((bar == g->table_bir &&
		       overlaps(off, size, g->table_offset, tlen)) ||
		      (bar == g->pba_bir &&
		       overlaps(off, size, g->pba_offset, plen))))
			return fail(c, "\"off\": 0x%llx size %llu on BAR %llu is out of range: not in device %u's table (BAR %u, 0x%x..0x%llx) or PBA (BAR %u, 0x%x..0x%llx)",
				    (unsigned long long)off,
				    (unsigned long long)size,
				    (unsigned long long)bar,
				    (unsigned)(d - c->t->dev), g->table_bir,
				    g->table_offset,
				    (unsigned long long)(g->table_offset + tlen - 1),
				    g->pba_bir, g->pba_offset,
				    (unsigned long long)(g->pba_offset + plen - 1));
	}
	ev.kind = mmio ? (op ? EV_MMIO_WRITE : EV_MMIO_READ)
		       : (op ? EV_CONFIG_WRITE : EV_CONFIG_READ);
	ev.dev = (uint8_t)(d - c->t->dev);
	ev.arg = (uint32_t)off;
	ev.size = (uint8_t)size;
	ev.bar = (uint8_t)bar;
	ev.val = val;
	return push(c, &ev);
}

static int do_vector(struct ctx *c, const struct jobj *o, enum trace_kind k)
{
	struct trace_device *d;
	struct trace_event ev = { 0 };
	uint64_t vec;

	if (get_dev(c, o, &d) ||
	    get_uint(c, o, "vector", UINT32_MAX, &vec))
		return -1;
	if (vec >= d->cfg.nr_vectors)
		return fail(c, "\"vector\": %llu is out of range (device %u has %u vectors)",
			    (unsigned long long)vec, (unsigned)(d - c->t->dev),
			    d->cfg.nr_vectors);
	if (k == EV_USE) {
		const struct jval *r = find(o, "ret");

		if (!r)
			return fail(c, "missing key \"ret\"");
		if ((r->type != J_INT && r->type != J_NEG) ||
		    (r->type == J_INT && r->u != 0) ||
		    (r->type == J_NEG && r->u > 4095))
			return fail(c, "\"ret\": bad number (expected 0 or -errno)");
		ev.val = r->type == J_NEG ? (uint64_t)-(int64_t)r->u : 0;
	}
	if (k == EV_USE || k == EV_UNUSE)
		d->has_use = true;
	ev.kind = (uint8_t)k;
	ev.dev = (uint8_t)(d - c->t->dev);
	ev.arg = (uint32_t)vec;
	return push(c, &ev);
}

static int do_line(struct ctx *c)
{
	struct jobj o;
	const char *type;
	uint64_t u;
	const struct jval *tn;
	struct trace_device *d;
	struct trace_event ev = { 0 };

	if (c->p == c->end)
		return fail(c, "empty line");
	if (parse_object(c, &o) || get_str(c, &o, "type", &type))
		return -1;
	tn = find(&o, "t_ns");
	if (tn && tn->type != J_INT)
		return fail(c, "\"t_ns\": bad number (expected an unsigned integer)");
	if (tn) {
		struct trace *t = c->t;

		/* A clock that goes back is not an idle gap. */
		if (t->have_t && t->flush_gap_ns && tn->u >= t->last_t &&
		    tn->u - t->last_t >= t->flush_gap_ns)
			t->idle_next = true;
		t->have_t = true;
		t->last_t = tn->u;
	}
	if (c->line == 1) {
		const char *src;

		if (strcmp(type, "trace"))
			return fail(c, "line 1 must be the header {\"type\":\"trace\",...}, not type \"%s\"",
				    type);
		if (get_uint(c, &o, "version", UINT64_MAX, &u) ||
		    get_str(c, &o, "source", &src))
			return -1;
		if (u != 1)
			return fail(c, "\"version\": %llu is not supported (this reader knows version 1)",
				    (unsigned long long)u);
		return 0;
	}
	if (!strcmp(type, "trace"))
		return fail(c, "a second header (the header is line 1)");
	if (!strcmp(type, "device"))
		return do_device(c, &o);
	if (!strcmp(type, "config"))
		return do_access(c, &o, false);
	if (!strcmp(type, "mmio"))
		return do_access(c, &o, true);
	if (!strcmp(type, "use"))
		return do_vector(c, &o, EV_USE);
	if (!strcmp(type, "unuse"))
		return do_vector(c, &o, EV_UNUSE);
	if (!strcmp(type, "notify"))
		return do_vector(c, &o, EV_NOTIFY);
	if (!strcmp(type, "snapshot")) {
		if (get_dev(c, &o, &d))
			return -1;
		int op = get_op(c, &o, "save", "load");

		if (op < 0)
			return -1;
		ev.kind = op ? EV_LOAD : EV_SAVE;
		ev.dev = (uint8_t)(d - c->t->dev);
		return push(c, &ev);
	}
	return fail(c, "unknown type \"%s\"", type);
}

void trace_free(struct trace *t)
{
	free(t->ev);
	t->ev = NULL;
	t->nr_ev = t->cap_ev = 0;
}

int trace_load(struct trace *t, FILE *f, const char *path,
	       uint64_t flush_gap_ns, FILE *err)
{
	struct ctx c = { .t = t, .err = err };
	char *buf;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->path = path;
	t->flush_gap_ns = flush_gap_ns;
	buf = malloc(TRACE_MAX_LINE);
	if (!buf) {
		fprintf(err, "%s: out of memory\n", path);
		return -1;
	}
	for (;;) {
		size_t n = 0;
		int ch = EOF;

		while (n < TRACE_MAX_LINE && (ch = getc(f)) != EOF &&
		       ch != '\n') {
			if (ch == '\0') {
				c.line++;
				ret = fail(&c, "NUL byte in a line");
				goto out;
			}
			buf[n++] = (char)ch;
		}
		if (ch == EOF && n == 0) {
			if (ferror(f)) {
				fprintf(err, "%s: read error: %s\n", path,
					strerror(errno));
				ret = -1;
			}
			break;
		}
		c.line++;
		if (n == TRACE_MAX_LINE) {
			ret = fail(&c, "line longer than %u bytes",
				   TRACE_MAX_LINE - 1);
			goto out;
		}
		if (ch == EOF) {
			ret = fail(&c, "last line is not terminated by a newline (truncated trace?)");
			goto out;
		}
		c.start = c.p = buf;
		c.end = buf + n;
		if (do_line(&c)) {
			ret = -1;
			goto out;
		}
	}
	if (!ret && c.line == 0) {
		fprintf(err, "%s: empty trace (line 1 must be the header)\n",
			path);
		ret = -1;
	}
	t->lines = c.line;
out:
	free(buf);
	if (ret)
		trace_free(t);
	return ret;
}
