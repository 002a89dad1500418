/* SPDX-License-Identifier: MIT */
/*
 * msix-trace: replay a trace of a guest's MSI-X accesses (docs/trace.md)
 * through libmsix under every policy, on a host that resizes live and on a
 * NORESIZE one, and print what each cost the host beside what QEMU's
 * algorithm costs on the same trace.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

static const char usage[] =
	"Usage: msix-trace [OPTIONS] TRACE\n"
	"\n"
	"Replay TRACE, a JSON-lines trace of a guest's MSI-X accesses (the\n"
	"format is in docs/trace.md), through libmsix under every allocation\n"
	"policy (lazy, preallocate, incremental, auto) on a host that resizes\n"
	"MSI-X live and on a NORESIZE host, and print side by side what each\n"
	"replay cost the host, with the same columns for QEMU's algorithm\n"
	"(vfio-pci with KVM irqfds) computed on the same trace.\n"
	"\n"
	"Each device is replayed as an assigned device whose vectors go to\n"
	"KVM irqfds: libmsix's KVM backend runs for real on a fake VM fd\n"
	"(route uploads and irqfds are its own ioctls, counted), the VFIO\n"
	"half is modelled. The whole trace is read and checked first; a\n"
	"malformed line is reported as TRACE:LINE: what is wrong, and then\n"
	"nothing is replayed.\n"
	"\n"
	"Columns (totals over the trace's devices; device teardown at the\n"
	"end of the trace is not counted):\n"
	"  allocs     host vectors allocated\n"
	"  releases   host vectors released\n"
	"  uploads    KVM_SET_GSI_ROUTING ioctls\n"
	"  entries    route entries those uploads carried (40 irqchip routes\n"
	"             are in every upload, as with an in-kernel x86 irqchip)\n"
	"  irqfds     KVM_IRQFD ioctls (assign and deassign)\n"
	"  set_irqs   VFIO_DEVICE_SET_IRQS ioctls\n"
	"  ioctls     uploads + irqfds + set_irqs\n"
	"  reenables  disruptive re-enables: MSI-X off and on at the host to\n"
	"             grow a NORESIZE allocation\n"
	"  replays    pending bits delivered when a vector was unmasked\n"
	"  spurious   deliveries libmsix makes after a disruptive re-enable,\n"
	"             for interrupts the host may have lost (QEMU: 0, it\n"
	"             loses them)\n"
	"\n"
	"Routing: each policy runs with the KVM VM's routing immediate (a\n"
	"route reaches KVM in the commit that needs it) and deferred (the\n"
	"vector goes live through userspace while its route waits in a\n"
	"batch). The replay flushes the batch where a VMM's event loop would:\n"
	"before each notify line, where the trace's t_ns clock shows the\n"
	"guest idle for the flush gap, and after the last line.\n"
	"\n"
	"Options:\n"
	"  --host=KIND   live, noresize or both (default both)\n"
	"  --routing=M   immediate, deferred or both (default both)\n"
	"  --flush-gap=NS  idle time in the trace that flushes a deferred\n"
	"                batch (default 1000000 = 1 ms; 0: never)\n"
	"  --kv          one line per replay: host=H algo=A routing=R allocs=N ...\n"
	"  --check       only read and check TRACE; replay nothing\n"
	"  -h, --help    this text\n"
	"\n"
	"Exit status: 0 when every replay ran; 1 when TRACE is malformed or\n"
	"a replay could not run; 2 for bad usage.\n";

static const enum libmsix_policy policies[] = {
	LIBMSIX_POLICY_LAZY,
	LIBMSIX_POLICY_PREALLOCATE,
	LIBMSIX_POLICY_INCREMENTAL,
	LIBMSIX_POLICY_AUTO,
};

#define NPOL (sizeof(policies) / sizeof(policies[0]))

/* The columns, in order, with their widths in the table. */
static const struct {
	const char *name;
	int width;
} cols[] = {
	{ "allocs", 7 },  { "releases", 8 }, { "uploads", 7 },
	{ "entries", 9 }, { "irqfds", 6 },   { "set_irqs", 8 },
	{ "ioctls", 7 },  { "reenables", 9 }, { "replays", 7 },
	{ "spurious", 8 },
};

#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static void print_row(const struct row *r, bool kv)
{
	const uint64_t val[NCOLS] = {
		r->allocs,   r->releases, r->uploads,
		r->entries,  r->irqfds,   r->set_irqs,
		r->uploads + r->irqfds + r->set_irqs,
		r->reenables, r->replays, r->spurious,
	};

	if (kv)
		printf("host=%s algo=%s routing=%s", r->host, r->algo,
		       r->routing);
	else
		printf("%-9s %-12s %-10s", r->host, r->algo, r->routing);
	for (unsigned i = 0; i < NCOLS; i++) {
		if (kv)
			printf(" %s=%llu", cols[i].name,
			       (unsigned long long)val[i]);
		else
			printf(" %*llu", cols[i].width,
			       (unsigned long long)val[i]);
	}
	putchar('\n');
}

