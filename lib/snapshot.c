/* SPDX-License-Identifier: MIT */
/*
 * Snapshots. The blob is little-endian:
 *
 *   0  u32 magic "MSIX" (0x5849534d)   4  u16 version (1)
 *   6  u16 header bytes (24)           8  u32 N
 *  12  u32 flags: bit 0 Enable, bit 1 Function Mask, bit 2 Bus Master
 *  16  u64 reserved, zero
 *  24  N x { u32 addr_lo, u32 addr_hi, u32 data, u32 vector_control }
 *      N x u16 use count
 *      ceil(N / 64) x u64 PBA
 *
 * Loading treats it as hostile (Firecracker #5918, #5952): every field is
 * checked before any state changes.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <linux/pci_regs.h>

#include "internal.h"

#define SNAP_MAGIC 0x5849534du
#define SNAP_VERSION 1u
#define SNAP_HEADER 24u
#define SNAP_ENABLE 0x1u
#define SNAP_FMASK 0x2u
#define SNAP_BME 0x4u

static size_t snap_size(uint32_t n)
{
	return SNAP_HEADER + (size_t)n * 18 + (size_t)(n + 63) / 64 * 8;
}

size_t libmsix_save_size(const struct libmsix_dev *dev)
{
	return dev ? snap_size(dev->n) : 0;
}

static void put32(uint8_t **p, uint32_t v)
{
	v = htole32(v);
	memcpy(*p, &v, 4);
	*p += 4;
}

static uint32_t get32(const uint8_t **p)
{
	uint32_t v;

	memcpy(&v, *p, 4);
	*p += 4;
	return le32toh(v);
}

long libmsix_save(struct libmsix_dev *dev, void *buf, size_t size)
{
	uint8_t *p = buf;
	uint64_t pba[LIBMSIX_MAX_VECTORS / 64] = { 0 };

	if (!dev)
		return -EINVAL;
	if (!buf)
		return lmx_einval(dev, "libmsix_save(): buf is NULL");
	if (size < snap_size(dev->n))
		return -ENOSPC;
	lmx_dev_lock(dev);
	put32(&p, SNAP_MAGIC);
	put32(&p, SNAP_VERSION | SNAP_HEADER << 16);
	put32(&p, dev->n);
	put32(&p, (dev->enable ? SNAP_ENABLE : 0) |
			  (dev->fmask ? SNAP_FMASK : 0) |
			  (dev->bme ? SNAP_BME : 0));
	put32(&p, 0);
	put32(&p, 0);
	for (uint32_t v = 0; v < dev->n; v++) {
		struct vec *e = &dev->vec[v];

		put32(&p, atomic_load(&e->addr_lo));
		put32(&p, atomic_load(&e->addr_hi));
		put32(&p, atomic_load(&e->data));
		put32(&p, vector_control(e));
	}
	for (uint32_t v = 0; v < dev->n; v++) {
		uint16_t use = htole16(dev->vec[v].use);

		memcpy(p, &use, 2);
		p += 2;
	}
	for (uint32_t v = 0; v < dev->n; v++) {
		struct vec *e = &dev->vec[v];
		uint32_t s = state_load(e);

		if (be_has_poll(dev) && (s & V_BLOCKED) && !(s & V_DROP))
			lmx_poll_into_pba(dev, v);
		if (state_load(e) & V_PENDING)
			pba[v / 64] |= 1ull << (v % 64);
	}
	for (uint32_t q = 0; q < (dev->n + 63) / 64; q++) {
		uint64_t le = htole64(pba[q]);

		memcpy(p, &le, 8);
		p += 8;
	}
	lmx_dev_unlock(dev);
	return (long)snap_size(dev->n);
}

/*
 * Every rule a blob must meet; nothing is changed until all hold. On the
 * first that fails, @why says which field and which rule, and the return
 * value (> 0) tells the rules apart; 0 when all hold.
 */
#define BAD_BLOB(...)                                     \
	do {                                              \
		snprintf(why, whylen, __VA_ARGS__);       \
		return __LINE__; /* which rule */         \
	} while (0)

