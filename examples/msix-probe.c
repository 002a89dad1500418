/* SPDX-License-Identifier: MIT */
/*
 * msix-probe: what a VMM needs to know about the MSI-X of one vfio-pci
 * function, in the shape of lspci -vv, plus what VFIO says about it.
 *
 *   msix-probe [DDDD:BB:DD.F]      (default: $LIBMSIX_TEST_DEVICE)
 *
 * Prints the MSI-X capability (Enable, Function Mask, table size, table and
 * PBA location), the BARs, the VFIO IRQ indexes with their flags decoded
 * (NORESIZE or dynamic MSI-X), the MSI-X region capabilities, the device's
 * current PBA, what the host holds for it, and whether libmsix can mirror
 * the capability. Changes nothing on the device (MSI-X stays off).
 * Exit: 0 printed; 1 the device could not be opened or read; 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "host.h"
#include "libmsix-vfio.h"
#include "libmsix.h"

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "%s\n", msg);
}

static int dev_fd;

static int rd(uint64_t off, void *buf, size_t len)
{
	return pread(dev_fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static const char *pm(bool b)
{
	return b ? "+" : "-";
}

static void size_str(uint64_t s, char *buf, size_t len)
{
	static const char unit[] = "KMGT";
	int u = -1;

	while (s >= 1024 && s % 1024 == 0 && u < 3) {
		s /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, s);
	else
		snprintf(buf, len, "%" PRIu64 "%c", s, unit[u]);
}

static void sysfs_str(const char *addr, const char *file, char *buf,
		      size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", addr, file);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void link_base(const char *addr, const char *file, char *buf,
		      size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", addr, file);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		snprintf(buf, len, "none");
		return;
	}
	link[n] = '\0';
	snprintf(buf, len, "%.63s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

static void irq_flags(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", f & VFIO_IRQ_INFO_EVENTFD ? "EVENTFD " : "",
		 f & VFIO_IRQ_INFO_MASKABLE ? "MASKABLE " : "",
		 f & VFIO_IRQ_INFO_AUTOMASKED ? "AUTOMASKED " : "",
		 f & VFIO_IRQ_INFO_NORESIZE ? "NORESIZE " : "");
	if (buf[0])
		buf[strlen(buf) - 1] = '\0';
	else
		snprintf(buf, len, "none");
}

/* Region capability chain of the BAR holding the table (MSIX_MAPPABLE...). */
static void region_caps(uint32_t index)
{
	struct vfio_region_info *ri = calloc(1, sizeof(*ri));
	uint32_t off;

	if (!ri)
		return;
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		goto out;
	if ((ri->flags & VFIO_REGION_INFO_FLAG_CAPS) && ri->argsz > sizeof(*ri)) {
		uint32_t argsz = ri->argsz;
		struct vfio_region_info *big = realloc(ri, argsz);

		if (!big)
			goto out;
		ri = big;
		memset(ri, 0, argsz);
		ri->argsz = argsz;
		ri->index = index;
		if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
			goto out;
	}
	printf("\t\tVFIO region %u: flags%s%s%s%s", index,
	       ri->flags & VFIO_REGION_INFO_FLAG_READ ? " read" : "",
	       ri->flags & VFIO_REGION_INFO_FLAG_WRITE ? " write" : "",
	       ri->flags & VFIO_REGION_INFO_FLAG_MMAP ? " mmap" : "",
	       ri->flags & VFIO_REGION_INFO_FLAG_CAPS ? " caps" : "");
	off = (ri->flags & VFIO_REGION_INFO_FLAG_CAPS) ? ri->cap_offset : 0;
	for (int i = 0; off && off + sizeof(struct vfio_info_cap_header) <= ri->argsz && i < 16; i++) {
		struct vfio_info_cap_header *h = (void *)((char *)ri + off);

		if (h->id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)
			printf(", MSIX_MAPPABLE (the table page may be mmapped)");
		else if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			struct vfio_region_info_cap_sparse_mmap *s = (void *)h;

			printf(", sparse mmap:");
			for (uint32_t a = 0; a < s->nr_areas &&
					     off + sizeof(*s) + (a + 1) * sizeof(s->areas[0]) <= ri->argsz;
			     a++)
				printf(" [0x%llx+0x%llx]",
				       (unsigned long long)s->areas[a].offset,
				       (unsigned long long)s->areas[a].size);
		} else {
			printf(", cap %u", h->id);
		}
		off = h->next;
	}
	printf("\n");
