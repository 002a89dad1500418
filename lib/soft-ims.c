/* SPDX-License-Identifier: MIT */
/*
 * A software IMS device (include/libmsix-ims.h, "A software IMS device"):
 * a store of slots behind struct libmsix_ims_hw that holds what the backend
 * writes, sends a message when an unmasked slot is raised, latches it while
 * masked, and counts every write, claim or release that breaks the rules a
 * real device would rely on -- for tests, examples and device models.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ims.h"
#include "util.h"

/* ------------------------------------------------------------------------ */
/* The software IMS device                                                   */
/* ------------------------------------------------------------------------ */

struct soft_slot {
	struct libmsix_ims_entry e;
	bool claimed;
	bool pending;
	uint64_t writes;
	uint64_t sent;
};

struct libmsix_soft_ims {
	struct libmsix_ims_hw hw;
	pthread_mutex_t lock;
	libmsix_soft_ims_sink_fn sink;
	void *opaque;
	/* Injected failures: writes fail_k .. fail_k + fail_n - 1 from now. */
	uint32_t fail_k, fail_n;
	int fail_err;
	struct libmsix_soft_ims_stats st;
	struct soft_slot s[];
};

static struct libmsix_soft_ims *to_soft(struct libmsix_ims_hw *hw)
{
	return container_of(hw, struct libmsix_soft_ims, hw);
}

static bool is_reset(const struct libmsix_ims_entry *e)
{
	return e->masked && lmx_ims_same_msg(e, &lmx_ims_reset_entry);
}

/* Soft lock held. The message leaves the slot; its pending bit is spent. */
static void soft_send(struct libmsix_soft_ims *soft, uint32_t i)
{
	struct soft_slot *s = &soft->s[i];
	struct libmsix_msg msg = { .address = s->e.address, .data = s->e.data };

	s->pending = false;
	s->sent++;
	soft->st.sent++;
	if (soft->sink)
		soft->sink(soft->opaque, i, &msg, s->e.cookie);
}

static bool soft_should_fail(struct libmsix_soft_ims *soft)
{
	if (soft->fail_n == 0)
		return false;
	if (soft->fail_k > 1) {
		soft->fail_k--;
		return false;
	}
	soft->fail_n--;
	soft->st.failed++;
	return true;
}

static int soft_write(struct libmsix_ims_hw *hw, uint32_t i,
		      const struct libmsix_ims_entry *e)
{
	struct libmsix_soft_ims *soft = to_soft(hw);
	struct soft_slot *s;
	int err = 0;

	pthread_mutex_lock(&soft->lock);
	if (soft_should_fail(soft)) {
		err = soft->fail_err;
		goto out;
	}
	if (i >= hw->nr_slots || !e || !soft->s[i].claimed) {
		soft->st.violations++;
		err = -EINVAL;
		goto out;
	}
	s = &soft->s[i];
	/* R41: the message only changes under the mask. */
	if (!lmx_ims_same_msg(&s->e, e) && !(s->e.masked && e->masked)) {
		soft->st.violations++;
		err = -EINVAL;
		goto out;
	}
	s->e = *e;
	s->writes++;
	soft->st.writes++;
	/* §6.1.4.5: unmasking a slot with its pending bit set sends it. */
	if (!e->masked && s->pending)
		soft_send(soft, i);
out:
	pthread_mutex_unlock(&soft->lock);
	return err;
}

static int soft_raise_locked(struct libmsix_soft_ims *soft, uint32_t i)
{
	struct soft_slot *s = &soft->s[i];

	if (!s->claimed)
		return -ENOENT;
	if (s->e.masked) {
		if (!s->pending)
			soft->st.latched++;
		s->pending = true;
		return LIBMSIX_LATCHED;
	}
	soft_send(soft, i);
	return LIBMSIX_DELIVERED;
}

static int soft_fire(struct libmsix_ims_hw *hw, uint32_t i)
{
	struct libmsix_soft_ims *soft = to_soft(hw);
	int r;

	pthread_mutex_lock(&soft->lock);
	if (i >= hw->nr_slots || !soft->s[i].claimed) {
		soft->st.violations++; /* libmsix fired a slot it does not own */
		r = -EINVAL;
	} else {
		r = soft_raise_locked(soft, i);
	}
	pthread_mutex_unlock(&soft->lock);
	return r < 0 ? r : 0;
}

static int soft_pending(struct libmsix_ims_hw *hw, uint32_t i)
{
	struct libmsix_soft_ims *soft = to_soft(hw);
	int r;

	pthread_mutex_lock(&soft->lock);
	if (i >= hw->nr_slots || !soft->s[i].claimed) {
		soft->st.violations++;
		r = -EINVAL;
	} else {
		r = soft->s[i].pending;
		soft->s[i].pending = false;
		if (r)
			soft->st.pending_reads++;
	}
	pthread_mutex_unlock(&soft->lock);
	return r;
}

static void soft_claim(struct libmsix_ims_hw *hw, uint32_t i)
{
	struct libmsix_soft_ims *soft = to_soft(hw);

	pthread_mutex_lock(&soft->lock);
	if (i >= hw->nr_slots || soft->s[i].claimed || !is_reset(&soft->s[i].e)) {
		soft->st.violations++;
	} else {
		soft->s[i].claimed = true;
		soft->s[i].pending = false;
		soft->st.claimed++;
		soft->st.claims++;
	}
	pthread_mutex_unlock(&soft->lock);
}

