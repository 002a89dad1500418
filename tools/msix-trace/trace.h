/* SPDX-License-Identifier: MIT */
/*
 * msix-trace: a trace of a guest's MSI-X accesses (docs/trace.md), parsed
 * and validated as a whole before anything is replayed.
 */
#ifndef MSIX_TRACE_H
#define MSIX_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libmsix.h>

/* Limits that keep a hostile trace's memory bounded. */
#define TRACE_MAX_LINE 4096u		/* bytes per line, newline included */
#define TRACE_MAX_EVENTS (4u << 20)	/* accesses and calls per trace */
#define TRACE_MAX_DEVICES 64u		/* "dev" ids are 0..63 */
#define TRACE_MAX_NAME 63u		/* bytes of a device name */
#define TRACE_CONFIG_SPACE 4096u	/* PCIe config space, bytes */

enum trace_kind {
	EV_CONFIG_READ,
	EV_CONFIG_WRITE,
	EV_MMIO_READ,
	EV_MMIO_WRITE,
	EV_USE,
	EV_UNUSE,
	EV_NOTIFY,
	EV_SAVE,
	EV_LOAD,
};

/* One access or call: 24 bytes, so a trace of TRACE_MAX_EVENTS fits in
 * 96 MiB. @arg is the offset (config, mmio) or the vector (use, unuse,
 * notify); @val the value (config, mmio) or ret (use, as int64); @line
 * where it is in the trace. */
struct trace_event {
	uint64_t val;
	uint32_t arg;
	uint32_t line;
	uint8_t kind;
	uint8_t dev;
	uint8_t size;
	uint8_t bar;
	uint8_t flags;		/* EVF_* */
};

/* The trace's clock shows the guest idle for at least the flush gap before
 * this event: a VMM's event loop would have run (and flushed a deferred
 * route batch) in between. */
#define EVF_IDLE_BEFORE (1u << 0)

struct trace_device {
	bool declared;
	bool has_use;		/* the trace has use/unuse lines for it */
	char name[TRACE_MAX_NAME + 1];
	uint32_t line;		/* where it was declared */
	struct libmsix_config cfg;
};

struct trace {
	const char *path;
	struct trace_device dev[TRACE_MAX_DEVICES];
	uint32_t nr_devices;
	struct trace_event *ev;
	size_t nr_ev, cap_ev;
	uint32_t lines;
	uint64_t flush_gap_ns;	/* set before trace_load(); 0: never idle */
	bool have_t;		/* parser: the last event had t_ns */
	uint64_t last_t;	/* parser: its t_ns */
	bool idle_next;		/* parser: the next event follows a gap */
};

/*
 * trace_load() - read and validate all of @f. On the first malformed line,
 * print "path:line: what is wrong" to @err and return -1 (the trace is then
 * empty); 0 on success. trace_free() in both cases.
 */
int trace_load(struct trace *t, FILE *f, const char *path,
	       uint64_t flush_gap_ns, FILE *err);
void trace_free(struct trace *t);

#endif /* MSIX_TRACE_H */
