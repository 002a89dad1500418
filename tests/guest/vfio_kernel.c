/* SPDX-License-Identifier: MIT */
/*
 * Guest test: the kernel behaviour the VFIO backend is built on, measured
 * with raw VFIO_DEVICE_SET_IRQS on the ivshmem-doorbell, and the backend's
 * choices measured against it.
 *
 *  1. An enabling SET_IRQS start=5 count=1 allocates host vectors for all of
 *     [0, 6) (msi_irqs), though only vector 5 gets a trigger.
 *  2. Enabling with vector 0 and fd -1 first allocates one; on a dynamic
 *     kernel (6.12) vector 5 is then added alone (2 host vectors); under
 *     NORESIZE (6.1) adding it is EINVAL.
 *  3. ACTION_MASK on the MSI-X index is ENOTTY: VFIO cannot mask MSI-X.
 *  4. The backend, lazy, guest unmasks only vector 5: 6.12 holds 2 host
 *     vectors and 1 trigger (3 SET_IRQS: enable edge, vector 5, and no
 *     more); 6.1 holds the prefix [0, 6): 6 vectors and 6 triggers (5 on
 *     mask eventfds).
 *  5. The guest enabling MSI-X with every vector masked turns MSI-X on at
 *     the host (the backend's enable op): msi_irqs 1, no trigger.
 *
 * Expectations per kernel come from $LIBMSIX_TEST_KERNEL (6.1 or 6.12).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "check.h"
#include "host.h"
#include "libmsix-vfio.h"
#include "mvmm.h"

static int set_irqs(int fd, uint32_t flags, uint32_t start, uint32_t count,
		    const int *fds)
{
	struct {
		struct vfio_irq_set s;
		int fds[8];
	} b;

	memset(&b, 0, sizeof(b));
	b.s.argsz = sizeof(b.s) + count * sizeof(int);
	b.s.flags = flags;
	b.s.index = VFIO_PCI_MSIX_IRQ_INDEX;
	b.s.start = start;
	b.s.count = count;
	if (fds)
		memcpy(b.fds, fds, count * sizeof(int));
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, &b) < 0 ? -errno : 0;
}

static int disable(int fd)
{
	return set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			0, 0, NULL);
}

#define TRIG (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)

int main(void)
{
	const char *dev = getenv("LIBMSIX_TEST_DEVICE");
	const char *k = getenv("LIBMSIX_TEST_KERNEL");
	struct mvmm_opts o = { .policy = LIBMSIX_POLICY_LAZY };
	struct libmsix_vfio_stats st;
	int efd = eventfd(0, EFD_CLOEXEC), minus1 = -1, err, fd;
	bool dynamic;
	struct mvmm m;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!dev || !k || efd < 0) {
		fprintf(stderr, "vfio_kernel: LIBMSIX_TEST_DEVICE/KERNEL not set\n");
		return 1;
	}
	o.address = dev;
	printf("== vfio_kernel on %s, kernel %s ==\n", dev, k);
	if (mvmm_open(&m, &o))
		return 1;
	if (m.n < 8) {
		printf("vfio_kernel: needs 8 vectors\n");
		mvmm_close(&m);
		return 1;
	}
	fd = libmsix_vfio_device_fd(m.vfio);
	dynamic = m.info.live_resize;
	CHECK(dynamic == !strcmp(k, "6.12"),
	      "kernel %s reports %s (flags %#x)", k,
	      dynamic ? "dynamic MSI-X" : "NORESIZE", m.info.irq_flags);

	/* 1. Raw: enabling at start=5 allocates the whole prefix. */
	err = set_irqs(fd, TRIG, 5, 1, &efd);
	CHECK(err == 0, "raw enable start=5 count=1: %d", err);
	printf("   raw enable at vector 5: %d host vectors, %d triggers\n",
	       host_msi_irqs(dev), host_vfio_triggers(dev, NULL, 0));
	CHECK(host_msi_irqs(dev) == 6, "it allocated [0, 6): %d", host_msi_irqs(dev));
	CHECK(host_vfio_triggers(dev, NULL, 0) == 1, "one trigger");
	/* 3. ACTION_MASK is not implemented for MSI-X. */
	err = set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, 5,
		       1, NULL);
	CHECK(err == -ENOTTY, "ACTION_MASK on MSI-X: %d (ENOTTY expected)", err);
	CHECK(disable(fd) == 0 && host_msi_irqs(dev) == 0, "raw disable");

	/* 2. Raw: vector 0 / fd -1 first. */
	err = set_irqs(fd, TRIG, 0, 1, &minus1);
	CHECK(err == 0 && host_msi_irqs(dev) == 1,
	      "raw enable with vector 0, fd -1: %d, %d host vector", err,
	      host_msi_irqs(dev));
	err = set_irqs(fd, TRIG, 5, 1, &efd);
	if (dynamic)
		CHECK(err == 0 && host_msi_irqs(dev) == 2,
		      "then vector 5 alone: %d, %d host vectors", err,
		      host_msi_irqs(dev));
	else
		CHECK(err == -EINVAL,
		      "then vector 5 under NORESIZE: %d (EINVAL expected)", err);
	CHECK(disable(fd) == 0, "raw disable");

	/* 5. The guest's enable edge alone. */
	libmsix_vfio_set_bus_master(m.vfio, true);
	mvmm_set_msgctl(&m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	CHECK(host_msi_irqs(dev) == 1 && host_vfio_triggers(dev, NULL, 0) == 0,
	      "guest Enable|Function Mask: MSI-X on at the host, %d vector, %d triggers",
	      host_msi_irqs(dev), host_vfio_triggers(dev, NULL, 0));
	for (uint32_t v = 0; v < m.n; v++) {
		mvmm_set_mask(&m, v, true);
		mvmm_program(&m, v, mvmm_msg_addr(v), mvmm_msg_data(v, 0));
	}
	mvmm_set_msgctl(&m, PCI_MSIX_FLAGS_ENABLE);

	/* 4. The backend: the guest unmasks only vector 5. */
	err = mvmm_set_mask(&m, 5, false);
	CHECK(err == 0, "unmask 5: %d", err);
	libmsix_vfio_get_stats(m.vfio, &st);
	printf("   backend, lazy, only vector 5 unmasked: %llu SET_IRQS, %d host vectors, %d triggers\n",
	       (unsigned long long)st.set_irqs, host_msi_irqs(dev),
	       host_vfio_triggers(dev, NULL, 0));
	if (dynamic) {
		CHECK(st.set_irqs == 2 && host_msi_irqs(dev) == 2 &&
			      host_vfio_triggers(dev, NULL, 0) == 1,
		      "dynamic: 2 SET_IRQS, 2 host vectors, 1 trigger");
	} else {
		CHECK(st.set_irqs == 3 && st.reenables == 1 &&
			      host_msi_irqs(dev) == 6 &&
			      host_vfio_triggers(dev, NULL, 0) == 6,
		      "NORESIZE: 3 SET_IRQS (one re-enable), prefix of 6 vectors, 6 triggers");
	}
	if (m.doorbell) {
		mvmm_ring(&m, 5);
		CHECK(mvmm_wait(&m, 5, 1, 2000) == 0, "vector 5 delivers");
	}
	mvmm_set_msgctl(&m, 0);
	CHECK(host_msi_irqs(dev) == 0 && host_vfio_triggers(dev, NULL, 0) == 0,
	      "guest disable: MSI-X off at the host");
	mvmm_close(&m);
	close(efd);
	printf("vfio_kernel: %s (%d failures)\n", failures ? "FAILED" : "passed",
	       failures);
	return failures ? 1 : 0;
}
