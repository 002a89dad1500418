/* SPDX-License-Identifier: MIT */
/*
 * A program built outside the libmsix tree against an installed libmsix, as
 * a VMM would build: one vector from reset to a delivered message, masked,
 * latched in the PBA and replayed on unmask, all checked on the recording
 * backend. Exit 0 only if every step did what the API documents.
 */
#include <libmsix.h>
#include <linux/pci_regs.h>

#include <stdio.h>
#include <string.h>

#define CAP 0x50u
#define NVEC 4u
#define PBA_OFFSET 0x1000u
#define VEC 1u
#define ADDR 0xfee01000u
#define DATA 0x4021u

static int failures;

static void expect(const char *what, long long got, long long want)
{
	if (got != want) {
		fprintf(stderr, "consumer: %s: got %lld, want %lld\n", what, got, want);
		failures++;
	}
}

static int entry_write(struct libmsix_dev *dev, uint32_t reg, uint32_t val)
{
	return libmsix_mmio_write(dev, 0, VEC * PCI_MSIX_ENTRY_SIZE + reg, 4, val);
}

/* The last delivery the recorder saw, or NULL. */
static const struct libmsix_rec_op *last_delivery(struct libmsix_recorder *rec)
{
	size_t i = libmsix_recorder_count(rec);

	while (i--) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(rec, i);

		if (op->kind == LIBMSIX_REC_DELIVER)
			return op;
	}
	return NULL;
}

int main(void)
{
	struct libmsix_recorder *rec = NULL;
	struct libmsix_dev *dev = NULL;
	struct libmsix_config cfg;
	const struct libmsix_rec_op *op;
	uint64_t pba = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.nr_vectors = NVEC;
	cfg.cap_offset = CAP;
	cfg.table_bir = 0;
	cfg.table_offset = 0;
	cfg.pba_bir = 0;
	cfg.pba_offset = PBA_OFFSET;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[0] = 2 * PBA_OFFSET;
	cfg.policy = LIBMSIX_POLICY_AUTO;

	if (libmsix_recorder_create(0, 0, &rec) != 0 ||
	    libmsix_dev_create(&cfg, libmsix_recorder_backend(rec), &dev) != 0) {
		fprintf(stderr, "consumer: cannot create the recorder and device\n");
		libmsix_recorder_destroy(rec);
		return 1;
	}
	expect("nr_vectors", libmsix_nr_vectors(dev), NVEC);
	expect("vector_use", libmsix_vector_use(dev, VEC), 0);
	expect("enable", libmsix_config_write(dev, CAP + PCI_MSIX_FLAGS, 2,
					      PCI_MSIX_FLAGS_ENABLE), 0);
	expect("enabled", libmsix_enabled(dev), 1);
	expect("addr", entry_write(dev, PCI_MSIX_ENTRY_LOWER_ADDR, ADDR), 0);
	expect("upper", entry_write(dev, PCI_MSIX_ENTRY_UPPER_ADDR, 0), 0);
	expect("data", entry_write(dev, PCI_MSIX_ENTRY_DATA, DATA), 0);
	expect("unmask", entry_write(dev, PCI_MSIX_ENTRY_VECTOR_CTRL, 0), 0);

	expect("notify live", libmsix_notify(dev, VEC), LIBMSIX_DELIVERED);
	op = last_delivery(rec);
	expect("delivered", op != NULL, 1);
	if (op) {
		expect("delivered vector", op->start, VEC);
		expect("delivered address", (long long)op->msg.address, ADDR);
		expect("delivered data", op->msg.data, DATA);
	}
	expect("notify unused", libmsix_notify(dev, 0), LIBMSIX_DROPPED);

	expect("mask", entry_write(dev, PCI_MSIX_ENTRY_VECTOR_CTRL,
				   PCI_MSIX_ENTRY_CTRL_MASKBIT), 0);
	libmsix_recorder_clear(rec);
	expect("notify masked", libmsix_notify(dev, VEC), LIBMSIX_LATCHED);
	expect("pba read", libmsix_mmio_read(dev, 0, PBA_OFFSET, 8, &pba), 0);
	expect("pba bit", (long long)pba, 1u << VEC);
	expect("unmask again", entry_write(dev, PCI_MSIX_ENTRY_VECTOR_CTRL, 0), 0);
	expect("replayed once",
	       (long long)libmsix_recorder_count_kind(rec, LIBMSIX_REC_DELIVER), 1);

	libmsix_dev_destroy(dev);
	expect("contract violations", (long long)libmsix_recorder_violations(rec), 0);
	libmsix_recorder_destroy(rec);

	if (failures) {
		fprintf(stderr, "consumer: %d check(s) failed\n", failures);
		return 1;
	}
	printf("consumer: ok (libmsix %d.%d.%d, policy %s)\n", LIBMSIX_VERSION_MAJOR,
	       LIBMSIX_VERSION_MINOR, LIBMSIX_VERSION_PATCH,
	       libmsix_policy_name(LIBMSIX_POLICY_AUTO));
	return 0;
}
