/* SPDX-License-Identifier: MIT */
/*
 * The tiny nested VM of the guest tests (see kvmvm.h).
 *
 * Guest physical memory, 1 MiB at 0:
 *   0x1000 GDT: null, flat 32-bit code (0x08), flat data (0x10)
 *   0x2000 IDT: 256 interrupt gates; 0-31 -> exc, 0xff -> spurious, else irq
 *   0x3000 the code below
 *   0x80000 top of the stack
 * The APIC page (0xfee00000) is not memory: the in-kernel LAPIC handles it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "kvmvm.h"

int kvmvm_failures;

#define GDT_GPA 0x1000u
#define IDT_GPA 0x2000u
#define CODE_GPA 0x3000u
#define STACK_TOP 0x80000u
#define MEM_SIZE 0x100000u

/* What the guest writes to REPORT_PORT besides a vector 0..255. */
#define REPORT_PORT 0x500
#define REPORT_READY 0x10000u
#define REPORT_NO_ISR 0x10001u
#define REPORT_EXCEPTION 0x10002u

/*
 * The guest program, 32-bit code assembled into this (64-bit) binary. Only
 * relative jumps and absolute addresses below 4 GiB: it runs wherever it is
 * copied, as long as the IDT points at the right offsets.
 */
__asm__(".pushsection .rodata\n"
	".code32\n"
	".globl kvmvm_guest_code, kvmvm_guest_irq, kvmvm_guest_exc\n"
	".globl kvmvm_guest_spurious, kvmvm_guest_end\n"
	"kvmvm_guest_code:\n"
	/* SVR: APIC software enable (bit 8), spurious vector 0xff. */
	"	movl $0x1ff, 0xfee000f0\n"
	"	movl $0, 0xfee00080\n" /* TPR 0: accept every class */
	"	movw $0x500, %dx\n"
	"	movl $0x10000, %eax\n"
	"	outl %eax, %dx\n"
	"1:	sti\n"
	"	hlt\n"
	"	jmp 1b\n"
	/* An interrupt: the highest bit set in ISR (0x100..0x170) is the
	 * vector being serviced. */
	"kvmvm_guest_irq:\n"
	"	pushl %eax\n"
	"	pushl %ecx\n"
	"	pushl %edx\n"
	"	movl $0xfee00170, %ecx\n"
	"2:	movl (%ecx), %eax\n"
	"	testl %eax, %eax\n"
	"	jnz 3f\n"
	"	subl $0x10, %ecx\n"
	"	cmpl $0xfee000f0, %ecx\n"
	"	jne 2b\n"
	"	movl $0x10001, %eax\n"
	"	jmp 4f\n"
	"3:	bsrl %eax, %eax\n"
	"	subl $0xfee00100, %ecx\n"
	"	shll $1, %ecx\n" /* register i sits at 0x10 * i: vectors 32 * i */
	"	addl %ecx, %eax\n"
	"4:	movw $0x500, %dx\n"
	"	outl %eax, %dx\n"
	"	movl $0, 0xfee000b0\n" /* EOI */
	"	popl %edx\n"
	"	popl %ecx\n"
	"	popl %eax\n"
	"	iret\n"
	/* An exception: say so and stop. */
	"kvmvm_guest_exc:\n"
	"	movw $0x500, %dx\n"
	"	movl $0x10002, %eax\n"
	"	outl %eax, %dx\n"
	"	cli\n"
	"5:	hlt\n"
	"	jmp 5b\n"
	/* A spurious interrupt has no ISR bit and takes no EOI. */
	"kvmvm_guest_spurious:\n"
	"	iret\n"
	"kvmvm_guest_end:\n"
	".code64\n"
	".popsection\n");

extern const char kvmvm_guest_code[], kvmvm_guest_irq[], kvmvm_guest_exc[];
extern const char kvmvm_guest_spurious[], kvmvm_guest_end[];

static int fail(struct kvmvm *vm, const char *what)
{
	int err = errno;

	snprintf(vm->error, sizeof(vm->error), "%s: %s", what, strerror(err));
	return -err;
}

