/* SPDX-License-Identifier: MIT */
/*
 * A tiny KVM VM for the guest tests: one vCPU with an in-kernel irqchip
 * (KVM_CREATE_IRQCHIP) running a 32-bit program (flat GDT, an IDT, no
 * paging) that software-enables its xAPIC, waits in sti;hlt, and for every
 * interrupt reads the in-service vector from the APIC's ISR, reports it
 * with an `out` to an I/O port and EOIs. A host thread runs the vCPU and
 * counts the reported vectors, so a test can ask "did vector 0x41 arrive,
 * and how many times".
 *
 * Messages: address KVMVM_MSI_ADDR (APIC ID 0, physical, fixed), data =
 * the vector (0x20..0xfe).
 */
#ifndef LIBMSIX_TEST_KVMVM_H
#define LIBMSIX_TEST_KVMVM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/kvm.h>

#include "libmsix.h"

#define KVMVM_MSI_ADDR 0xfee00000u

struct kvmvm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	void *mem;
	size_t mem_size;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool ready;
	_Atomic bool dead;		/* the vCPU thread ended on an error */
	_Atomic uint32_t count[256];	/* interrupts the guest took, per vector */
	_Atomic uint32_t total;
	_Atomic uint32_t oddities;	/* exceptions, empty ISR, odd exits */
	char error[256];
};

/* Create the VM and its vCPU; 0 or -errno (vm->error says what). */
int kvmvm_create(struct kvmvm *vm);
/* Run the vCPU on a thread until the guest says its APIC is on. */
int kvmvm_start(struct kvmvm *vm, int timeout_ms);
/* Stop the vCPU and close everything. Safe on a partly created VM. */
void kvmvm_destroy(struct kvmvm *vm);

static inline uint32_t kvmvm_count(struct kvmvm *vm, uint8_t vector)
{
	return atomic_load(&vm->count[vector]);
}

/* Wait until @vector was taken at least @n times: true, or false after
 * @timeout_ms. */
bool kvmvm_wait(struct kvmvm *vm, uint8_t vector, uint32_t n, int timeout_ms);

/* Let the vCPU run for @ms: for "nothing (more) arrives" checks. */
void kvmvm_settle(struct kvmvm *vm, int ms);

/* Monotonic time in nanoseconds. */
uint64_t kvmvm_now_ns(void);

/* ------------------------------------------------------------------------ */
/* A guest driver: MSI-X accesses through libmsix as a VMM would forward    */
/* them. Layout: capability at 0x50, table at BAR 0 offset 0, PBA at the    */
/* page after the table.                                                    */
/* ------------------------------------------------------------------------ */

struct gdev {
	struct libmsix_dev *dev;
	uint32_t n;
	uint32_t pba_offset;
};

/* A libmsix device of @n vectors on @be with @policy, every vector used. */
int gdev_create(struct gdev *g, struct libmsix_backend *be, uint32_t n,
		enum libmsix_policy policy, libmsix_fault_fn fault,
		void *opaque);
void gdev_destroy(struct gdev *g);
/* Message Control bits (PCI_MSIX_FLAGS_*); returns libmsix's result. */
int gdev_msgctl(struct gdev *g, uint16_t bits);
/* Program entry @v with DWORD writes (Linux's order). */
int gdev_program(struct gdev *g, uint32_t v, uint64_t addr, uint32_t data);
/* Vector Control mask bit of entry @v. */
int gdev_mask(struct gdev *g, uint32_t v, bool masked);
/* The PBA bit of @v, read as the guest reads it. */
bool gdev_pending(struct gdev *g, uint32_t v);
/* The guest vector device vector @v uses: base + v, wrapped into
 * 0x20..0xef (a table can have more entries than an APIC has vectors). */
static inline uint8_t kvmvm_vector(uint8_t base, uint32_t v)
{
	return (uint8_t)(0x20u + ((uint32_t)base - 0x20u + v) % 0xd0u);
}

/* Enable|Function Mask, mask all, program v -> kvmvm_vector(base, v),
 * clear Function Mask: what Linux does before its request_irq()s. Every
 * step is made even when an earlier one reported a backend error (the
 * guest does not see those); returns the first error. */
int gdev_linux_bringup(struct gdev *g, uint8_t base);

/* Open file descriptors of this process (for leak checks). */
int kvmvm_open_fds(void);

/* ------------------------------------------------------------------------ */
/* Checks for the static test programs (no libcheck in the guest).          */
/* ------------------------------------------------------------------------ */

extern int kvmvm_failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                              \
			printf("\n");                                     \
			fflush(stdout);                                   \
			kvmvm_failures++;                                 \
		}                                                         \
	} while (0)

/* A check the rest of the program cannot go on without. */
#define REQUIRE(cond, ...)                                                \
	do {                                                              \
		if (!(cond)) {                                            \
			CHECK(cond, __VA_ARGS__);                         \
			exit(1);                                          \
		}                                                         \
	} while (0)

/* Exit 77 (skip) with a reason, e.g. when /dev/kvm is missing. */
#define SKIP(...)                                                         \
	do {                                                              \
		printf("SKIP: ");                                         \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		exit(77);                                                 \
	} while (0)

#endif /* LIBMSIX_TEST_KVMVM_H */
