/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend against a fake vfio-pci device.
 *
 * This machine has no /dev/vfio, so the backend's reconcile and rollback
 * logic is checked here against a model of the kernel's rules
 * (tests/fakes/fake_vfio.h), and the real kernels are checked by the guest
 * tests (tests/guest_vfio.cmake).
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>
#include <dirent.h>

#include <linux/vfio.h>

#include "fakes/fake_vfio.h"
#include "helpers.h"
#include "libmsix-vfio.h"

/* ------------------------------------------------------------------------ */
/* A VMM on the fake                                                         */
/* ------------------------------------------------------------------------ */

struct vmm {
	struct libmsix_vfio *vf;
	struct libmsix_dev *dev;
	struct libmsix_config cfg;
	uint32_t n;
	unsigned delivered[FAKE_MAX];
	struct libmsix_msg last[FAKE_MAX];
	char log[512];		/* the last message */
	char all[4096];		/* every message, truncated */
	unsigned logs;
	int deliver_err;	/* what vmm_deliver returns (0: delivers) */
};

static int vmm_deliver(void *opaque, uint32_t v, const struct libmsix_msg *m)
{
	struct vmm *vm = opaque;

	if (vm->deliver_err)
		return vm->deliver_err;
	vm->delivered[v]++;
	vm->last[v] = *m;
	return 0;
}

static void vmm_log(void *opaque, int level, const char *msg)
{
	struct vmm *vm = opaque;

	(void)level;
	size_t len = strlen(vm->all);

	snprintf(vm->log, sizeof(vm->log), "%s", msg);
	snprintf(vm->all + len, sizeof(vm->all) - len, "%s\n", msg);
	vm->logs++;
}

static struct libmsix_vfio_opts vmm_opts(struct vmm *vm)
{
	struct libmsix_vfio_opts o = {
		.size = sizeof(o),
		.deliver = vmm_deliver,
		.log = vmm_log,
		.log_level = LOG_DEBUG,
		.opaque = vm,
	};

	return o;
}

static struct vmm *vmm_new(uint32_t n, bool noresize, enum libmsix_policy p)
{
	struct vmm *vm = calloc(1, sizeof(*vm));
	struct libmsix_vfio_opts o = vmm_opts(vm);

	ck_assert_ptr_nonnull(vm);
	fake_vfio_init(n, noresize);
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vm->vf), 0);
	memset(&vm->cfg, 0, sizeof(vm->cfg));
	vm->cfg.size = sizeof(vm->cfg);
	vm->cfg.policy = p;
	vm->cfg.log = vmm_log;
	vm->cfg.opaque = vm;
	ck_assert_int_eq(libmsix_vfio_fill_config(vm->vf, &vm->cfg), 0);
	ck_assert_int_eq(libmsix_dev_create(&vm->cfg,
					    libmsix_vfio_backend(vm->vf),
					    &vm->dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(vm->dev), 0);
	vm->n = n;
	return vm;
}

static void vmm_free(struct vmm *vm)
{
	libmsix_dev_destroy(vm->dev);
	libmsix_vfio_close(vm->vf);
	ck_assert(!fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	fake_vfio_fini();
	free(vm);
}

static int vmm_msgctl(struct vmm *vm, uint16_t bits)
{
	return libmsix_config_write(vm->dev, FAKE_CAP + PCI_MSIX_FLAGS, 2, bits);
}

static int vmm_write(struct vmm *vm, uint64_t off, uint32_t val)
{
	return libmsix_mmio_write(vm->dev, FAKE_TABLE_BIR, off, 4, val);
}

static int vmm_vmask(struct vmm *vm, uint32_t v, bool masked)
{
	return vmm_write(vm, 16u * v + 12, masked);
}

static bool vmm_pba(struct vmm *vm, uint32_t v)
{
	uint64_t q = 0;

	ck_assert_int_eq(libmsix_mmio_read(vm->dev, FAKE_TABLE_BIR,
					   FAKE_PBA_OFFSET + 8u * (v / 64), 8,
					   &q), 0);
	return (q >> (v % 64)) & 1;
}

static void vmm_bringup(struct vmm *vm)
{
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	for (uint32_t v = 0; v < vm->n; v++) {
		ck_assert_int_eq(vmm_vmask(vm, v, true), 0);
		ck_assert_int_eq(vmm_write(vm, 16u * v, (uint32_t)test_addr(v)), 0);
		ck_assert_int_eq(vmm_write(vm, 16u * v + 4, 0), 0);
		ck_assert_int_eq(vmm_write(vm, 16u * v + 8, test_data(v)), 0);
	}
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE), 0);
}

/* Process every readable eventfd of the backend; returns how many. */
static unsigned vmm_pump(struct vmm *vm)
{
	struct libmsix_vfio_pollfd fds[2 * 64];
	size_t n = libmsix_vfio_poll_fds(vm->vf, fds, 128);
	unsigned got = 0;

	ck_assert_uint_le(n, 128);
	for (size_t i = 0; i < n; i++) {
		int r = libmsix_vfio_process(vm->vf, vm->dev, fds[i].fd);

		ck_assert_int_ge(r, 0);
		got += (unsigned)r;
	}
	return got;
}

/* Compare the fake kernel's triggers with what the backend believes. */
static void check_kernel_matches_backend(struct vmm *vm)
{
	for (uint32_t v = 0; v < vm->n; v++)
		ck_assert_int_eq(libmsix_vfio_host_fd(vm->vf, v), fk.trig_num[v]);
}

