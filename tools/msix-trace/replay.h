/* SPDX-License-Identifier: MIT */
/*
 * msix-trace: one replay of a trace, and what it cost the host.
 */
#ifndef MSIX_TRACE_REPLAY_H
#define MSIX_TRACE_REPLAY_H

#include "trace.h"

/* GSIs and routes KVM's in-kernel x86 irqchip keeps in every upload (24
 * IOAPIC pins and the PIC pins: LIBMSIX_KVM_VM_X86_IRQCHIP, QEMU's
 * kvm_pc_setup_irq_routing()). */
#define IRQCHIP_ROUTES 40u
/* KVM_CAP_IRQ_ROUTING on x86: the route table holds 4096 entries. */
#define KVM_ROUTES 4096u

/* What one replay cost, summed over the trace's devices. Host vectors are
 * counted in vectors; uploads, irqfds and set_irqs in ioctls. */
struct row {
	const char *host;	/* "live" or "noresize" */
	const char *algo;	/* a policy name, or "qemu" */
	const char *routing;	/* "immediate", "deferred", or "qemu" */
	uint64_t allocs;	/* host vectors allocated */
	uint64_t releases;	/* host vectors released */
	uint64_t uploads;	/* KVM_SET_GSI_ROUTING */
	uint64_t entries;	/* route entries in those uploads */
	uint64_t irqfds;	/* KVM_IRQFD, assign and deassign */
	uint64_t set_irqs;	/* VFIO_DEVICE_SET_IRQS */
	uint64_t reenables;	/* NORESIZE disable + re-enable */
	uint64_t replays;	/* pending bits delivered on unmask */
	uint64_t spurious;	/* deliveries after a disruptive re-enable */
	/* Footnotes, not columns. */
	uint64_t read_mismatch;	/* reads that differ from the trace */
	uint32_t first_mismatch;/* line of the first one */
	uint64_t faults;	/* vectors a backend refused */
	uint64_t violations;	/* backend-contract violations seen */
};

/* Replay @t through libmsix under @policy, on a backend that resizes live
 * or not (@live), with the KVM VM in deferred routing mode or not
 * (@deferred). Returns 0, or -1 after printing why to @err. */
int replay_libmsix(const struct trace *t, bool live,
		   enum libmsix_policy policy, bool deferred, struct row *r,
		   FILE *err);

/* The same trace under QEMU's algorithm (a model; docs/trace.md). */
int replay_qemu(const struct trace *t, bool live, struct row *r, FILE *err);

#endif /* MSIX_TRACE_REPLAY_H */
