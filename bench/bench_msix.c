/* SPDX-License-Identifier: MIT */
/*
 * libmsix micro-benchmarks: the device-side hot path, guest accesses to the
 * table and PBA, and memory per vector, against the targets:
 * notify <= 10 ns/op over a null backend, table access <= 20 ns/op,
 * <= 32 bytes per vector plus the PBA bits.
 *
 *   bench_msix [--runs R] [--ops N] [--only ROW]
 *
 * By default each row picks an iteration count that takes >= 20 ms, then
 * reports the median and minimum ns/op of R runs (default 7) timed with
 * CLOCK_MONOTONIC, and the median of the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID). On an idle machine the two agree; on a shared
 * one wall time also counts the other programs, so the verdict uses CPU
 * time. Two-thread rows report the slower thread.
 *
 * --ops N (or LIBMSIX_BENCH_OPS=N) runs exactly N ops per row, once, without
 * calibration, so that instruction counts repeat. Each row is a function
 * row_<name>(), so callgrind can count one:
 *
 *   valgrind --tool=callgrind --toggle-collect=row_notify_unmasked \
 *            bench_msix --ops 100000 --only notify_unmasked
 *
 * --only ROW runs the rows whose name contains ROW ("memory" for the last).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>

#include "libmsix.h"

#define CAP 0x50u
#define PAGE 4096u
#define N_TIMED 64u
#define N_MEMORY 2048u

/* Vectors of the timed device: two live, one masked, one for mask pairs. */
enum { V_LIVE = 3, V_LIVE2 = 40, V_MASKED = 5, V_TOGGLE = 9 };

#define NOINLINE __attribute__((noinline))

/* The null backend: deliver only, and it does nothing. It is reached
 * through the ops table, so the call cannot be inlined away. */
static NOINLINE int null_deliver(struct libmsix_backend *be, uint32_t vector,
				 const struct libmsix_msg *msg)
{
	(void)be;
	(void)vector;
	(void)msg;
	return 0;
}

static const struct libmsix_backend_ops null_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.deliver = null_deliver,
};

static struct libmsix_backend null_be = {
	.ops = &null_ops,
	.flags = 0, /* resizes live */
};

/* A null backend that also has mask and unmask ops: every mask or unmask
 * then runs the engine (take the lock, stage the op, settle), which is the
 * path of every real backend -- VFIO, KVM, IMS -- before its own ioctl. */
static NOINLINE int null_vector_op(struct libmsix_backend *be, uint32_t v)
{
	(void)be;
	(void)v;
	return 0;
}

static const struct libmsix_backend_ops null_masking_ops = {
	.size = sizeof(struct libmsix_backend_ops),
	.mask = null_vector_op,
	.unmask = null_vector_op,
	.deliver = null_deliver,
};

static struct libmsix_backend null_masking_be = {
	.ops = &null_masking_ops,
	.flags = 0, /* resizes live */
};

static uint32_t pba_offset(uint32_t n)
{
	return (n * 16u + PAGE - 1) / PAGE * PAGE;
}

static struct libmsix_config config(uint32_t n)
{
	struct libmsix_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = n;
	cfg.cap_offset = CAP;
	cfg.pba_offset = pba_offset(n);
	cfg.bar_type[0] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[0] = pba_offset(n) + PAGE;
	cfg.policy = LIBMSIX_POLICY_LAZY;
	return cfg;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_msix: %s failed: %d\n", what, err);
	exit(1);
}

static void check(int err, const char *what)
{
	if (err < 0)
		die(what, err);
}

/* Enabled, every vector used and programmed, V_LIVE/V_LIVE2/V_TOGGLE
 * unmasked, V_MASKED masked with its pending bit set. */
static struct libmsix_dev *timed_device(struct libmsix_backend *be)
{
	struct libmsix_config cfg = config(N_TIMED);
	struct libmsix_dev *dev;

