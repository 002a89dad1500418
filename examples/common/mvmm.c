/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "host.h"
#include "mvmm.h"

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "  [%s] %s\n", level <= LOG_ERR ? "error"
				       : level <= LOG_WARNING ? "warning"
							       : "debug",
		msg);
}

static int deliver_cb(void *opaque, uint32_t v, const struct libmsix_msg *msg)
{
	struct mvmm *m = opaque;

	if (v >= m->n)
		return 0;
	m->delivered[v]++;
	m->last[v] = *msg;
	m->deliveries++;
	if (m->in_process >= 0 && (uint32_t)m->in_process != v)
		m->wrong_fd++;
	return 0;
}

int mvmm_region_read(struct mvmm *m, uint64_t offset, void *buf, size_t len)
{
	ssize_t r = pread(libmsix_vfio_device_fd(m->vfio), buf, len,
			  (off_t)offset);

	return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
}

int mvmm_region_write(struct mvmm *m, uint64_t offset, const void *buf,
		      size_t len)
{
	ssize_t r = pwrite(libmsix_vfio_device_fd(m->vfio), buf, len,
			   (off_t)offset);

	return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
}

static int detect_doorbell(struct mvmm *m)
{
	uint16_t id[2];
	int err;

	err = mvmm_region_read(m, m->info.config_offset, id, sizeof(id));
	if (err)
		return err;
	m->doorbell = id[0] == IVSHMEM_VENDOR && id[1] == IVSHMEM_DEVICE &&
		      m->info.bar_size[0] >= 16;
	if (!m->doorbell)
		return 0;
	return mvmm_region_read(m, m->info.bar_offset[0] + IVSHMEM_IVPOSITION,
				&m->peer, 4);
}

int mvmm_open(struct mvmm *m, const struct mvmm_opts *o)
{
	struct libmsix_vfio_opts vo = {
		.size = sizeof(vo),
		.deliver = deliver_cb,
		.log = log_cb,
		.log_level = o->verbose > 1 ? LOG_DEBUG : LOG_WARNING,
		.opaque = m,
	};
	int err;

	memset(m, 0, sizeof(*m));
	m->in_process = -1;
	m->verbose = o->verbose;
	snprintf(m->address, sizeof(m->address), "%s", o->address);
	err = libmsix_vfio_open(o->address, &vo, &m->vfio);
	if (err) {
		fprintf(stderr, "cannot open %s: %s\n", o->address,
			strerror(-err));
		return err;
	}
	libmsix_vfio_get_info(m->vfio, &m->info);
	m->n = m->info.table_size;
	m->used = o->used && o->used < m->n ? o->used : m->n;
	/* Two eventfds per vector at most, plus the VMM's own. */
	host_raise_nofile(2 * (unsigned long)m->info.irq_count + 64);

	memset(&m->cfg, 0, sizeof(m->cfg));
	m->cfg.size = sizeof(m->cfg);
	m->cfg.flags = o->cfg_flags;
	m->cfg.policy = o->policy;
	m->cfg.log = log_cb;
	m->cfg.log_level = o->verbose > 1 ? LOG_DEBUG : LOG_WARNING;
	m->cfg.opaque = m;
	libmsix_vfio_fill_config(m->vfio, &m->cfg);
	m->delivered = calloc(m->n, sizeof(*m->delivered));
	m->last = calloc(m->n, sizeof(*m->last));
	if (!m->delivered || !m->last) {
		err = -ENOMEM;
		goto fail;
	}
	err = libmsix_dev_create(&m->cfg, libmsix_vfio_backend(m->vfio),
				 &m->dev);
	if (err) {
		fprintf(stderr, "cannot mirror the MSI-X capability of %s: %s\n",
			o->address, strerror(-err));
		goto fail;
	}
	for (uint32_t v = 0; v < m->used; v++) {
		err = libmsix_vector_use(m->dev, v);
		if (err)
			goto fail;
	}
	err = detect_doorbell(m);
	if (err)
		goto fail;
	return 0;
fail:
	mvmm_close(m);
	return err;
}

void mvmm_close(struct mvmm *m)
{
	libmsix_dev_destroy(m->dev);
	libmsix_vfio_close(m->vfio);
	free(m->delivered);
	free(m->last);
	free(m->pfd);
	free(m->pollv);
	memset(m, 0, sizeof(*m));
}

int mvmm_set_msgctl(struct mvmm *m, uint16_t bits)
{
	return libmsix_config_write(m->dev, m->cfg.cap_offset + PCI_MSIX_FLAGS,
				    2, bits);
}