/* ------------------------------------------------------------------------ */
/* Opening and bad input                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_open_bad_arguments)
{
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;

	ck_assert_int_eq(libmsix_vfio_open(NULL, &o, &vf), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_open("0000:00:01.0", NULL, &vf), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_open("0000:00:01.0", &o, NULL), -EINVAL);
	o.size = sizeof(size_t) - 1;
	ck_assert_int_eq(libmsix_vfio_open("0000:00:01.0", &o, &vf), -EINVAL);
	o.size = sizeof(o);
	{
		void *g = grown_struct(&o, sizeof(o), 8, 1);

		ck_assert_int_eq(libmsix_vfio_open("0000:00:01.0", g, &vf),
				 -E2BIG);
		free(g);
	}
	o.flags = 1;
	ck_assert_int_eq(libmsix_vfio_open("0000:00:01.0", &o, &vf), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm.log, "opts->flags 0x1: none are defined"));
	o.flags = 0;
	ck_assert_int_eq(libmsix_vfio_adopt(-1, "x", &o, &vf), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm.log, "device_fd -1"));
	ck_assert_ptr_null(vf);
}
END_TEST

START_TEST(test_open_malformed_address)
{
	static const char *const bad[] = {
		"", "00:01.0", "0000:00:01.0/../..", "0000:00:01", "zzzz:00:01.0",
		"0000-00:01.0", "0000:00:01.0 ", "../../../../dev/null",
	};
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vm.logs = 0;
		ck_assert_int_eq(libmsix_vfio_open(bad[i], &o, &vf), -EINVAL);
		ck_assert_uint_eq(vm.logs, 1);
		ck_assert_ptr_nonnull(strstr(vm.log, "malformed PCI address"));
	}
	ck_assert_ptr_null(vf);
}
END_TEST

START_TEST(test_open_missing_device)
{
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;
	int fds = open_fds();

	/* Domain ffff never exists on PCI hosts. */
	ck_assert_int_eq(libmsix_vfio_open("ffff:ff:1f.7", &o, &vf), -ENOENT);
	ck_assert_ptr_nonnull(strstr(vm.log, "no such PCI device"));
	ck_assert_ptr_null(vf);
	ck_assert_int_eq(open_fds(), fds);
}
END_TEST

/*
 * A real PCI device of this host without an IOMMU group: the message must
 * say that VFIO needs an IOMMU. Hosts where every device has a group (VFIO
 * hosts) check the same through the guest tests instead.
 */
START_TEST(test_open_device_without_iommu_group)
{
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *de;
	char path[PATH_MAX], addr[64] = "";

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) != 12)
			continue;
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/iommu_group", de->d_name);
		if (access(path, F_OK) < 0) {
			memcpy(addr, de->d_name, 13);
			break;
		}
	}
	closedir(d);
	if (!addr[0]) {
		fprintf(stderr, "test_open_device_without_iommu_group: every PCI "
				"device has an IOMMU group here; nothing to check\n");
		return;
	}
	ck_assert_int_eq(libmsix_vfio_open(addr, &o, &vf), -ENODEV);
	ck_assert_ptr_nonnull(strstr(vm.log, "no IOMMU group"));
}
END_TEST

START_TEST(test_adopt_rejects_non_vfio_fd)
{
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds;

	ck_assert_int_ge(fd, 0);
	fds = open_fds();
	ck_assert_int_eq(libmsix_vfio_adopt(-1, NULL, &o, &vf), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_adopt(fd, NULL, &o, &vf), -ENOTTY);
	ck_assert_ptr_nonnull(strstr(vm.log, "not a VFIO device"));
	ck_assert_ptr_null(vf);
	ck_assert_int_eq(open_fds(), fds);
	/* Adopt never closes the caller's fd, even on failure. */
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	close(fd);
}
END_TEST

START_TEST(test_adopt_device_without_msix)
{
	struct vmm vm = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm);
	struct libmsix_vfio *vf = NULL;

	fake_vfio_init(8, false);
	fk.count = 0;
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vf), -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vm.log, "no MSI-X"));
	/* VFIO says MSI-X but the capability list lacks it. */
	fk.count = 8;
	fk.config[0x61] = 0;
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vf), -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vm.log, "no MSI-X capability"));
	/* A capability list that loops must end, not hang. */
	fk.config[0x61] = 0x60;
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vf), -ENOTSUP);
	ck_assert_ptr_null(vf);
	fake_vfio_fini();
}
END_TEST

