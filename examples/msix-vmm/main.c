// SPDX-License-Identifier: MIT
/*
 * msix-vmm: boots an unmodified Linux bzImage on KVM with virtio-pci devices
 * (virtio-blk, multi-queue, file-backed; virtio-rng) whose MSI-X is libmsix.
 *
 *   msix-vmm --kernel BZIMAGE [--initrd FILE] [--append CMDLINE]
 *            [--cpus 1-16] [--mem MIB] [--disk FILE] [--queues 1-16]
 *            [--delivery emulated|irqfd] [--route-budget N]
 *            [--policy auto|lazy|preallocate|incremental]
 *            [--routing immediate|deferred]
 *            [--snapshot-every MS] [--trace FILE] [--timeout SECS] [-v]
 *
 * The guest ends the run by writing its result (0 = pass) to port 0xf4 and
 * then resetting (reboot=t: a triple fault, KVM_EXIT_SHUTDOWN). Exit status:
 * 0 the guest reported 0 and shut down; 1 anything else (the reason is
 * printed); 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "vmm.h"

#define RESULT_PORT 0xf4
#define COM1 0x3f8
#define COM1_IRQ 4

static struct vmm the_vm;

void vmm_fail(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "msix-vmm: FAIL: %s\n", buf);
	if (!vm->failure[0])
		snprintf(vm->failure, sizeof(vm->failure), "%s", buf);
	atomic_store(&vm->done, true);
}

void vmm_log(void *opaque, int level, const char *msg)
{
	struct vmm *vm = opaque;

	if (level <= LOG_WARNING || vm->verbose)
		fprintf(stderr, "msix-vmm: libmsix: %s\n", msg);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ serial */

/* COM1, an 8250/16550A as far as the Linux 8250 driver looks: THR, IER,
 * IIR/FCR, LCR, MCR (with loopback), LSR, MSR, SCR and the divisor latch.
 * Transmit is immediate, so THR is always empty; the THR-empty interrupt
 * goes to IRQ 4 of KVM's IOAPIC as an edge. Nothing is ever received. */
static void uart_update_irq(struct vmm *vm)
{
	bool level = (vm->ier & 0x02) && vm->thre_pending;

	if (level != vm->irq_level) {
		struct kvm_irq_level l = { .irq = COM1_IRQ, .level = level };

		vm->irq_level = level;
		ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
	}
}

static void uart_io(struct vmm *vm, uint16_t port, bool wr, uint8_t *val)
{
	unsigned reg = port - COM1;
	bool dlab = vm->lcr & 0x80;

	pthread_mutex_lock(&vm->uart_lock);
	if (wr) {
		uint8_t v = *val;
		switch (reg) {
		case 0:
			if (dlab) {
				vm->dll = v;
			} else {
				if (!(vm->mcr & 0x10))
					(void)!write(STDOUT_FILENO, &v, 1);
				vm->thre_pending = true;
			}
			break;
		case 1:
			if (dlab) {
				vm->dlm = v;
			} else {
				if ((v & 0x02) && !(vm->ier & 0x02))
					vm->thre_pending = true;
				vm->ier = v & 0x0f;
			}
			break;
		case 2: vm->fcr = v; break;
		case 3: vm->lcr = v; break;
		case 4: vm->mcr = v & 0x1f; break;
		case 7: vm->scr = v; break;
		}
	} else {
		uint8_t v = 0;
		switch (reg) {
		case 0: v = dlab ? vm->dll : 0; break;
		case 1: v = dlab ? vm->dlm : vm->ier; break;
		case 2:
			if ((vm->ier & 0x02) && vm->thre_pending) {
				v = 0x02;
				vm->thre_pending = false;
			} else {
				v = 0x01;
			}
			if (vm->fcr & 0x01)
				v |= 0xc0;
			break;
		case 3: v = vm->lcr; break;
		case 4: v = vm->mcr; break;
		case 5: v = 0x60; break; /* THRE | TEMT */
		case 6:
			if (vm->mcr & 0x10) /* loopback: outputs to inputs */
				v = (uint8_t)(((vm->mcr & 0x02) << 3) |
					      ((vm->mcr & 0x01) << 5) |
					      ((vm->mcr & 0x04) << 4) |
					      ((vm->mcr & 0x08) << 4));
			else
				v = 0xb0; /* DCD, DSR, CTS */
			break;
		case 7: v = vm->scr; break;
		}
		*val = v;
	}
	uart_update_irq(vm);
	pthread_mutex_unlock(&vm->uart_lock);
}