uint64_t kvmvm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void gate(uint8_t *idt, unsigned vec, const char *target)
{
	uint32_t off = CODE_GPA + (uint32_t)(target - kvmvm_guest_code);
	uint32_t lo = (off & 0xffffu) | (0x08u << 16);
	uint32_t hi = (off & 0xffff0000u) | 0x8e00u; /* present, DPL0, int gate */

	memcpy(idt + 8 * vec, &lo, 4);
	memcpy(idt + 8 * vec + 4, &hi, 4);
}

static void load_program(struct kvmvm *vm)
{
	uint8_t *mem = vm->mem;
	/* Flat 4 GiB segments: base 0, limit 0xfffff pages, 32-bit. */
	static const uint64_t gdt[3] = { 0, 0x00cf9b000000ffffull,
					 0x00cf93000000ffffull };

	memcpy(mem + GDT_GPA, gdt, sizeof(gdt));
	for (unsigned v = 0; v < 256; v++)
		gate(mem + IDT_GPA, v,
		     v < 32	 ? kvmvm_guest_exc
		     : v == 0xff ? kvmvm_guest_spurious
				 : kvmvm_guest_irq);
	/* The two labels bound one block of the assembly above. */
	// cppcheck-suppress comparePointers
	size_t code_len = (size_t)(kvmvm_guest_end - kvmvm_guest_code);

	memcpy(mem + CODE_GPA, kvmvm_guest_code, code_len);
}