START_TEST(test_adopt_reads_irq_info)
{
	struct libmsix_vfio_info info;
	struct vmm *vm = vmm_new(8, true, LIBMSIX_POLICY_AUTO);
	struct libmsix_backend *be = libmsix_vfio_backend(vm->vf);

	ck_assert_uint_eq(be->flags & LIBMSIX_BE_NORESIZE, LIBMSIX_BE_NORESIZE);
	ck_assert_uint_eq(be->max_vectors, 8);
	ck_assert_int_eq(libmsix_vfio_get_info(vm->vf, &info), 0);
	ck_assert_uint_eq(info.irq_flags,
			  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ck_assert(!info.live_resize);
	ck_assert_uint_eq(info.cap_offset, FAKE_CAP);
	ck_assert_uint_eq(info.table_size, 8);
	vmm_free(vm);

	vm = vmm_new(2048, false, LIBMSIX_POLICY_AUTO);
	be = libmsix_vfio_backend(vm->vf);
	ck_assert_uint_eq(be->flags & LIBMSIX_BE_NORESIZE, 0);
	ck_assert_uint_eq(be->max_vectors, 2048);
	vmm_free(vm);
}
END_TEST

START_TEST(test_fill_config_mirrors_capability)
{
	struct vmm *vm = vmm_new(64, false, LIBMSIX_POLICY_LAZY);
	struct libmsix_config *c = &vm->cfg;

	ck_assert_uint_eq(c->nr_vectors, 64);
	ck_assert_uint_eq(c->cap_offset, FAKE_CAP);
	ck_assert_uint_eq(c->next_cap, 0);
	ck_assert_uint_eq(c->header_type, 0);
	ck_assert_uint_eq(c->table_bir, 1);
	ck_assert_uint_eq(c->table_offset, 0);
	ck_assert_uint_eq(c->pba_bir, 1);
	ck_assert_uint_eq(c->pba_offset, FAKE_PBA_OFFSET);
	ck_assert_int_eq(c->bar_type[0], LIBMSIX_BAR_MEM32);
	ck_assert_int_eq(c->bar_type[1], LIBMSIX_BAR_MEM32);
	ck_assert_int_eq(c->bar_type[2], LIBMSIX_BAR_MEM64);
	ck_assert_int_eq(c->bar_type[3], LIBMSIX_BAR_NONE);
	ck_assert_int_eq(c->bar_type[4], LIBMSIX_BAR_NONE);
	ck_assert_uint_eq(c->bar_size[1], 2 * FAKE_PBA_OFFSET);
	ck_assert_uint_eq(c->bar_size[3], 0);
	/* What the caller set stays. */
	ck_assert_int_eq(c->policy, LIBMSIX_POLICY_LAZY);
	ck_assert_ptr_eq(c->opaque, vm);
	/* The virtual capability reads like the real one. */
	uint32_t w = 0;
	ck_assert_int_eq(libmsix_config_read(vm->dev, FAKE_CAP, 4, &w), 0);
	ck_assert_uint_eq(w, PCI_CAP_ID_MSIX | 63u << 16);
	ck_assert_int_eq(libmsix_config_read(vm->dev, FAKE_CAP + 8, 4, &w), 0);
	ck_assert_uint_eq(w, FAKE_PBA_OFFSET | 1);
	vmm_free(vm);
}
END_TEST

START_TEST(test_bus_master_sets_only_that_bit)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	uint16_t cmd;

	ck_assert_int_eq(libmsix_vfio_set_bus_master(vm->vf, true), 0);
	memcpy(&cmd, fk.config + PCI_COMMAND, 2);
	ck_assert_uint_eq(cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE |
				       PCI_COMMAND_MASTER);
	ck_assert_int_eq(libmsix_vfio_set_bus_master(vm->vf, false), 0);
	memcpy(&cmd, fk.config + PCI_COMMAND, 2);
	ck_assert_uint_eq(cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	ck_assert_int_eq(libmsix_vfio_set_bus_master(NULL, true), -EINVAL);
	vmm_free(vm);
}
END_TEST

START_TEST(test_api_rejects_bad_arguments)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_stats st;
	struct libmsix_backend *be = libmsix_vfio_backend(vm->vf);

	ck_assert_int_eq(libmsix_vfio_get_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, NULL), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 8, -1), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 0, -2), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_host_fd(vm->vf, 8), -EINVAL);
	ck_assert_int_eq(libmsix_vfio_process(vm->vf, vm->dev, 0), -ENOENT);
	ck_assert_int_eq(libmsix_vfio_process(vm->vf, vm->dev, -1), -ENOENT);
	ck_assert_int_eq(libmsix_vfio_process(vm->vf, vm->dev, 1 << 20), -ENOENT);
	ck_assert_int_eq(libmsix_vfio_process(vm->vf, NULL, 0), -EINVAL);
	ck_assert_ptr_null(libmsix_vfio_backend(NULL));
	ck_assert_int_eq(libmsix_vfio_device_fd(NULL), -1);
	ck_assert_uint_eq(libmsix_vfio_poll_fds(NULL, NULL, 0), 0);
	/* Ranges are [start, start + count) inside the IRQ count. */
	ck_assert_int_eq(be->ops->alloc(be, 7, 2), -EINVAL);
	ck_assert_int_eq(be->ops->alloc(be, 1, UINT32_MAX), -EINVAL);
	ck_assert_int_eq(be->ops->alloc(be, 0, 0), -EINVAL);
	ck_assert_int_eq(be->ops->unmask(be, 8), -EINVAL);
	ck_assert_int_eq(be->ops->poll(be, 8), -EINVAL);
	libmsix_vfio_close(NULL);
	vmm_free(vm);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Host vectors per policy and kernel                                        */
/* ------------------------------------------------------------------------ */

static void unmask_all(struct vmm *vm)
{
	for (uint32_t v = 0; v < vm->n; v++) {
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
		check_kernel_matches_backend(vm);
	}
}

START_TEST(test_dynamic_lazy_one_set_irqs_per_unmask)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_stats st;

	vmm_bringup(vm);
	/* The enable edge: MSI-X on with vector 0 and fd -1, nothing more. */
	ck_assert_uint_eq(fk.calls, 1);
	ck_assert(fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	unmask_all(vm);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert_uint_eq(st.set_irqs, 9);
	ck_assert_uint_eq(st.vectors_set_up, 8);
	ck_assert_uint_eq(st.reenables, 0);
	ck_assert_uint_eq(st.enable_no_vec, 1);
	ck_assert_uint_eq(st.host_vectors, 8);
	for (uint32_t v = 0; v < 8; v++) {
		ck_assert_uint_eq(fk.log[v + 1].start, v);
		ck_assert_uint_eq(fk.log[v + 1].count, 1);
	}
	ck_assert_uint_eq(fk.nvec, 1); /* the first call enabled vector 0 only */
	ck_assert_uint_eq(fk.mask_actions, 0);
	vmm_free(vm);
}
END_TEST

/*
 * An enabling SET_IRQS allocates [0, start + count): enabling with vector 5
 * first would allocate six host vectors for one. Vector 0 with fd -1 first
 * allocates one, then 5 is added alone (QEMU's vfio_enable_msix_no_vec).
 */
