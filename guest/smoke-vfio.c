/* SPDX-License-Identifier: MIT */
/*
 * Smoke test for the libmsix guest harness: proves, inside the guest, that the
 * ivshmem-doorbell device is usable through VFIO and can raise its own MSI-X
 * vectors.  Uses only libc, <linux/vfio.h> and <linux/pci_regs.h>.
 *
 * Usage: smoke-vfio [MAX_ENABLED]
 *
 * Opens the group and a type1v2 container for $LIBMSIX_TEST_DEVICE, prints
 * the MSI-X IRQ info, sets Bus Master, enables vectors 0..n-1 (n = the MSI-X
 * count, capped at MAX_ENABLED, default 32, since one guest CPU has only about
 * 200 interrupt vectors) each with its own eventfd, rings the doorbell of
 * vector 0 and vector n-1 and checks that exactly those two eventfds fire
 * within a second.  Exit 0 on success, 1 on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define IVSHMEM_REG_IVPOSITION 8 /* BAR0: the device's own peer id */
#define IVSHMEM_REG_DOORBELL 12  /* BAR0: (peer id << 16) | vector */

static int fail(const char *what)
{
	fprintf(stderr, "smoke-vfio: FAIL: %s: %s\n", what, strerror(errno));
	return 1;
}

static int region(int dev, unsigned int index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, ri);
}

static int rw32(int dev, int write, uint64_t off, uint32_t *val)
{
	ssize_t n = write ? pwrite(dev, val, 4, (off_t)off) : pread(dev, val, 4, (off_t)off);
	return n == 4 ? 0 : -1;
}

/* Triggers vectors [0, n) with fds[] (or disables MSI-X when n == 0). */
static int set_msix(int dev, const int *fds, uint32_t n)
{
	size_t sz = sizeof(struct vfio_irq_set) + n * sizeof(int);
	struct vfio_irq_set *s = calloc(1, sz);
	if (!s)
		return -1;
	s->argsz = (uint32_t)sz;
	s->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
		   (n ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	s->index = VFIO_PCI_MSIX_IRQ_INDEX;
	s->start = 0;
	s->count = n;
	if (n)
		memcpy(s->data, fds, n * sizeof(int));
	int rc = ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return rc;
}

static int fired(int efd, int timeout_ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	uint64_t cnt;
	return read(efd, &cnt, sizeof(cnt)) == sizeof(cnt) && cnt > 0;
}

int main(int argc, char **argv)
{
	const char *bdf = getenv("LIBMSIX_TEST_DEVICE");
	const char *kver = getenv("LIBMSIX_TEST_KERNEL");
	uint32_t max_enabled = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 32;
	char path[PATH_MAX], link[PATH_MAX];

	if (!bdf || !*bdf) {
		fprintf(stderr, "smoke-vfio: LIBMSIX_TEST_DEVICE is not set\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	ssize_t ln = readlink(path, link, sizeof(link) - 1);
	if (ln < 0)
		return fail(path);
	link[ln] = '\0';
	const char *group_nr = basename(link);

	int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail("open /dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail("VFIO_GET_API_VERSION");
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
		return fail("VFIO_CHECK_EXTENSION(TYPE1v2)");

	snprintf(path, sizeof(path), "/dev/vfio/%s", group_nr);
	int group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return fail(path);
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		return fail("VFIO_GROUP_GET_STATUS");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		return fail("group not viable");
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		return fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return fail("VFIO_SET_IOMMU");
	int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0)
		return fail("VFIO_GROUP_GET_DEVICE_FD");

	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	if (ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0)
		return fail("VFIO_DEVICE_GET_IRQ_INFO(MSIX)");
	printf("smoke-vfio: kernel %s device %s group %s: MSI-X count %" PRIu32
	       " flags 0x%" PRIx32 "\n",
	       kver ? kver : "?", bdf, group_nr, ii.count, ii.flags);
	if (ii.count == 0) {
		errno = ENODEV;
		return fail("no MSI-X vectors");
	}

	/* vfio-pci leaves Bus Master off; doorbells are dropped without it. */
	struct vfio_region_info cfg, bar0;
	if (region(dev, VFIO_PCI_CONFIG_REGION_INDEX, &cfg) < 0)
		return fail("config region info");
	uint16_t cmd;
	if (pread(dev, &cmd, 2, (off_t)(cfg.offset + PCI_COMMAND)) != 2)
		return fail("read PCI_COMMAND");
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(dev, &cmd, 2, (off_t)(cfg.offset + PCI_COMMAND)) != 2)
		return fail("write PCI_COMMAND");

	uint32_t n = ii.count < max_enabled ? ii.count : max_enabled;
	if (n == 0)
		n = 1;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int *fds = calloc(n, sizeof(int));
	if (!fds)
		return fail("calloc");
	for (uint32_t v = 0; v < n; v++) {
		fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[v] < 0)
			return fail("eventfd");
	}
	if (set_msix(dev, fds, n) < 0)
		return fail("VFIO_DEVICE_SET_IRQS(MSI-X enable)");

	if (region(dev, VFIO_PCI_BAR0_REGION_INDEX, &bar0) < 0)
		return fail("BAR0 region info");
	uint32_t id;
	if (rw32(dev, 0, bar0.offset + IVSHMEM_REG_IVPOSITION, &id) < 0)
		return fail("read IVPosition");

	uint32_t ring[2] = { 0, n - 1 };
	int bad = 0;
	for (unsigned int i = 0; i < (n > 1 ? 2u : 1u); i++) {
		uint32_t db = (id << 16) | ring[i];
		if (rw32(dev, 1, bar0.offset + IVSHMEM_REG_DOORBELL, &db) < 0)
			return fail("write doorbell");
		if (!fired(fds[ring[i]], 1000)) {
			fprintf(stderr, "smoke-vfio: FAIL: vector %" PRIu32 " did not fire\n",
				ring[i]);
			bad = 1;
		}
	}
	for (uint32_t v = 0; v < n; v++) {
		if (fired(fds[v], 0)) {
			fprintf(stderr, "smoke-vfio: FAIL: vector %" PRIu32 " fired unasked\n", v);
			bad = 1;
		}
	}
	if (set_msix(dev, NULL, 0) < 0)
		return fail("VFIO_DEVICE_SET_IRQS(MSI-X disable)");
	if (bad)
		return 1;
	printf("smoke-vfio: peer id %" PRIu32 ", %" PRIu32
	       " vectors enabled, doorbells for vectors 0 and %" PRIu32 " delivered\n",
	       id, n, n - 1);
	return 0;
}
