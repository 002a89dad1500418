/* SPDX-License-Identifier: MIT */
/*
 * The KVM backend without /dev/kvm: the library's real code, with the VM
 * fd's ioctls answered by a fake KVM (struct libmsix_kvm_vm_config.ioctl).
 * The fake (tests/fakes/fake_kvm.h) checks what KVM checks and what KVM
 * does not but should never happen: an irqfd assigned to a GSI without a
 * route (#6348) or a route removed under an assigned irqfd (#3827). It also
 * behaves like the kernel where the backend depends on it: an irqfd assigned
 * to a readable eventfd injects once and leaves the eventfd readable, and
 * a write to an assigned irqfd's eventfd is consumed by its wakeup. The
 * fake is thread-safe (the race tests fire from other threads).
 * The real kernel is tested in the guest (tests/guest/kvm_*.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fakes/fake_kvm.h"
#include "helpers.h"
#include "libmsix-kvm.h"

/* ------------------------------------------------------------------------ */

struct kt {
	struct fake_kvm *f;
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *k;
	struct tdev t;
	uint32_t faults;
	int last_fault;
	uint32_t fallback_calls;
	int fallback_fd[64];
	int fds_before;
};

static void on_fault(void *opaque, uint32_t v, int err)
{
	struct kt *kt = opaque;

	kt->faults++;
	kt->last_fault = err;
	(void)v;
}

static void on_fallback(void *opaque, uint32_t v, int fd)
{
	struct kt *kt = opaque;

	kt->fallback_calls++;
	if (v < 64)
		kt->fallback_fd[v] = fd;
}

/* A VM as libmsix_kvm_vm_create() makes it: deferred routing by default. */
static struct libmsix_kvm_vm *new_vm_default(struct fake_kvm *f,
					     uint32_t flags)
{
	struct libmsix_kvm_vm_config c = {
		.size = sizeof(c),
		.flags = flags,
		.vm_fd = FAKE_KVM_FD,
		.ioctl = fake_kvm_ioctl,
		.ioctl_opaque = f,
	};
	struct libmsix_kvm_vm *vm;

	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), 0);
	return vm;
}

/*
 * A VM with immediate routing set explicitly: the fixtures' devices have a
 * fallback callback, so they would defer by default, and most tests here
 * are about the per-commit upload and irqfd order of immediate routing.
 * The test_deferred_* tests switch to deferred themselves.
 */
static struct libmsix_kvm_vm *new_vm(struct fake_kvm *f, uint32_t flags)
{
	struct libmsix_kvm_vm *vm = new_vm_default(f, flags);
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt), .mode = LIBMSIX_KVM_ROUTING_IMMEDIATE,
	};

	ck_assert_int_eq(libmsix_kvm_vm_set_routing(vm, &rt), 0);
	return vm;
}

/* A device of @n vectors, all used, on its own fake VM: with the VMM's
 * fallback callback when @fallback, on a VM with immediate routing set
 * explicitly when @immediate (else the VM's default routing). */
static struct kt *kt_create(uint32_t n, uint32_t flags, uint32_t reserve,
			    bool fallback, bool immediate)
{
	struct kt *kt = calloc(1, sizeof(*kt));
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc),
		.flags = flags,
		.nr_vectors = n,
		.reserve = reserve,
	};
	struct libmsix_config cfg = test_config(n);

	ck_assert_ptr_nonnull(kt);
	kt->fds_before = open_fds();
	kt->f = fake_kvm_new(4096);
	kt->vm = immediate ? new_vm(kt->f, 0) : new_vm_default(kt->f, 0);
	kc.fallback = fallback ? on_fallback : NULL;
	kc.opaque = kt;
	ck_assert_int_eq(libmsix_kvm_create(kt->vm, &kc, &kt->k), 0);
	cfg.fault = on_fault;
	cfg.opaque = kt;
	kt->t.n = n;
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_kvm_backend(kt->k),
					    &kt->t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(kt->t.dev), 0);
	return kt;
}

static struct kt *kt_new(uint32_t n, uint32_t flags, uint32_t reserve)
{
	return kt_create(n, flags, reserve, true, true);
}

static void kt_free(struct kt *kt)
{
	struct libmsix_kvm_vm_stats b;

	libmsix_dev_destroy(kt->t.dev);
	libmsix_kvm_destroy(kt->k);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(kt->vm), 0);
	ck_assert_uint_eq(kt->f->violations, 0);
	ck_assert_uint_eq(kt->f->nr_irqfds, 0);
	ck_assert_int_eq(open_fds(), kt->fds_before);
	free(kt->f);
	free(kt);
}

static struct libmsix_kvm_stats kcnt(struct kt *kt)
{
	struct libmsix_kvm_stats c;

	ck_assert_int_eq(libmsix_kvm_get_stats(kt->k, &c), 0);
	return c;
}

static int efd_of(struct kt *kt, uint32_t v)
{
	int fd = libmsix_kvm_vector_eventfd(kt->k, v);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* The guest masks and unmasks @v inside one transaction. */
static void mask_unmask_in_one_commit(struct kt *kt, uint32_t v)
{
	ck_assert_int_eq(libmsix_begin(kt->t.dev), 0);
	ck_assert_int_eq(set_vmask(&kt->t, v, true), 0);
	ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	ck_assert_int_eq(libmsix_commit(kt->t.dev), 0);
}

/* ------------------------------------------------------------------------ */
/* The VM object                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_vm_create_reads_capacity)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm = new_vm(f, LIBMSIX_KVM_VM_X86_IRQCHIP);
	struct libmsix_kvm_vm_stats b;

	ck_assert_int_eq(libmsix_kvm_vm_get_stats(vm, &b), 0);
	ck_assert_uint_eq(b.capacity, 4096);
	ck_assert_uint_eq(b.vmm_gsis, 24);
	ck_assert_uint_eq(b.vmm_entries, 40);
	/* 40 entries for 24 GSIs: the entry limit is the one that binds. */
	ck_assert_uint_eq(b.available, 4096 - 40);
	ck_assert_uint_eq(f->uploads, 0);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_vm_create_rejects_bad_config)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm_config c = {
		.size = sizeof(c), .vm_fd = FAKE_KVM_FD,
		.ioctl = fake_kvm_ioctl, .ioctl_opaque = f,
	};
	struct libmsix_kvm_vm *vm = NULL;

	ck_assert_int_eq(libmsix_kvm_vm_create(NULL, &vm), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, NULL), -EINVAL);
	c.size = 4;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -EINVAL);
	c.size = sizeof(c);
	{
		void *g = grown_struct(&c, sizeof(c), 8, 1);

		ck_assert_int_eq(libmsix_kvm_vm_create(g, &vm), -E2BIG);
		free(g);
		/* An older header without log_level and opaque: accepted. */
		c.size = offsetof(struct libmsix_kvm_vm_config, log_level);
		ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), 0);
		ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
		vm = NULL;
		c.size = sizeof(c);
	}
	c.flags = 0x80;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -EINVAL);
	c.flags = 0;
	c.vm_fd = -1;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -EINVAL);
	c.vm_fd = FAKE_KVM_FD;
	f->no_signal_msi = true;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -ENOTSUP);
	f->no_signal_msi = false;
	f->fail_req = KVM_CHECK_EXTENSION;
	f->fail_k = 1;
	f->fail_err = -EIO;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -EIO);
	ck_assert_ptr_null(vm);
	free(f);
}
END_TEST

static char vm_logged[512];

static void vm_log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(vm_logged, sizeof(vm_logged), "%s", msg);
}

/* libmsix_kvm_vm_create() on @fd, logging to vm_logged. */
static int vm_create_logged(int fd, void *ioctl_opaque,
			    struct libmsix_kvm_vm **vm)
{
	struct libmsix_kvm_vm_config c = {
		.size = sizeof(c), .vm_fd = fd,
		.ioctl = ioctl_opaque ? fake_kvm_ioctl : NULL,
		.ioctl_opaque = ioctl_opaque, .log = vm_log_cb,
	};

	vm_logged[0] = 0;
	*vm = NULL;
	return libmsix_kvm_vm_create(&c, vm);
}