START_TEST(test_dynamic_first_enable_avoids_allocating_prefix)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_stats st;
	uint32_t allocated = 0;

	vmm_bringup(vm);
	ck_assert_int_eq(vmm_vmask(vm, 5, false), 0);
	ck_assert_uint_eq(fk.calls, 2);
	ck_assert_uint_eq(fk.log[0].start, 0);
	ck_assert_uint_eq(fk.log[0].count, 1);
	ck_assert_int_eq(fk.log[0].fds[0], -1);
	ck_assert_uint_eq(fk.log[1].start, 5);
	ck_assert_uint_eq(fk.log[1].count, 1);
	for (uint32_t v = 0; v < 8; v++)
		allocated += fk.allocated[v];
	ck_assert_uint_eq(allocated, 2);
	ck_assert_uint_eq(fake_vfio_triggers(), 1);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert_uint_eq(st.enable_no_vec, 1);
	ck_assert_uint_eq(st.vectors_set_up, 1);
	check_kernel_matches_backend(vm);
	vmm_free(vm);
}
END_TEST

START_TEST(test_noresize_lazy_reenables_per_growth)
{
	struct vmm *vm = vmm_new(8, true, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_stats st;

	vmm_bringup(vm);
	unmask_all(vm);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	/* Enable edge (vector 0, fd -1), vector 0 inside that prefix, then
	 * per growth one disable + one enable: 2N. */
	ck_assert_uint_eq(st.set_irqs, 16);
	ck_assert_uint_eq(st.reenables, 7);
	ck_assert_uint_eq(st.disables, 7);
	/* Growth k re-requests every vector of the prefix: N(N+1)/2. */
	ck_assert_uint_eq(st.vectors_set_up, 36);
	ck_assert_uint_eq(st.vectors_torn_down, 28);
	ck_assert_uint_eq(fk.nvec, 8);
	vmm_free(vm);
}
END_TEST

/*
 * The guest's MSI-X Enable reaches the host at once (backend op enable),
 * before any vector is unmasked: a vector raised while masked and without
 * a host vector waits in the device's PBA instead of being dropped by a
 * function whose MSI-X is off, and arrives once it gets a host vector.
 */
static void enable_edge(bool noresize)
{
	struct vmm *vm = vmm_new(8, noresize, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_stats st;

	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert(fk.on);
	ck_assert_uint_eq(fk.nvec, 1);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	ck_assert_uint_eq(fk.calls, 1);
	ck_assert_int_eq(fk.log[0].fds[0], -1);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert(st.msix_on);
	ck_assert_uint_eq(st.enable_no_vec, 1);
	ck_assert_uint_eq(st.host_vectors, 0);
	/* Function Mask and the per-vector masks change nothing at the host. */
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, true), 0);
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(fk.calls, 1);
	fake_vfio_raise(3);
	ck_assert(fk.dev_pending[3]);
	ck_assert_int_eq(vmm_vmask(vm, 3, false), 0);
	vmm_pump(vm);
	ck_assert_uint_eq(vm->delivered[3], 1);
	/* Disable: everything goes, MSI-X off. */
	ck_assert_int_eq(vmm_vmask(vm, 3, true), 0);
	ck_assert_int_eq(vmm_msgctl(vm, 0), 0);
	ck_assert(!fk.on);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert(!st.msix_on);
	/* Enable again with nothing unmasked: on again, no vector. */
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert(fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	vmm_free(vm);
}

START_TEST(test_enable_edge_turns_host_msix_on_dynamic)
{
	enable_edge(false);
}
END_TEST

START_TEST(test_enable_edge_turns_host_msix_on_noresize)
{
	enable_edge(true);
}
END_TEST

/* A failed enable edge is retried by the next access. */
START_TEST(test_enable_edge_failure_retried)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);

	fk.fail_at = 1;
	fk.fail_index = -1;
	fk.fail_err = -EIO;
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL), -EIO);
	ck_assert(!fk.on);
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert(fk.on);
	vmm_free(vm);
}
END_TEST

START_TEST(test_noresize_preallocate_enables_once)
{
	struct vmm *vm = vmm_new(8, true, LIBMSIX_POLICY_AUTO);
	struct libmsix_vfio_stats st;

	vmm_bringup(vm);
	/* Enable edge: all 8 on their mask eventfds in one call. */
	ck_assert_uint_eq(fk.calls, 1);
	ck_assert_uint_eq(fk.log[0].count, 8);
	ck_assert_uint_eq(fake_vfio_triggers(), 8);
	unmask_all(vm);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert_uint_eq(st.set_irqs, 9);
	ck_assert_uint_eq(st.vectors_set_up, 16);
	ck_assert_uint_eq(st.reenables, 0);
	vmm_free(vm);
}
END_TEST

START_TEST(test_noresize_incremental_doubles)
{
	struct vmm *vm = vmm_new(64, true, LIBMSIX_POLICY_INCREMENTAL);
	struct libmsix_vfio_stats st;

	vmm_bringup(vm);
	unmask_all(vm);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	/* Prefixes 1, 2, 4, ..., 64: six growths after the first enable. */
	ck_assert_uint_eq(st.reenables, 6);
	ck_assert_uint_eq(fk.nvec, 64);
	vmm_free(vm);
}
END_TEST

START_TEST(test_disable_is_one_set_irqs)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	unsigned mark;

	vmm_bringup(vm);
	unmask_all(vm);
	mark = fk.calls;
	ck_assert_int_eq(vmm_msgctl(vm, 0), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 1);
	ck_assert_uint_eq(fk.log[mark].flags,
			  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	ck_assert(!fk.on);
	check_kernel_matches_backend(vm);
	vmm_free(vm);
}
END_TEST

