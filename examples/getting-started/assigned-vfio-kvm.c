/* SPDX-License-Identifier: MIT */
/*
 * An assigned device: a real PCI function bound to vfio-pci, its MSI-X
 * vectors going straight into a KVM VM (device -> VFIO trigger = the
 * vector's irqfd -> KVM route -> vCPU), the VMM off the interrupt path.
 * libmsix mirrors the device's capability to the guest, and the
 * passthrough backend composes the VFIO backend (host vectors, triggers)
 * with the KVM one (GSIs, routes, irqfds).
 *
 * Usage: assigned-vfio-kvm DDDD:BB:DD.F   (as root; the function bound to
 * vfio-pci, interrupt remapping on, /dev/kvm present). Without an argument
 * it takes $LIBMSIX_TEST_DEVICE, which the test guest sets (guest/). It
 * brings up the guest's vectors as Linux would and prints what the host
 * holds. The CI machine has no device to assign: there the program is run
 * in the QEMU test guest only (CTest guest_getting_started_assigned, label
 * guest).
 */
#include <string.h>
#include <unistd.h>

#include <libmsix.h>
#include <libmsix-kvm.h>
#include <libmsix-vfio.h>

#include "guest.h"
#include "vm.h"

static void log_line(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "libmsix[%d]: %s\n", level, msg);
}

/* The pages of BAR @bir the VMM must trap (not map to the device): those
 * holding the table or the PBA. Everything else in the BAR may be mmap'ed
 * from the VFIO region. libmsix answers -ENOENT for the other bytes of a
 * trapped page; the VMM forwards those to the device (pread/pwrite on the
 * region at info.bar_offset[bir] + offset). */
static void print_trapped_pages(const struct libmsix_config *cfg)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t t0 = cfg->table_offset, t1 = t0 + 16ull * cfg->nr_vectors;
	uint64_t p0 = cfg->pba_offset,
		 p1 = p0 + (cfg->nr_vectors + 63) / 64 * 8ull;

	printf("trap BAR %u [0x%llx, 0x%llx) (table)\n", cfg->table_bir,
	       (unsigned long long)(t0 / page * page),
	       (unsigned long long)((t1 + page - 1) / page * page));
	printf("trap BAR %u [0x%llx, 0x%llx) (PBA)\n", cfg->pba_bir,
	       (unsigned long long)(p0 / page * page),
	       (unsigned long long)((p1 + page - 1) / page * page));
}

int main(int argc, char **argv)
{
	const char *address = argc == 2 ? argv[1] : getenv("LIBMSIX_TEST_DEVICE");
	if (argc > 2 || !address) {
		fprintf(stderr, "usage: %s DDDD:BB:DD.F (a function bound to vfio-pci)\n",
			argv[0]);
		return 2;
	}

	/* The VM and its route table (vm.h). */
	struct vm vm;
	if (vm_open(&vm, log_line))
		return 1;
	struct libmsix_kvm_vm *kvm_vm = vm.routes;

	/* The device. No deliver callback: KVM delivers. */
	struct libmsix_vfio_opts opts = { .size = sizeof(opts), .log = log_line };
	struct libmsix_vfio *vfio;
	int rc = libmsix_vfio_open(address, &opts, &vfio);
	if (rc) {
		fprintf(stderr, "%s: %s (the log line above says what to check)\n",
			address, strerror(-rc));
		return 1;
	}
	struct libmsix_vfio_info info;
	CHECK(libmsix_vfio_get_info(vfio, &info) == 0);

	/* One GSI per vector, reserved now so a short table fails here. */
	struct libmsix_kvm_config kvm_cfg = {
		.size = sizeof(kvm_cfg),
		.flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = info.irq_count,
		.reserve = info.irq_count,
	};
	struct libmsix_kvm *kvm;
	CHECK(libmsix_kvm_create(kvm_vm, &kvm_cfg, &kvm) == 0);
	struct libmsix_passthrough_config pt_cfg = { .size = sizeof(pt_cfg) };
	struct libmsix_passthrough *pt;
	CHECK(libmsix_passthrough_create(vfio, kvm, &pt_cfg, &pt) == 0);

	/* The guest sees the device's own geometry. */
	struct libmsix_config cfg = { .size = sizeof(cfg), .log = log_line };
	CHECK(libmsix_vfio_fill_config(vfio, &cfg) == 0);
	struct libmsix_dev *dev;
	CHECK(libmsix_dev_create(&cfg, libmsix_passthrough_backend(pt), &dev) == 0);
	/* An assigned device signals every vector it has. */
	CHECK(libmsix_vector_use_all(dev) == 0);
	printf("%s: %u vectors, %s; capability at 0x%x\n", address,
	       cfg.nr_vectors, info.live_resize ? "dynamic MSI-X" : "NORESIZE",
	       cfg.cap_offset);
	print_trapped_pages(&cfg);

	/* vfio-pci leaves Bus Master off: without it the device's messages
	 * are dropped. The VMM mirrors the guest's Command register here;
	 * this program turns it on for the device and the guest alike. */
	CHECK(libmsix_vfio_set_bus_master(vfio, true) == 0);
	CHECK(libmsix_set_bus_master(dev, true) == 0);

	struct guest g = guest_direct(dev, &cfg);
	guest_bring_up(&g, cfg.nr_vectors);
	uint32_t live = cfg.nr_vectors < 4 ? cfg.nr_vectors : 4;
	for (uint32_t v = 0; v < live; v++) {
		CHECK(guest_unmask(&g, v) == 0);
		int gsi = libmsix_kvm_vector_gsi(kvm, v);
		int fd = libmsix_kvm_vector_eventfd(kvm, v);
		printf("vector %u: GSI %d, irqfd %d\n", v, gsi, fd);
		CHECK(gsi >= 0 && fd >= 0);
	}
	struct libmsix_vfio_stats vs;
	struct libmsix_kvm_stats ks;
	CHECK(libmsix_vfio_get_stats(vfio, &vs) == 0);
	CHECK(libmsix_kvm_get_stats(kvm, &ks) == 0);
	printf("VFIO_DEVICE_SET_IRQS: %llu, KVM_SET_GSI_ROUTING: %llu, KVM_IRQFD: %llu\n",
	       (unsigned long long)vs.set_irqs,
	       (unsigned long long)ks.route_uploads,
	       (unsigned long long)ks.irqfd_assign);
	CHECK(ks.irqfd_assign == live);		/* one irqfd per live vector */

	/* Teardown: the device first, then its backends, the VM, the device fd. */
	libmsix_dev_destroy(dev);
	libmsix_passthrough_destroy(pt);
	libmsix_kvm_destroy(kvm);
	libmsix_vfio_close(vfio);
	vm_close(&vm);
	printf("assigned-vfio-kvm: ok\n");
	return 0;
}