/* ------------------------------------------------------------- exits */

static void pio(struct vmm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint16_t port = run->io.port;
	uint32_t size = run->io.size;

	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint32_t v = 0;

		if (port >= COM1 && port < COM1 + 8 && size == 1) {
			uart_io(vm, port, write, data);
			continue;
		}
		if (write)
			memcpy(&v, data, size);
		if (pci_pio(vm, port, write, size, &v)) {
			if (!write)
				memcpy(data, &v, size);
			continue;
		}
		if (write && port == RESULT_PORT) {
			atomic_store(&vm->result, data[0]);
			fprintf(stderr, "msix-vmm: guest result %u\n", data[0]);
			continue;
		}
		if (!write)
			memset(data, port == 0x71 ? 0 : 0xff, size);
	}
}

static void vcpu_park(struct vmm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_req) {
		vm->paused++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (vm->pause_req)
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->paused--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_main(void *arg)
{
	struct vmm *vm = &the_vm;
	int id = (int)(intptr_t)arg;
	int fd = vm->vcpu_fd[id];
	struct kvm_run *run = vm->run[id];

	while (!atomic_load(&vm->done)) {
		vcpu_park(vm);
		run->immediate_exit = 0;
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vmm_fail(vm, "vCPU %d: KVM_RUN: %s", id,
				 strerror(errno));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			pio(vm, run);
			break;
		case KVM_EXIT_MMIO: {
			uint64_t v = 0;
			uint32_t len = run->mmio.len;

			if (run->mmio.is_write)
				memcpy(&v, run->mmio.data, len);
			if (!pci_mmio(vm, run->mmio.phys_addr,
				      run->mmio.is_write, len, &v))
				v = ~0ull; /* nothing there: reads all ones */
			if (!run->mmio.is_write)
				memcpy(run->mmio.data, &v, len);
			break;
		}
		case KVM_EXIT_SHUTDOWN:
		case KVM_EXIT_SYSTEM_EVENT:
			atomic_store(&vm->shutdown, true);
			atomic_store(&vm->done, true);
			break;
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			vmm_fail(vm, "vCPU %d: unexpected exit %u", id,
				 run->exit_reason);
			break;
		}
	}
	/* The main thread kicks the others out of KVM_RUN; a thread must not
	 * signal its siblings here: main may have joined them already. */
	atomic_fetch_sub(&vm->vcpus_running, 1);
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

/* Stop every vCPU between two exits (none inside a device access). */
static void vcpus_pause(struct vmm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = true;
	for (int i = 0; i < vm->ncpus; i++)
		vm->run[i]->immediate_exit = 1;
	for (int i = 0; i < vm->ncpus; i++)
		pthread_kill(vm->vcpu_thread[i], SIGUSR1);
	while (vm->paused < vm->ncpus && !atomic_load(&vm->done)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &ts);
		for (int i = 0; i < vm->ncpus; i++)
			pthread_kill(vm->vcpu_thread[i], SIGUSR1);
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vcpus_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Fold the counters of a device about to be replaced into its totals;
 * the gauges (host vectors and GSIs held now) are the new device's. */
static void counters_add(struct virtio_dev *vd)
{
	struct libmsix_stats c;
	struct libmsix_kvm_stats k;

	libmsix_get_stats(vd->msix, &c);
	libmsix_kvm_get_stats(vd->kvm, &k);
	uint64_t *a = (uint64_t *)&vd->old_cnt, *b = (uint64_t *)&c;
	for (size_t i = 0; i < sizeof(c) / sizeof(uint64_t); i++)
		a[i] += b[i];
	a = (uint64_t *)&vd->old_kvm;
	b = (uint64_t *)&k;
	for (size_t i = 0; i < sizeof(k) / sizeof(uint64_t); i++)
		a[i] += b[i];
}

/*
 * Snapshot in a running guest: vCPUs parked, every device's MSI-X state
 * saved, the libmsix device and its KVM backend destroyed and created anew,
 * the state loaded, vCPUs resumed. The I/O threads keep running: they wait
 * on msix_lock for the moment of the swap.
 */
static int snapshot(struct vmm *vm)
{
	int err = 0;

	vcpus_pause(vm);
	if (atomic_load(&vm->done)) {
		vcpus_resume(vm);
		return 0;
	}
	for (int i = 0; i < vm->ndev && !err; i++) {
		struct virtio_dev *vd = vm->dev[i];

		pthread_rwlock_wrlock(&vd->msix_lock);
		size_t sz = libmsix_save_size(vd->msix);
		void *blob = malloc(sz);
		long n = blob ? libmsix_save(vd->msix, blob, sz) : -ENOMEM;
		trace_snapshot(vm, vd->trace_id, "save");
		if (n < 0) {
			err = (int)n;
		} else {
			bool enabled = libmsix_enabled(vd->msix);

			counters_add(vd);
			virtio_msix_destroy(vd);
			err = virtio_msix_create(vd);
			if (!err) {
				struct libmsix_kvm_stats before, after;

				libmsix_kvm_get_stats(vd->kvm, &before);
				err = libmsix_load(vd->msix, blob, (size_t)n);
				trace_snapshot(vm, vd->trace_id, "load");
				libmsix_kvm_get_stats(vd->kvm, &after);
				uint64_t up = after.route_uploads -
					      before.route_uploads;
				if (enabled) {
					vm->restores++;
					vm->restore_uploads += up;
					if (up > vm->restore_uploads_max)
						vm->restore_uploads_max = up;
				}
			}
		}
		free(blob);
		pthread_rwlock_unlock(&vd->msix_lock);
	}
	vm->snapshots++;
	vcpus_resume(vm);
	return err;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fputs("usage: msix-vmm --kernel BZIMAGE [--initrd FILE] [--append CMDLINE]\n"
	      "                [--cpus 1-16] [--mem MIB] [--disk FILE] [--queues 1-16]\n"
	      "                [--delivery emulated|irqfd] [--route-budget N]\n"
	      "                [--policy auto|lazy|preallocate|incremental]\n"
	      "                [--routing immediate|deferred]\n"
	      "                [--snapshot-every MS] [--trace FILE] [--timeout SECS] [-v]\n",
	      f);
}

static long num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*s == '\0' || *end || v < lo || v > hi) {
		fprintf(stderr, "msix-vmm: %s must be %ld..%ld\n", opt, lo, hi);
		exit(2);
	}
	return v;
}