static void soft_release(struct libmsix_ims_hw *hw, uint32_t i)
{
	struct libmsix_soft_ims *soft = to_soft(hw);

	pthread_mutex_lock(&soft->lock);
	/* A freed slot keeps no message: the next owner must not inherit it. */
	if (i >= hw->nr_slots || !soft->s[i].claimed ||
	    !is_reset(&soft->s[i].e)) {
		soft->st.violations++;
	} else {
		soft->s[i].claimed = false;
		soft->s[i].pending = false;
		soft->st.claimed--;
		soft->st.releases++;
	}
	pthread_mutex_unlock(&soft->lock);
}

static const struct libmsix_ims_ops soft_ops = {
	.size = sizeof(struct libmsix_ims_ops),
	.write = soft_write,
	.pending = soft_pending,
	.fire = soft_fire,
	.claim = soft_claim,
	.release = soft_release,
};

/*
 * A VMM's call broke a rule: log it through the sink the VMM may set on
 * the device's struct libmsix_ims_hw (libmsix_soft_ims_hw()), which the
 * store logs through too.
 */
#define SOFT_EINVAL(soft, ...)                                            \
	lmx_sink_einval((soft)->hw.log, (soft)->hw.log_opaque,            \
			(soft)->hw.log_level, "libmsix-soft-ims: ", __VA_ARGS__)

/* @slot of @soft in call @fn: 0, or -EINVAL (logged) beyond its slots. */
static int check_slot(struct libmsix_soft_ims *soft, const char *fn,
		      uint32_t slot)
{
	if (slot < soft->hw.nr_slots)
		return 0;
	return SOFT_EINVAL(soft, "%s(): slot %u is outside 0..%u", fn, slot,
			   soft->hw.nr_slots - 1);
}

int libmsix_soft_ims_create(uint32_t nr_slots, libmsix_soft_ims_sink_fn sink,
			    void *opaque, struct libmsix_soft_ims **out)
{
	struct libmsix_soft_ims *soft;

	if (!out || nr_slots < 1 || nr_slots > LIBMSIX_IMS_MAX_SLOTS)
		return -EINVAL;
	soft = calloc(1, sizeof(*soft) + nr_slots * sizeof(struct soft_slot));
	if (!soft)
		return -ENOMEM;
	soft->hw.ops = &soft_ops;
	soft->hw.nr_slots = nr_slots;
	soft->sink = sink;
	soft->opaque = opaque;
	for (uint32_t i = 0; i < nr_slots; i++)
		soft->s[i].e = lmx_ims_reset_entry;
	pthread_mutex_init(&soft->lock, NULL);
	*out = soft;
	return 0;
}

void libmsix_soft_ims_destroy(struct libmsix_soft_ims *soft)
{
	if (!soft)
		return;
	pthread_mutex_destroy(&soft->lock);
	free(soft);
}

struct libmsix_ims_hw *libmsix_soft_ims_hw(struct libmsix_soft_ims *soft)
{
	return soft ? &soft->hw : NULL;
}

int libmsix_soft_ims_raise(struct libmsix_soft_ims *soft, uint32_t slot)
{
	int r;

	if (!soft)
		return -EINVAL;
	r = check_slot(soft, "libmsix_soft_ims_raise", slot);
	if (r)
		return r;
	pthread_mutex_lock(&soft->lock);
	r = soft_raise_locked(soft, slot);
	pthread_mutex_unlock(&soft->lock);
	return r;
}

int libmsix_soft_ims_slot(struct libmsix_soft_ims *soft, uint32_t slot,
			  struct libmsix_soft_ims_slot *out)
{
	const struct soft_slot *s;

	if (!soft)
		return -EINVAL;
	if (!out)
		return SOFT_EINVAL(soft, "libmsix_soft_ims_slot(): out is NULL");
	if (check_slot(soft, "libmsix_soft_ims_slot", slot))
		return -EINVAL;
	pthread_mutex_lock(&soft->lock);
	s = &soft->s[slot];
	memset(out, 0, sizeof(*out));
	out->entry = s->e;
	out->claimed = s->claimed;
	out->pending = s->pending;
	out->writes = s->writes;
	out->sent = s->sent;
	pthread_mutex_unlock(&soft->lock);
	return 0;
}

int libmsix_soft_ims_fail(struct libmsix_soft_ims *soft, uint32_t k,
			  uint32_t n, int err)
{
	if (!soft)
		return -EINVAL;
	if (err >= 0)
		return SOFT_EINVAL(soft, "libmsix_soft_ims_fail(): err %d is "
					 "not a negative errno", err);
	pthread_mutex_lock(&soft->lock);
	soft->fail_k = k;
	soft->fail_n = k ? n : 0;
	soft->fail_err = err;
	pthread_mutex_unlock(&soft->lock);
	return 0;
}

int libmsix_soft_ims_get_stats(struct libmsix_soft_ims *soft,
			       struct libmsix_soft_ims_stats *out)
{
	if (!soft)
		return -EINVAL;
	if (!out)
		return SOFT_EINVAL(soft, "libmsix_soft_ims_get_stats(): out is "
					 "NULL");
	pthread_mutex_lock(&soft->lock);
	*out = soft->st;
	pthread_mutex_unlock(&soft->lock);
	return 0;
}
