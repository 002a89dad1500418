/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend, opening: from a PCI address (sysfs, the IOMMU group,
 * the container, the device fd) or an adopted device fd to a struct
 * libmsix_vfio that knows the function's MSI-X capability, IRQ count and
 * BARs; closing; and the device accessors (config for libmsix_dev_create(),
 * Bus Master). The vectors themselves are lib/vfio.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "vfio.h"

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

static int cfg_read(struct libmsix_vfio *vf, uint32_t off, void *buf,
		    size_t len)
{
	ssize_t r = pread(vf->device_fd, buf, len,
			  (off_t)(vf->info.config_offset + off));

	if (r == (ssize_t)len)
		return 0;
	return r < 0 ? -errno : -EIO;
}

static int cfg_write(struct libmsix_vfio *vf, uint32_t off, const void *buf,
		     size_t len)
{
	ssize_t r = pwrite(vf->device_fd, buf, len,
			   (off_t)(vf->info.config_offset + off));

	if (r == (ssize_t)len)
		return 0;
	return r < 0 ? -errno : -EIO;
}

static int region_info(struct libmsix_vfio *vf, uint32_t index,
		       struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(vf->device_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -errno
									 : 0;
}

#define OPEN_FAIL(vf, e, ...)                         \
	do {                                          \
		lmx_vfio_log(vf, LOG_ERR, __VA_ARGS__);       \
		return (e);                           \
	} while (0)

/* Walk the capability list for MSI-X; 0 when the device has none. */
static int find_msix(struct libmsix_vfio *vf, uint8_t *pos)
{
	uint16_t status;
	uint8_t ptr, hdr[2];
	int err;

	*pos = 0;
	err = cfg_read(vf, PCI_STATUS, &status, 2);
	if (err)
		return err;
	if (!(status & PCI_STATUS_CAP_LIST))
		return 0;
	err = cfg_read(vf, PCI_CAPABILITY_LIST, &ptr, 1);
	if (err)
		return err;
	/* 48 capabilities fill 0x40..0xff: more means a loop. */
	for (int i = 0; i < 48 && ptr >= 0x40; i++) {
		ptr &= ~3u;
		err = cfg_read(vf, ptr, hdr, 2);
		if (err)
			return err;
		if (hdr[0] == PCI_CAP_ID_MSIX) {
			*pos = ptr;
			vf->next_cap = hdr[1];
			return 0;
		}
		ptr = hdr[1];
	}
	return 0;
}

static int read_bars(struct libmsix_vfio *vf)
{
	uint32_t nbars = vf->header_type == PCI_HEADER_TYPE_BRIDGE ? 2 : 6;

	for (uint32_t i = 0; i < nbars; i++) {
		struct vfio_region_info ri;
		uint32_t bar;
		int err;

		if (region_info(vf, VFIO_PCI_BAR0_REGION_INDEX + i, &ri) < 0 ||
		    ri.size == 0)
			continue;
		vf->info.bar_offset[i] = ri.offset;
		vf->info.bar_size[i] = ri.size;
		vf->info.bar_flags[i] = ri.flags;
		err = cfg_read(vf, PCI_BASE_ADDRESS_0 + 4 * i, &bar, 4);
		if (err)
			return err;
		if (bar & PCI_BASE_ADDRESS_SPACE_IO) {
			vf->bar_type[i] = LIBMSIX_BAR_IO;
		} else if ((bar & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
				   PCI_BASE_ADDRESS_MEM_TYPE_64 &&
			   i + 1 < nbars) {
			vf->bar_type[i] = LIBMSIX_BAR_MEM64;
			i++; /* the upper half stays LIBMSIX_BAR_NONE */
		} else {
			vf->bar_type[i] = LIBMSIX_BAR_MEM32;
		}
	}
	return 0;
}

/* Everything after the device fd exists; shared by open and adopt. */
static int init_device(struct libmsix_vfio *vf)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii),
				    .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_region_info ri;
	uint8_t pos = 0, hdr;
	int err;

	if (ioctl(vf->device_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_DEVICE_GET_INFO failed (%s): not a VFIO device fd",
			  strerror(-err));
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    di.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX ||
	    di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		OPEN_FAIL(vf, -ENOTSUP, "not a vfio-pci device (flags 0x%x)",
			  di.flags);
	err = region_info(vf, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (err)
		OPEN_FAIL(vf, err, "no config region: %s", strerror(-err));
	vf->info.config_offset = ri.offset;
	if (ioctl(vf->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_DEVICE_GET_IRQ_INFO(MSI-X) failed: %s",
			  strerror(-err));
	}
	if (ii.count == 0 || ii.count > LIBMSIX_MAX_VECTORS)
		OPEN_FAIL(vf, -ENOTSUP,
			  "the device has no MSI-X (VFIO reports %u MSI-X vectors)",
			  ii.count);
	vf->info.irq_count = ii.count;
	vf->info.irq_flags = ii.flags;
	vf->info.live_resize = !(ii.flags & VFIO_IRQ_INFO_NORESIZE);

	err = cfg_read(vf, PCI_HEADER_TYPE, &hdr, 1);
	if (!err)
		err = cfg_read(vf, PCI_COMMAND, &vf->info.command, 2);
	if (!err)
		err = find_msix(vf, &pos);
	if (err)
		OPEN_FAIL(vf, -EIO, "cannot read config space: %s",
			  strerror(-err));
	vf->header_type = hdr & 0x7f;
	if (pos == 0)
		OPEN_FAIL(vf, -ENOTSUP,
			  "VFIO reports MSI-X but config space has no MSI-X capability");
	vf->info.cap_offset = pos;
	if (cfg_read(vf, pos + PCI_MSIX_FLAGS, &vf->info.msgctl, 2) ||
	    cfg_read(vf, pos + PCI_MSIX_TABLE, &vf->info.table, 4) ||
	    cfg_read(vf, pos + PCI_MSIX_PBA, &vf->info.pba, 4))
		OPEN_FAIL(vf, -EIO, "cannot read the MSI-X capability at 0x%x",
			  pos);
	vf->info.table_size = (vf->info.msgctl & PCI_MSIX_FLAGS_QSIZE) + 1u;
	if (vf->info.table_size != ii.count)
		lmx_vfio_log(vf, LOG_WARNING,
		     "table size %u differs from the VFIO MSI-X count %u",
		     vf->info.table_size, ii.count);
	err = read_bars(vf);
	if (err)
		OPEN_FAIL(vf, -EIO, "cannot read the BARs: %s", strerror(-err));
	if (vf->info.msgctl & PCI_MSIX_FLAGS_ENABLE)
		lmx_vfio_log(vf, LOG_WARNING,
		     "MSI-X is already enabled in the device (another user?)");
	return 0;
}

static struct libmsix_vfio *vf_new(const struct libmsix_vfio_opts *opts,
				   const char *name)
{
	struct libmsix_vfio *vf = calloc(1, sizeof(*vf));

	if (!vf)
		return NULL;
	LMX_STRUCT_IN(&vf->opts, opts); /* check_opts() accepted it */
	snprintf(vf->log_prefix, sizeof(vf->log_prefix), "libmsix-vfio %.63s: ",
		 name);
	vf->container_fd = vf->group_fd = vf->device_fd = -1;
	pthread_mutex_init(&vf->lock, NULL);
	return vf;
}

static void vf_free(struct libmsix_vfio *vf)
{
	lmx_vfio_vectors_free(vf);
	if (vf->own_device && vf->device_fd >= 0)
		close(vf->device_fd);
	if (vf->group_fd >= 0)
		close(vf->group_fd);
	if (vf->container_fd >= 0)
		close(vf->container_fd);
	pthread_mutex_destroy(&vf->lock);
	free(vf);
}

/* A VMM's call broke a rule: say which through @o's sink; -EINVAL. */
#define opts_einval(o, ...)                                               \
	lmx_sink_einval((o)->log, (o)->opaque, (o)->log_level,            \
			"libmsix-vfio: ", __VA_ARGS__)

static int check_opts(const struct libmsix_vfio_opts *opts, const void *out)
{
	struct libmsix_vfio_opts o;
	int err;

	if (!opts || !out)
		return -EINVAL;
	err = LMX_STRUCT_IN(&o, opts);
	if (err)
		return err;
	if (o.flags)
		return opts_einval(&o, "opts->flags 0x%x: none are defined",
				   o.flags);
	return 0;
}

/*
 * Both ways of opening end here, with the device fd in @vf (@err: how
 * getting it went): read the device, size the vectors, hand it out -- or
 * free it.
 */
static int vf_finish(struct libmsix_vfio *vf, int err,
		     struct libmsix_vfio **out)
{
	if (!err)
		err = init_device(vf);
	if (!err)
		err = lmx_vfio_vectors(vf);
	if (err) {
		vf_free(vf);
		return err;
	}
	*out = vf;
	return 0;
}

int libmsix_vfio_adopt(int device_fd, const char *name,
		       const struct libmsix_vfio_opts *opts,
		       struct libmsix_vfio **out)
{
	struct libmsix_vfio *vf;
	char buf[32];
	int err = check_opts(opts, out);

	if (err)
		return err;
	if (device_fd < 0) {
		struct libmsix_vfio_opts o;

		LMX_STRUCT_IN(&o, opts); /* check_opts() accepted it */
		return opts_einval(&o, "libmsix_vfio_adopt(): device_fd %d is not a file descriptor",
				   device_fd);
	}
	if (!name) {
		snprintf(buf, sizeof(buf), "fd %d", device_fd);
		name = buf;
	}
	vf = vf_new(opts, name);
	if (!vf)
		return -ENOMEM;
	vf->device_fd = device_fd;
	return vf_finish(vf, 0, out);
}

/* "DDDD:BB:DD.F", lowercase or uppercase hex, nothing else. */
static bool address_ok(const char *a)
{
	static const char shape[] = "xxxx:xx:xx.x";

	if (strlen(a) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !strchr("0123456789abcdefABCDEF", a[i])
				    : a[i] != shape[i])
			return false;
	}
	return true;
}

/* Name of the driver @address is bound to, or "no driver". */
static void bound_driver(const char *address, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", address);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		snprintf(buf, len, "no driver");
		return;
	}
	link[n] = '\0';
	/* A driver name is short; bound it so the message cannot truncate. */
	snprintf(buf, len, "driver %.64s",
		 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

static int open_group(struct libmsix_vfio *vf, const char *address)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[PATH_MAX], link[PATH_MAX], group[16];
	const char *base;
	ssize_t n;
	int err, api;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", address);
	if (access(path, F_OK) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "no such PCI device (%s: %s)", path,
			  strerror(-err));
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 address);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		OPEN_FAIL(vf, -ENODEV,
			  "no IOMMU group (%s missing): VFIO needs an IOMMU (intel_iommu=on / amd_iommu=on)",
			  path);
	link[n] = '\0';
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	/* Group names are numbers; anything else is not a group we can open. */
	if (!*base || strlen(base) >= sizeof(group) ||
	    strspn(base, "0123456789") != strlen(base))
		OPEN_FAIL(vf, -ENODEV, "unexpected IOMMU group link %s", link);
	memcpy(group, base, strlen(base) + 1);

	vf->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (vf->container_fd < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "cannot open /dev/vfio/vfio: %s%s",
			  strerror(-err),
			  err == -ENOENT ? " (is the vfio module loaded?)" : "");
	}
	api = ioctl(vf->container_fd, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION)
		OPEN_FAIL(vf, -EPROTO, "VFIO API version %d, expected %d", api,
			  VFIO_API_VERSION);
	if (ioctl(vf->container_fd, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) != 1)
		OPEN_FAIL(vf, -ENOTSUP,
			  "the host offers no VFIO_TYPE1v2_IOMMU (vfio_iommu_type1 not loaded?)");

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	vf->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vf->group_fd < 0) {
		err = -errno;
		if (err == -ENOENT) {
			char drv[96];

			bound_driver(address, drv, sizeof(drv));
			OPEN_FAIL(vf, -ENODEV,
				  "%s does not exist: the device is not bound to vfio-pci (it has %s)",
				  path, drv);
		}
		OPEN_FAIL(vf, err, "cannot open %s: %s%s", path,
			  strerror(-err),
			  err == -EBUSY ? " (the group is already open)" : "");
	}
	if (ioctl(vf->group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_GET_STATUS on %s: %s", path,
			  strerror(-err));
	}
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		OPEN_FAIL(vf, -EBUSY,
			  "IOMMU group %s is not viable: bind every device in /sys/kernel/iommu_groups/%s/devices to vfio-pci or unbind it",
			  group, group);
	if (ioctl(vf->group_fd, VFIO_GROUP_SET_CONTAINER, &vf->container_fd) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_SET_CONTAINER: %s",
			  strerror(-err));
	}
	if (ioctl(vf->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_SET_IOMMU(TYPE1v2): %s%s",
			  strerror(-err),
			  err == -EPERM ? " (no interrupt remapping? see vfio_iommu_type1 allow_unsafe_interrupts)" : "");
	}
	vf->device_fd = ioctl(vf->group_fd, VFIO_GROUP_GET_DEVICE_FD, address);
	if (vf->device_fd < 0) {
		err = -errno;
		OPEN_FAIL(vf, err, "VFIO_GROUP_GET_DEVICE_FD(%s): %s", address,
			  strerror(-err));
	}
	vf->own_device = true;
	return 0;
}