static int check_blob(const struct libmsix_dev *dev, const uint8_t *b,
		      size_t len, char *why, size_t whylen)
{
	const uint8_t *p = b;
	uint32_t n, flags, w;
	uint64_t last;

	if (len < SNAP_HEADER)
		BAD_BLOB("length %zu is shorter than the %u-byte header", len,
			 SNAP_HEADER);
	w = get32(&p);
	if (w != SNAP_MAGIC)
		BAD_BLOB("magic 0x%08x is not libmsix's 0x%08x", w, SNAP_MAGIC);
	w = get32(&p);
	if (w != (SNAP_VERSION | SNAP_HEADER << 16))
		BAD_BLOB("version word 0x%08x: this libmsix reads version %u with a %u-byte header",
			 w, SNAP_VERSION, SNAP_HEADER);
	n = get32(&p);
	if (n != dev->n)
		BAD_BLOB("nr_vectors %u: this device has %u", n, dev->n);
	if (len != snap_size(n))
		BAD_BLOB("length %zu: a blob of %u vectors is %zu bytes", len, n,
			 snap_size(n));
	flags = get32(&p);
	if (flags & ~(SNAP_ENABLE | SNAP_FMASK | SNAP_BME))
		BAD_BLOB("flags 0x%x: unknown bits 0x%x", flags,
			 flags & ~(SNAP_ENABLE | SNAP_FMASK | SNAP_BME));
	if (get32(&p) != 0 || get32(&p) != 0)
		BAD_BLOB("reserved header words are not 0");
	for (uint32_t v = 0; v < n; v++) {
		uint32_t lo = get32(&p), ctrl;

		(void)get32(&p);
		(void)get32(&p);
		ctrl = get32(&p);
		if (lo & 3u)
			BAD_BLOB("table entry %u: Message Address 0x%08x has bits 1:0 set (R15)",
				 v, lo);
		if (ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT)
			BAD_BLOB("table entry %u: Vector Control 0x%08x has bits other than Mask set (R19)",
				 v, ctrl);
	}
	p += (size_t)n * 2;
	/* PBA bits with no table entry are reserved (R21). */
	if (n % 64) {
		memcpy(&last, p + (size_t)(n / 64) * 8, 8);
		if (le64toh(last) >> (n % 64))
			BAD_BLOB("PBA: bits for vectors %u and up are set (R21)", n);
	}
	return 0;
}

int libmsix_load(struct libmsix_dev *dev, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t flags;
	int err;

	char why[160];

	if (!dev)
		return -EINVAL;
	if (!buf)
		return lmx_einval(dev, "libmsix_load(): buf is NULL");
	err = check_blob(dev, buf, len, why, sizeof(why));
	if (err)
		return lmx_einval_key(dev, (uintptr_t)err,
				      "libmsix_load(): snapshot rejected: %s",
				      why);
	p += 12;
	flags = get32(&p);
	p += 8;

	lmx_dev_lock(dev);
	lmx_engine_tx_begin(dev);
	dev->fmask = flags & SNAP_FMASK;
	dev->bme = flags & SNAP_BME;
	lmx_engine_set_enable(dev, flags & SNAP_ENABLE);
	for (uint32_t v = 0; v < dev->n; v++) {
		struct vec *e = &dev->vec[v];
		uint32_t lo = get32(&p), hi = get32(&p), data = get32(&p);
		uint32_t ctrl = get32(&p);

		/* First, so that no lock-free Vector Control write follows. */
		lmx_store_mask(e, ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
		atomic_fetch_add(&e->state, V_SEQ_ONE);
		atomic_store(&e->addr_lo, lo);
		atomic_store(&e->addr_hi, hi);
		atomic_store(&e->data, data);
		atomic_fetch_add(&e->state, V_SEQ_ONE);
		e->host |= H_MSG_DIRTY;
		/* Every vector goes through unblock(), which replays pending. */
		atomic_fetch_or(&e->state, V_BLOCKED);
	}
	for (uint32_t v = 0; v < dev->n; v++) {
		uint16_t use;

		memcpy(&use, p, 2);
		p += 2;
		dev->vec[v].use = le16toh(use);
	}
	lmx_engine_touch_all(dev);
	for (uint32_t v = 0; v < dev->n; v++) {
		uint64_t q;

		memcpy(&q, p + (size_t)(v / 64) * 8, 8);
		if (!((le64toh(q) >> (v % 64)) & 1))
			atomic_fetch_and(&dev->vec[v].state, ~V_PENDING);
		else if (!(state_load(&dev->vec[v]) & V_DROP))
			atomic_fetch_or(&dev->vec[v].state, V_PENDING);
	}
	err = lmx_engine_tx_end(dev);
	lmx_dev_unlock(dev);
	return err;
}