/* A device name from the trace, with anything unprintable replaced. */
static void print_name(const char *s)
{
	for (; *s; s++)
		putchar(*s >= 0x20 && *s < 0x7f ? *s : '?');
}

static void print_header(const struct trace *t)
{
	printf("trace %s: %u lines, %zu accesses, %u device%s\n", t->path,
	       t->lines, t->nr_ev, t->nr_devices,
	       t->nr_devices == 1 ? "" : "s");
	for (unsigned i = 0; i < TRACE_MAX_DEVICES; i++) {
		if (!t->dev[i].declared)
			continue;
		printf("  dev %u: ", i);
		print_name(t->dev[i].name);
		printf(", %u vectors%s\n", t->dev[i].cfg.nr_vectors,
		       t->dev[i].has_use ? ""
					 : " (no use lines: all vectors used)");
	}
	printf("\n%-9s %-12s %-10s", "host", "algorithm", "routing");
	for (unsigned i = 0; i < NCOLS; i++)
		printf(" %*s", cols[i].width, cols[i].name);
	putchar('\n');
}

static void footnotes(const struct row *r, bool reads)
{
	if (reads && r->read_mismatch)
		printf("note: %s/%s: %llu read%s returned another value than the trace recorded (first on line %u)\n",
		       r->host, r->algo, (unsigned long long)r->read_mismatch,
		       r->read_mismatch == 1 ? "" : "s", r->first_mismatch);
	if (r->faults)
		printf("note: %s/%s: %llu vector%s left blocked by a backend failure\n",
		       r->host, r->algo, (unsigned long long)r->faults,
		       r->faults == 1 ? "" : "s");
	if (r->violations)
		printf("note: %s/%s: %llu backend-contract violation%s (a libmsix bug)\n",
		       r->host, r->algo, (unsigned long long)r->violations,
		       r->violations == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "kv", no_argument, NULL, 'k' },
		{ "check", no_argument, NULL, 'c' },
		{ "routing", required_argument, NULL, 'r' },
		{ "flush-gap", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool kv = false, check = false, hosts[2] = { true, true };
	bool routings[2] = { true, true };
	uint64_t gap = 1000000;
	struct row rows[2 * (2 * NPOL + 1)];
	char *end;
	unsigned nrows = 0;
	struct trace t;
	FILE *f;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			hosts[0] = !strcmp(optarg, "live") ||
				   !strcmp(optarg, "both");
			hosts[1] = !strcmp(optarg, "noresize") ||
				   !strcmp(optarg, "both");
			if (!hosts[0] && !hosts[1]) {
				fprintf(stderr, "msix-trace: --host: live, noresize or both, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			routings[0] = !strcmp(optarg, "immediate") ||
				      !strcmp(optarg, "both");
			routings[1] = !strcmp(optarg, "deferred") ||
				      !strcmp(optarg, "both");
			if (!routings[0] && !routings[1]) {
				fprintf(stderr, "msix-trace: --routing: immediate, deferred or both, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'g':
			errno = 0;
			gap = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-') {
				fprintf(stderr, "msix-trace: --flush-gap: not a number of nanoseconds: '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'k':
			kv = true;
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	f = fopen(argv[optind], "r");
	if (!f) {
		perror(argv[optind]);
		return 1;
	}
	ret = trace_load(&t, f, argv[optind], gap, stderr);
	fclose(f);
	if (ret)
		return 1;
	if (check) {
		printf("%s: %u lines, %zu accesses, %u devices: well-formed\n",
		       t.path, t.lines, t.nr_ev, t.nr_devices);
		trace_free(&t);
		return 0;
	}
	memset(rows, 0, sizeof(rows));
	for (unsigned h = 0; h < 2 && !ret; h++) {
		if (!hosts[h])
			continue;
		for (unsigned m = 0; m < 2 && !ret; m++) {
			if (!routings[m])
				continue;
			for (unsigned p = 0; p < NPOL && !ret; p++) {
				struct row *r = &rows[nrows++];

				r->host = h ? "noresize" : "live";
				r->algo = libmsix_policy_name(policies[p]);
				r->routing = m ? "deferred" : "immediate";
				ret = replay_libmsix(&t, !h, policies[p], m, r,
						     stderr);
			}
		}
		if (!ret) {
			struct row *r = &rows[nrows++];

			r->host = h ? "noresize" : "live";
			r->algo = "qemu";
			r->routing = "qemu";
			ret = replay_qemu(&t, !h, r, stderr);
		}
	}
	if (!ret) {
		if (!kv)
			print_header(&t);
		for (unsigned i = 0; i < nrows; i++)
			print_row(&rows[i], kv);
		if (!kv)
			putchar('\n');
		/* Reads are the same in every replay but for PBA bits. */
		for (unsigned i = 0; i < nrows; i++)
			footnotes(&rows[i], i == 0);
	}
	trace_free(&t);
	return ret ? 1 : 0;
}
