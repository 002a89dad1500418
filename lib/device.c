/* SPDX-License-Identifier: MIT */
/*
 * Device lifetime: geometry validation (R2-R12), reset (R30, R31), the
 * per-device lock, and introspection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <linux/pci_regs.h>

#include "internal.h"

/* One rule per check; the log names the rule that failed. */
#define REJECT(cfg, ...)                                   \
	do {                                               \
		lmx_cfg_log(cfg, LOG_ERR, "libmsix: " __VA_ARGS__); \
		return -EINVAL;                            \
	} while (0)

static bool bar_is_upper_half(const struct libmsix_config *cfg, uint32_t bir)
{
	return bir > 0 && cfg->bar_type[bir - 1] == LIBMSIX_BAR_MEM64;
}

static int check_structure(const struct libmsix_config *cfg, const char *name,
			   uint32_t bir, uint32_t offset, uint64_t len)
{
	/* R9: BIR 0..5; 6 and 7 are reserved; a bridge has BARs 0..1. */
	if (bir > 5)
		REJECT(cfg, "%s BIR %u is reserved (R9)", name, bir);
	if (cfg->header_type == 1 && bir > 1)
		REJECT(cfg, "%s BIR %u does not exist in a type 1 header (R9)",
		       name, bir);
	if (bar_is_upper_half(cfg, bir))
		REJECT(cfg, "%s BIR %u names the upper half of a 64-bit BAR (R9)",
		       name, bir);
	if (cfg->bar_type[bir] != LIBMSIX_BAR_MEM32 &&
	    cfg->bar_type[bir] != LIBMSIX_BAR_MEM64)
		REJECT(cfg, "%s BAR %u is not a memory BAR (R9)", name, bir);
	/* R10: the low three bits of the register are the BIR. */
	if (offset & 7u)
		REJECT(cfg, "%s offset 0x%x is not QWORD aligned (R10)", name,
		       offset);
	/* R11: inside the BAR; 64-bit sums cannot wrap here. */
	if ((uint64_t)offset + len > cfg->bar_size[bir])
		REJECT(cfg, "%s [0x%x, +0x%llx) does not fit BAR %u of 0x%llx bytes (R11)",
		       name, offset, (unsigned long long)len, bir,
		       (unsigned long long)cfg->bar_size[bir]);
	return 0;
}

static int validate(const struct libmsix_config *cfg)
{
	uint64_t tlen, plen;
	int err;

	if (cfg->flags & ~LIBMSIX_F_PREALLOC_ALL)
		REJECT(cfg, "unknown flags 0x%x", cfg->flags);
	/* R3: 1 <= N <= 2048; never truncated to 11 bits. */
	if (cfg->nr_vectors < 1 || cfg->nr_vectors > LIBMSIX_MAX_VECTORS)
		REJECT(cfg, "%u vectors: MSI-X allows 1..2048 (R3)",
		       cfg->nr_vectors);
	if (cfg->header_type > 1)
		REJECT(cfg, "header type %u is neither 0 nor 1",
		       cfg->header_type);
	if (cfg->cap_offset < 0x40 || cfg->cap_offset > 0x100 - 12 ||
	    cfg->cap_offset % 4)
		REJECT(cfg, "capability offset 0x%x: must be a DWORD in 0x40..0xf4",
		       cfg->cap_offset);
	if ((unsigned)cfg->policy > LIBMSIX_POLICY_INCREMENTAL)
		REJECT(cfg, "unknown policy %d", (int)cfg->policy);
	for (int i = 0; i < 6; i++)
		if ((unsigned)cfg->bar_type[i] > LIBMSIX_BAR_MEM64 ||
		    (cfg->bar_type[i] == LIBMSIX_BAR_MEM64 && i == 5))
			REJECT(cfg, "BAR %d: bad type %d", i,
			       (int)cfg->bar_type[i]);
	tlen = (uint64_t)cfg->nr_vectors * PCI_MSIX_ENTRY_SIZE;
	plen = ((uint64_t)cfg->nr_vectors + 63) / 64 * 8;
	err = check_structure(cfg, "table", cfg->table_bir, cfg->table_offset,
			      tlen);
	if (!err)
		err = check_structure(cfg, "PBA", cfg->pba_bir,
				      cfg->pba_offset, plen);
	if (err)
		return err;
	/* R11: they may share a page, never a byte. */
	if (cfg->table_bir == cfg->pba_bir &&
	    cfg->table_offset < cfg->pba_offset + plen &&
	    cfg->pba_offset < cfg->table_offset + tlen)
		REJECT(cfg, "table and PBA overlap in BAR %u (R11)",
		       cfg->table_bir);
	return 0;
}