out:
	free(ri);
}

static void print_bars(const struct libmsix_vfio_info *info,
		       const struct libmsix_config *cfg)
{
	for (int i = 0; i < 6; i++) {
		char sz[32];

		if (cfg->bar_type[i] == LIBMSIX_BAR_NONE)
			continue;
		size_str(info->bar_size[i], sz, sizeof(sz));
		printf("\tRegion %d: %s size=%s%s\n", i,
		       cfg->bar_type[i] == LIBMSIX_BAR_IO	 ? "I/O ports"
		       : cfg->bar_type[i] == LIBMSIX_BAR_MEM64 ? "Memory (64-bit)"
								: "Memory (32-bit)",
		       sz,
		       (i == cfg->table_bir || i == cfg->pba_bir) ? " [MSI-X]" : "");
	}
}

static void print_irq_indexes(void)
{
	static const char *const name[] = { "INTx", "MSI", "MSI-X", "ERR", "REQ" };

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };
		char f[96];

		if (ioctl(dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0)
			continue;
		irq_flags(ii.flags, f, sizeof(f));
		printf("\tVFIO IRQ index %u (%s): count %u, flags 0x%x (%s)\n", i,
		       i < 5 ? name[i] : "?", ii.count, ii.flags, f);
	}
}

static void print_pba(const struct libmsix_vfio_info *info,
		      const struct libmsix_config *cfg)
{
	uint64_t base = info->bar_offset[cfg->pba_bir] + cfg->pba_offset;
	uint32_t n = cfg->nr_vectors, shown = 0, pending = 0;

	printf("\tPBA (device):");
	for (uint32_t w = 0; w < (n + 31) / 32; w++) {
		uint32_t word;

		if (rd(base + 4ull * w, &word, 4)) {
			printf(" not readable through VFIO\n");
			return;
		}
		for (uint32_t b = 0; b < 32 && 32 * w + b < n; b++) {
			if (!((word >> b) & 1))
				continue;
			pending++;
			if (shown++ < 16)
				printf(" %u", 32 * w + b);
		}
	}
	printf(pending ? "%s (%u pending)\n" : " none pending\n",
	       pending > 16 ? " ..." : "", pending);
}