/*
 * A VM without an in-kernel irqchip answers every KVM_SIGNAL_MSI, route
 * upload and irqfd with a bare -EINVAL: refuse it at creation, and say
 * why. x86 only: the probe is KVM_IRQ_LINE's -ENXIO.
 */
START_TEST(test_vm_without_irqchip_fails_early)
{
#if defined(__x86_64__) || defined(__i386__)
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm;

	f->no_irqchip = true;
	ck_assert_int_eq(vm_create_logged(FAKE_KVM_FD, f, &vm), -ENXIO);
	ck_assert_ptr_null(vm);
	ck_assert_msg(strstr(vm_logged, "no in-kernel irqchip") &&
			      strstr(vm_logged, "KVM_CREATE_IRQCHIP") &&
			      strstr(vm_logged, strerror(ENXIO)),
		      "log: %s", vm_logged);
	f->no_irqchip = false;
	ck_assert_int_eq(vm_create_logged(FAKE_KVM_FD, f, &vm), 0);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
#endif
}
END_TEST

/* Every -EINVAL a VMM can get says which argument broke which rule. */
START_TEST(test_einval_is_logged)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm_config c = {
		.size = sizeof(c), .vm_fd = FAKE_KVM_FD, .flags = 0x80,
		.ioctl = fake_kvm_ioctl, .ioctl_opaque = f, .log = vm_log_cb,
	};
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 8, .reserve = 9,
	};
	struct libmsix_kvm_routing rt = { .size = sizeof(rt), .mode = 7 };
	struct kvm_irq_routing_entry e = { .gsi = 4000 };
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *k = NULL;

	vm_logged[0] = 0;
	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm_logged, "unknown bits 0x80"));
	ck_assert_int_eq(vm_create_logged(FAKE_KVM_FD, f, &vm), 0);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 4090, 7), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm_logged, "libmsix_kvm_vm_reserve(): GSIs [4090, +7)"));
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(vm, &e, 1), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm_logged, "entries[0].gsi 4000 was not reserved"));
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(vm, &rt), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm_logged, "mode 7 is unknown"));
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vm_logged, "reserve 9 is more than nr_vectors 8"));
	ck_assert_ptr_null(k);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

/* The same on this host's /dev/kvm, where there is one. */
START_TEST(test_vm_without_irqchip_real_kvm)
{
#if defined(__x86_64__) || defined(__i386__)
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vmfd;
	struct libmsix_kvm_vm *vm;

	if (kvm < 0) {
		fprintf(stderr, "no /dev/kvm (%s): real-KVM check not run\n",
			strerror(errno));
		return;
	}
	vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	ck_assert_int_ge(vmfd, 0);
	ck_assert_int_eq(vm_create_logged(vmfd, NULL, &vm), -ENXIO);
	ck_assert_ptr_nonnull(strstr(vm_logged, "no in-kernel irqchip"));
	ck_assert_int_eq(ioctl(vmfd, KVM_CREATE_IRQCHIP, 0), 0);
	ck_assert_int_eq(vm_create_logged(vmfd, NULL, &vm), 0);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	close(vmfd);
	close(kvm);
#endif
}
END_TEST

START_TEST(test_vm_max_routes_limits_capacity)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm_config c = {
		.size = sizeof(c), .vm_fd = FAKE_KVM_FD, .max_routes = 64,
		.ioctl = fake_kvm_ioctl, .ioctl_opaque = f,
	};
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm_vm_stats b;

	ck_assert_int_eq(libmsix_kvm_vm_create(&c, &vm), 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(vm, &b), 0);
	ck_assert_uint_eq(b.capacity, 64);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_vm_routes_of_vmm_kept_in_every_upload)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct kvm_irq_routing_entry e = { .gsi = 4000,
					   .type = KVM_IRQ_ROUTING_MSI };

	e.u.msi.address_lo = 0xfee01000;
	e.u.msi.data = 0x55;
	/* Not reserved: refused. */
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(kt->vm, &e, 1), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(kt->vm, 4000, 8), 0);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(kt->vm, 4004, 1), -EBUSY);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(kt->vm, 4090, 7), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(kt->vm, &e, 1), 0);
	ck_assert_uint_eq(kt->f->uploads, 1);
	/* The same set again: nothing to upload. */
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(kt->vm, &e, 1), 0);
	ck_assert_uint_eq(kt->f->uploads, 1);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), 0);
	ck_assert_uint_eq(kt->f->uploads, 2);
	ck_assert_uint_eq(kt->f->nr, 2);
	ck_assert_ptr_nonnull(fake_kvm_route(kt->f, 4000));
	/* A failed VMM upload keeps the old routes, in KVM too. */
	e.u.msi.data = 0x66;
	kt->f->fail_req = KVM_SET_GSI_ROUTING;
	kt->f->fail_k = 1;
	kt->f->fail_err = -ENOMEM;
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(kt->vm, &e, 1), -ENOMEM);
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	ck_assert_uint_eq(fake_kvm_route(kt->f, 4000)->u.msi.data, 0x55);
	kt_free(kt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Setup-time budgets                                                        */
/* ------------------------------------------------------------------------ */

START_TEST(test_create_budget_zero_rejected)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm = new_vm(f, 0);
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 8, .reserve = 0,
	};
	struct libmsix_kvm *k = NULL;

	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.reserve = 9; /* more than N */
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.flags = 0; /* reserve without irqfd */
	kc.reserve = 2;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.flags = LIBMSIX_KVM_F_FORCE; /* force without irqfd */
	kc.reserve = 0;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.flags = LIBMSIX_KVM_F_IRQFD;
	kc.nr_vectors = 2049;
	kc.reserve = 1;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.nr_vectors = 8;
	kc.flags = 0x100;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -EINVAL);
	kc.flags = LIBMSIX_KVM_F_IRQFD;
	{
		void *g = grown_struct(&kc, sizeof(kc), 8, 1);

		ck_assert_int_eq(libmsix_kvm_create(vm, g, &k), -E2BIG);
		free(g);
	}
	ck_assert_ptr_null(k);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_create_reserve_beyond_table_enospc)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm = new_vm(f, LIBMSIX_KVM_VM_X86_IRQCHIP);
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 2048, .reserve = 2048,
	};
	struct libmsix_kvm *a, *b, *c = NULL;
	struct libmsix_kvm_vm_stats bu;

	/* 4096 - 40 entries for devices: one 2048 device fits, two do not
	 * (cloud-hypervisor #7081: the 18th VF failed at run time). */
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &a), 0);
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &c), -ENOSPC);
	ck_assert_ptr_null(c);
	kc.reserve = 2048 - 40;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &b), 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(vm, &bu), 0);
	ck_assert_uint_eq(bu.available, 0);
	ck_assert_uint_eq(bu.demand, 4096);
	ck_assert_uint_eq(bu.overcommit, 40);
	/* The VMM cannot take GSIs that reservations count on: 24 + 17 GSIs
	 * would bind more than its 40 entries already do. */
	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 100, 17), -ENOSPC);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 100, 16), 0);
	libmsix_kvm_destroy(b);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 200, 17), 0);
	libmsix_kvm_destroy(a);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_table_full_of_vmm_routes_enospc)
{
	struct fake_kvm *f = fake_kvm_new(64);
	struct libmsix_kvm_vm *vm = new_vm(f, 0);
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 4, .reserve = 1,
	};
	struct libmsix_kvm *k = NULL;
	struct libmsix_kvm_vm_stats b;

	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 0, 64), 0);
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), -ENOSPC);
	/* With FORCE the device is created and every vector faults. */
	kc.reserve = 0;
	kc.flags |= LIBMSIX_KVM_F_FORCE;
	ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k), 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(vm, &b), 0);
	ck_assert_uint_eq(b.available, 0);
	ck_assert_uint_eq(b.overcommit, 4);
	libmsix_kvm_destroy(k);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_vm_destroy_with_devices_refused)
{
	struct kt *kt = kt_new(2, LIBMSIX_KVM_F_IRQFD, 2);
	struct libmsix_kvm_vm_stats b;

	/* Refused, nothing freed: the VM and its device still work. */
	ck_assert_int_eq(libmsix_kvm_vm_destroy(kt->vm), -EBUSY);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_int_ge(libmsix_kvm_vector_gsi(kt->k, 1), 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 1);
	kt_free(kt); /* then destroying it succeeds */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Routes, irqfds and commits                                                */
/* ------------------------------------------------------------------------ */

START_TEST(test_unmask_uploads_then_assigns)
{
	struct kt *kt = kt_new(8, LIBMSIX_KVM_F_IRQFD, 8);
	int gsi;

	linux_bringup(&kt->t);
	ck_assert_uint_eq(kt->f->trace_len, 0); /* masked: no KVM work */
	ck_assert_int_eq(set_vmask(&kt->t, 5, false), 0);
	ck_assert_str_eq(kt->f->trace, "UA");
	gsi = libmsix_kvm_vector_gsi(kt->k, 5);
	ck_assert_int_ge(gsi, 0);
	ck_assert_uint_eq(fake_kvm_route(kt->f, (uint32_t)gsi)->u.msi.address_lo,
			  (uint32_t)test_addr(5));
	ck_assert_uint_eq(fake_kvm_route(kt->f, (uint32_t)gsi)->u.msi.data,
			  test_data(5));
	ck_assert_int_eq(libmsix_kvm_vector_gsi(kt->k, 4), -ENOENT);
	ck_assert_int_eq(libmsix_kvm_vector_eventfd(kt->k, 4), -ENOENT);
	ck_assert_int_eq(libmsix_kvm_vector_eventfd(kt->k, 8), -EINVAL);
	/* The producer's interrupt goes straight to KVM. */
	fake_kvm_fire(kt->f, efd_of(kt, 5));
	ck_assert_uint_eq(kt->f->injected, 1);
	kt_free(kt);
}
END_TEST

START_TEST(test_burst_is_one_upload)
{
	struct kt *kt = kt_new(64, LIBMSIX_KVM_F_IRQFD, 64);

	linux_bringup(&kt->t);
	ck_assert_int_eq(libmsix_begin(kt->t.dev), 0);
	for (uint32_t v = 0; v < 64; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_int_eq(libmsix_commit(kt->t.dev), 0);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'U'), 1);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'A'), 64);
	ck_assert_int_eq(kt->f->trace[0], 'U');
	ck_assert_uint_eq(kt->f->nr, 64);
	/* Function Mask set and cleared: irqfds only, no upload. */
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_msgctl(&kt->t, PCI_MSIX_FLAGS_ENABLE |
						    PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_int_eq(set_msgctl(&kt->t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'U'), 0);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'D'), 64);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'A'), 64);
	ck_assert_uint_eq(kcnt(kt).route_uploads, 1);
	kt_free(kt);
}
END_TEST

