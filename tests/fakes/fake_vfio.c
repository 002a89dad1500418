/* SPDX-License-Identifier: MIT */
/*
 * A fake vfio-pci device (see fake_vfio.h): the kernel's rules for
 * VFIO_DEVICE_SET_IRQS on the MSI-X index, a config space, BAR regions.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "fake_vfio.h"

#define REGION_SHIFT 40 /* region i is at file offset i << 40 */

struct fake_vfio fk;

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

uint32_t fake_vfio_triggers(void)
{
	uint32_t n = 0;

	for (uint32_t v = 0; v < fk.count; v++)
		n += fk.trig[v] >= 0;
	return n;
}

static void fake_drop_trigger(uint32_t v)
{
	if (fk.trig[v] >= 0)
		close(fk.trig[v]);
	fk.trig[v] = -1;
	fk.trig_num[v] = -1;
}

static void fake_disable(void)
{
	for (uint32_t v = 0; v < fk.count; v++) {
		fake_drop_trigger(v);
		fk.allocated[v] = false;
	}
	fk.on = false;
	fk.nvec = 0;
}

static void fake_fire(uint32_t v)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(fk.trig[v], &one, sizeof(one)), sizeof(one));
}

static int fake_vector_signal(uint32_t v, int fd, bool inject)
{
	if (!fk.allocated[v]) {
		if (fk.noresize)
			return -EINVAL;
		if (fd >= 0)
			fk.allocated[v] = true; /* pci_msix_alloc_irq_at */
	}
	fake_drop_trigger(v);
	if (fd < 0)
		return 0;
	if (inject)
		return fk.fail_err;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (!is_eventfd(fd))
		return -EINVAL;
	if (fk.host_limit && fake_vfio_triggers() >= fk.host_limit)
		return -ENOSPC;
	fk.trig[v] = dup(fd);
	fk.trig_num[v] = fd;
	/* The device sends what waited in its PBA once the vector is live. */
	if (fk.dev_pending[v]) {
		fk.dev_pending[v] = false;
		fake_fire(v);
	}
	return 0;
}

static int fake_set_block(uint32_t start, uint32_t count, const int *fds,
			  int inject_at)
{
	uint32_t i, j;
	int ret = 0;

	for (i = 0, j = start; i < count && !ret; i++, j++)
		ret = fake_vector_signal(j, fds[i], (int)i == inject_at);
	if (ret)
		for (i = start; i < j; i++)
			fake_drop_trigger(i);
	return ret;
}

static int fake_set_irqs(struct vfio_irq_set *s)
{
	struct fake_call *c = &fk.log[fk.calls % 4096];
	int inject = -2, ret;

	fk.calls++;
	memset(c, 0, sizeof(*c));
	c->flags = s->flags;
	c->start = s->start;
	c->count = s->count;
	if (s->flags & VFIO_IRQ_SET_DATA_EVENTFD)
		for (uint32_t i = 0; i < s->count && i < 16; i++)
			c->fds[i] = ((int *)s->data)[i];
	if (fk.fail_at && fk.calls == fk.fail_at) {
		if (fk.fail_index < 0) {
			c->err = fk.fail_err;
			return fk.fail_err;
		}
		inject = fk.fail_index;
	}
	if (s->index != VFIO_PCI_MSIX_IRQ_INDEX)
		return c->err = -EINVAL;
	if (s->flags & (VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK)) {
		fk.mask_actions++;
		return c->err = -ENOTTY;
	}
	if ((s->flags & VFIO_IRQ_SET_DATA_NONE) && s->count == 0) {
		if (!fk.on)
			return c->err = -EINVAL;
		fake_disable();
		return 0;
	}
	if (!(s->flags & VFIO_IRQ_SET_DATA_EVENTFD) || s->count == 0 ||
	    s->start >= fk.count || s->count > fk.count - s->start ||
	    s->argsz < sizeof(*s) + s->count * sizeof(int))
		return c->err = -EINVAL;
	if (fk.on) {
		ret = fake_set_block(s->start, s->count, (int *)s->data, inject);
		return c->err = ret;
	}
	fk.on = true;
	fk.nvec = s->start + s->count;
	for (uint32_t v = 0; v < fk.nvec; v++)
		fk.allocated[v] = true;
	ret = fake_set_block(s->start, s->count, (int *)s->data, inject);
	if (ret)
		fake_disable();
	return c->err = ret;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *di = arg;

		di->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		di->num_regions = VFIO_PCI_NUM_REGIONS;
		di->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info *ri = arg;

		if (ri->index >= VFIO_PCI_NUM_REGIONS)
			return -EINVAL;
		ri->offset = (uint64_t)ri->index << REGION_SHIFT;
		ri->flags = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
		if (ri->index == VFIO_PCI_CONFIG_REGION_INDEX)
			ri->size = 256;
		else if (ri->index <= VFIO_PCI_BAR5_REGION_INDEX)
			ri->size = fk.bar_size[ri->index];
		else
			ri->size = 0;
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *ii = arg;

		if (ii->index != VFIO_PCI_MSIX_IRQ_INDEX) {
			ii->count = 0;
			ii->flags = 0;
			return 0;
		}
		ii->count = fk.count;
		ii->flags = VFIO_IRQ_INFO_EVENTFD |
			    (fk.noresize ? VFIO_IRQ_INFO_NORESIZE : 0);
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS:
		return fake_set_irqs(arg);
	default:
		return -ENOTTY;
	}
}