/* Several vectors changing in one commit: one SET_IRQS per run. */
START_TEST(test_transaction_one_set_irqs_per_run)
{
	struct vmm *vm = vmm_new(16, false, LIBMSIX_POLICY_LAZY);
	unsigned mark;

	vmm_bringup(vm);
	ck_assert_int_eq(vmm_vmask(vm, 0, false), 0);
	mark = fk.calls;
	ck_assert_int_eq(libmsix_begin(vm->dev), 0);
	for (uint32_t v = 2; v < 6; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
	for (uint32_t v = 9; v < 12; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
	ck_assert_int_eq(vmm_vmask(vm, 0, true), 0);
	ck_assert_int_eq(libmsix_commit(vm->dev), 0);
	/* Runs [0,1) (to its mask fd), [2,6), [9,12). */
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 3);
	ck_assert_uint_eq(fk.log[mark + 1].start, 2);
	ck_assert_uint_eq(fk.log[mark + 1].count, 4);
	ck_assert_uint_eq(fk.log[mark + 2].start, 9);
	ck_assert_uint_eq(fk.log[mark + 2].count, 3);
	check_kernel_matches_backend(vm);
	vmm_free(vm);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Interrupts: live, masked, pending, replay                                 */
/* ------------------------------------------------------------------------ */

static void mask_latch_replay(bool noresize, enum libmsix_policy p)
{
	struct vmm *vm = vmm_new(8, noresize, p);
	struct libmsix_vfio_stats st;

	vmm_bringup(vm);
	unmask_all(vm);
	fake_vfio_raise(3);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_uint_eq(vm->delivered[3], 1);
	ck_assert_uint_eq(vm->last[3].data, test_data(3));

	ck_assert_int_eq(vmm_vmask(vm, 3, true), 0);
	ck_assert_int_eq(fk.trig_num[3], libmsix_vfio_host_fd(vm->vf, 3));
	fake_vfio_raise(3);
	fake_vfio_raise(3);
	/* The PBA shows it at once (the poll op reads the mask eventfd). */
	ck_assert(vmm_pba(vm, 3));
	ck_assert_uint_eq(vm->delivered[3], 1);
	ck_assert_uint_eq(vmm_pump(vm), 0);
	/* Reprogram while masked; the replay carries the new message. */
	ck_assert_int_eq(vmm_write(vm, 16u * 3 + 8, 0x7777), 0);
	ck_assert_int_eq(vmm_vmask(vm, 3, false), 0);
	ck_assert_uint_eq(vm->delivered[3], 2);
	ck_assert_uint_eq(vm->last[3].data, 0x7777);
	ck_assert(!vmm_pba(vm, 3));
	ck_assert_uint_eq(vmm_pump(vm), 0);
	ck_assert_uint_eq(vm->delivered[3], 2);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert_uint_eq(st.masked_irqs, 1);
	ck_assert_uint_eq(st.live_irqs, 1);
	vmm_free(vm);
}

START_TEST(test_mask_latches_and_unmask_replays_once_dynamic)
{
	mask_latch_replay(false, LIBMSIX_POLICY_LAZY);
}
END_TEST

START_TEST(test_mask_latches_and_unmask_replays_once_noresize)
{
	mask_latch_replay(true, LIBMSIX_POLICY_PREALLOCATE);
}
END_TEST

/* The VMM processes the mask eventfd itself: the pending bit is set then. */
START_TEST(test_process_mask_fd_latches)
{
	struct vmm *vm = vmm_new(4, false, LIBMSIX_POLICY_PREALLOCATE);
	struct libmsix_vector_info vi;

	vmm_bringup(vm);
	fake_vfio_raise(2);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_int_eq(libmsix_get_vector_info(vm->dev, 2, &vi), 0);
	ck_assert(vi.pending);
	ck_assert_uint_eq(vm->delivered[2], 0);
	ck_assert_int_eq(vmm_vmask(vm, 2, false), 0);
	ck_assert_uint_eq(vm->delivered[2], 1);
	vmm_free(vm);
}
END_TEST

/* A deliver callback that fails leaves the interrupt pending, not lost. */
START_TEST(test_deliver_failure_latches)
{
	struct vmm *vm = vmm_new(4, false, LIBMSIX_POLICY_PREALLOCATE);
	struct libmsix_vector_info vi;
	struct libmsix_stats c;

	vmm_bringup(vm);
	unmask_all(vm);
	vm->deliver_err = -EAGAIN;
	fake_vfio_raise(1);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_uint_eq(vm->delivered[1], 0);
	ck_assert_int_eq(libmsix_get_vector_info(vm->dev, 1, &vi), 0);
	ck_assert(vi.pending);
	ck_assert_int_eq(libmsix_get_stats(vm->dev, &c), 0);
	ck_assert_uint_eq(c.deliver_errors, 1);
	/* The sink works again: the next unmask replays the latched one. */
	vm->deliver_err = 0;
	ck_assert_int_eq(vmm_vmask(vm, 1, true), 0);
	ck_assert_int_eq(vmm_vmask(vm, 1, false), 0);
	ck_assert_uint_eq(vm->delivered[1], 1);
	ck_assert_int_eq(libmsix_get_vector_info(vm->dev, 1, &vi), 0);
	ck_assert(!vi.pending);
	vmm_free(vm);
}
END_TEST

/*
 * An interrupt that reached the live eventfd just before the guest masked
 * the vector, not yet processed: it latches (the vector is masked now) and
 * is replayed once at unmask, not twice.
 */
START_TEST(test_unprocessed_live_interrupt_latches_at_mask)
{
	struct vmm *vm = vmm_new(4, false, LIBMSIX_POLICY_LAZY);

	vmm_bringup(vm);
	unmask_all(vm);
	fake_vfio_raise(1);
	ck_assert_int_eq(vmm_vmask(vm, 1, true), 0);
	ck_assert(vmm_pba(vm, 1));
	ck_assert_uint_eq(vmm_pump(vm), 0);
	ck_assert_int_eq(vmm_vmask(vm, 1, false), 0);
	ck_assert_uint_eq(vmm_pump(vm), 0);
	ck_assert_uint_eq(vm->delivered[1], 1);
	vmm_free(vm);
}
END_TEST

/* Raised before its host vector exists: waits in the device, arrives once. */
START_TEST(test_raise_before_host_vector_arrives_once)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);

	vmm_bringup(vm);
	ck_assert_int_eq(vmm_vmask(vm, 0, false), 0);
	fake_vfio_raise(6);
	ck_assert_uint_eq(vmm_pump(vm), 0);
	ck_assert_int_eq(vmm_vmask(vm, 6, false), 0);
	/* Taken by the unmask's poll or by the VMM's loop: once either way. */
	vmm_pump(vm);
	ck_assert_uint_eq(vm->delivered[6], 1);
	vmm_free(vm);
}
END_TEST