START_TEST(test_mask_cycle_costs_two_irqfd_ops)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_str_eq(kt->f->trace, "DA");
	kt_free(kt);
}
END_TEST

/* What vhost does with an irqfd vector's eventfd: write it. */
static void producer_raise(int fd)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/*
 * A VMM that hands a vector's eventfd to its own producer (vhost) gets a
 * duplicate and a generation; every commit that replaces the eventfd
 * (unuse and use, disable and enable, reset) moves the generation, and
 * only the new duplicate reaches the vector.
 */
START_TEST(test_eventfd_get_follows_replacements)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	uint64_t g0, g;
	int fd, fd2;

	ck_assert_int_eq(libmsix_kvm_vector_eventfd_get(NULL, 1, &g), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vector_eventfd_get(kt->k, 4, &g), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vector_eventfd_get(kt->k, 1, &g), -ENOENT);
	ck_assert_uint_eq(libmsix_kvm_eventfd_generation(NULL), 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	fd = libmsix_kvm_vector_eventfd_get(kt->k, 1, &g0);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(g0, libmsix_kvm_eventfd_generation(kt->k));
	/* It is the vector's eventfd: masked, a write to it is pending. */
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	producer_raise(fd);
	ck_assert(pba_bit(&kt->t, 1));
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_uint_eq(libmsix_kvm_eventfd_generation(kt->k), g0);

	/* Unuse and use: a new eventfd, a new generation. */
	ck_assert_int_eq(libmsix_vector_unuse(kt->t.dev, 1), 0);
	ck_assert_uint_gt(libmsix_kvm_eventfd_generation(kt->k), g0);
	ck_assert_int_eq(libmsix_kvm_vector_eventfd_get(kt->k, 1, &g), -ENOENT);
	ck_assert_int_eq(libmsix_vector_use(kt->t.dev, 1), 0);
	fd2 = libmsix_kvm_vector_eventfd_get(kt->k, 1, &g);
	ck_assert_int_ge(fd2, 0);
	ck_assert_uint_gt(g, g0);
	ck_assert_uint_eq(g, libmsix_kvm_eventfd_generation(kt->k));
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	producer_raise(fd); /* the old one reaches nothing */
	ck_assert(!pba_bit(&kt->t, 1));
	producer_raise(fd2);
	ck_assert(pba_bit(&kt->t, 1));

	/* Disable and enable, and reset, replace it too. */
	g0 = g;
	ck_assert_int_eq(set_msgctl(&kt->t, 0), 0);
	ck_assert_uint_gt(libmsix_kvm_eventfd_generation(kt->k), g0);
	g0 = libmsix_kvm_eventfd_generation(kt->k);
	ck_assert_int_eq(set_msgctl(&kt->t, PCI_MSIX_FLAGS_ENABLE), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_uint_gt(libmsix_kvm_eventfd_generation(kt->k), g0);
	g0 = libmsix_kvm_eventfd_generation(kt->k);
	ck_assert_int_eq(libmsix_reset(kt->t.dev), 0);
	ck_assert_uint_gt(libmsix_kvm_eventfd_generation(kt->k), g0);
	close(fd);
	close(fd2);
	kt_free(kt);
}
END_TEST

START_TEST(test_new_message_reuploads_at_unmask)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	int gsi;

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	gsi = libmsix_kvm_vector_gsi(kt->k, 1);
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	set_msg(&kt->t, 1, 0xfee0f000, 0x4242);
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	/* The irqfd stays deassigned across the new route (D came at mask). */
	ck_assert_str_eq(kt->f->trace, "UA");
	ck_assert_int_eq(libmsix_kvm_vector_gsi(kt->k, 1), gsi);
	ck_assert_uint_eq(fake_kvm_route(kt->f, (uint32_t)gsi)->u.msi.data, 0x4242);
	kt_free(kt);
}
END_TEST

START_TEST(test_disable_deassigns_before_route_goes)
{
	struct kt *kt = kt_new(8, LIBMSIX_KVM_F_IRQFD, 8);
	struct libmsix_kvm_vm_stats b;

	linux_bringup(&kt->t);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_msgctl(&kt->t, 0), 0);
	ck_assert_str_eq(kt->f->trace, "DDDDDDDDU");
	ck_assert_uint_eq(kt->f->nr, 0);
	ck_assert_uint_eq(kt->f->violations, 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(b.peak, 8);
	ck_assert_int_eq(open_fds(), kt->fds_before);
	kt_free(kt);
}
END_TEST

START_TEST(test_no_kvm_work_when_nothing_changed)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	fake_kvm_clear(kt->f);
	mask_unmask_in_one_commit(kt, 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	kt_free(kt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Masked interrupts: latched exactly, replayed once                         */
/* ------------------------------------------------------------------------ */

START_TEST(test_masked_interrupt_shows_in_pba_and_replays_once)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	int efd;

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 2, true), 0);
	efd = efd_of(kt, 2);
	fake_kvm_fire(kt->f, efd);
	fake_kvm_fire(kt->f, efd); /* coalesces */
	ck_assert_uint_eq(kt->f->injected, 0);
	ck_assert(pba_bit(&kt->t, 2)); /* poll read the eventfd */
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), 0);
	ck_assert_str_eq(kt->f->trace, "AS");
	ck_assert_uint_eq(kt->f->injected, 0);
	ck_assert_uint_eq(kt->f->last_msi.data, test_data(2));
	ck_assert(!pba_bit(&kt->t, 2));
	kt_free(kt);
}
END_TEST