/*
 * The interposed libc entry points. The build compiles with hidden
 * visibility; these must be default so that the linker exports them and
 * libmsix.so's references bind here.
 */
#define INTERPOSE __attribute__((visibility("default")))

INTERPOSE int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fk.fd > 0 && fd == fk.fd) {
		r = fake_ioctl(request, arg);
		if (r < 0) {
			errno = -r;
			return -1;
		}
		return r;
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

static bool fake_config_range(off_t off, size_t n)
{
	uint64_t base = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << REGION_SHIFT;

	return (uint64_t)off >= base && (uint64_t)off + n <= base + 256;
}

INTERPOSE ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (fk.fd > 0 && fd == fk.fd) {
		if (!fake_config_range(off, n)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(buf, fk.config + (off & 0xff), n);
		return (ssize_t)n;
	}
	return syscall(SYS_pread64, fd, buf, n, off);
}

INTERPOSE ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (fk.fd > 0 && fd == fk.fd) {
		if (!fake_config_range(off, n)) {
			errno = EINVAL;
			return -1;
		}
		/* Only the Command register is writable in this model. */
		if ((off & 0xff) == PCI_COMMAND && n == 2)
			memcpy(fk.config + PCI_COMMAND, buf, 2);
		return (ssize_t)n;
	}
	return syscall(SYS_pwrite64, fd, buf, n, off);
}

static void put16(uint32_t off, uint16_t v)
{
	memcpy(fk.config + off, &v, 2);
}

static void put32(uint32_t off, uint32_t v)
{
	memcpy(fk.config + off, &v, 4);
}

/* An ivshmem-like function: MSI-X table in BAR 1, a 64-bit BAR 2. */
void fake_vfio_init(uint32_t count, bool noresize)
{
	memset(&fk, 0, sizeof(fk));
	fk.fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fk.fd, 0);
	fk.count = count;
	fk.noresize = noresize;
	for (uint32_t v = 0; v < FAKE_MAX; v++)
		fk.trig[v] = fk.trig_num[v] = -1;
	put16(PCI_VENDOR_ID, 0x1af4);
	put16(PCI_DEVICE_ID, 0x1110);
	put16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	put16(PCI_STATUS, PCI_STATUS_CAP_LIST);
	fk.config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put32(PCI_BASE_ADDRESS_0, 0);
	put32(PCI_BASE_ADDRESS_1, 0);
	put32(PCI_BASE_ADDRESS_2,
	      PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	fk.bar_size[0] = 256;
	fk.bar_size[1] = 2 * FAKE_PBA_OFFSET;
	fk.bar_size[2] = 1u << 20;
	/* A vendor capability first, so the walk has to follow the list. */
	fk.config[PCI_CAPABILITY_LIST] = 0x60;
	fk.config[0x60] = PCI_CAP_ID_VNDR;
	fk.config[0x61] = FAKE_CAP;
	fk.config[FAKE_CAP] = PCI_CAP_ID_MSIX;
	fk.config[FAKE_CAP + 1] = 0;
	put16(FAKE_CAP + PCI_MSIX_FLAGS, (uint16_t)(count - 1));
	put32(FAKE_CAP + PCI_MSIX_TABLE, FAKE_TABLE_BIR);
	put32(FAKE_CAP + PCI_MSIX_PBA, FAKE_PBA_OFFSET | FAKE_TABLE_BIR);
}

void fake_vfio_fini(void)
{
	fake_disable();
	close(fk.fd);
	fk.fd = 0;
}

/* Raise @v at the device: into its trigger, or into the device's PBA. */
void fake_vfio_raise(uint32_t v)
{
	if (fk.on && fk.trig[v] >= 0)
		fake_fire(v);
	else
		fk.dev_pending[v] = true;
}

unsigned fake_vfio_set_irqs_since(unsigned mark)
{
	return fk.calls - mark;
}