static void print_counters(struct vmm *vm)
{
	for (int i = 0; i < vm->ndev; i++) {
		struct virtio_dev *vd = vm->dev[i];
		struct libmsix_stats c;
		struct libmsix_kvm_stats k;

		libmsix_get_stats(vd->msix, &c);
		libmsix_kvm_get_stats(vd->kvm, &k);
		uint64_t *a = (uint64_t *)&c, *b = (uint64_t *)&vd->old_cnt;
		for (size_t j = 0; j < sizeof(c) / sizeof(uint64_t); j++)
			a[j] += b[j];
		c.host_vectors -= vd->old_cnt.host_vectors;
		c.host_vectors_peak -= vd->old_cnt.host_vectors_peak;
		a = (uint64_t *)&k;
		b = (uint64_t *)&vd->old_kvm;
		for (size_t j = 0; j < sizeof(k) / sizeof(uint64_t); j++)
			a[j] += b[j];
		k.gsis -= vd->old_kvm.gsis;
		k.fallback_vectors -= vd->old_kvm.fallback_vectors;
		k.deferred_vectors -= vd->old_kvm.deferred_vectors;
		fprintf(stderr,
			"msix-vmm: %s libmsix: notified %" PRIu64
			" delivered %" PRIu64 " latched %" PRIu64
			" replayed %" PRIu64 " dropped %" PRIu64
			" be_alloc %" PRIu64 " be_release %" PRIu64
			" be_route %" PRIu64 " be_unroute %" PRIu64
			" be_mask %" PRIu64 " be_unmask %" PRIu64
			" be_commit %" PRIu64 " be_errors %" PRIu64
			" faults %" PRIu64 " bad_accesses %" PRIu64 "\n",
			vd->name, c.notified, c.delivered, c.latched,
			c.replayed, c.dropped, c.be_alloc, c.be_release,
			c.be_route, c.be_unroute, c.be_mask, c.be_unmask,
			c.be_commit, c.be_errors, c.faults, c.bad_accesses);
		fprintf(stderr,
			"msix-vmm: %s kvm: route_uploads %" PRIu64
			" irqfd_assign %" PRIu64 " irqfd_deassign %" PRIu64
			" signal_msi %" PRIu64 " caught %" PRIu64
			" gsis %" PRIu64 " exhausted %" PRIu64
			" errors %" PRIu64 " use_refused %u\n",
			vd->name, k.route_uploads, k.irqfd_assign,
			k.irqfd_deassign, k.signal_msi, k.caught, k.gsis,
			k.exhausted, k.errors, vd->use_refused);
		uint64_t irqs = 0, reqs = 0;
		for (int q = 0; q < vd->nr_queues; q++) {
			irqs += atomic_load(&vd->q[q].interrupts);
			reqs += atomic_load(&vd->q[q].requests);
		}
		fprintf(stderr,
			"msix-vmm: %s queues: requests %" PRIu64
			" interrupts %" PRIu64 "\n",
			vd->name, reqs, irqs);
	}
	struct libmsix_kvm_vm_stats vs;
	if (libmsix_kvm_vm_get_stats(vm->kvm_vm, &vs) == 0)
		fprintf(stderr,
			"msix-vmm: VM routes: uploads %" PRIu64 " flushes %" PRIu64
			" fallbacks %" PRIu64 " peak GSIs %u\n",
			vs.uploads, vs.flushes, vs.fallbacks, vs.peak);
	if (vm->snapshots)
		fprintf(stderr,
			"msix-vmm: snapshots %" PRIu64 ": %" PRIu64
			" device restores with MSI-X enabled made %" PRIu64
			" route uploads (at most %" PRIu64 " for one)\n",
			vm->snapshots, vm->restores, vm->restore_uploads,
			vm->restore_uploads_max);
}

