/* SPDX-License-Identifier: MIT */
/*
 * The recording backend: logs every op, fails the k-th op on request, and
 * holds libmsix to the backend contract (struct libmsix_backend_ops) by
 * keeping a staged and a committed copy of each vector's host state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* What the recorder expects a vector to hold, staged and committed: the
 * public names of the host state (struct libmsix_vector_info.host). */
#define H_ALLOC LIBMSIX_HOST_ALLOCATED
#define H_ROUTED LIBMSIX_HOST_ROUTED
#define H_UNMASKED LIBMSIX_HOST_UNMASKED

/* A rule of libmsix_recorder_add_rule(); @left 0: fails for ever. */
struct rec_rule {
	enum libmsix_rec_kind kind;
	uint32_t vector, skip, left;
	int err;
};

#define REC_RULES 16

struct libmsix_recorder {
	struct libmsix_backend be;
	pthread_mutex_t lock;
	struct libmsix_rec_op *ops;
	size_t nr_ops, cap_ops;
	size_t violations;
	/* Injected failure: the k-th matching op returns err. */
	enum libmsix_rec_kind fail_kind;
	uint32_t fail_k;
	int fail_err;
	struct rec_rule rules[REC_RULES];
	uint32_t nr_rules;
	uint32_t staged_count, committed_count;
	uint8_t staged[LIBMSIX_MAX_VECTORS];
	uint8_t committed[LIBMSIX_MAX_VECTORS];
	bool poll_pending[LIBMSIX_MAX_VECTORS];
};

static struct libmsix_recorder *to_rec(struct libmsix_backend *be)
{
	return container_of(be, struct libmsix_recorder, be);
}

/* Whether the op (@kind, [@start, @start + @count)) is one @r names. */
static bool rule_matches(const struct rec_rule *r, enum libmsix_rec_kind kind,
			 uint32_t start, uint32_t count)
{
	if (r->kind ? r->kind != kind : kind == LIBMSIX_REC_DELIVER)
		return false;
	if (r->vector == LIBMSIX_REC_ANY_VECTOR)
		return true;
	if (kind == LIBMSIX_REC_COMMIT || kind == LIBMSIX_REC_ABORT)
		return false;
	return r->vector >= start && r->vector - start < count;
}

/*
 * Every rule the op matches counts it; the first one past its skip count
 * fails it. A rule that has failed its last op goes.
 */
static int apply_rules(struct libmsix_recorder *rec,
		       enum libmsix_rec_kind kind, uint32_t start,
		       uint32_t count)
{
	int err = 0;

	for (uint32_t i = 0; i < rec->nr_rules;) {
		struct rec_rule *r = &rec->rules[i];

		if (!rule_matches(r, kind, start, count)) {
			i++;
		} else if (r->skip) {
			r->skip--;
			i++;
		} else {
			if (!err)
				err = r->err;
			if (r->left && --r->left == 0) {
				*r = rec->rules[--rec->nr_rules];
				continue;
			}
			i++;
		}
	}
	return err;
}