/* A NORESIZE growth keeps what already sits in the eventfds. */
START_TEST(test_noresize_growth_keeps_unprocessed_interrupts)
{
	struct vmm *vm = vmm_new(8, true, LIBMSIX_POLICY_LAZY);
	struct libmsix_stats c;

	vmm_bringup(vm);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
	for (uint32_t v = 0; v < 4; v++)
		fake_vfio_raise(v);
	ck_assert_int_eq(vmm_vmask(vm, 4, false), 0); /* disruptive growth */
	ck_assert_int_eq(libmsix_get_stats(vm->dev, &c), 0);
	ck_assert_uint_eq(c.disruptive_reenables, 4);
	ck_assert_uint_eq(vmm_pump(vm), 4);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_uint_ge(vm->delivered[v], 1);
	vmm_free(vm);
}
END_TEST

START_TEST(test_poll_fds_grow_with_generation)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	struct libmsix_vfio_pollfd pf[4];
	uint64_t g0 = libmsix_vfio_poll_generation(vm->vf);

	ck_assert_uint_eq(libmsix_vfio_poll_fds(vm->vf, NULL, 0), 0);
	vmm_bringup(vm);
	ck_assert_int_eq(vmm_vmask(vm, 2, false), 0);
	ck_assert_uint_eq(libmsix_vfio_poll_fds(vm->vf, pf, 4), 1);
	ck_assert_uint_eq(pf[0].vector, 2);
	ck_assert_uint_eq(pf[0].kind, LIBMSIX_VFIO_FD_LIVE);
	ck_assert_int_eq(pf[0].fd, libmsix_vfio_host_fd(vm->vf, 2));
	ck_assert_uint_gt(libmsix_vfio_poll_generation(vm->vf), g0);
	ck_assert_int_eq(vmm_vmask(vm, 2, true), 0);
	ck_assert_uint_eq(libmsix_vfio_poll_fds(vm->vf, pf, 1), 2);
	vmm_free(vm);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* External live fds (passthrough)                                           */
/* ------------------------------------------------------------------------ */

START_TEST(test_set_live_fd_routes_unmasked_vector)
{
	struct vmm *vm = vmm_new(8, false, LIBMSIX_POLICY_LAZY);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	unsigned mark;

	ck_assert_int_ge(efd, 0);
	vmm_bringup(vm);
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 4, efd), 0);
	ck_assert_int_eq(vmm_vmask(vm, 4, false), 0);
	ck_assert_int_eq(fk.trig_num[4], efd);
	/* Masked: the mask eventfd; unmasked again: the external fd. */
	ck_assert_int_eq(vmm_vmask(vm, 4, true), 0);
	ck_assert_int_ne(fk.trig_num[4], efd);
	ck_assert_int_eq(vmm_vmask(vm, 4, false), 0);
	ck_assert_int_eq(fk.trig_num[4], efd);
	/* The same number again is reissued: it may be a new file. */
	mark = fk.calls;
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 4, efd), 0);
	ck_assert_int_eq(libmsix_vfio_apply(vm->vf), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 1);
	mark = fk.calls;
	ck_assert_int_eq(libmsix_vfio_apply(vm->vf), 0);
	ck_assert_uint_eq(fake_vfio_set_irqs_since(mark), 0);
	/* Back to the library's own live eventfd. */
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 4, -1), 0);
	ck_assert_int_eq(libmsix_vfio_apply(vm->vf), 0);
	ck_assert_int_ne(fk.trig_num[4], efd);
	fake_vfio_raise(4);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_uint_eq(vm->delivered[4], 1);
	check_kernel_matches_backend(vm);
	vmm_free(vm);
	close(efd);
}
END_TEST

/* A live fd that is not an eventfd: the kernel refuses; all rolled back. */
static void bad_live_fd(bool noresize)
{
	struct vmm *vm = vmm_new(8, noresize, LIBMSIX_POLICY_LAZY);
	struct libmsix_vector_info vi;
	struct libmsix_vfio_stats st;
	int p[2], before[8];

	ck_assert_int_eq(pipe(p), 0);
	vmm_bringup(vm);
	ck_assert_int_eq(vmm_vmask(vm, 0, false), 0);
	ck_assert_int_eq(vmm_vmask(vm, 1, false), 0);
	memcpy(before, fk.trig_num, sizeof(before));
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 4, p[0]), 0);
	ck_assert_int_eq(libmsix_begin(vm->dev), 0);
	for (uint32_t v = 2; v < 6; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
	ck_assert_int_eq(libmsix_commit(vm->dev), -EINVAL);
	ck_assert_int_eq(memcmp(before, fk.trig_num, sizeof(before)), 0);
	check_kernel_matches_backend(vm);
	ck_assert_int_eq(libmsix_get_vector_info(vm->dev, 3, &vi), 0);
	ck_assert_uint_eq(vi.host & LIBMSIX_HOST_FAULT, LIBMSIX_HOST_FAULT);
	ck_assert_int_eq(libmsix_vfio_get_stats(vm->vf, &st), 0);
	ck_assert_uint_eq(st.rollbacks, 1);
	ck_assert_uint_eq(st.rollback_failures, 0);
	/* Interrupts on the old vectors still arrive. */
	fake_vfio_raise(1);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_uint_eq(vm->delivered[1], 1);
	/* Fixed: retry makes 2..5 live. */
	ck_assert_int_eq(libmsix_vfio_set_live_fd(vm->vf, 4, -1), 0);
	ck_assert_int_eq(libmsix_retry(vm->dev), 0);
	for (uint32_t v = 0; v < 6; v++)
		ck_assert_int_ge(fk.trig_num[v], 0);
	check_kernel_matches_backend(vm);
	vmm_free(vm);
	close(p[0]);
	close(p[1]);
}