	check(libmsix_dev_create(&cfg, be, &dev), "dev_create");
	check(libmsix_vector_use_all(dev), "vector_use_all");
	check(libmsix_config_write(dev, CAP + PCI_MSIX_FLAGS, 2,
				   PCI_MSIX_FLAGS_ENABLE |
					   PCI_MSIX_FLAGS_MASKALL),
	      "enable");
	for (uint32_t v = 0; v < N_TIMED; v++) {
		check(libmsix_mmio_write(dev, 0, 16ull * v, 8,
					 0xfee00000u | v << 12),
		      "address write");
		check(libmsix_mmio_write(dev, 0, 16ull * v + 8, 4, 0x4000 + v),
		      "data write");
	}
	check(libmsix_config_write(dev, CAP + PCI_MSIX_FLAGS, 2,
				   PCI_MSIX_FLAGS_ENABLE),
	      "clear Function Mask");
	check(libmsix_mmio_write(dev, 0, 16ull * V_LIVE + 12, 4, 0), "unmask");
	check(libmsix_mmio_write(dev, 0, 16ull * V_LIVE2 + 12, 4, 0), "unmask");
	check(libmsix_mmio_write(dev, 0, 16ull * V_TOGGLE + 12, 4, 0),
	      "unmask");
	if (libmsix_notify(dev, V_LIVE) != LIBMSIX_DELIVERED ||
	    libmsix_notify(dev, V_MASKED) != LIBMSIX_LATCHED)
		die("device setup", -EINVAL);
	return dev;
}

/* ------------------------------------------------------------------------ */
/* Rows: each does @n ops on @dev                                            */
/* ------------------------------------------------------------------------ */

static volatile uint64_t sink;

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread: what the ops cost when other programs
 * preempt the bench (a shared machine), which wall time cannot tell. */
static double cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}


/* The floor: an exported call that does almost nothing, through the PLT. */
static NOINLINE void row_baseline_call(struct libmsix_dev *dev, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += libmsix_nr_vectors(dev);
	sink = sum;
}

static NOINLINE void row_notify_unmasked(struct libmsix_dev *dev, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		libmsix_notify(dev, V_LIVE);
}

static NOINLINE void row_notify_masked(struct libmsix_dev *dev, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		libmsix_notify(dev, V_MASKED);
}

static NOINLINE void row_table_dword_read(struct libmsix_dev *dev, uint64_t n)
{
	uint64_t val, sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		libmsix_mmio_read(dev, 0, 16ull * V_LIVE + 8, 4, &val);
		sum += val;
	}
	sink = sum;
}

static NOINLINE void row_table_qword_read(struct libmsix_dev *dev, uint64_t n)
{
	uint64_t val, sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		libmsix_mmio_read(dev, 0, 16ull * V_LIVE, 8, &val);
		sum += val;
	}
	sink = sum;
}

/* Message Data of a masked entry, a new value each time (an unchanged
 * value returns early). */
static NOINLINE void row_table_data_write(struct libmsix_dev *dev, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		libmsix_mmio_write(dev, 0, 16ull * V_MASKED + 8, 4,
				   0x4000 + (i & 1));
}

/* Vector Control 1 then 0 on a live vector: two accesses. With the null
 * backend (no per-vector op) each is one CAS, without the device lock
 * (docs/design.md); on the masking device each runs the engine. */
static NOINLINE void row_mask_unmask_pair(struct libmsix_dev *dev, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		libmsix_mmio_write(dev, 0, 16ull * V_TOGGLE + 12, 4, 1);
		libmsix_mmio_write(dev, 0, 16ull * V_TOGGLE + 12, 4, 0);
	}
}

static NOINLINE void row_pba_qword_read(struct libmsix_dev *dev, uint64_t n)
{
	uint64_t val, sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		libmsix_mmio_read(dev, 0, pba_offset(N_TIMED), 8, &val);
		sum += val;
	}
	sink = sum;
}

/* Two threads notifying at once: different vectors, then the same one. */

struct mt {
	struct libmsix_dev *dev;
	pthread_barrier_t *go;
	uint32_t vector;
	uint64_t n;
	double ns, cpu;
};

static void *mt_thread(void *arg)
{
	struct mt *m = arg;
	double t0, c0;

	pthread_barrier_wait(m->go);
	t0 = now_ns();
	c0 = cpu_ns();
	for (uint64_t i = 0; i < m->n; i++)
		libmsix_notify(m->dev, m->vector);
	m->cpu = cpu_ns() - c0;
	m->ns = now_ns() - t0;
	return NULL;
}

/* Per op, of the slower of the two threads: the row's own timing of the
 * caller would include thread start-up. */