/* Append an op; returns the injected error for it, if any. */
static int record(struct libmsix_recorder *rec, enum libmsix_rec_kind kind,
		  uint32_t start, uint32_t count,
		  const struct libmsix_msg *msg)
{
	struct libmsix_rec_op *op;
	int err = 0;

	if (rec->fail_k &&
	    (rec->fail_kind == kind ||
	     (rec->fail_kind == 0 && kind != LIBMSIX_REC_DELIVER)) &&
	    --rec->fail_k == 0)
		err = rec->fail_err;
	if (rec->nr_rules) {
		int r = apply_rules(rec, kind, start, count);

		if (!err)
			err = r;
	}
	if (rec->nr_ops == rec->cap_ops) {
		size_t cap = rec->cap_ops ? 2 * rec->cap_ops : 64;
		struct libmsix_rec_op *ops =
			realloc(rec->ops, cap * sizeof(*ops));

		if (!ops)
			return err ? err : -ENOMEM;
		rec->ops = ops;
		rec->cap_ops = cap;
	}
	op = &rec->ops[rec->nr_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->start = start;
	op->count = count;
	if (msg)
		op->msg = *msg;
	op->err = err;
	return err;
}

static bool range_ok(struct libmsix_recorder *rec, uint32_t start,
		     uint32_t count)
{
	if (count == 0 || start >= LIBMSIX_MAX_VECTORS ||
	    count > LIBMSIX_MAX_VECTORS - start) {
		rec->violations++;
		return false;
	}
	return true;
}

/* Count a violation unless vector @v's staged state has all of @need and
 * none of @forbid. */
static void expect(struct libmsix_recorder *rec, uint32_t v, uint8_t need,
		   uint8_t forbid)
{
	if ((rec->staged[v] & need) != need || (rec->staged[v] & forbid))
		rec->violations++;
}

static int rec_alloc(struct libmsix_backend *be, uint32_t start,
		     uint32_t count)
{
	struct libmsix_recorder *rec = to_rec(be);
	int err;

	pthread_mutex_lock(&rec->lock);
	err = record(rec, LIBMSIX_REC_ALLOC, start, count, NULL);
	if (!err && !range_ok(rec, start, count))
		err = -EINVAL;
	if (!err && be->max_vectors &&
	    rec->staged_count + count > be->max_vectors)
		err = -ENOSPC;
	if (!err) {
		for (uint32_t v = start; v < start + count; v++) {
			expect(rec, v, 0, H_ALLOC);
			rec->staged[v] = H_ALLOC; /* starts masked */
		}
		rec->staged_count += count;
	}
	if (err)
		rec->ops[rec->nr_ops - 1].err = err;
	pthread_mutex_unlock(&rec->lock);
	return err;
}

static int rec_release(struct libmsix_backend *be, uint32_t start,
		       uint32_t count)
{
	struct libmsix_recorder *rec = to_rec(be);
	int err;

	pthread_mutex_lock(&rec->lock);
	err = record(rec, LIBMSIX_REC_RELEASE, start, count, NULL);
	if (!err && range_ok(rec, start, count)) {
		for (uint32_t v = start; v < start + count; v++) {
			expect(rec, v, H_ALLOC, H_ROUTED | H_UNMASKED);
			rec->staged[v] = 0;
		}
		rec->staged_count -= count;
	}
	pthread_mutex_unlock(&rec->lock);
	return err;
}

/* One-vector ops: check, then flip @set on and @clear off. */
static int vec_op(struct libmsix_backend *be, enum libmsix_rec_kind kind,
		  uint32_t v, const struct libmsix_msg *msg, uint8_t need,
		  uint8_t forbid, uint8_t set, uint8_t clear)
{
	struct libmsix_recorder *rec = to_rec(be);
	int err;

	pthread_mutex_lock(&rec->lock);
	err = record(rec, kind, v, 1, msg);
	if (!err && range_ok(rec, v, 1)) {
		expect(rec, v, need, forbid);
		rec->staged[v] = (uint8_t)((rec->staged[v] | set) & ~clear);
	}
	pthread_mutex_unlock(&rec->lock);
	return err;
}

static int rec_route(struct libmsix_backend *be, uint32_t v,
		     const struct libmsix_msg *msg)
{
	return vec_op(be, LIBMSIX_REC_ROUTE, v, msg, H_ALLOC, 0, H_ROUTED, 0);
}

static int rec_unroute(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, LIBMSIX_REC_UNROUTE, v, NULL, H_ROUTED, H_UNMASKED,
		      0, H_ROUTED);
}

static int rec_mask(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, LIBMSIX_REC_MASK, v, NULL, H_UNMASKED, 0, 0,
		      H_UNMASKED);
}