int libmsix_vfio_open(const char *address,
		      const struct libmsix_vfio_opts *opts,
		      struct libmsix_vfio **out)
{
	struct libmsix_vfio *vf;
	int err = check_opts(opts, out);

	if (err || !address)
		return err ? err : -EINVAL;
	if (!address_ok(address)) {
		vf = vf_new(opts, "?");
		if (!vf)
			return -ENOMEM;
		lmx_vfio_log(vf, LOG_ERR,
		     "malformed PCI address \"%.32s\": expected DDDD:BB:DD.F",
		     address);
		vf_free(vf);
		return -EINVAL;
	}
	vf = vf_new(opts, address);
	if (!vf)
		return -ENOMEM;
	return vf_finish(vf, open_group(vf, address), out);
}

void libmsix_vfio_close(struct libmsix_vfio *vf)
{
	int err;

	if (!vf)
		return;
	err = lmx_vfio_disable(vf);
	if (err)
		lmx_vfio_log(vf, LOG_ERR, "cannot disable MSI-X at close: %s",
		     strerror(-err));
	vf_free(vf);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

struct libmsix_backend *libmsix_vfio_backend(struct libmsix_vfio *vf)
{
	return vf ? &vf->be : NULL;
}

int libmsix_vfio_device_fd(const struct libmsix_vfio *vf)
{
	return vf ? vf->device_fd : -1;
}

int libmsix_vfio_get_info(struct libmsix_vfio *vf,
			  struct libmsix_vfio_info *info)
{
	if (!vf || !info)
		return -EINVAL;
	*info = vf->info;
	return 0;
}

int libmsix_vfio_fill_config(struct libmsix_vfio *vf,
			     struct libmsix_config *cfg)
{
	if (!vf || !cfg)
		return -EINVAL;
	cfg->nr_vectors = vf->info.table_size;
	cfg->header_type = vf->header_type;
	cfg->cap_offset = vf->info.cap_offset;
	cfg->next_cap = vf->next_cap;
	cfg->table_bir = vf->info.table & PCI_MSIX_TABLE_BIR;
	cfg->table_offset = vf->info.table & PCI_MSIX_TABLE_OFFSET;
	cfg->pba_bir = vf->info.pba & PCI_MSIX_PBA_BIR;
	cfg->pba_offset = vf->info.pba & PCI_MSIX_PBA_OFFSET;
	for (int i = 0; i < 6; i++) {
		cfg->bar_type[i] = vf->bar_type[i];
		cfg->bar_size[i] = vf->bar_type[i] == LIBMSIX_BAR_NONE
					   ? 0
					   : vf->info.bar_size[i];
	}
	return 0;
}

int libmsix_vfio_set_bus_master(struct libmsix_vfio *vf, bool on)
{
	uint16_t cmd;
	int err;

	if (!vf)
		return -EINVAL;
	pthread_mutex_lock(&vf->lock);
	err = cfg_read(vf, PCI_COMMAND, &cmd, 2);
	if (!err) {
		cmd = on ? (uint16_t)(cmd | PCI_COMMAND_MASTER)
			 : (uint16_t)(cmd & ~PCI_COMMAND_MASTER);
		err = cfg_write(vf, PCI_COMMAND, &cmd, 2);
	}
	pthread_mutex_unlock(&vf->lock);
	if (err) {
		lmx_vfio_log(vf, LOG_ERR, "cannot %s Bus Master: %s",
		     on ? "set" : "clear", strerror(-err));
		return -EIO;
	}
	return 0;
}