static int probe(const char *addr)
{
	struct libmsix_vfio_opts o = { .size = sizeof(o), .log = log_cb };
	struct libmsix_config cfg = { .size = sizeof(cfg),
				      .policy = LIBMSIX_POLICY_AUTO };
	struct libmsix_vfio_info info;
	struct libmsix_vfio *vf;
	struct libmsix_recorder *rec = NULL;
	struct libmsix_dev *dev = NULL;
	char vendor[16], device[16], cls[16], drv[64], grp[32], f[96];
	uint32_t table_dw[4];
	int err;

	sysfs_str(addr, "vendor", vendor, sizeof(vendor));
	sysfs_str(addr, "device", device, sizeof(device));
	sysfs_str(addr, "class", cls, sizeof(cls));
	link_base(addr, "driver", drv, sizeof(drv));
	link_base(addr, "iommu_group", grp, sizeof(grp));
	printf("%s [%s:%s] class %s, driver %s, IOMMU group %s\n", addr,
	       vendor[0] ? vendor + 2 : "?", device[0] ? device + 2 : "?",
	       cls[0] ? cls + 2 : "?", drv, grp);

	err = libmsix_vfio_open(addr, &o, &vf);
	if (err) {
		fprintf(stderr, "msix-probe: cannot open %s through VFIO: %s\n",
			addr, strerror(-err));
		return 1;
	}
	dev_fd = libmsix_vfio_device_fd(vf);
	libmsix_vfio_get_info(vf, &info);
	libmsix_vfio_fill_config(vf, &cfg);

	printf("\tCommand: 0x%04x (I/O%s Mem%s BusMaster%s DisINTx%s)%s\n",
	       info.command, pm(info.command & PCI_COMMAND_IO),
	       pm(info.command & PCI_COMMAND_MEMORY),
	       pm(info.command & PCI_COMMAND_MASTER),
	       pm(info.command & PCI_COMMAND_INTX_DISABLE),
	       info.command & PCI_COMMAND_MASTER
		       ? ""
		       : "\n\t\tBus Master is off: the device cannot send MSI-X "
			 "until it is set (libmsix_vfio_set_bus_master)");
	print_bars(&info, &cfg);
	printf("\tCapabilities: [%02x] MSI-X: Enable%s Count=%u Masked%s\n",
	       info.cap_offset, pm(info.msgctl & PCI_MSIX_FLAGS_ENABLE),
	       info.table_size, pm(info.msgctl & PCI_MSIX_FLAGS_MASKALL));
	printf("\t\tVector table: BAR=%u offset=%08x\n", cfg.table_bir,
	       cfg.table_offset);
	printf("\t\tPBA: BAR=%u offset=%08x\n", cfg.pba_bir, cfg.pba_offset);
	printf("\t\tNext capability: %02x\n", cfg.next_cap);
	region_caps(VFIO_PCI_BAR0_REGION_INDEX + cfg.table_bir);

	irq_flags(info.irq_flags, f, sizeof(f));
	printf("\tVFIO MSI-X: %u vectors, flags 0x%x (%s): %s\n", info.irq_count,
	       info.irq_flags, f,
	       info.live_resize
		       ? "dynamic MSI-X, vectors are added and removed one at a time while others stay live"
		       : "NORESIZE, adding a vector beyond the enabled set means disabling MSI-X and enabling it again");
	print_irq_indexes();

	/* vfio-pci keeps the table to itself. */
	if (rd(info.bar_offset[cfg.table_bir] + cfg.table_offset, table_dw,
	       sizeof(table_dw)) == 0)
		printf("\tTable entry 0 through VFIO: %08x %08x %08x %08x%s\n",
		       table_dw[0], table_dw[1], table_dw[2], table_dw[3],
		       table_dw[0] == UINT32_MAX ? " (kernel-owned: reads are all ones)" : "");
	else
		printf("\tTable: not readable through VFIO (kernel-owned)\n");
	print_pba(&info, &cfg);
	printf("\tHost: %d MSI-X vectors allocated, %d vfio triggers\n",
	       host_msi_irqs(addr), host_vfio_triggers(addr, NULL, 0));

	/* Would libmsix accept this geometry? (A recorder stands in.) */
	err = libmsix_recorder_create(0, 0, &rec);
	if (!err) {
		cfg.log = log_cb;
		err = libmsix_dev_create(&cfg, libmsix_recorder_backend(rec), &dev);
	}
	printf("\tlibmsix mirror: %s%s\n", err ? "rejected: " : "ok",
	       err ? strerror(-err) : "");
	libmsix_dev_destroy(dev);
	libmsix_recorder_destroy(rec);
	libmsix_vfio_close(vf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : getenv("LIBMSIX_TEST_DEVICE");

	if (argc > 2 || (argc > 1 && (!strcmp(argv[1], "-h") ||
				     !strcmp(argv[1], "--help"))) ||
	    !addr || !*addr) {
		fprintf(stderr, "usage: msix-probe [DDDD:BB:DD.F]\n"
				"  (default: $LIBMSIX_TEST_DEVICE)\n");
		return 2;
	}
	return probe(addr);
}