static int rec_unmask(struct libmsix_backend *be, uint32_t v)
{
	return vec_op(be, LIBMSIX_REC_UNMASK, v, NULL, H_ALLOC | H_ROUTED,
		      H_UNMASKED, H_UNMASKED, 0);
}

static int rec_commit(struct libmsix_backend *be)
{
	struct libmsix_recorder *rec = to_rec(be);
	int err;

	pthread_mutex_lock(&rec->lock);
	err = record(rec, LIBMSIX_REC_COMMIT, 0, 0, NULL);
	if (!err) {
		memcpy(rec->committed, rec->staged, sizeof(rec->staged));
		rec->committed_count = rec->staged_count;
	}
	pthread_mutex_unlock(&rec->lock);
	return err;
}

static void rec_abort(struct libmsix_backend *be)
{
	struct libmsix_recorder *rec = to_rec(be);

	pthread_mutex_lock(&rec->lock);
	record(rec, LIBMSIX_REC_ABORT, 0, 0, NULL);
	memcpy(rec->staged, rec->committed, sizeof(rec->staged));
	rec->staged_count = rec->committed_count;
	pthread_mutex_unlock(&rec->lock);
}

static int rec_deliver(struct libmsix_backend *be, uint32_t v,
		       const struct libmsix_msg *msg)
{
	struct libmsix_recorder *rec = to_rec(be);
	int err;

	pthread_mutex_lock(&rec->lock);
	err = record(rec, LIBMSIX_REC_DELIVER, v, 1, msg);
	pthread_mutex_unlock(&rec->lock);
	return err;
}

static int rec_poll(struct libmsix_backend *be, uint32_t v)
{
	struct libmsix_recorder *rec = to_rec(be);
	int ret = 0;

	pthread_mutex_lock(&rec->lock);
	if (v < LIBMSIX_MAX_VECTORS && rec->poll_pending[v]) {
		rec->poll_pending[v] = false;
		ret = 1;
		record(rec, LIBMSIX_REC_POLL, v, 1, NULL);
	}
	pthread_mutex_unlock(&rec->lock);
	return ret;
}

static const struct libmsix_backend_ops rec_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = rec_alloc,
	.release = rec_release,
	.route = rec_route,
	.unroute = rec_unroute,
	.mask = rec_mask,
	.unmask = rec_unmask,
	.commit = rec_commit,
	.abort = rec_abort,
	.deliver = rec_deliver,
	.poll = rec_poll,
};

/* LIBMSIX_RECORDER_DELIVER_ONLY: an emulated device's backend. */
static const struct libmsix_backend_ops rec_deliver_only_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.alloc = rec_alloc,
	.release = rec_release,
	.commit = rec_commit,
	.abort = rec_abort,
	.deliver = rec_deliver,
};

int libmsix_recorder_create(uint32_t flags, uint32_t max_vectors,
			    struct libmsix_recorder **out)
{
	struct libmsix_recorder *rec;

	if (!out ||
	    (flags & ~(LIBMSIX_BE_NORESIZE | LIBMSIX_RECORDER_DELIVER_ONLY)))
		return -EINVAL;
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	rec->be.ops = (flags & LIBMSIX_RECORDER_DELIVER_ONLY)
			      ? &rec_deliver_only_ops
			      : &rec_ops;
	rec->be.flags = flags & ~LIBMSIX_RECORDER_DELIVER_ONLY;
	rec->be.max_vectors = max_vectors;
	pthread_mutex_init(&rec->lock, NULL);
	*out = rec;
	return 0;
}

void libmsix_recorder_destroy(struct libmsix_recorder *rec)
{
	if (!rec)
		return;
	pthread_mutex_destroy(&rec->lock);
	free(rec->ops);
	free(rec);
}

struct libmsix_backend *libmsix_recorder_backend(struct libmsix_recorder *rec)
{
	return rec ? &rec->be : NULL;
}