START_TEST(test_masked_interrupt_drained_before_assign)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct libmsix_stats c;

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 3, true), 0);
	fake_kvm_fire(kt->f, efd_of(kt, 3));
	fake_kvm_clear(kt->f);
	/* No PBA read: unmask finds the count itself. Without the drain, the
	 * assign would inject it and leave the eventfd readable. */
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	ck_assert_str_eq(kt->f->trace, "AS");
	ck_assert_uint_eq(kt->f->injected, 0);
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 3), -EBUSY);
	ck_assert_int_eq(libmsix_get_stats(kt->t.dev, &c), 0);
	ck_assert_uint_eq(c.replayed, 1);
	ck_assert_uint_eq(kcnt(kt).caught, 1);
	/* Nothing left behind for the next mask's poll. */
	ck_assert_int_eq(set_vmask(&kt->t, 3, true), 0);
	ck_assert(!pba_bit(&kt->t, 3));
	kt_free(kt);
}
END_TEST

START_TEST(test_notify_uses_signal_msi_with_table_message)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 1), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(kt->f->last_msi.address_lo, (uint32_t)test_addr(1));
	ck_assert_uint_eq(kt->f->last_msi.data, test_data(1));
	/* No vCPU matched: delivered as far as the device can tell. */
	kt->f->signal_msi_ret = 0;
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 1), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(kcnt(kt).signal_msi_unmatched, 1);
	/* An ioctl error latches the pending bit. */
	kt->f->fail_req = KVM_SIGNAL_MSI;
	kt->f->fail_k = 1;
	kt->f->fail_err = -EFAULT;
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 1), -EFAULT);
	ck_assert(pba_bit(&kt->t, 1));
	kt_free(kt);
}
END_TEST

START_TEST(test_emulated_device_needs_no_gsi)
{
	struct kt *kt = kt_new(8, 0, 0);
	struct libmsix_kvm_vm_stats b;

	linux_bringup(&kt->t);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 6), LIBMSIX_DELIVERED);
	ck_assert_str_eq(kt->f->trace, "S");
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(b.demand, 0);
	ck_assert_int_eq(set_vmask(&kt->t, 6, true), 0);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 6), LIBMSIX_LATCHED);
	ck_assert_int_eq(set_vmask(&kt->t, 6, false), 0);
	ck_assert_str_eq(kt->f->trace, "SS");
	kt_free(kt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failures: clear error, rollback, nothing leaked, no live vector lost      */
/* ------------------------------------------------------------------------ */

START_TEST(test_upload_failure_rolls_back)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct libmsix_kvm_vm_stats b;
	struct libmsix_vector_info vi;
	int fds;

	linux_bringup(&kt->t);
	fds = open_fds();
	kt->f->fail_req = KVM_SET_GSI_ROUTING;
	kt->f->fail_k = 1;
	kt->f->fail_err = -EINVAL;
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), -EINVAL);
	ck_assert_uint_eq(kt->faults, 1);
	ck_assert_int_eq(kt->last_fault, -EINVAL);
	ck_assert_uint_eq(kt->f->nr_irqfds, 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(b.upload_errors, 1);
	ck_assert_int_eq(open_fds(), fds);
	/* Blocked, not lost: it latches, and a retry delivers it. */
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 0), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_retry(kt->t.dev), 0);
	ck_assert_int_eq(libmsix_get_vector_info(kt->t.dev, 0, &vi), 0);
	ck_assert(vi.live);
	ck_assert_uint_eq(kt->f->signals, 1);
	kt_free(kt);
}
END_TEST

START_TEST(test_assign_failure_undoes_upload_and_assigns)
{
	struct kt *kt = kt_new(8, LIBMSIX_KVM_F_IRQFD, 8);
	struct kvm_irq_routing_entry before[8];
	uint32_t nr_before;

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 7, false), 0);
	nr_before = kt->f->nr;
	memcpy(before, kt->f->table, nr_before * sizeof(before[0]));
	fake_kvm_clear(kt->f);
	kt->f->fail_req = KVM_IRQFD;
	kt->f->fail_k = 3;
	kt->f->fail_err = -ENOMEM;
	ck_assert_int_eq(libmsix_begin(kt->t.dev), 0);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	ck_assert_int_eq(libmsix_commit(kt->t.dev), -ENOMEM);
	/* U A A (fail) D D U: assigns undone, the old table uploaded again. */
	ck_assert_str_eq(kt->f->trace, "UAADDU");
	ck_assert_uint_eq(kt->f->nr, nr_before);
	ck_assert(!memcmp(kt->f->table, before, nr_before * sizeof(before[0])));
	ck_assert_uint_eq(kt->f->nr_irqfds, 1); /* vector 7, untouched */
	ck_assert_uint_eq(kt->faults, 4);
	ck_assert_int_eq(libmsix_retry(kt->t.dev), 0);
	ck_assert_uint_eq(kt->f->nr_irqfds, 5);
	kt_free(kt);
}
END_TEST

START_TEST(test_deassign_failure_keeps_vector_live)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct libmsix_vector_info vi;

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	fake_kvm_clear(kt->f);
	kt->f->fail_req = KVM_IRQFD;
	kt->f->fail_k = 2;
	kt->f->fail_err = -EIO;
	/* Disable: the second deassign fails; the first is re-assigned. */
	ck_assert_int_eq(set_msgctl(&kt->t, 0), -EIO);
	ck_assert_str_eq(kt->f->trace, "DA");
	ck_assert_uint_eq(kt->f->nr_irqfds, 2);
	ck_assert_uint_eq(kt->f->violations, 0);
	ck_assert_int_eq(libmsix_get_vector_info(kt->t.dev, 0, &vi), 0);
	ck_assert(!vi.live); /* the guest disabled MSI-X: dropped */
	kt_free(kt);
}
END_TEST

START_TEST(test_out_of_range_gsi_rejected_by_kvm)
{
	/* The fake KVM has 4096 GSIs, the table object is told 4097 cannot
	 * exist: a VMM route on GSI 4096 is refused before any ioctl. */
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm = new_vm(f, 0);
	struct kvm_irq_routing_entry e = { .gsi = 4095,
					   .type = KVM_IRQ_ROUTING_MSI };

	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 4095, 1), 0);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(vm, 4096, 1), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(vm, &e, 1), 0);
	e.gsi = 4096;
	ck_assert_int_eq(libmsix_kvm_vm_set_routes(vm, &e, 1), -EINVAL);
	ck_assert_uint_eq(f->uploads, 1);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Run-time exhaustion: fault or fallback, never an assert                   */
/* ------------------------------------------------------------------------ */

START_TEST(test_reserve_is_the_limit_without_force)
{
	struct kt *kt = kt_new(8, LIBMSIX_KVM_F_IRQFD, 2);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), -ENOSPC);
	ck_assert_uint_eq(kt->faults, 1);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 2), LIBMSIX_LATCHED);
	/* Freeing one lets a retry take it, and the latched one replays. */
	ck_assert_int_eq(libmsix_vector_unuse(kt->t.dev, 0), 0);
	ck_assert_int_eq(libmsix_retry(kt->t.dev), 0);
	ck_assert_uint_eq(kt->f->signals, 1);
	ck_assert_uint_eq(kt->f->nr_irqfds, 2);
	kt_free(kt);
}
END_TEST

/* Two devices on one VM with 4 GSIs: @a holds them all. */
struct pair {
	struct fake_kvm *f;
	struct libmsix_kvm_vm *vm;
	struct libmsix_kvm *ka;
	struct kt b;
};