static void reset_state(struct libmsix_dev *dev)
{
	dev->enable = false;
	dev->fmask = false;
	for (uint32_t v = 0; v < dev->n; v++) {
		struct vec *e = &dev->vec[v];

		/*
		 * Drop first (pending too; the host is released at commit):
		 * a lock-free notify that sees a zeroed word then also sees
		 * V_DROP on its seqlock re-check, instead of delivering a
		 * message torn between the old entry and zeros.
		 */
		lmx_engine_touch(dev, v);
		atomic_store(&e->addr_lo, 0);
		atomic_store(&e->addr_hi, 0);
		atomic_store(&e->data, 0);
		/* R18, R30: every vector masked after reset. */
		lmx_store_mask(e, true);
		e->host &= (uint8_t)~(H_FAULT | H_MSG_DIRTY);
	}
}

/* The backend @be: its ops table's .size and required op. */
static int check_backend(const struct libmsix_config *cfg,
			 const struct libmsix_backend *be)
{
	const struct libmsix_backend_ops *ops;

	if (!be)
		REJECT(cfg, "libmsix_dev_create(): be is NULL");
	ops = be->ops;
	if (!ops)
		REJECT(cfg, "libmsix_dev_create(): be->ops is NULL");
	/* The oldest ops table ends after deliver (poll came later). */
	if (ops->size < offsetof(struct libmsix_backend_ops, poll))
		REJECT(cfg, "libmsix_dev_create(): be->ops->size %zu is smaller than the oldest ops table (%zu bytes)",
		       ops->size, offsetof(struct libmsix_backend_ops, poll));
	if (lmx_size_check(ops, ops->size, sizeof(*ops))) {
		lmx_cfg_log(cfg, LOG_ERR,
			    "libmsix: libmsix_dev_create(): be->ops->size %zu: the ops this libmsix does not know (past %zu bytes) are not all NULL",
			    ops->size, sizeof(*ops));
		return -E2BIG;
	}
	if (!ops->deliver)
		REJECT(cfg, "libmsix_dev_create(): be->ops->deliver is NULL: every backend needs it");
	return 0;
}

int libmsix_dev_create(const struct libmsix_config *ucfg,
		       struct libmsix_backend *be, struct libmsix_dev **out)
{
	struct libmsix_config c, *cfg = &c;
	pthread_mutexattr_t attr;
	struct libmsix_dev *dev;
	size_t bytes;
	int err;

	if (!ucfg || !out) /* no log sink to say so */
		return -EINVAL;
	err = LMX_STRUCT_IN(&c, ucfg);
	if (err == -E2BIG)
		lmx_cfg_log(ucfg, LOG_ERR,
			    "libmsix: libmsix_dev_create(): cfg->size %zu: the members this libmsix does not know (past %zu bytes) are not all 0",
			    ucfg->size, sizeof(c));
	if (!err)
		err = check_backend(cfg, be);
	if (!err)
		err = validate(cfg);
	if (err)
		return err;

	bytes = sizeof(*dev) + (size_t)cfg->nr_vectors * sizeof(struct vec);
	dev = calloc(1, bytes);
	if (!dev)
		return -ENOMEM;
	dev->cfg = *cfg;
	dev->be = be;
	dev->n = cfg->nr_vectors;
	dev->table_size = dev->n * PCI_MSIX_ENTRY_SIZE;
	dev->pba_size = (dev->n + 63) / 64 * 8;
	dev->bme = true;
	lmx_span_clear(&dev->span, dev->n);
	dev->touched = bit_alloc((int)dev->n);
	if (!dev->touched) {
		free(dev);
		return -ENOMEM;
	}
	pthread_mutexattr_init(&attr);
	/* Recursive: the VMM's own calls inside libmsix_begin/commit. */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&dev->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	for (uint32_t v = 0; v < dev->n; v++)
		atomic_init(&dev->vec[v].state, V_DROP | V_MASKBIT);
	dev->policy = cfg->policy;
	/*
	 * A mask or unmask of a live vector can skip the engine (V_SETTLED)
	 * when the engine would call nothing for it: no per-vector op, no
	 * poll, and no disruptive resize (replay_live()).
	 */
	dev->quick_mask = lmx_live_resize(be) &&
			  !be->ops->route && !be->ops->unroute &&
			  !be->ops->mask && !be->ops->unmask && !be_has_poll(dev);
	*out = dev;
	return 0;
}

int libmsix_reset(struct libmsix_dev *dev)
{
	int err;

	if (!dev)
		return -EINVAL;
	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	reset_state(dev);
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}

