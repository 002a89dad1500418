/* SPDX-License-Identifier: MIT */
/*
 * Guest test: the host runs out of interrupt vectors part-way through a
 * SET_IRQS. One guest vCPU holds about 190 vfio triggers (x86 vector space),
 * so with the 2048-vector ivshmem-doorbell (run-in-guest.sh --vectors 2048):
 *
 *  1. 100 vectors live, then one transaction unmasks 300 more: the commit
 *     fails with -ENOSPC part-way, the kernel keeps exactly the 100
 *     triggers it had (on 6.1 that means re-enabling the old prefix after
 *     the failed growth), they still deliver, and the 300 stay blocked
 *     with a fault until the guest masks them again.
 *  2. preallocate with LIBMSIX_F_PREALLOC_ALL: the enable edge asks for all
 *     2048 and fails; nothing is left at the host.
 * After each, destroying everything leaves no trigger, vector or fd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "check.h"
#include "host.h"
#include "libmsix-vfio.h"
#include "mvmm.h"

static void setup(struct mvmm *m)
{
	libmsix_vfio_set_bus_master(m->vfio, true);
	mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < m->n; v++) {
		mvmm_set_mask(m, v, true);
		mvmm_program(m, v, mvmm_msg_addr(v), mvmm_msg_data(v, 0));
	}
	mvmm_set_msgctl(m, PCI_MSIX_FLAGS_ENABLE);
}

static void live_then_burst(const char *dev, int fds0)
{
	struct mvmm_opts o = { .address = dev, .policy = LIBMSIX_POLICY_LAZY };
	struct libmsix_vfio_stats st;
	struct libmsix_vector_info vi;
	int err, trig, msi;
	struct mvmm m;

	if (mvmm_open(&m, &o)) {
		CHECK(0, "open");
		return;
	}
	if (m.n < 400) {
		CHECK(0, "needs at least 400 vectors (run-in-guest.sh --vectors 2048), has %u",
		      m.n);
		mvmm_close(&m);
		return;
	}
	setup(&m);
	err = 0;
	for (uint32_t v = 0; v < 100 && !err; v++)
		err = mvmm_set_mask(&m, v, false);
	CHECK(err == 0, "unmask 0..99 one at a time: %d", err);
	trig = host_vfio_triggers(dev, NULL, 0);
	msi = host_msi_irqs(dev);
	CHECK(trig == 100, "100 triggers live (%d), %d host vectors", trig, msi);

	libmsix_begin(m.dev);
	for (uint32_t v = 100; v < 400; v++)
		mvmm_set_mask(&m, v, false);
	err = libmsix_commit(m.dev);
	libmsix_vfio_get_stats(m.vfio, &st);
	printf("   burst of 300: commit %d, SET_IRQS %llu (%llu failed), rollbacks %llu\n",
	       err, (unsigned long long)st.set_irqs,
	       (unsigned long long)st.set_irqs_failed,
	       (unsigned long long)st.rollbacks);
	CHECK(err == -ENOSPC, "the burst fails with the kernel's -ENOSPC (%d)", err);
	CHECK(st.rollbacks == 1 && st.rollback_failures == 0, "rolled back cleanly");
	CHECK(host_vfio_triggers(dev, NULL, 0) == 100,
	      "the kernel holds the same 100 triggers (%d)",
	      host_vfio_triggers(dev, NULL, 0));
	printf("   host vectors after the rollback: %d (before: %d)%s\n",
	       host_msi_irqs(dev), msi,
	       m.info.live_resize ? " -- dynamic MSI-X keeps vectors it allocated until disable" : "");
	if (!m.info.live_resize)
		CHECK(host_msi_irqs(dev) == msi, "NORESIZE: the old prefix is back (%d)",
		      host_msi_irqs(dev));
	libmsix_get_vector_info(m.dev, 250, &vi);
	CHECK(!vi.live && (vi.host & LIBMSIX_HOST_FAULT), "vector 250 blocked with a fault");
	if (m.doorbell) {
		for (uint32_t v = 0; v < 100; v += 9) {
			mvmm_ring(&m, v);
			CHECK(mvmm_wait(&m, v, 1, 2000) == 0, "vector %u delivers after the rollback", v);
		}
	}
	/* The guest gives up on them: masking clears the faults' reason. */
	libmsix_begin(m.dev);
	for (uint32_t v = 100; v < 400; v++)
		mvmm_set_mask(&m, v, true);
	libmsix_commit(m.dev);
	err = libmsix_retry(m.dev);
	CHECK(err == 0, "retry once they are masked again: %d", err);
	CHECK(host_vfio_triggers(dev, NULL, 0) <= 190, "host within its vector space");
	mvmm_close(&m);
	CHECK(host_vfio_triggers(dev, NULL, 0) == 0 && host_msi_irqs(dev) == 0 &&
		      host_open_fds() == fds0,
	      "nothing left after close");
}

static void prealloc_all(const char *dev, int fds0)
{
	struct mvmm_opts o = { .address = dev,
			       .policy = LIBMSIX_POLICY_PREALLOCATE,
			       .cfg_flags = LIBMSIX_F_PREALLOC_ALL };
	struct libmsix_vfio_stats st;
	struct mvmm m;
	int err;

	if (mvmm_open(&m, &o)) {
		CHECK(0, "open");
		return;
	}
	libmsix_vfio_set_bus_master(m.vfio, true);
	err = mvmm_set_msgctl(&m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	libmsix_vfio_get_stats(m.vfio, &st);
	printf("   preallocate all %u: enable %d, SET_IRQS %llu (%llu failed)\n", m.n,
	       err, (unsigned long long)st.set_irqs,
	       (unsigned long long)st.set_irqs_failed);
	CHECK(err == -ENOSPC, "preallocating all %u vectors fails with -ENOSPC (%d)",
	      m.n, err);
	CHECK(!st.msix_on && host_vfio_triggers(dev, NULL, 0) == 0 &&
		      host_msi_irqs(dev) == 0,
	      "nothing half-configured at the host");
	mvmm_close(&m);
	CHECK(host_open_fds() == fds0, "every fd closed");
}

int main(void)
{
	const char *dev = getenv("LIBMSIX_TEST_DEVICE");
	int fds0 = host_open_fds();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!dev)
		return 1;
	printf("== vfio_exhaust on %s, kernel %s ==\n", dev,
	       getenv("LIBMSIX_TEST_KERNEL") ? getenv("LIBMSIX_TEST_KERNEL") : "?");
	live_then_burst(dev, fds0);
	prealloc_all(dev, fds0);
	printf("vfio_exhaust: %s (%d failures)\n", failures ? "FAILED" : "passed",
	       failures);
	return failures ? 1 : 0;
}
