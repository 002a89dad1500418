/* SPDX-License-Identifier: MIT */
/*
 * Guest test: the VFIO backend's failure paths on a real kernel. Each case
 * must fail with the documented -errno and a message that says what to
 * check, and leave nothing behind: no vfio trigger in /proc/interrupts, no
 * host MSI-X vector, no fd.
 *
 *   wrong address (malformed, absent)       -EINVAL, -ENOENT
 *   the group already open                  -EBUSY
 *   permission denied (uid 65534)           -EACCES
 *   a device without MSI-X (bound to vfio)  -ENOTSUP
 *   a device not bound to vfio-pci          -ENODEV
 *   SET_IRQS failing part-way (a live fd that is not an eventfd): the
 *     commit fails, the kernel keeps exactly the triggers it had, the old
 *     vectors still deliver, and a retry succeeds once the fd is fixed.
 *
 * Runs in the test guest (guest/run-in-guest.sh) on $LIBMSIX_TEST_DEVICE,
 * an ivshmem-doorbell bound to vfio-pci. Exit 0 when every case passed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "check.h"
#include "host.h"
#include "libmsix-vfio.h"
#include "mvmm.h"

static char lastlog[512];

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(lastlog, sizeof(lastlog), "%s", msg);
	printf("  log: %s\n", msg);
}

static struct libmsix_vfio_opts opts(void)
{
	struct libmsix_vfio_opts o = { .size = sizeof(o), .log = log_cb };

	return o;
}

static int try_open(const char *addr)
{
	struct libmsix_vfio_opts o = opts();
	struct libmsix_vfio *vf = NULL;
	int err;

	lastlog[0] = '\0';
	err = libmsix_vfio_open(addr, &o, &vf);
	libmsix_vfio_close(vf);
	return err;
}

static void nothing_left(const char *addr, int fds0, const char *what)
{
	CHECK(host_vfio_triggers(addr, NULL, 0) == 0,
	      "%s: no vfio trigger left for %s", what, addr);
	CHECK(host_msi_irqs(addr) == 0, "%s: no host MSI-X vector left", what);
	CHECK(host_open_fds() == fds0, "%s: no fd left open (%d, %d before)",
	      what, host_open_fds(), fds0);
}

static void wrong_address(const char *dev, int fds0)
{
	int err = try_open("00:01.0");

	CHECK(err == -EINVAL && strstr(lastlog, "malformed"),
	      "malformed address: %d", err);
	err = try_open("0000:00:07.0");
	CHECK(err == -ENOENT && strstr(lastlog, "no such PCI device"),
	      "absent device: %d", err);
	nothing_left(dev, fds0, "wrong address");
}

static void group_busy(const char *dev, int fds0)
{
	struct libmsix_vfio_opts o = opts();
	struct libmsix_vfio *vf = NULL;
	int err = libmsix_vfio_open(dev, &o, &vf);

	CHECK(err == 0, "first open of %s: %d", dev, err);
	err = try_open(dev);
	CHECK(err == -EBUSY && strstr(lastlog, "already open"),
	      "second open of the same group: %d", err);
	libmsix_vfio_close(vf);
	nothing_left(dev, fds0, "group busy");
}

static void permission_denied(const char *dev)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		int err;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		err = try_open(dev);
		_exit(err == -EACCES && strstr(lastlog, "cannot open /dev/vfio/")
			      ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "open as uid 65534 fails with -EACCES and says which file (status %d)",
	      status);
}

/* A type-0 function without an MSI-X capability, or "" if there is none. */
static void find_no_msix(const char *skip, char *out, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *de;

	out[0] = '\0';
	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		uint8_t cfg[256];
		int fd, has = 0;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, skip))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config",
			 de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		if (read(fd, cfg, sizeof(cfg)) == (ssize_t)sizeof(cfg) &&
		    (cfg[PCI_HEADER_TYPE] & 0x7f) == 0 &&
		    (cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
			uint8_t p = cfg[PCI_CAPABILITY_LIST];

			for (int i = 0; i < 48 && p >= 0x40; i++) {
				p &= ~3;
				if (cfg[p] == PCI_CAP_ID_MSIX)
					has = 1;
				p = cfg[p + 1];
			}
			/* Only functions that have some capability list
			 * (and so are real endpoints), but no MSI-X. */
			if (!has && cfg[PCI_CLASS_DEVICE + 1] != 0x06) {
				snprintf(out, len, "%.31s", de->d_name); /* an address */
				close(fd);
				break;
			}
		}
		close(fd);
	}
	if (d)
		closedir(d);
}

static int bind_vfio(const char *addr, bool bind)
{
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 addr);
	err = host_sysfs_write(path, bind ? "vfio-pci" : "\n");
	if (err)
		return err;
	if (!bind) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", addr);
		if (access(path, F_OK) == 0)
			return host_sysfs_write(path, addr);
		return 0;
	}
	return host_sysfs_write("/sys/bus/pci/drivers_probe", addr);
}

static void no_msix(const char *dev, int fds0)
{
	char other[32];
	int err;

	find_no_msix(dev, other, sizeof(other));
	if (!other[0]) {
		printf("note: no function without MSI-X in this guest; case not run\n");
		return;
	}
	err = bind_vfio(other, true);
	CHECK(err == 0, "bind %s (no MSI-X) to vfio-pci: %d", other, err);
	err = try_open(other);
	CHECK(err == -ENOTSUP && strstr(lastlog, "no MSI-X"),
	      "open of %s without MSI-X: %d", other, err);
	err = bind_vfio(other, false);
	CHECK(err == 0, "unbind %s: %d", other, err);
	nothing_left(dev, fds0, "no MSI-X");
}