int libmsix_dev_destroy(struct libmsix_dev *dev)
{
	if (!dev)
		return 0;
	/* Its owner holds the lock: destroying it would wait for ever, or
	 * free a locked mutex under the owner's feet. */
	if (lmx_transaction_open(dev))
		return -EBUSY;
	if (libmsix_reset(dev) < 0)
		lmx_dev_log(dev, LK_OTHER, LOG_ERR,
			"host resources could not all be released");
	pthread_mutex_destroy(&dev->lock);
	free(dev->touched);
	free(dev);
	return 0;
}

int libmsix_get_vector_info(struct libmsix_dev *dev, uint32_t vector,
			    struct libmsix_vector_info *info)
{
	struct vec *e;
	uint32_t s;

	if (!dev)
		return -EINVAL;
	if (!info)
		return lmx_einval(dev, "libmsix_get_vector_info(): info is NULL");
	if (vector >= dev->n)
		return lmx_bad_vector(dev, "libmsix_get_vector_info", vector);
	e = &dev->vec[vector];
	lmx_dev_lock(dev);
	s = state_load(e);
	memset(info, 0, sizeof(*info));
	info->vector_control = (s & V_MASKBIT) ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
	info->masked = info->vector_control & PCI_MSIX_ENTRY_CTRL_MASKBIT;
	info->pending = s & V_PENDING;
	info->live = !(s & (V_BLOCKED | V_DROP));
	info->use_count = e->use;
	lmx_entry_msg(e, &info->msg);
	info->host = e->host & (H_ALLOC | H_ROUTED | H_UNMASKED | H_FAULT);
	lmx_dev_unlock(dev);
	return 0;
}

int libmsix_get_stats(struct libmsix_dev *dev, struct libmsix_stats *out)
{
	const struct counters *c;

	if (!dev)
		return -EINVAL;
	if (!out)
		return lmx_einval(dev, "libmsix_get_stats(): out is NULL");
	c = &dev->cnt;
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < HOT_SHARDS; i++) {
		const struct hot_counters *h = &dev->hot[i];

		out->delivered += atomic_load(&h->delivered);
		out->latched += atomic_load(&h->latched);
		out->dropped += atomic_load(&h->dropped);
		out->deliver_errors += atomic_load(&h->deliver_errors);
	}
	/* Every in-range notify ends in exactly one of these. */
	out->notified = out->delivered + out->latched + out->dropped +
			out->deliver_errors;
	out->replayed = atomic_load(&c->replayed);
	out->spurious_replays = atomic_load(&c->spurious_replays);
	out->disruptive_reenables = atomic_load(&c->disruptive_reenables);
	out->be_alloc = atomic_load(&c->be_alloc);
	out->be_release = atomic_load(&c->be_release);
	out->be_route = atomic_load(&c->be_route);
	out->be_unroute = atomic_load(&c->be_unroute);
	out->be_mask = atomic_load(&c->be_mask);
	out->be_unmask = atomic_load(&c->be_unmask);
	out->be_commit = atomic_load(&c->be_commit);
	out->be_errors = atomic_load(&c->be_errors);
	out->faults = atomic_load(&c->faults);
	out->bad_accesses = atomic_load(&c->bad_accesses);
	out->alloc_splits = atomic_load(&c->alloc_splits);
	lmx_dev_lock(dev);
	out->host_vectors = dev->host_count;
	out->host_vectors_peak = dev->host_peak;
	lmx_dev_unlock(dev);
	return 0;
}

uint32_t libmsix_nr_vectors(const struct libmsix_dev *dev)
{
	return dev ? dev->n : 0;
}

bool libmsix_enabled(struct libmsix_dev *dev)
{
	bool on;

	if (!dev)
		return false;
	lmx_dev_lock(dev);
	on = dev->enable;
	lmx_dev_unlock(dev);
	return on;
}

bool libmsix_function_masked(struct libmsix_dev *dev)
{
	bool on;

	if (!dev)
		return false;
	lmx_dev_lock(dev);
	on = dev->fmask;
	lmx_dev_unlock(dev);
	return on;
}

const char *libmsix_policy_name(enum libmsix_policy policy)
{
	switch (policy) {
	case LIBMSIX_POLICY_AUTO:
		return "auto";
	case LIBMSIX_POLICY_LAZY:
		return "lazy";
	case LIBMSIX_POLICY_PREALLOCATE:
		return "preallocate";
	case LIBMSIX_POLICY_INCREMENTAL:
		return "incremental";
	}
	return NULL;
}