START_TEST(test_live_fd_not_eventfd_rolls_back_dynamic)
{
	bad_live_fd(false);
}
END_TEST

START_TEST(test_live_fd_not_eventfd_rolls_back_noresize)
{
	bad_live_fd(true);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Rollback at every ioctl of a commit                                       */
/* ------------------------------------------------------------------------ */

struct kstate {
	bool on;
	uint32_t nvec;
	int trig_num[64];
};

static void kstate_get(struct kstate *k)
{
	k->on = fk.on;
	k->nvec = fk.nvec;
	memcpy(k->trig_num, fk.trig_num, sizeof(k->trig_num));
}

/*
 * Bring the device to a state, then run @step once per failure point: the
 * k-th SET_IRQS of the step fails at block index @idx. Afterwards the fake
 * kernel must be exactly as before the step, the backend must agree, and
 * the step must succeed once the fault is gone.
 */
static void rollback_everywhere(bool noresize, enum libmsix_policy p,
				void (*setup)(struct vmm *),
				int (*step)(struct vmm *))
{
	for (unsigned k = 1;; k++) {
		bool reached = false;

		for (int idx = -1; idx < 3; idx++) {
			struct vmm *vm = vmm_new(16, noresize, p);
			struct kstate before, after;
			int err;

			vmm_bringup(vm);
			setup(vm);
			kstate_get(&before);
			fk.fail_at = fk.calls + k;
			fk.fail_index = idx;
			fk.fail_err = -ENOSPC;
			err = step(vm);
			if (err == 0) {
				/* Fewer than k calls, or a block shorter than
				 * idx: the fault never fired. */
				vmm_free(vm);
				continue;
			}
			reached = true;
			kstate_get(&after);
			ck_assert_msg(err == -ENOSPC, "k=%u idx=%d: err %d", k,
				      idx, err);
			ck_assert_int_eq(after.on, before.on);
			if (noresize)
				ck_assert_uint_eq(after.nvec, before.nvec);
			ck_assert_msg(memcmp(after.trig_num, before.trig_num,
					     sizeof(before.trig_num)) == 0,
				      "k=%u idx=%d: kernel not restored", k, idx);
			check_kernel_matches_backend(vm);
			fk.fail_at = 0;
			ck_assert_int_eq(libmsix_retry(vm->dev), 0);
			check_kernel_matches_backend(vm);
			vmm_free(vm);
		}
		if (!reached)
			return;
	}
}

static void setup_none(struct vmm *vm)
{
	(void)vm;
}

static void setup_some_live(struct vmm *vm)
{
	for (uint32_t v = 0; v < 3; v++)
		ck_assert_int_eq(vmm_vmask(vm, v, false), 0);
	ck_assert_int_eq(vmm_vmask(vm, 1, true), 0);
}

/* A burst: several runs, a mask, growth past the current prefix. */
static int step_burst(struct vmm *vm)
{
	ck_assert_int_eq(libmsix_begin(vm->dev), 0);
	for (uint32_t v = 4; v < 7; v++)
		vmm_vmask(vm, v, false);
	vmm_vmask(vm, 0, true);
	vmm_vmask(vm, 1, false);
	for (uint32_t v = 9; v < 11; v++)
		vmm_vmask(vm, v, false);
	return libmsix_commit(vm->dev);
}

static int step_first_unmask(struct vmm *vm)
{
	return vmm_vmask(vm, 5, false);
}

START_TEST(test_rollback_every_failure_dynamic_burst)
{
	rollback_everywhere(false, LIBMSIX_POLICY_LAZY, setup_some_live,
			    step_burst);
}
END_TEST

START_TEST(test_rollback_every_failure_dynamic_first_enable)
{
	rollback_everywhere(false, LIBMSIX_POLICY_LAZY, setup_none,
			    step_first_unmask);
}
END_TEST

START_TEST(test_rollback_every_failure_noresize_growth)
{
	rollback_everywhere(true, LIBMSIX_POLICY_LAZY, setup_some_live,
			    step_burst);
}
END_TEST

START_TEST(test_rollback_every_failure_noresize_first_enable)
{
	rollback_everywhere(true, LIBMSIX_POLICY_LAZY, setup_none,
			    step_first_unmask);
}
END_TEST

/* The host runs out of vectors part-way through a preallocation. */
START_TEST(test_host_vector_exhaustion_leaves_host_clean)
{
	struct vmm *vm;
	struct libmsix_vector_info vi;

	vm = vmm_new(64, true, LIBMSIX_POLICY_PREALLOCATE);
	fk.host_limit = 40;
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE |
						PCI_MSIX_FLAGS_MASKALL),
			 -ENOSPC);
	ck_assert(!fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	check_kernel_matches_backend(vm);
	ck_assert_ptr_nonnull(strstr(vm->all, "SET_IRQS failed: No space"));
	/* Each later transition tries again and fails just as cleanly. */
	ck_assert_int_eq(vmm_msgctl(vm, PCI_MSIX_FLAGS_ENABLE), -ENOSPC);
	ck_assert(!fk.on);
	check_kernel_matches_backend(vm);
	/* With room again, a vector the guest unmasks goes live. */
	fk.host_limit = 0;
	ck_assert_int_eq(vmm_vmask(vm, 0, false), 0);
	ck_assert_int_eq(libmsix_get_vector_info(vm->dev, 0, &vi), 0);
	ck_assert(vi.live);
	fake_vfio_raise(0);
	ck_assert_uint_eq(vmm_pump(vm), 1);
	ck_assert_uint_eq(vm->delivered[0], 1);
	vmm_free(vm);
}
END_TEST