static double mt_ns, mt_cpu;

static void notify_2threads(struct libmsix_dev *dev, uint64_t n, uint32_t v2)
{
	pthread_barrier_t go;
	struct mt m[2] = {
		{ .dev = dev, .go = &go, .vector = V_LIVE, .n = n },
		{ .dev = dev, .go = &go, .vector = v2, .n = n },
	};
	pthread_t t[2];

	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, mt_thread, &m[i]))
			die("pthread_create", -errno);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	mt_ns = (m[0].ns > m[1].ns ? m[0].ns : m[1].ns) / (double)n;
	mt_cpu = (m[0].cpu > m[1].cpu ? m[0].cpu : m[1].cpu) / (double)n;
}

static NOINLINE void row_notify_2threads_diff(struct libmsix_dev *dev,
					      uint64_t n)
{
	notify_2threads(dev, n, V_LIVE2);
}

static NOINLINE void row_notify_2threads_same(struct libmsix_dev *dev,
					      uint64_t n)
{
	notify_2threads(dev, n, V_LIVE);
}

struct row {
	const char *name;
	const char *what;
	void (*fn)(struct libmsix_dev *dev, uint64_t n);
	double target;	/* ns per op; 0: none */
	unsigned per;	/* accesses per op, for the per-access column */
	bool threads;	/* ns/op is the slower thread's */
	bool masking;	/* on the device whose backend has mask ops */
};

static const struct row rows[] = {
	{ "baseline_call", "baseline: libmsix_nr_vectors() call",
	  row_baseline_call, 0, 1, false, false },
	{ "notify_unmasked", "notify, unmasked vector (null deliver)",
	  row_notify_unmasked, 10, 1, false, false },
	{ "notify_masked", "notify, masked vector (pending already set)",
	  row_notify_masked, 10, 1, false, false },
	{ "table_dword_read", "table DWORD read (Message Data)",
	  row_table_dword_read, 20, 1, false, false },
	{ "table_data_write", "table DWORD write, Message Data, masked",
	  row_table_data_write, 20, 1, false, false },
	{ "table_qword_read", "table QWORD read (address)",
	  row_table_qword_read, 20, 1, false, false },
	{ "mask_unmask_pair", "Vector Control mask+unmask pair",
	  row_mask_unmask_pair, 40, 2, false, false },
	{ "engine_mask_unmask_pair", "  same, backend with mask ops (engine)",
	  row_mask_unmask_pair, 0, 2, false, true },
	{ "pba_qword_read", "PBA QWORD read", row_pba_qword_read, 20, 1,
	  false, false },
	{ "notify_2threads_diff", "notify, 2 threads, different vectors",
	  row_notify_2threads_diff, 10, 1, true, false },
	{ "notify_2threads_same", "notify, 2 threads, same vector",
	  row_notify_2threads_same, 0, 1, true, false },
};

/* ------------------------------------------------------------------------ */
/* Driver                                                                    */
/* ------------------------------------------------------------------------ */