static void pair_new(struct pair *p, uint32_t b_flags)
{
	struct libmsix_kvm_config ka = {
		.size = sizeof(ka), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 4, .reserve = 4,
	};
	struct libmsix_kvm_config kb = {
		.size = sizeof(kb), .flags = LIBMSIX_KVM_F_IRQFD | b_flags,
		.nr_vectors = 4, .reserve = 0,
		.fallback = on_fallback, .opaque = &p->b,
	};
	struct libmsix_config cfg = test_config(4);

	memset(p, 0, sizeof(*p));
	p->b.fds_before = open_fds();
	p->f = fake_kvm_new(8);
	p->vm = new_vm(p->f, 0);
	ck_assert_int_eq(libmsix_kvm_vm_reserve(p->vm, 0, 4), 0);
	ck_assert_int_eq(libmsix_kvm_create(p->vm, &ka, &p->ka), 0);
	ck_assert_int_eq(libmsix_kvm_create(p->vm, &kb, &p->b.k), 0);
	p->b.f = p->f;
	p->b.vm = p->vm;
	p->b.t.n = 4;
	cfg.fault = on_fault;
	cfg.opaque = &p->b;
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_kvm_backend(p->b.k),
					    &p->b.t.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(p->b.t.dev), 0);
	linux_bringup(&p->b.t);
}

static void pair_free(struct pair *p)
{
	libmsix_dev_destroy(p->b.t.dev);
	libmsix_kvm_destroy(p->b.k);
	if (p->ka)
		libmsix_kvm_destroy(p->ka);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(p->vm), 0);
	ck_assert_uint_eq(p->f->violations, 0);
	ck_assert_uint_eq(p->f->nr_irqfds, 0);
	ck_assert_int_eq(open_fds(), p->b.fds_before);
	free(p->f);
}

START_TEST(test_force_exhaustion_faults_then_retry)
{
	struct pair p;
	struct libmsix_kvm_vm_stats b;

	pair_new(&p, LIBMSIX_KVM_F_FORCE);
	ck_assert_int_eq(set_vmask(&p.b.t, 0, false), -ENOSPC);
	ck_assert_uint_eq(p.b.faults, 1);
	ck_assert_int_eq(p.b.last_fault, -ENOSPC);
	ck_assert_int_eq(set_vmask(&p.b.t, 1, false), -ENOSPC);
	ck_assert_int_eq(libmsix_notify(p.b.t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(p.vm, &b), 0);
	ck_assert_uint_eq(b.exhausted, 2);
	ck_assert_uint_eq(kcnt(&p.b).exhausted, 2);
	/* Device a goes away: its GSIs become available to the overcommit. */
	libmsix_kvm_destroy(p.ka);
	p.ka = NULL;
	ck_assert_int_eq(libmsix_retry(p.b.t.dev), 0);
	ck_assert_uint_eq(p.f->nr_irqfds, 2);
	ck_assert_uint_eq(p.f->signals, 1); /* the latched one */
	pair_free(&p);
}
END_TEST

START_TEST(test_fallback_goes_live_with_userspace_injection)
{
	struct pair p;
	struct libmsix_vector_info vi;
	int fd;

	pair_new(&p, LIBMSIX_KVM_F_FORCE | LIBMSIX_KVM_F_FALLBACK);
	ck_assert_int_eq(set_vmask(&p.b.t, 2, false), 0);
	ck_assert_int_eq(libmsix_get_vector_info(p.b.t.dev, 2, &vi), 0);
	ck_assert(vi.live);
	ck_assert_uint_eq(p.b.faults, 0);
	ck_assert_uint_eq(p.b.fallback_calls, 1);
	fd = p.b.fallback_fd[2];
	ck_assert_int_eq(fd, libmsix_kvm_vector_eventfd(p.b.k, 2));
	ck_assert_int_eq(libmsix_kvm_vector_gsi(p.b.k, 2), -ENOENT);
	ck_assert_uint_eq(kcnt(&p.b).fallback_vectors, 1);
	/* The producer writes; the VMM sees it readable and consumes. */
	fake_kvm_fire(p.f, fd);
	ck_assert_int_eq(libmsix_kvm_consume(p.b.k, 2), 1);
	ck_assert_int_eq(libmsix_kvm_consume(p.b.k, 2), 0);
	ck_assert_int_eq(libmsix_notify(p.b.t.dev, 2), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(p.f->signals, 1);
	/* Masked: the eventfd latches into the PBA, unmask replays. */
	ck_assert_int_eq(set_vmask(&p.b.t, 2, true), 0);
	fake_kvm_fire(p.f, fd);
	ck_assert(pba_bit(&p.b.t, 2));
	ck_assert_int_eq(set_vmask(&p.b.t, 2, false), 0);
	ck_assert_uint_eq(p.f->signals, 2);
	/* Disable: the VMM is told to stop polling. */
	ck_assert_int_eq(set_msgctl(&p.b.t, 0), 0);
	ck_assert_int_eq(p.b.fallback_fd[2], -1);
	ck_assert_uint_eq(kcnt(&p.b).fallback_vectors, 0);
	pair_free(&p);
}
END_TEST

START_TEST(test_two_devices_share_one_table)
{
	struct pair p;
	struct libmsix_kvm_config ka = {
		.size = sizeof(ka), .flags = LIBMSIX_KVM_F_IRQFD,
		.nr_vectors = 4, .reserve = 2,
	};
	struct libmsix_config cfg = test_config(4);
	struct tdev a = { .n = 4 };

	pair_new(&p, LIBMSIX_KVM_F_FORCE);
	libmsix_kvm_destroy(p.ka);
	ck_assert_int_eq(libmsix_kvm_create(p.vm, &ka, &p.ka), 0);
	ck_assert_int_eq(libmsix_dev_create(&cfg, libmsix_kvm_backend(p.ka),
					    &a.dev), 0);
	ck_assert_int_eq(libmsix_vector_use_all(a.dev), 0);
	linux_bringup(&a);
	ck_assert_int_eq(set_vmask(&a, 0, false), 0);
	ck_assert_int_eq(set_vmask(&p.b.t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&p.b.t, 1, false), 0);
	/* b's uploads carry a's route. */
	ck_assert_uint_eq(p.f->nr, 3);
	ck_assert_int_eq(set_msgctl(&p.b.t, 0), 0);
	ck_assert_uint_eq(p.f->nr, 1);
	ck_assert_ptr_nonnull(fake_kvm_route(p.f, (uint32_t)libmsix_kvm_vector_gsi(p.ka, 0)));
	libmsix_dev_destroy(a.dev);
	pair_free(&p);
}
END_TEST

START_TEST(test_destroy_cleans_up_after_failed_release)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	fake_kvm_clear(kt->f);
	/* The release commit of dev_destroy fails: D D, upload refused, the
	 * irqfds re-assigned A A. The backend still holds both vectors... */
	kt->f->fail_req = KVM_SET_GSI_ROUTING;
	kt->f->fail_k = 1;
	kt->f->fail_err = -ENOMEM;
	libmsix_dev_destroy(kt->t.dev);
	kt->t.dev = NULL;
	ck_assert_str_eq(kt->f->trace, "DDAA");
	ck_assert_uint_eq(kt->f->nr_irqfds, 2);
	/* ... and its own destroy removes them in the safe order. */
	fake_kvm_clear(kt->f);
	libmsix_kvm_destroy(kt->k);
	kt->k = NULL;
	ck_assert_str_eq(kt->f->trace, "DDU");
	ck_assert_uint_eq(kt->f->nr, 0);
	kt_free(kt);
}
END_TEST

START_TEST(test_budget_reports_demand_versus_reserve)
{
	struct fake_kvm *f = fake_kvm_new(4096);
	struct libmsix_kvm_vm *vm = new_vm(f, LIBMSIX_KVM_VM_X86_IRQCHIP);
	struct libmsix_kvm_config kc = {
		.size = sizeof(kc),
		.flags = LIBMSIX_KVM_F_IRQFD | LIBMSIX_KVM_F_FORCE,
		.nr_vectors = 2048, .reserve = 64,
	};
	struct libmsix_kvm *k[3];
	struct libmsix_kvm_vm_stats b;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(libmsix_kvm_create(vm, &kc, &k[i]), 0);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(vm, &b), 0);
	ck_assert_uint_eq(b.reserved, 192);
	ck_assert_uint_eq(b.demand, 3 * 2048);
	ck_assert_uint_eq(b.available, 4096 - 40 - 192);
	ck_assert_uint_eq(b.overcommit, 3 * 2048 - (4096 - 40));
	for (int i = 0; i < 3; i++)
		libmsix_kvm_destroy(k[i]);
	ck_assert_int_eq(libmsix_kvm_vm_destroy(vm), 0);
	free(f);
}
END_TEST

