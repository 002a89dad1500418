// SPDX-License-Identifier: MIT
/*
 * --trace FILE: every guest MSI-X access libmsix handled, and the device
 * model's use/unuse calls, as JSON Lines in the format of docs/trace.md
 * (version 1). One line per record, written under a lock in the order the
 * VMM handed the accesses to libmsix (each under the device's msix_lock).
 * The device line also carries "next_cap", the Next Capability Pointer the
 * capability reports (struct libmsix_config.next_cap): readers that know it
 * can replay the capability header's reads exactly; others ignore it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "vmm.h"

struct trace {
	FILE *f;
	pthread_mutex_t lock;
	struct timespec t0;
};

static struct trace the_trace;

int trace_open(struct vmm *vm, const char *path)
{
	struct trace *t = &the_trace;

	t->f = fopen(path, "we");
	if (!t->f) {
		fprintf(stderr, "msix-vmm: --trace %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	pthread_mutex_init(&t->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	fprintf(t->f, "{\"type\":\"trace\",\"version\":1,\"source\":\"msix-vmm\"}\n");
	vm->trace = t;
	return 0;
}

void trace_close(struct vmm *vm)
{
	if (!vm->trace)
		return;
	fclose(vm->trace->f);
	vm->trace = NULL;
}

static uint64_t t_ns(const struct trace *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(ts.tv_sec - t->t0.tv_sec) * 1000000000ull +
	       (uint64_t)(ts.tv_nsec - t->t0.tv_nsec);
}

/* One record: the body (without braces), then the timestamp. */
static void emit(struct vmm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void emit(struct vmm *vm, const char *fmt, ...)
{
	struct trace *t = vm->trace;
	va_list ap;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	fputc('{', t->f);
	va_start(ap, fmt);
	vfprintf(t->f, fmt, ap);
	va_end(ap);
	fprintf(t->f, ",\"t_ns\":%" PRIu64 "}\n", t_ns(t));
	fflush(t->f); /* a crash must not cost the end of the trace */
	pthread_mutex_unlock(&t->lock);
}

void trace_device(struct vmm *vm, const struct virtio_dev *vd)
{
	const struct libmsix_config *c = &vd->msix_cfg;

	emit(vm,
	     "\"type\":\"device\",\"dev\":%d,\"name\":\"%s\",\"nr_vectors\":%u,"
	     "\"cap_offset\":%u,\"table_bir\":%u,\"table_offset\":%u,"
	     "\"pba_bir\":%u,\"pba_offset\":%u,\"next_cap\":%u",
	     vd->trace_id, vd->name, c->nr_vectors, c->cap_offset,
	     c->table_bir, c->table_offset, c->pba_bir, c->pba_offset,
	     c->next_cap);
}

void trace_config(struct vmm *vm, int dev, bool write, uint32_t off,
		  uint32_t size, uint64_t val)
{
	emit(vm,
	     "\"type\":\"config\",\"dev\":%d,\"op\":\"%s\",\"off\":%u,"
	     "\"size\":%u,\"val\":%" PRIu64,
	     dev, write ? "write" : "read", off, size, val);
}

void trace_mmio(struct vmm *vm, int dev, bool write, int bar, uint64_t off,
		uint32_t size, uint64_t val)
{
	emit(vm,
	     "\"type\":\"mmio\",\"dev\":%d,\"op\":\"%s\",\"bar\":%d,"
	     "\"off\":%" PRIu64 ",\"size\":%u,\"val\":%" PRIu64,
	     dev, write ? "write" : "read", bar, off, size, val);
}

void trace_use(struct vmm *vm, int dev, uint32_t vector, int ret)
{
	emit(vm, "\"type\":\"use\",\"dev\":%d,\"vector\":%u,\"ret\":%d", dev,
	     vector, ret);
}

void trace_unuse(struct vmm *vm, int dev, uint32_t vector)
{
	emit(vm, "\"type\":\"unuse\",\"dev\":%d,\"vector\":%u", dev, vector);
}

void trace_snapshot(struct vmm *vm, int dev, const char *op)
{
	emit(vm, "\"type\":\"snapshot\",\"dev\":%d,\"op\":\"%s\"", dev, op);
}