/* A composing backend that never destroys its device still leaves the
 * host clean at close: MSI-X disabled, every eventfd closed. */
START_TEST(test_close_releases_host_and_fds)
{
	struct vmm vm0 = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm0);
	struct libmsix_vfio *vf = NULL;
	struct libmsix_backend *be;
	int fds;

	fake_vfio_init(16, false);
	fds = open_fds();
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vf), 0);
	be = libmsix_vfio_backend(vf);
	ck_assert_int_eq(be->ops->alloc(be, 0, 16), 0);
	for (uint32_t v = 0; v < 16; v += 2)
		ck_assert_int_eq(be->ops->unmask(be, v), 0);
	ck_assert_int_eq(be->ops->commit(be), 0);
	ck_assert_uint_eq(fake_vfio_triggers(), 16);
	ck_assert_int_eq(open_fds(), fds + 16 + 16);
	libmsix_vfio_close(vf);
	ck_assert(!fk.on);
	ck_assert_uint_eq(fake_vfio_triggers(), 0);
	/* The adopted device fd stays open: the caller owns it. */
	ck_assert_int_eq(open_fds(), fds);
	ck_assert_int_ge(fcntl(fk.fd, F_GETFD), 0);
	fake_vfio_fini();
}
END_TEST

/* abort() forgets staged work: the next commit changes nothing. */
START_TEST(test_abort_discards_staged)
{
	struct vmm vm0 = { 0 };
	struct libmsix_vfio_opts o = vmm_opts(&vm0);
	struct libmsix_vfio *vf = NULL;
	struct libmsix_backend *be;

	fake_vfio_init(8, false);
	ck_assert_int_eq(libmsix_vfio_adopt(fk.fd, "fake", &o, &vf), 0);
	be = libmsix_vfio_backend(vf);
	ck_assert_int_eq(be->ops->alloc(be, 2, 3), 0);
	ck_assert_int_eq(be->ops->unmask(be, 3), 0);
	be->ops->abort(be);
	ck_assert_int_eq(be->ops->commit(be), 0);
	ck_assert_uint_eq(fk.calls, 0);
	ck_assert_int_eq(be->ops->alloc(be, 2, 3), 0);
	ck_assert_int_eq(be->ops->commit(be), 0);
	ck_assert_uint_eq(fk.calls, 2); /* no_vec enable, then [2, 5) */
	ck_assert_uint_eq(fake_vfio_triggers(), 3);
	ck_assert_int_eq(be->ops->release(be, 2, 3), 0);
	ck_assert_int_eq(be->ops->commit(be), 0);
	ck_assert(!fk.on); /* nothing left: one disable, not runs of -1 */
	ck_assert_uint_eq(fk.calls, 3);
	libmsix_vfio_close(vf);
	fake_vfio_fini();
}
END_TEST

static Suite *vfio_suite(void)
{
	Suite *s = suite_create("vfio");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_bad_arguments);
	tcase_add_test(tc, test_open_malformed_address);
	tcase_add_test(tc, test_open_missing_device);
	tcase_add_test(tc, test_open_device_without_iommu_group);
	tcase_add_test(tc, test_adopt_rejects_non_vfio_fd);
	tcase_add_test(tc, test_adopt_device_without_msix);
	tcase_add_test(tc, test_adopt_reads_irq_info);
	tcase_add_test(tc, test_fill_config_mirrors_capability);
	tcase_add_test(tc, test_bus_master_sets_only_that_bit);
	tcase_add_test(tc, test_api_rejects_bad_arguments);
	tcase_add_test(tc, test_dynamic_lazy_one_set_irqs_per_unmask);
	tcase_add_test(tc, test_dynamic_first_enable_avoids_allocating_prefix);
	tcase_add_test(tc, test_noresize_lazy_reenables_per_growth);
	tcase_add_test(tc, test_enable_edge_turns_host_msix_on_dynamic);
	tcase_add_test(tc, test_enable_edge_turns_host_msix_on_noresize);
	tcase_add_test(tc, test_enable_edge_failure_retried);
	tcase_add_test(tc, test_noresize_preallocate_enables_once);
	tcase_add_test(tc, test_noresize_incremental_doubles);
	tcase_add_test(tc, test_disable_is_one_set_irqs);
	tcase_add_test(tc, test_transaction_one_set_irqs_per_run);
	tcase_add_test(tc, test_mask_latches_and_unmask_replays_once_dynamic);
	tcase_add_test(tc, test_mask_latches_and_unmask_replays_once_noresize);
	tcase_add_test(tc, test_process_mask_fd_latches);
	tcase_add_test(tc, test_deliver_failure_latches);
	tcase_add_test(tc, test_unprocessed_live_interrupt_latches_at_mask);
	tcase_add_test(tc, test_raise_before_host_vector_arrives_once);
	tcase_add_test(tc, test_noresize_growth_keeps_unprocessed_interrupts);
	tcase_add_test(tc, test_poll_fds_grow_with_generation);
	tcase_add_test(tc, test_set_live_fd_routes_unmasked_vector);
	tcase_add_test(tc, test_live_fd_not_eventfd_rolls_back_dynamic);
	tcase_add_test(tc, test_live_fd_not_eventfd_rolls_back_noresize);
	tcase_add_test(tc, test_rollback_every_failure_dynamic_burst);
	tcase_add_test(tc, test_rollback_every_failure_dynamic_first_enable);
	tcase_add_test(tc, test_rollback_every_failure_noresize_growth);
	tcase_add_test(tc, test_rollback_every_failure_noresize_first_enable);
	tcase_add_test(tc, test_host_vector_exhaustion_leaves_host_clean);
	tcase_add_test(tc, test_close_releases_host_and_fds);
	tcase_add_test(tc, test_abort_discards_staged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(vfio_suite());
}