START_TEST(test_eventfd_failure_rolls_back)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct rlimit old, low;
	struct libmsix_kvm_vm_stats b;
	int fill[64], nfill = 0;

	if (getenv("LIBMSIX_UNDER_VALGRIND")) {
		/* Valgrind's own fds sit under a limit of its choosing. */
		kt_free(kt);
		return;
	}
	linux_bringup(&kt->t);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)open_fds();
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Fill any gap below the limit: the next fd must be refused. */
	while (nfill < 64 && (fill[nfill] = eventfd(0, 0)) >= 0)
		nfill++;
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), -EMFILE);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_uint_eq(kt->faults, 1);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.held, 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_int_eq(libmsix_retry(kt->t.dev), 0);
	ck_assert_str_eq(kt->f->trace, "UA");
	kt_free(kt);
}
END_TEST

START_TEST(test_passthrough_create_rejects_bad_input)
{
	struct kt *kt = kt_new(4, 0, 0); /* not an irqfd device */
	struct libmsix_passthrough_config pc = { .size = sizeof(pc) };
	struct libmsix_passthrough *pt = NULL;
	struct libmsix_passthrough_stats c;

	/* No VFIO device can exist here; every other check comes first or
	 * needs none. A real passthrough is tested in the guest. */
	ck_assert_int_eq(libmsix_passthrough_create(NULL, kt->k, &pc, &pt),
			 -EINVAL);
	ck_assert_int_eq(libmsix_passthrough_create((struct libmsix_vfio *)kt,
						    NULL, &pc, &pt), -EINVAL);
	pc.size = 4;
	ck_assert_int_eq(libmsix_passthrough_create((struct libmsix_vfio *)kt,
						    kt->k, &pc, &pt), -EINVAL);
	pc.size = sizeof(pc);
	pc.mask = (enum libmsix_pt_mask)7;
	ck_assert_int_eq(libmsix_passthrough_create((struct libmsix_vfio *)kt,
						    kt->k, &pc, &pt), -EINVAL);
	pc.mask = LIBMSIX_PT_MASK_AUTO;
	pc.flags = 1;
	ck_assert_int_eq(libmsix_passthrough_create((struct libmsix_vfio *)kt,
						    kt->k, &pc, &pt), -EINVAL);
	/* A KVM device without irqfds is refused before VFIO is asked. */
	pc.flags = 0;
	ck_assert_int_eq(libmsix_passthrough_create((struct libmsix_vfio *)kt,
						    kt->k, &pc, &pt), -EINVAL);
	ck_assert_ptr_null(pt);
	ck_assert_ptr_null(libmsix_passthrough_backend(NULL));
	ck_assert_int_eq(libmsix_passthrough_get_stats(NULL, &c), -EINVAL);
	libmsix_passthrough_destroy(NULL);
	kt_free(kt);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Deferred routing                                                          */
/* ------------------------------------------------------------------------ */

static void kt_routing(struct kt *kt, enum libmsix_kvm_routing_mode mode,
		       uint32_t max_routes, uint64_t max_delay_ns)
{
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt),
		.mode = mode,
		.max_routes = max_routes,
		.max_delay_ns = max_delay_ns,
	};

	ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, &rt), 0);
}

START_TEST(test_deferred_bringup_is_one_upload)
{
	struct kt *kt = kt_new(64, LIBMSIX_KVM_F_IRQFD, 64);
	struct libmsix_kvm_vm_stats b;

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	for (uint32_t v = 0; v < 64; v++) {
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
		/* Live at once: the VMM polls its eventfd. */
		ck_assert_int_eq(kt->fallback_fd[v], efd_of(kt, v));
	}
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 64);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.deferred, 64);
	/* Meanwhile served through userspace, with the table's message. */
	fake_kvm_fire(kt->f, efd_of(kt, 7));
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 7), 1);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 7), LIBMSIX_DELIVERED);
	ck_assert_str_eq(kt->f->trace, "S");
	ck_assert_uint_eq(kt->f->last_msi.data, test_data(7));
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 64);
	ck_assert_int_eq(kt->f->trace[0], 'U');
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'U'), 1);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'A'), 64);
	ck_assert_uint_eq(kt->f->trace_len, 65);
	ck_assert_uint_eq(kt->f->nr, 64);
	for (uint32_t v = 0; v < 64; v++)
		ck_assert_int_eq(kt->fallback_fd[v], -1);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 0);
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 7), -EBUSY);
	fake_kvm_fire(kt->f, efd_of(kt, 7));
	ck_assert_uint_eq(kt->f->injected, 1);
	/* Nothing waits: a flush does nothing. */
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	/* Steady state: mask and unmask upload nothing, defer nothing. */
	ck_assert_int_eq(set_vmask(&kt->t, 3, true), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	ck_assert_str_eq(kt->f->trace, "DA");
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	ck_assert_uint_eq(b.uploads, 1);
	ck_assert_uint_eq(b.flushes, 1);
	ck_assert_uint_eq(b.deferred, 0);
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_switch_loses_and_doubles_nothing)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	/* 0: the VMM read it before the flush and notifies after it. */
	fake_kvm_fire(kt->f, efd_of(kt, 0));
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 0), 1);
	/* 1: it sits in the eventfd at the flush: KVM injects it at the
	 * assign and leaves the eventfd readable. */
	fake_kvm_fire(kt->f, efd_of(kt, 1));
	/* 2: written while the flush runs, just before the assign: the same. */
	kt->f->fire_at_assign = efd_of(kt, 2);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 4);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 0), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(kt->f->signals, 1);
	ck_assert_uint_eq(kt->f->injected, 2);
	ck_assert_str_eq(kt->f->trace, "UAAAAS");
	/* The VMM's poller finds nothing more: those are KVM's now. */
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 1), -EBUSY);
	/* Nothing left behind: masking finds no stale count to replay. */
	for (uint32_t v = 0; v < 4; v++) {
		ck_assert_int_eq(set_vmask(&kt->t, v, true), 0);
		ck_assert(!pba_bit(&kt->t, v));
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	}
	ck_assert_uint_eq(kt->f->signals, 1);
	ck_assert_uint_eq(kt->f->injected, 2);
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_affinity_change_waits_for_the_batch)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	int gsi;

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	gsi = libmsix_kvm_vector_gsi(kt->k, 1);
	/* Linux's affinity change: mask, rewrite, unmask. */
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	set_msg(&kt->t, 1, 0xfee0f000, 0x4242);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_str_eq(kt->f->trace, "D");
	ck_assert_int_eq(kt->fallback_fd[1], efd_of(kt, 1));
	fake_kvm_fire(kt->f, efd_of(kt, 1));
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 1), 1);
	ck_assert_int_eq(libmsix_notify(kt->t.dev, 1), LIBMSIX_DELIVERED);
	ck_assert_uint_eq(kt->f->last_msi.data, 0x4242);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	ck_assert_str_eq(kt->f->trace, "DSUA");
	ck_assert_uint_eq(fake_kvm_route(kt->f, (uint32_t)gsi)->u.msi.data, 0x4242);
	/* A rewrite of a live vector inside one transaction: its irqfd goes
	 * until the flush, so no interrupt carries the old message. */
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(libmsix_begin(kt->t.dev), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, true), 0);
	set_msg(&kt->t, 1, 0xfee0e000, 0x4343);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	ck_assert_int_eq(libmsix_commit(kt->t.dev), 0);
	ck_assert_str_eq(kt->f->trace, "D");
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 1);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	ck_assert_str_eq(kt->f->trace, "DUA");
	ck_assert_uint_eq(fake_kvm_route(kt->f, (uint32_t)gsi)->u.msi.data, 0x4343);
	kt_free(kt);
}
END_TEST

/* While a batch waits, a vector whose irqfd KVM already has is left alone
 * by a commit that restages it: its route is in KVM. */