static void not_bound(const char *dev, int fds0)
{
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", dev);
	err = host_sysfs_write(path, dev);
	CHECK(err == 0, "unbind %s from vfio-pci: %d", dev, err);
	err = try_open(dev);
	CHECK(err == -ENODEV && strstr(lastlog, "not bound to vfio-pci"),
	      "open of an unbound device: %d", err);
	err = host_sysfs_write("/sys/bus/pci/drivers_probe", dev);
	CHECK(err == 0, "rebind %s (driver_override vfio-pci): %d", dev, err);
	for (int i = 0; i < 50; i++) {
		err = try_open(dev);
		if (err == 0)
			break;
		usleep(100000);
	}
	CHECK(err == 0, "open after rebinding: %d", err);
	nothing_left(dev, fds0, "not bound");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The triggers the kernel holds, sorted; returns the count. */
static int triggers(const char *dev, uint32_t *v, size_t max)
{
	int n = host_vfio_triggers(dev, v, max);

	if (n > 0)
		qsort(v, (size_t)n < max ? (size_t)n : max, sizeof(*v), cmp_u32);
	return n;
}

static void bad_live_fd(const char *dev, int fds0)
{
	struct mvmm_opts o = { .address = dev, .policy = LIBMSIX_POLICY_LAZY };
	struct libmsix_vector_info vi;
	struct libmsix_vfio_stats st;
	uint32_t before[64], after[64];
	int nb, na, err, p[2];
	struct mvmm m;

	if (mvmm_open(&m, &o)) {
		CHECK(0, "open %s", dev);
		return;
	}
	if (m.n < 8) {
		printf("note: fewer than 8 vectors; mid-range case not run\n");
		mvmm_close(&m);
		return;
	}
	libmsix_vfio_set_bus_master(m.vfio, true);
	mvmm_set_msgctl(&m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < m.n; v++) {
		mvmm_set_mask(&m, v, true);
		mvmm_program(&m, v, mvmm_msg_addr(v), mvmm_msg_data(v, 0));
	}
	mvmm_set_msgctl(&m, PCI_MSIX_FLAGS_ENABLE);
	mvmm_set_mask(&m, 0, false);
	mvmm_set_mask(&m, 1, false);
	nb = triggers(dev, before, 64);
	CHECK(nb == 2, "two vectors live before the failing commit (%d)", nb);

	CHECK(pipe(p) == 0, "pipe");
	libmsix_vfio_set_live_fd(m.vfio, 4, p[0]);
	libmsix_begin(m.dev);
	for (uint32_t v = 2; v < 6; v++)
		mvmm_set_mask(&m, v, false);
	err = libmsix_commit(m.dev);
	CHECK(err == -EINVAL, "a commit whose SET_IRQS fails part-way returns the kernel's error (%d)",
	      err);
	na = triggers(dev, after, 64);
	CHECK(na == nb && memcmp(before, after, (size_t)nb * sizeof(*before)) == 0,
	      "the kernel holds exactly the triggers it held before (%d, %d before)",
	      na, nb);
	libmsix_vfio_get_stats(m.vfio, &st);
	CHECK(st.rollbacks == 1 && st.rollback_failures == 0,
	      "one rollback, undone cleanly (%llu, %llu failed)",
	      (unsigned long long)st.rollbacks,
	      (unsigned long long)st.rollback_failures);
	libmsix_get_vector_info(m.dev, 3, &vi);
	CHECK(!vi.live && (vi.host & LIBMSIX_HOST_FAULT),
	      "vector 3 stays blocked with a fault");
	if (m.doorbell) {
		mvmm_ring(&m, 1);
		CHECK(mvmm_wait(&m, 1, 1, 2000) == 0,
		      "vector 1 still delivers after the rollback");
		mvmm_ring(&m, 3);
		mvmm_pump(&m, 100);
		CHECK(m.delivered[3] == 0, "vector 3 not delivered while faulted");
	}
	libmsix_vfio_set_live_fd(m.vfio, 4, -1);
	err = libmsix_retry(m.dev);
	CHECK(err == 0, "retry after fixing the fd: %d", err);
	na = triggers(dev, after, 64);
	CHECK(na == 6, "six triggers after the retry (%d)", na);
	if (m.doorbell) {
		CHECK(mvmm_wait(&m, 3, 1, 2000) == 0,
		      "vector 3's interrupt, raised while faulted, arrives once it is live");
		mvmm_ring(&m, 4);
		CHECK(mvmm_wait(&m, 4, 1, 2000) == 0, "vector 4 delivers");
	}
	close(p[0]);
	close(p[1]);
	mvmm_close(&m);
	nothing_left(dev, fds0, "mid-range failure");
}

int main(void)
{
	const char *dev = getenv("LIBMSIX_TEST_DEVICE");
	int fds0 = host_open_fds();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!dev) {
		fprintf(stderr, "vfio_faults: LIBMSIX_TEST_DEVICE is not set\n");
		return 1;
	}
	printf("== vfio_faults on %s, kernel %s ==\n", dev,
	       getenv("LIBMSIX_TEST_KERNEL") ? getenv("LIBMSIX_TEST_KERNEL") : "?");
	wrong_address(dev, fds0);
	group_busy(dev, fds0);
	permission_denied(dev);
	no_msix(dev, fds0);
	bad_live_fd(dev, fds0);
	not_bound(dev, fds0);
	printf("vfio_faults: %s (%d failures)\n", failures ? "FAILED" : "passed",
	       failures);
	return failures ? 1 : 0;
}