int libmsix_recorder_fail(struct libmsix_recorder *rec,
			  enum libmsix_rec_kind kind, uint32_t k, int err)
{
	if (!rec || err >= 0 || (unsigned)kind > LIBMSIX_REC_POLL)
		return -EINVAL;
	pthread_mutex_lock(&rec->lock);
	rec->fail_kind = kind;
	rec->fail_k = k;
	rec->fail_err = err;
	pthread_mutex_unlock(&rec->lock);
	return 0;
}

int libmsix_recorder_add_rule(struct libmsix_recorder *rec,
			      const struct libmsix_rec_rule *urule)
{
	struct libmsix_rec_rule r, *rule = &r;
	int err;

	if (!rec || !urule)
		return -EINVAL;
	err = LMX_STRUCT_IN(&r, urule);
	if (err)
		return err;
	if (rule->err >= 0 || (unsigned)rule->kind > LIBMSIX_REC_POLL ||
	    (rule->vector != LIBMSIX_REC_ANY_VECTOR &&
	     rule->vector >= LIBMSIX_MAX_VECTORS))
		return -EINVAL;
	pthread_mutex_lock(&rec->lock);
	if (rec->nr_rules == REC_RULES) {
		err = -ENOSPC;
	} else {
		rec->rules[rec->nr_rules++] = (struct rec_rule){
			.kind = rule->kind, .vector = rule->vector,
			.skip = rule->skip, .left = rule->times,
			.err = rule->err,
		};
	}
	pthread_mutex_unlock(&rec->lock);
	return err;
}

void libmsix_recorder_clear_rules(struct libmsix_recorder *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&rec->lock);
	rec->nr_rules = 0;
	pthread_mutex_unlock(&rec->lock);
}

size_t libmsix_recorder_count(struct libmsix_recorder *rec)
{
	size_t n;

	if (!rec)
		return 0;
	pthread_mutex_lock(&rec->lock);
	n = rec->nr_ops;
	pthread_mutex_unlock(&rec->lock);
	return n;
}

const struct libmsix_rec_op *libmsix_recorder_op(struct libmsix_recorder *rec,
						 size_t i)
{
	const struct libmsix_rec_op *op = NULL;

	if (!rec)
		return NULL;
	pthread_mutex_lock(&rec->lock);
	if (i < rec->nr_ops)
		op = &rec->ops[i];
	pthread_mutex_unlock(&rec->lock);
	return op;
}

size_t libmsix_recorder_count_kind(struct libmsix_recorder *rec,
				   enum libmsix_rec_kind kind)
{
	size_t n = 0;

	if (!rec)
		return 0;
	pthread_mutex_lock(&rec->lock);
	for (size_t i = 0; i < rec->nr_ops; i++)
		n += rec->ops[i].kind == kind;
	pthread_mutex_unlock(&rec->lock);
	return n;
}

void libmsix_recorder_clear(struct libmsix_recorder *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&rec->lock);
	rec->nr_ops = 0;
	pthread_mutex_unlock(&rec->lock);
}

uint32_t libmsix_recorder_host(struct libmsix_recorder *rec, uint32_t vector)
{
	uint32_t h;

	if (!rec || vector >= LIBMSIX_MAX_VECTORS)
		return 0;
	pthread_mutex_lock(&rec->lock);
	h = rec->committed[vector];
	pthread_mutex_unlock(&rec->lock);
	return h;
}

size_t libmsix_recorder_violations(struct libmsix_recorder *rec)
{
	size_t n;

	if (!rec)
		return 0;
	pthread_mutex_lock(&rec->lock);
	n = rec->violations;
	pthread_mutex_unlock(&rec->lock);
	return n;
}

int libmsix_recorder_set_poll(struct libmsix_recorder *rec, uint32_t vector)
{
	if (!rec || vector >= LIBMSIX_MAX_VECTORS)
		return -EINVAL;
	pthread_mutex_lock(&rec->lock);
	rec->poll_pending[vector] = true;
	pthread_mutex_unlock(&rec->lock);
	return 0;
}
