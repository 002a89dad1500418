/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host.h"

int host_msi_irqs(const char *address)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/msi_irqs",
		 address);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int host_vfio_triggers(const char *address, uint32_t *vectors, size_t max)
{
	char line[1024], tail[64];
	FILE *f = fopen("/proc/interrupts", "r");
	int n = 0;

	if (!f)
		return -errno;
	snprintf(tail, sizeof(tail), "](%s)", address);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "vfio-msix[");
		unsigned long v;
		char *end;

		if (!p || !strstr(p, tail))
			continue;
		v = strtoul(p + strlen("vfio-msix["), &end, 10);
		if (*end != ']')
			continue;
		if (vectors && (size_t)n < max)
			vectors[n] = (uint32_t)v;
		n++;
	}
	fclose(f);
	return n;
}

int host_open_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory stream itself */
}

int host_raise_nofile(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want; /* needs CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	return 0;
}

int host_sysfs_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text), w;
	int err = 0;

	if (fd < 0)
		return -errno;
	w = write(fd, text, (size_t)len);
	if (w != len)
		err = w < 0 ? -errno : -EIO;
	close(fd);
	return err;
}