static int setup_cpuid(struct vmm *vm, int fd, int id)
{
	int n = 128;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	if (!c)
		return -ENOMEM;
	c->nent = (uint32_t)n;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return -errno;
	}
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)id << 24);
			e->ecx |= 1u << 31; /* hypervisor */
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = (uint32_t)id;
		} else if (e->function == 0xd && e->index == 1) {
			/* No compacted XSAVE: under nested KVM its size in
			 * 0xD.1 EBX does not match what Linux enables and
			 * it WARNs ("XSAVE consistency problem"). */
			e->eax &= ~((1u << 1) | (1u << 3)); /* XSAVEC, XSAVES */
		}
	}
	int r = ioctl(fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return r;
}

int main(int argc, char **argv)
{
	struct vmm *vm = &the_vm;
	const char *kernel = NULL, *initrd = NULL, *append = "", *disk = NULL,
		   *trace = NULL;
	long mem_mib = 256, queues = 1, snap_ms = 0, timeout_s = 300;
	char cmdline[2048];

	vm->ncpus = 1;
	vm->policy = LIBMSIX_POLICY_AUTO;
	atomic_store(&vm->result, -1);

	static const struct option opts[] = {
		{ "kernel", 1, 0, 'k' },	{ "initrd", 1, 0, 'i' },
		{ "append", 1, 0, 'a' },	{ "cpus", 1, 0, 'c' },
		{ "mem", 1, 0, 'm' },		{ "disk", 1, 0, 'd' },
		{ "queues", 1, 0, 'q' },	{ "delivery", 1, 0, 'D' },
		{ "route-budget", 1, 0, 'b' },	{ "policy", 1, 0, 'p' },
		{ "snapshot-every", 1, 0, 's' }, { "trace", 1, 0, 't' },
		{ "timeout", 1, 0, 'T' },	{ "verbose", 0, 0, 'v' },
		{ "routing", 1, 0, 'R' },
		{ "help", 0, 0, 'h' },		{ 0, 0, 0, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'a': append = optarg; break;
		case 'c': vm->ncpus = (int)num("--cpus", optarg, 1, VMM_MAX_CPUS); break;
		case 'm': mem_mib = num("--mem", optarg, 64, 3072); break;
		case 'd': disk = optarg; break;
		case 'q': queues = num("--queues", optarg, 1, VMM_MAX_QUEUES); break;
		case 'D':
			if (!strcmp(optarg, "emulated"))
				vm->delivery = DELIVERY_EMULATED;
			else if (!strcmp(optarg, "irqfd"))
				vm->delivery = DELIVERY_IRQFD;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'b': vm->route_budget = (uint32_t)num("--route-budget", optarg, 1, 4000); break;
		case 'p': {
			int found = 0;
			for (int p = 0; p <= LIBMSIX_POLICY_INCREMENTAL; p++)
				if (!strcmp(optarg, libmsix_policy_name(p))) {
					vm->policy = p;
					found = 1;
				}
			if (!found) {
				usage(stderr);
				return 2;
			}
			break;
		}
		case 's': snap_ms = num("--snapshot-every", optarg, 1, 3600000); break;
		case 't': trace = optarg; break;
		case 'T': timeout_s = num("--timeout", optarg, 1, 86400); break;
		case 'v': vm->verbose++; break;
		case 'R':
			if (!strcmp(optarg, "deferred"))
				vm->deferred = true;
			else if (strcmp(optarg, "immediate")) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!kernel || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (vm->deferred && vm->delivery != DELIVERY_IRQFD) {
		fprintf(stderr, "msix-vmm: --routing deferred needs --delivery irqfd\n");
		return 2;
	}
	if (vm->route_budget && vm->delivery != DELIVERY_IRQFD) {
		fprintf(stderr, "msix-vmm: --route-budget needs --delivery irqfd "
				"(emulated delivery uses no routes)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	sigaction(SIGUSR1, &sa, NULL);
	pthread_mutex_init(&vm->uart_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);

	double t0 = now();
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		perror("msix-vmm: /dev/kvm");
		return 1;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		perror("msix-vmm: KVM_CREATE_VM");
		return 1;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR,
		  &(uint64_t){ 0xfffbc000ull }) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		perror("msix-vmm: irqchip setup");
		return 1;
	}
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		perror("msix-vmm: KVM_CREATE_PIT2");
		return 1;
	}
	vm->mem_size = (uint64_t)mem_mib << 20;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		perror("msix-vmm: mmap");
		return 1;
	}
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem_size,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		perror("msix-vmm: KVM_SET_USER_MEMORY_REGION");
		return 1;
	}

	/* The VM's route table, shared by the devices (libmsix-kvm.h). */
	struct libmsix_kvm_vm_config vcfg = {
		.size = sizeof(vcfg),
		.flags = LIBMSIX_KVM_VM_X86_IRQCHIP,
		.vm_fd = vm->vm_fd,
		.log = vmm_log,
		.opaque = vm,
	};
	int r = libmsix_kvm_vm_create(&vcfg, &vm->kvm_vm);
	if (r < 0) {
		fprintf(stderr, "msix-vmm: libmsix_kvm_vm_create: %s\n",
			strerror(-r));
		return 1;
	}
	if (trace && trace_open(vm, trace) < 0)
		return 1;
	/* Deferred routing: new routes wait for a flush of the main loop (or
	 * 2 ms at most); meanwhile their vectors go through the VMM.
	 * Immediate is set explicitly: a new VM defers for every device with
	 * a fallback callback, and only --routing deferred runs the thread
	 * that serves those eventfds. */
	vm->fallback_kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	{
		struct libmsix_kvm_routing rt = {
			.size = sizeof(rt),
			.mode = vm->deferred ? LIBMSIX_KVM_ROUTING_DEFERRED :
					       LIBMSIX_KVM_ROUTING_IMMEDIATE,
			.max_delay_ns = vm->deferred ? 2000000 : 0,
		};
		r = libmsix_kvm_vm_set_routing(vm->kvm_vm, &rt);
		if (r < 0) {
			fprintf(stderr, "msix-vmm: %s routing: %s\n",
				vm->deferred ? "deferred" : "immediate",
				strerror(-r));
			return 1;
		}
	}

	pci_init(vm);
	if (disk) {
		vm->dev[vm->ndev] = blk_create(vm, disk, (uint16_t)queues);
		if (!vm->dev[vm->ndev])
			return 1;
		vm->ndev++;
	}
	vm->dev[vm->ndev] = rng_create(vm);
	if (!vm->dev[vm->ndev])
		return 1;
	vm->ndev++;

	snprintf(cmdline, sizeof(cmdline),
		 "console=ttyS0 reboot=t panic=-1 no_timer_check pci=conf1,lastbus=0 "
		 "tsc=reliable %s",
		 append);
	struct boot_entry entry;
	if (boot_load(vm, kernel, initrd, cmdline, &entry) < 0)
		return 1;

	size_t run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (int i = 0; i < vm->ncpus; i++) {
		int fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (fd < 0) {
			perror("msix-vmm: KVM_CREATE_VCPU");
			return 1;
		}
		vm->vcpu_fd[i] = fd;
		vm->run[i] = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
				  MAP_SHARED, fd, 0);
		if (vm->run[i] == MAP_FAILED) {
			perror("msix-vmm: mmap kvm_run");
			return 1;
		}
		r = setup_cpuid(vm, fd, i);
		if (!r && i == 0)
			r = boot_vcpu(vm, fd, &entry);
		if (r < 0) {
			fprintf(stderr, "msix-vmm: vCPU %d setup: %s\n", i,
				strerror(-r));
			return 1;
		}
	}
	for (int i = 0; i < vm->ndev; i++)
		virtio_start(vm->dev[i]);
	fprintf(stderr, "msix-vmm: %d vCPUs, %ld MiB, %s delivery, setup %.3f s\n",
		vm->ncpus, mem_mib,
		vm->delivery == DELIVERY_IRQFD ? "irqfd" : "emulated",
		now() - t0);
	if (vm->deferred)
		pthread_create(&vm->fallback_thread, NULL,
			       virtio_fallback_main, vm);
	atomic_store(&vm->vcpus_running, vm->ncpus);
	for (int i = 0; i < vm->ncpus; i++)
		pthread_create(&vm->vcpu_thread[i], NULL, vcpu_main,
			       (void *)(intptr_t)i);

	double deadline = now() + (double)timeout_s;
	double next_snap = snap_ms ? now() + (double)snap_ms / 1000 : 0;
	while (!atomic_load(&vm->done)) {
		usleep(10000);
		if (now() > deadline) {
			vmm_fail(vm, "timeout: the guest did not finish in %ld s",
				 timeout_s);
			for (int i = 0; i < vm->ndev; i++)
				virtio_dump(vm->dev[i]);
			break;
		}
		if (vm->deferred)
			libmsix_kvm_vm_flush(vm->kvm_vm);
		if (next_snap && now() >= next_snap) {
			r = snapshot(vm);
			if (r < 0)
				vmm_fail(vm, "snapshot: %s", strerror(-r));
			next_snap = now() + (double)snap_ms / 1000;
		}
	}
	/* Kick until every vCPU thread has left its loop (a kick that lands
	 * just before KVM_RUN is lost; immediate_exit catches most), then
	 * join: no thread is signalled after it was joined. */
	while (atomic_load(&vm->vcpus_running) > 0) {
		for (int i = 0; i < vm->ncpus; i++) {
			vm->run[i]->immediate_exit = 1;
			pthread_kill(vm->vcpu_thread[i], SIGUSR1);
		}
		usleep(1000);
	}
	for (int i = 0; i < vm->ncpus; i++)
		pthread_join(vm->vcpu_thread[i], NULL);
	for (int i = 0; i < vm->ndev; i++)
		virtio_stop(vm->dev[i]);
	if (vm->deferred)
		pthread_join(vm->fallback_thread, NULL);
	double elapsed = now() - t0;
	print_counters(vm);
	trace_close(vm);

	int res = atomic_load(&vm->result);
	int rc = 0;
	if (vm->failure[0]) {
		rc = 1;
	} else if (res != 0) {
		fprintf(stderr, "msix-vmm: FAIL: the guest reported %s\n",
			res < 0 ? "no result" : "failure");
		rc = 1;
	} else if (!atomic_load(&vm->shutdown)) {
		fprintf(stderr, "msix-vmm: FAIL: the guest did not shut down\n");
		rc = 1;
	}
	for (int i = 0; i < vm->ndev; i++)
		virtio_msix_destroy(vm->dev[i]);
	/* -EBUSY while a device still uses the route table: a VMM bug. */
	int derr = libmsix_kvm_vm_destroy(vm->kvm_vm);
	if (derr) {
		fprintf(stderr, "msix-vmm: FAIL: libmsix_kvm_vm_destroy: %s\n",
			strerror(-derr));
		rc = 1;
	}
	fprintf(stderr, "msix-vmm: %s after %.1f s\n", rc ? "FAIL" : "PASS",
		elapsed);
	return rc;
}
