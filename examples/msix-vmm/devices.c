// SPDX-License-Identifier: MIT
/*
 * The device models: virtio-blk (virtio 1.x §5.2) backed by a file, with
 * num_queues request queues (VIRTIO_BLK_F_MQ), and virtio-rng (§5.4).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "vmm.h"

/* Copy @len bytes from the start of @iov into @dst; false if too short. */
static bool iov_peek(const struct iovec *iov, int n, void *dst, size_t len)
{
	uint8_t *d = dst;

	for (int i = 0; i < n && len; i++) {
		size_t c = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(d, iov[i].iov_base, c);
		d += c;
		len -= c;
	}
	return len == 0;
}

/* Drop @len bytes from the front of @iov (in place); returns the new n. */
static int iov_skip(struct iovec *iov, int n, size_t len)
{
	int i = 0;

	while (i < n && len >= iov[i].iov_len) {
		len -= iov[i].iov_len;
		i++;
	}
	if (i < n) {
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + len;
		iov[i].iov_len -= len;
	}
	memmove(iov, iov + i, (size_t)(n - i) * sizeof(*iov));
	return n - i;
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t s = 0;

	for (int i = 0; i < n; i++)
		s += iov[i].iov_len;
	return s;
}

/* --------------------------------------------------------------- blk */

struct blk {
	struct virtio_dev vd;
	int fd;
	uint64_t bytes;
	struct virtio_blk_config cfg;
};

static uint32_t blk_request(struct virtio_dev *vd, struct vq *q,
			    const struct iovec *out_c, int nout,
			    const struct iovec *in_c, int nin)
{
	struct blk *b = vd->priv;
	struct iovec out[nout > 0 ? nout : 1], in[nin > 0 ? nin : 1];
	struct virtio_blk_outhdr hdr;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t written = 0;

	(void)q;
	memcpy(out, out_c, (size_t)nout * sizeof(*out));
	memcpy(in, in_c, (size_t)nin * sizeof(*in));
	if (!iov_peek(out, nout, &hdr, sizeof(hdr)) || iov_len(in, nin) < 1)
		return 0; /* no header or no status byte: nothing to say */
	nout = iov_skip(out, nout, sizeof(hdr));
	/* The status byte is the last writable byte. */
	/* iov_len(in) >= 1 above: some in[] before the empty tail has a byte. */
	while (nin > 1 && in[nin - 1].iov_len == 0)
		nin--;
	struct iovec *last = &in[nin - 1];
	uint8_t *st = (uint8_t *)last->iov_base + last->iov_len - 1;
	last->iov_len--;

	uint64_t off = hdr.sector * 512;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN: {
		size_t len = iov_len(in, nin);
		if (hdr.sector > b->bytes / 512 || len > b->bytes - off ||
		    preadv(b->fd, in, nin, (off_t)off) != (ssize_t)len)
			status = VIRTIO_BLK_S_IOERR;
		else
			written = (uint32_t)len;
		break;
	}
	case VIRTIO_BLK_T_OUT: {
		size_t len = iov_len(out, nout);
		if (hdr.sector > b->bytes / 512 || len > b->bytes - off ||
		    pwritev(b->fd, out, nout, (off_t)off) != (ssize_t)len)
			status = VIRTIO_BLK_S_IOERR;
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(b->fd) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		static const char id[VIRTIO_BLK_ID_BYTES] = "msix-vmm-blk";
		size_t len = iov_len(in, nin), done = 0;
		for (int i = 0; i < nin && done < sizeof(id); i++) {
			size_t c = in[i].iov_len;
			if (c > sizeof(id) - done)
				c = sizeof(id) - done;
			memcpy(in[i].iov_base, id + done, c);
			done += c;
		}
		(void)len;
		written = (uint32_t)done;
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	*st = status;
	return written + 1;
}

static uint32_t blk_cfg_read(struct virtio_dev *vd, uint32_t off,
			     uint32_t size)
{
	struct blk *b = vd->priv;
	uint32_t v = 0;

	if (off < sizeof(b->cfg) && size <= sizeof(b->cfg) - off)
		memcpy(&v, (uint8_t *)&b->cfg + off, size < 4 ? size : 4);
	return v;
}

static const struct virtio_ops blk_ops = {
	.request = blk_request,
	.cfg_read = blk_cfg_read,
};

struct virtio_dev *blk_create(struct vmm *vm, const char *path,
			      uint16_t queues)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct stat st;

	if (!b)
		return NULL;
	b->fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->fd < 0 || fstat(b->fd, &st) < 0) {
		fprintf(stderr, "msix-vmm: %s: %s\n", path, strerror(errno));
		free(b);
		return NULL;
	}
	b->bytes = (uint64_t)st.st_size & ~511ull;
	b->cfg.capacity = b->bytes / 512;
	b->cfg.seg_max = 128 - 2;
	b->cfg.num_queues = queues;
	b->vd.ops = &blk_ops;
	b->vd.priv = b;
	virtio_init(&b->vd, vm, "virtio-blk", VIRTIO_ID_BLOCK, queues,
		    (1ull << VIRTIO_BLK_F_SEG_MAX) |
			    (1ull << VIRTIO_BLK_F_FLUSH) |
			    (1ull << VIRTIO_BLK_F_MQ));
	if (virtio_create(&b->vd) < 0)
		return NULL;
	return &b->vd;
}

/* --------------------------------------------------------------- rng */

static uint32_t rng_request(struct virtio_dev *vd, struct vq *q,
			    const struct iovec *out, int nout,
			    const struct iovec *in, int nin)
{
	uint32_t n = 0;

	(void)vd;
	(void)q;
	(void)out;
	(void)nout;
	for (int i = 0; i < nin; i++) {
		uint8_t *p = in[i].iov_base;
		size_t left = in[i].iov_len;

		while (left) {
			ssize_t r = getrandom(p, left, 0);
			if (r <= 0)
				return n;
			p += r;
			left -= (size_t)r;
			n += (uint32_t)r;
		}
	}
	return n;
}

static const struct virtio_ops rng_ops = {
	.request = rng_request,
};

struct virtio_dev *rng_create(struct vmm *vm)
{
	struct virtio_dev *vd = calloc(1, sizeof(*vd));

	if (!vd)
		return NULL;
	vd->ops = &rng_ops;
	virtio_init(vd, vm, "virtio-rng", VIRTIO_ID_RNG, 1, 0);
	if (virtio_create(vd) < 0)
		return NULL;
	return vd;
}
