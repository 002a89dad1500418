/* SPDX-License-Identifier: MIT */
/*
 * A pool of host vectors shared by devices, each with a reservation: the
 * KVM backend's GSIs (kvm.c) and the IMS backend's slots (ims.c). The
 * accounting is the same for both, and lives here; the owner keeps the
 * resources themselves (which GSI, which slot) and its own lock, held
 * around every call.
 *
 * A device may always take up to its reservation -- the reservation was
 * counted when the device was created, so the resource exists (Tsirkin:
 * fail at setup, not at guest run time). Beyond it, only a device that may
 * overcommit (FORCE) takes, and only from what nobody holds or is
 * guaranteed.
 */
#ifndef LIBMSIX_POOL_H
#define LIBMSIX_POOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

struct lmx_pool {
	uint32_t claimed;	/* sum over devices of max(reserve, held) */
	uint32_t reserved;	/* sum of reservations */
	uint32_t demand;	/* vectors that may come to want one */
	uint32_t held, peak;	/* taken now, most ever */
};

/* One device's part of a pool. */
struct lmx_share {
	uint32_t reserve;	/* guaranteed */
	uint32_t held, peak;	/* taken, staged or committed */
	bool force;		/* may take beyond @reserve */
};

static inline uint32_t lmx_max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* What nobody holds or is guaranteed, of @capacity. */
static inline uint32_t lmx_pool_available(const struct lmx_pool *p,
					  uint32_t capacity)
{
	return capacity > p->claimed ? capacity - p->claimed : 0;
}

/* May device @s take @k more? */
static inline bool lmx_pool_may_take(const struct lmx_pool *p,
				     uint32_t capacity,
				     const struct lmx_share *s, uint32_t k)
{
	uint32_t before = lmx_max_u32(s->reserve, s->held);
	uint32_t after = lmx_max_u32(s->reserve, s->held + k);

	if (s->held + k > s->reserve && !s->force)
		return false;
	return after - before <= lmx_pool_available(p, capacity);
}

/* Device @s now holds @held (one taken or given back, or a rollback). */
static inline void lmx_pool_set_held(struct lmx_pool *p, struct lmx_share *s,
				     uint32_t held)
{
	p->claimed -= lmx_max_u32(s->reserve, s->held);
	p->claimed += lmx_max_u32(s->reserve, held);
	p->held = p->held - s->held + held;
	s->held = held;
	if (held > s->peak)
		s->peak = held;
	if (p->held > p->peak)
		p->peak = p->held;
}

/*
 * A new device: guarantee it @reserve, and count @demand vectors that may
 * want one. Return: 0; -ENOSPC, changing nothing, when @reserve is more
 * than is available.
 */
static inline int lmx_pool_join(struct lmx_pool *p, uint32_t capacity,
				struct lmx_share *s, uint32_t reserve,
				bool force, uint32_t demand)
{
	if (reserve > lmx_pool_available(p, capacity))
		return -ENOSPC;
	*s = (struct lmx_share){ .reserve = reserve, .force = force };
	p->claimed += reserve;
	p->reserved += reserve;
	p->demand += demand;
	return 0;
}

/* The device leaves, holding nothing, with @demand vectors still counted. */
static inline void lmx_pool_leave(struct lmx_pool *p, struct lmx_share *s,
				  uint32_t demand)
{
	p->claimed -= s->reserve;
	p->reserved -= s->reserve;
	p->demand -= demand;
}

/* Demand that neither reservations nor what is free could meet. */
static inline uint32_t lmx_pool_overcommit(const struct lmx_pool *p,
					   uint32_t capacity)
{
	uint64_t cover = (uint64_t)p->reserved +
			 lmx_pool_available(p, capacity);

	return p->demand > cover ? (uint32_t)(p->demand - cover) : 0;
}

#endif /* LIBMSIX_POOL_H */