static void run_once(const struct row *r, struct libmsix_dev *dev,
		     uint64_t n, double *ns, double *cpu)
{
	double t0 = now_ns(), c0 = cpu_ns();

	r->fn(dev, n);
	*cpu = (cpu_ns() - c0) / (double)n;
	*ns = (now_ns() - t0) / (double)n;
	if (r->threads) {
		*ns = mt_ns;
		*cpu = mt_cpu;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void bench_row(const struct row *r, struct libmsix_dev *dev,
		      unsigned runs, uint64_t fixed_ops)
{
	double ns[64] = { 0 }, cpu[64] = { 0 }, med, cmed;
	uint64_t n = fixed_ops;
	char target[16] = "-";

	if (!n) {
		/* Calibrate: at least 20 ms per run. */
		for (n = 1024;; n *= 2) {
			double t0 = now_ns();

			r->fn(dev, n);
			if (now_ns() - t0 >= 20e6 || n >= (1ull << 32))
				break;
		}
	} else {
		runs = 1;
	}
	for (unsigned i = 0; i < runs; i++)
		run_once(r, dev, n, &ns[i], &cpu[i]);
	qsort(ns, runs, sizeof(ns[0]), cmp_double);
	qsort(cpu, runs, sizeof(cpu[0]), cmp_double);
	med = ns[runs / 2];
	cmed = cpu[runs / 2];
	if (r->target)
		snprintf(target, sizeof(target), "%.0f", r->target);
	/* Judged on CPU time: on an idle machine it equals wall time, on a
	 * busy one wall time also counts other programs. */
	printf("%-44s %8.2f %8.2f %8.2f %8.2f %6s  %s\n", r->what, med, ns[0],
	       cmed, cmed / r->per, target,
	       !r->target ? "" : cmed <= r->target ? "ok" : "MISSED");
	fflush(stdout);
}

/*
 * A VMM is a multi-threaded process. glibc skips the atomic instructions of
 * pthread_mutex_lock() and _unlock() while a process has only ever had one
 * thread, which would make every row that takes the device lock (table
 * writes) look 6 to 8 ns cheaper than any VMM will see. One thread, started
 * and joined before the first row, ends that for the rest of the run.
 */
static void *idle_thread(void *arg)
{
	return arg;
}

static void become_multithreaded(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, idle_thread, NULL);

	if (err)
		die("pthread_create", -err);
	pthread_join(t, NULL);
}

/* Bytes one device of @n vectors allocates, measured by the allocator. */
static size_t device_bytes(uint32_t n)
{
	struct libmsix_config cfg = config(n);
	struct libmsix_dev *dev;
	struct mallinfo2 a, b;

	a = mallinfo2();
	check(libmsix_dev_create(&cfg, &null_be, &dev), "dev_create");
	b = mallinfo2();
	libmsix_dev_destroy(dev);
	return (b.uordblks + b.hblkhd) - (a.uordblks + a.hblkhd);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !v) {
		fprintf(stderr, "bench_msix: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned runs = 7;
	uint64_t fixed_ops = 0;
	const char *only = NULL, *env = getenv("LIBMSIX_BENCH_OPS");
	struct libmsix_dev *dev, *masking_dev;
	size_t bytes;

	if (env && *env)
		fixed_ops = parse_u64(env, "LIBMSIX_BENCH_OPS");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = (unsigned)parse_u64(argv[++i], "--runs");
			if (runs > 64)
				runs = 64;
		} else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			fixed_ops = parse_u64(argv[++i], "--ops");
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr,
				"usage: %s [--runs R] [--ops N] [--only ROW]\n",
				argv[0]);
			return 2;
		}
	}

	printf("libmsix %d.%d.%d bench: %s; N=%u; ",
	       LIBMSIX_VERSION_MAJOR, LIBMSIX_VERSION_MINOR,
	       LIBMSIX_VERSION_PATCH,
	       fixed_ops ? "fixed op count, 1 run" : "median of runs",
	       N_TIMED);
	if (fixed_ops)
		printf("%llu ops per row\n", (unsigned long long)fixed_ops);
	else
		printf("%u runs of >= 20 ms per row\n", runs);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("warning: built with a sanitizer; the numbers mean nothing\n");
#endif
	printf("%-44s %8s %8s %8s %8s %6s\n", "", "wall", "wall", "cpu",
	       "cpu", "");
	printf("%-44s %8s %8s %8s %8s %6s\n", "operation (ns per op)",
	       "median", "min", "median", "/access", "target");

	become_multithreaded();
	dev = timed_device(&null_be);
	masking_dev = timed_device(&null_masking_be);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!only || strstr(rows[i].name, only))
			bench_row(&rows[i], rows[i].masking ? masking_dev : dev,
				  runs, fixed_ops);
	libmsix_dev_destroy(dev);
	libmsix_dev_destroy(masking_dev);

	if (!only || strstr("memory", only)) {
		bytes = device_bytes(N_MEMORY);
		printf("%-44s %8.2f %8s %8s %8s %6s  %s\n",
		       "memory: bytes per vector (N=2048)",
		       (double)bytes / N_MEMORY, "", "", "", "32.13",
		       (double)bytes / N_MEMORY <= 32 + 1.0 / 8 ? "ok"
								 : "MISSED");
		printf("  (the device's whole allocation / N, measured with "
		       "mallinfo2(): %zu bytes;\n   the PBA bits are inside it. "
		       "N=64: %.2f bytes per vector)\n",
		       bytes, (double)device_bytes(64) / 64);
	}
	return 0;
}