START_TEST(test_deferred_batch_leaves_assigned_vectors_alone)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0); /* waits */
	fake_kvm_clear(kt->f);
	mask_unmask_in_one_commit(kt, 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 1);
	fake_kvm_fire(kt->f, efd_of(kt, 0));
	ck_assert_uint_eq(kt->f->injected, 1);
	/* Masked and unmasked in two accesses: once its irqfd is gone,
	 * libmsix cannot tell its route from the waiting ones, and it waits
	 * for the batch too (no upload either way). */
	ck_assert_int_eq(set_vmask(&kt->t, 0, true), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_str_eq(kt->f->trace, "D");
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 2);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 2);
	ck_assert_str_eq(kt->f->trace, "DUAA");
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_vector_masked_before_the_flush)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 2, true), 0);
	ck_assert_int_eq(kt->fallback_fd[2], -1); /* stop polling */
	ck_assert_uint_eq(kt->f->trace_len, 0);
	fake_kvm_fire(kt->f, efd_of(kt, 2));
	ck_assert(pba_bit(&kt->t, 2));
	/* Nothing live waits; the route is uploaded with the next batch. */
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 2, false), 0);
	ck_assert_str_eq(kt->f->trace, "S"); /* the replay; waits again */
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 1);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	ck_assert_str_eq(kt->f->trace, "SUA");
	ck_assert_uint_eq(kt->f->signals, 1);
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_bounds_flush_by_themselves)
{
	struct kt *kt = kt_new(8, LIBMSIX_KVM_F_IRQFD, 8);
	struct timespec ts = { 0, 3000000 };
	uint64_t deadline;

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 4, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline),
			 -ENOENT);
	for (uint32_t v = 0; v < 3; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline),
			 -ENOENT); /* no time bound */
	ck_assert_int_eq(set_vmask(&kt->t, 3, false), 0);
	ck_assert_str_eq(kt->f->trace, "UAAAA");
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 0);
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_int_eq(kt->fallback_fd[v], -1);

	/* Time: 1 ms after the first deferral, the next library call on the
	 * VM flushes; the VMM's timer uses the deadline. */
	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 1000000);
	fake_kvm_clear(kt->f);
	ck_assert_int_eq(set_vmask(&kt->t, 4, false), 0);
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline), 0);
	nanosleep(&ts, NULL);
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 4), 0);
	ck_assert_str_eq(kt->f->trace, "UA");

	/* Immediate again: what waits is flushed first. */
	ck_assert_int_eq(set_vmask(&kt->t, 5, false), 0);
	ck_assert_str_eq(kt->f->trace, "UA");
	kt_routing(kt, LIBMSIX_KVM_ROUTING_IMMEDIATE, 0, 0);
	ck_assert_str_eq(kt->f->trace, "UAUA");
	ck_assert_int_eq(set_vmask(&kt->t, 6, false), 0);
	ck_assert_str_eq(kt->f->trace, "UAUAUA");
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_bad_input)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct libmsix_kvm_routing rt = {
		.size = sizeof(rt), .mode = LIBMSIX_KVM_ROUTING_DEFERRED,
	};
	uint64_t d;

	ck_assert_int_eq(libmsix_kvm_vm_set_routing(NULL, &rt), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, NULL), -EINVAL);
	rt.size = sizeof(size_t) - 1;
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, &rt), -EINVAL);
	rt.size = sizeof(rt);
	{
		void *g = grown_struct(&rt, sizeof(rt), 8, 1);

		ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, g), -E2BIG);
		free(g);
	}
	rt.mode = (enum libmsix_kvm_routing_mode)7;
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, &rt), -EINVAL);
	rt.mode = LIBMSIX_KVM_ROUTING_DEFERRED;
	rt.max_delay_ns = 10000000001ull;
	ck_assert_int_eq(libmsix_kvm_vm_set_routing(kt->vm, &rt), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_flush(NULL), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(NULL, &d), -EINVAL);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, NULL), -EINVAL);
	/* Nothing changed: still immediate. */
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_str_eq(kt->f->trace, "UA");
	kt_free(kt);
}
END_TEST

START_TEST(test_deferred_flush_failure_keeps_vectors_served)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	ck_assert_int_eq(set_vmask(&kt->t, 1, false), 0);
	kt->f->fail_req = KVM_SET_GSI_ROUTING;
	kt->f->fail_k = 1;
	kt->f->fail_err = -ENOMEM;
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), -ENOMEM);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 2);
	ck_assert_int_eq(kt->fallback_fd[0], efd_of(kt, 0));
	fake_kvm_fire(kt->f, efd_of(kt, 0));
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 0), 1);
	/* One irqfd fails: that vector keeps waiting, the other switches. */
	kt->f->fail_req = KVM_IRQFD;
	kt->f->fail_k = 1;
	kt->f->fail_err = -EINVAL;
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), -EINVAL);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 1);
	ck_assert_int_eq(libmsix_kvm_vm_flush(kt->vm), 1);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 0);
	ck_assert_str_eq(kt->f->trace, "UAA");
	kt_free(kt);
}
END_TEST

/*
 * The race the switch must survive: a producer thread raises one interrupt
 * at a time and waits until it arrives (through KVM or through the VMM), a
 * VMM poller thread consumes and notifies, and the vector's route is
 * rewritten and flushed again and again under them. Every interrupt must
 * arrive, exactly once.
 */
struct race {
	struct kt *kt;
	uint32_t v;
	int efd;
	atomic_bool stop;
	unsigned fires, lost;
};

static unsigned arrived(struct fake_kvm *f)
{
	unsigned n;

	pthread_mutex_lock(&f->mu);
	n = f->signals + f->injected;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The default of a new VM: deferred routing with a time bound of
 * LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS, for devices that have a fallback
 * callback; a device without one uploads at each commit as before; an
 * explicit LIBMSIX_KVM_ROUTING_IMMEDIATE restores one upload per unmask.
 */
START_TEST(test_deferred_is_the_default_with_a_fallback)
{
	const uint64_t bound = LIBMSIX_KVM_ROUTING_DEFAULT_DELAY_NS;
	struct timespec past = { 0, (long)(bound + 1000000) };
	struct kt *kt = kt_create(8, LIBMSIX_KVM_F_IRQFD, 8, true, false);
	struct kt *im;
	struct libmsix_kvm_vm_stats b;
	uint64_t t0, t1, deadline;

	ck_assert(bound >= 1000000 && bound <= 10000000);
	/* A fallback callback and no libmsix_kvm_vm_set_routing() call. */
	linux_bringup(&kt->t);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline),
			 -ENOENT);
	t0 = mono_ns();
	ck_assert_int_eq(set_vmask(&kt->t, 0, false), 0);
	t1 = mono_ns();
	ck_assert_uint_eq(kt->f->trace_len, 0);
	ck_assert_int_eq(kt->fallback_fd[0], efd_of(kt, 0));
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline), 0);
	ck_assert_uint_ge(deadline, t0 + bound);
	ck_assert_uint_le(deadline, t1 + bound);
	for (uint32_t v = 1; v < 8; v++)
		ck_assert_int_eq(set_vmask(&kt->t, v, false), 0);
	t1 = mono_ns();
	if (t1 < deadline) {
		/* The usual case: the whole bring-up within the bound. */
		ck_assert_uint_eq(kt->f->trace_len, 0);
		ck_assert_uint_eq(kcnt(kt).deferred_vectors, 8);
		for (uint32_t v = 0; v < 8; v++)
			ck_assert_int_eq(kt->fallback_fd[v], efd_of(kt, v));
	} else {
		/* A stalled machine: a commit past the deadline flushed;
		 * still at most one upload per bound of bring-up time. */
		ck_assert_uint_le(fake_kvm_count(kt->f, 'U'),
				  1 + (t1 - t0) / bound);
	}
	/* The guest goes quiet; the VMM never flushes. The first consume
	 * past the deadline flushes the batch. */
	nanosleep(&past, NULL);
	ck_assert_int_eq(libmsix_kvm_consume(kt->k, 0), 0);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 0);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(kt->fallback_fd[v], -1);
	ck_assert_uint_eq(fake_kvm_count(kt->f, 'A'), 8);
	ck_assert_uint_eq(kt->f->nr, 8);
	ck_assert_int_eq(libmsix_kvm_vm_get_stats(kt->vm, &b), 0);
	if (t1 < deadline) {
		ck_assert_uint_eq(fake_kvm_count(kt->f, 'U'), 1);
		ck_assert_uint_eq(b.uploads, 1);
		ck_assert_uint_eq(b.flushes, 1);
	}
	ck_assert_uint_eq(b.deferred, 0);
	ck_assert_int_eq(libmsix_kvm_vm_flush_deadline(kt->vm, &deadline),
			 -ENOENT);
	kt_free(kt);

	/* No fallback callback: nobody would serve the eventfds, so the
	 * device stays immediate: an upload and an assign per unmask. */
	for (int explicit_immediate = 0; explicit_immediate < 2;
	     explicit_immediate++) {
		/* Then immediate set explicitly: today's behaviour with a
		 * fallback callback. */
		im = kt_create(8, LIBMSIX_KVM_F_IRQFD, 8, explicit_immediate,
			       explicit_immediate);
		linux_bringup(&im->t);
		for (uint32_t v = 0; v < 8; v++)
			ck_assert_int_eq(set_vmask(&im->t, v, false), 0);
		ck_assert_str_eq(im->f->trace, "UAUAUAUAUAUAUAUA");
		ck_assert_uint_eq(im->fallback_calls, 0);
		ck_assert_uint_eq(kcnt(im).deferred_vectors, 0);
		ck_assert_int_eq(libmsix_kvm_vm_flush(im->vm), 0);
		ck_assert_uint_eq(im->f->trace_len, 16);
		ck_assert_int_eq(libmsix_kvm_vm_get_stats(im->vm, &b), 0);
		ck_assert_uint_eq(b.uploads, 8);
		ck_assert_uint_eq(b.deferred, 0);
		kt_free(im);
	}
}
END_TEST