int mvmm_read_cap(struct mvmm *m, uint32_t dw, uint32_t *val)
{
	*val = 0;
	return libmsix_config_read(m->dev, m->cfg.cap_offset + 4 * dw, 4, val);
}

static int table_write(struct mvmm *m, uint32_t v, uint32_t dw, uint32_t val)
{
	return libmsix_mmio_write(m->dev, m->cfg.table_bir,
				  (uint64_t)m->cfg.table_offset + 16ull * v +
					  4 * dw,
				  4, val);
}

int mvmm_set_mask(struct mvmm *m, uint32_t v, bool masked)
{
	return table_write(m, v, 3, masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

/* Linux writes an entry as three DWORDs (pci_write_msg_msix). */
int mvmm_program(struct mvmm *m, uint32_t v, uint64_t addr, uint32_t data)
{
	int err = table_write(m, v, 0, (uint32_t)addr);

	if (!err)
		err = table_write(m, v, 1, (uint32_t)(addr >> 32));
	if (!err)
		err = table_write(m, v, 2, data);
	return err;
}

int mvmm_pba(struct mvmm *m, uint32_t v, bool *pending)
{
	uint64_t q = 0;
	int err = libmsix_mmio_read(m->dev, m->cfg.pba_bir,
				    (uint64_t)m->cfg.pba_offset + 8ull * (v / 64),
				    8, &q);

	*pending = (q >> (v % 64)) & 1;
	return err;
}

uint64_t mvmm_msg_addr(uint32_t v)
{
	return 0xfee00000ull | (uint64_t)(v % 256) << 12;
}

uint32_t mvmm_msg_data(uint32_t v, uint32_t gen)
{
	return 0x4000u + v + (gen << 16);
}

static int refresh_pollset(struct mvmm *m)
{
	uint64_t gen = libmsix_vfio_poll_generation(m->vfio);
	size_t n;

	if (m->pollv && gen == m->gen)
		return 0;
	n = libmsix_vfio_poll_fds(m->vfio, NULL, 0);
	if (n > m->cap) {
		struct libmsix_vfio_pollfd *p = realloc(m->pfd, n * sizeof(*p));
		struct pollfd *q;

		if (!p)
			return -ENOMEM;
		m->pfd = p;
		q = realloc(m->pollv, n * sizeof(*q));
		if (!q)
			return -ENOMEM;
		m->pollv = q;
		m->cap = n;
	}
	m->npfd = libmsix_vfio_poll_fds(m->vfio, m->pfd, m->cap);
	for (size_t i = 0; i < m->npfd; i++) {
		m->pollv[i].fd = m->pfd[i].fd;
		m->pollv[i].events = POLLIN;
	}
	m->gen = gen;
	return 0;
}

int mvmm_pump(struct mvmm *m, int timeout_ms)
{
	int err = refresh_pollset(m), r, got = 0;

	if (err)
		return err;
	if (m->npfd == 0) {
		if (timeout_ms > 0)
			usleep((useconds_t)timeout_ms * 1000);
		return 0;
	}
	r = poll(m->pollv, (nfds_t)m->npfd, timeout_ms);
	if (r < 0)
		return -errno;
	for (size_t i = 0; i < m->npfd && r > 0; i++) {
		if (!(m->pollv[i].revents & POLLIN))
			continue;
		m->in_process = m->pfd[i].vector;
		err = libmsix_vfio_process(m->vfio, m->dev, m->pfd[i].fd);
		m->in_process = -1;
		if (err < 0)
			return err;
		got += err;
	}
	return got;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mvmm_wait(struct mvmm *m, uint32_t v, uint64_t count, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (m->delivered[v] < count) {
		int64_t left = end - now_ms();
		int err;

		if (left <= 0)
			return -ETIMEDOUT;
		err = mvmm_pump(m, (int)(left < 50 ? left : 50));
		if (err < 0)
			return err;
	}
	return 0;
}

int mvmm_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);

	if (r < 0)
		return -errno;
	return r == 1 ? 0 : -ETIMEDOUT;
}

int mvmm_ring(struct mvmm *m, uint32_t v)
{
	uint32_t db = m->peer << 16 | v;

	if (!m->doorbell)
		return -ENOTSUP;
	return mvmm_region_write(m, m->info.bar_offset[0] + IVSHMEM_DOORBELL,
				 &db, 4);
}

int mvmm_device_pba(struct mvmm *m, uint32_t v, bool *pending)
{
	uint32_t bir = m->cfg.pba_bir, word;
	uint64_t off = m->info.bar_offset[bir] + m->cfg.pba_offset + 4ull * (v / 32);
	int err = mvmm_region_read(m, off, &word, 4);

	*pending = (word >> (v % 32)) & 1;
	return err;
}