static void flat(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffffu;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

static int setup_vcpu(struct kvmvm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(vm, "KVM_GET_SREGS");
	flat(&sregs.cs, 0x08, 0xb);
	flat(&sregs.ds, 0x10, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.idt.base = IDT_GPA;
	sregs.idt.limit = 256 * 8 - 1;
	sregs.cr0 |= 1; /* PE, no PG */
	sregs.efer = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(vm, "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x2;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fail(vm, "KVM_SET_REGS");
	return 0;
}

int kvmvm_create(struct kvmvm *vm)
{
	struct kvm_userspace_memory_region region;
	int size;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return fail(vm, "open /dev/kvm");
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return fail(vm, "KVM_CREATE_VM");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail(vm, "KVM_CREATE_IRQCHIP");
	vm->mem_size = MEM_SIZE;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return fail(vm, "mmap guest memory");
	}
	load_program(vm);
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = vm->mem_size;
	region.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail(vm, "KVM_SET_USER_MEMORY_REGION");
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return fail(vm, "KVM_CREATE_VCPU");
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return fail(vm, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return fail(vm, "mmap kvm_run");
	}
	return setup_vcpu(vm);
}

static void on_kick(int sig)
{
	(void)sig; /* only to interrupt KVM_RUN */
}

static void report(struct kvmvm *vm, uint32_t val)
{
	if (val < 256) {
		atomic_fetch_add(&vm->count[val], 1);
		atomic_fetch_add(&vm->total, 1);
	} else if (val == REPORT_READY) {
		atomic_store(&vm->ready, true);
	} else {
		atomic_fetch_add(&vm->oddities, 1);
		fprintf(stderr, "kvmvm: guest reports %s\n",
			val == REPORT_NO_ISR ? "an interrupt with no ISR bit"
					     : "an exception");
	}
}

static void *vcpu_thread(void *arg)
{
	struct kvmvm *vm = arg;
	struct kvm_run *run = vm->run;

	while (!atomic_load(&vm->stop)) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail(vm, "KVM_RUN");
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.port == REPORT_PORT && run->io.size == 4) {
			uint32_t val;

			memcpy(&val, (char *)run + run->io.data_offset, 4);
			report(vm, val);
			continue;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		snprintf(vm->error, sizeof(vm->error),
			 "unexpected KVM exit %u", run->exit_reason);
		break;
	}
	if (!atomic_load(&vm->stop))
		atomic_store(&vm->dead, true);
	return NULL;
}

int kvmvm_start(struct kvmvm *vm, int timeout_ms)
{
	struct sigaction sa;
	uint64_t end;
	int err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	err = pthread_create(&vm->thread, NULL, vcpu_thread, vm);
	if (err) {
		errno = err;
		return fail(vm, "pthread_create");
	}
	vm->started = true;
	end = kvmvm_now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (!atomic_load(&vm->ready)) {
		if (atomic_load(&vm->dead) || kvmvm_now_ns() > end) {
			if (!vm->error[0])
				snprintf(vm->error, sizeof(vm->error),
					 "the guest did not enable its APIC");
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
	return 0;
}

bool kvmvm_wait(struct kvmvm *vm, uint8_t vector, uint32_t n, int timeout_ms)
{
	uint64_t end = kvmvm_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (kvmvm_count(vm, vector) < n) {
		if (atomic_load(&vm->dead) || kvmvm_now_ns() > end)
			return false;
		usleep(200);
	}
	return true;
}

void kvmvm_settle(struct kvmvm *vm, int ms)
{
	(void)vm;
	usleep((useconds_t)ms * 1000u);
}

void kvmvm_destroy(struct kvmvm *vm)
{
	if (vm->started) {
		atomic_store(&vm->stop, true);
		if (vm->run)
			vm->run->immediate_exit = 1;
		pthread_kill(vm->thread, SIGUSR1);
		pthread_join(vm->thread, NULL);
		vm->started = false;
	}
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	vm->run = NULL;
	vm->mem = NULL;
	vm->vcpu_fd = vm->vm_fd = vm->kvm_fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Guest driver                                                              */
/* ------------------------------------------------------------------------ */

#define GDEV_CAP 0x50u
#define GDEV_PAGE 4096u

int gdev_create(struct gdev *g, struct libmsix_backend *be, uint32_t n,
		enum libmsix_policy policy, libmsix_fault_fn fault,
		void *opaque)
{
	struct libmsix_config cfg;
	int err;

	memset(g, 0, sizeof(*g));
	memset(&cfg, 0, sizeof(cfg));
	g->n = n;
	g->pba_offset = (n * 16u + GDEV_PAGE - 1) / GDEV_PAGE * GDEV_PAGE;
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = GDEV_CAP;
	cfg.table_bir = 0;
	cfg.table_offset = 0;
	cfg.pba_bir = 0;
	cfg.pba_offset = g->pba_offset;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[0] = g->pba_offset + GDEV_PAGE;
	cfg.policy = policy;
	cfg.fault = fault;
	cfg.opaque = opaque;
	err = libmsix_dev_create(&cfg, be, &g->dev);
	if (err)
		return err;
	return libmsix_vector_use_all(g->dev);
}

void gdev_destroy(struct gdev *g)
{
	libmsix_dev_destroy(g->dev);
	g->dev = NULL;
}

int gdev_msgctl(struct gdev *g, uint16_t bits)
{
	return libmsix_config_write(g->dev, GDEV_CAP + PCI_MSIX_FLAGS, 2, bits);
}

int gdev_program(struct gdev *g, uint32_t v, uint64_t addr, uint32_t data)
{
	int err = libmsix_mmio_write(g->dev, 0, 16u * v, 4, (uint32_t)addr);

	if (!err)
		err = libmsix_mmio_write(g->dev, 0, 16u * v + 4, 4,
					 (uint32_t)(addr >> 32));
	if (!err)
		err = libmsix_mmio_write(g->dev, 0, 16u * v + 8, 4, data);
	return err;
}

int gdev_mask(struct gdev *g, uint32_t v, bool masked)
{
	return libmsix_mmio_write(g->dev, 0, 16u * v + 12, 4, masked ? 1 : 0);
}

bool gdev_pending(struct gdev *g, uint32_t v)
{
	uint64_t q = 0;

	if (libmsix_mmio_read(g->dev, 0, g->pba_offset + 8u * (v / 64), 8, &q))
		return false;
	return (q >> (v % 64)) & 1;
}

/* A guest never sees a backend error: it carries on, and so does this. */
int gdev_linux_bringup(struct gdev *g, uint8_t base)
{
	int first = gdev_msgctl(g, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	int err;

	for (uint32_t v = 0; v < g->n; v++) {
		err = gdev_mask(g, v, true);
		if (!first)
			first = err;
		err = gdev_program(g, v, KVMVM_MSI_ADDR, kvmvm_vector(base, v));
		if (!first)
			first = err;
	}
	err = gdev_msgctl(g, PCI_MSIX_FLAGS_ENABLE);
	return first ? first : err;
}

int kvmvm_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}