static void *race_producer(void *arg)
{
	struct race *r = arg;
	struct timespec pause = { 0, 20000 };

	while (!atomic_load(&r->stop)) {
		unsigned before = arrived(r->kt->f);
		uint64_t give_up = mono_ns() + 500000000u;

		fake_kvm_fire(r->kt->f, r->efd);
		r->fires++;
		while (arrived(r->kt->f) == before && mono_ns() < give_up)
			nanosleep(&pause, NULL);
		if (arrived(r->kt->f) == before) {
			r->lost++; /* half a second: it is not coming */
			break;
		}
	}
	return NULL;
}

static void *race_poller(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		if (libmsix_kvm_consume(r->kt->k, r->v) == 1)
			ck_assert_int_ge(libmsix_notify(r->kt->t.dev, r->v), 0);
		sched_yield();
	}
	return NULL;
}

START_TEST(test_deferred_switch_race)
{
	struct kt *kt = kt_new(4, LIBMSIX_KVM_F_IRQFD, 4);
	struct race r = { .kt = kt, .v = 2 };
	pthread_t prod, poll;
	unsigned iters = getenv("LIBMSIX_UNDER_VALGRIND") ? 20 : 200;

	kt_routing(kt, LIBMSIX_KVM_ROUTING_DEFERRED, 0, 0);
	linux_bringup(&kt->t);
	ck_assert_int_eq(set_vmask(&kt->t, r.v, false), 0);
	r.efd = efd_of(kt, r.v);
	ck_assert_int_eq(pthread_create(&prod, NULL, race_producer, &r), 0);
	ck_assert_int_eq(pthread_create(&poll, NULL, race_poller, &r), 0);
	for (unsigned i = 0; i < iters; i++) {
		struct timespec d = { 0, (long)(i % 7) * 30000 };

		/* An affinity change: the vector waits for the batch. */
		ck_assert_int_eq(set_vmask(&kt->t, r.v, true), 0);
		set_msg(&kt->t, r.v, test_addr(i), test_data(i));
		ck_assert_int_eq(set_vmask(&kt->t, r.v, false), 0);
		nanosleep(&d, NULL);
		ck_assert_int_ge(libmsix_kvm_vm_flush(kt->vm), 0);
		nanosleep(&d, NULL);
	}
	atomic_store(&r.stop, true);
	pthread_join(prod, NULL);
	pthread_join(poll, NULL);
	ck_assert_uint_eq(r.lost, 0);
	ck_assert_uint_gt(r.fires, iters / 2);
	/* Exactly once: the producer waited for each one. */
	ck_assert_uint_eq(arrived(kt->f), r.fires);
	ck_assert_uint_eq(kcnt(kt).deferred_vectors, 0);
	kt_free(kt);
}
END_TEST

static Suite *kvm_suite(void)
{
	Suite *s = suite_create("kvm");
	TCase *tc = tcase_create("kvm");

	tcase_add_test(tc, test_vm_create_reads_capacity);
	tcase_add_test(tc, test_vm_create_rejects_bad_config);
	tcase_add_test(tc, test_vm_without_irqchip_fails_early);
	tcase_add_test(tc, test_vm_without_irqchip_real_kvm);
	tcase_add_test(tc, test_eventfd_get_follows_replacements);
	tcase_add_test(tc, test_einval_is_logged);
	tcase_add_test(tc, test_vm_max_routes_limits_capacity);
	tcase_add_test(tc, test_vm_routes_of_vmm_kept_in_every_upload);
	tcase_add_test(tc, test_create_budget_zero_rejected);
	tcase_add_test(tc, test_create_reserve_beyond_table_enospc);
	tcase_add_test(tc, test_table_full_of_vmm_routes_enospc);
	tcase_add_test(tc, test_vm_destroy_with_devices_refused);
	tcase_add_test(tc, test_unmask_uploads_then_assigns);
	tcase_add_test(tc, test_burst_is_one_upload);
	tcase_add_test(tc, test_mask_cycle_costs_two_irqfd_ops);
	tcase_add_test(tc, test_new_message_reuploads_at_unmask);
	tcase_add_test(tc, test_disable_deassigns_before_route_goes);
	tcase_add_test(tc, test_no_kvm_work_when_nothing_changed);
	tcase_add_test(tc, test_masked_interrupt_shows_in_pba_and_replays_once);
	tcase_add_test(tc, test_masked_interrupt_drained_before_assign);
	tcase_add_test(tc, test_notify_uses_signal_msi_with_table_message);
	tcase_add_test(tc, test_emulated_device_needs_no_gsi);
	tcase_add_test(tc, test_upload_failure_rolls_back);
	tcase_add_test(tc, test_assign_failure_undoes_upload_and_assigns);
	tcase_add_test(tc, test_deassign_failure_keeps_vector_live);
	tcase_add_test(tc, test_out_of_range_gsi_rejected_by_kvm);
	tcase_add_test(tc, test_reserve_is_the_limit_without_force);
	tcase_add_test(tc, test_force_exhaustion_faults_then_retry);
	tcase_add_test(tc, test_fallback_goes_live_with_userspace_injection);
	tcase_add_test(tc, test_two_devices_share_one_table);
	tcase_add_test(tc, test_destroy_cleans_up_after_failed_release);
	tcase_add_test(tc, test_budget_reports_demand_versus_reserve);
	tcase_add_test(tc, test_eventfd_failure_rolls_back);
	tcase_add_test(tc, test_passthrough_create_rejects_bad_input);
	tcase_add_test(tc, test_deferred_bringup_is_one_upload);
	tcase_add_test(tc, test_deferred_switch_loses_and_doubles_nothing);
	tcase_add_test(tc, test_deferred_affinity_change_waits_for_the_batch);
	tcase_add_test(tc, test_deferred_vector_masked_before_the_flush);
	tcase_add_test(tc, test_deferred_batch_leaves_assigned_vectors_alone);
	tcase_add_test(tc, test_deferred_bounds_flush_by_themselves);
	tcase_add_test(tc, test_deferred_bad_input);
	tcase_add_test(tc, test_deferred_is_the_default_with_a_fallback);
	tcase_add_test(tc, test_deferred_flush_failure_keeps_vectors_served);
	tcase_add_test(tc, test_deferred_switch_race);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(kvm_suite());
}
