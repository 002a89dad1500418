/* SPDX-License-Identifier: MIT */
/*
 * What the host kernel holds for a PCI function, read from sysfs and
 * /proc/interrupts: the ground truth the examples and guest tests compare
 * the VFIO backend's own bookkeeping against.
 */
#ifndef LIBMSIX_EXAMPLES_HOST_H
#define LIBMSIX_EXAMPLES_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Host MSI/MSI-X vectors allocated to @address: entries of
 * /sys/bus/pci/devices/ADDR/msi_irqs (0 when MSI-X is off), or -errno. */
int host_msi_irqs(const char *address);

/* Triggers vfio-pci holds for @address (each a request_irq): lines
 * "vfio-msix[V](ADDR)" of /proc/interrupts. If @vectors is not NULL, the
 * first @max vector numbers are stored there. Returns the count or -errno. */
int host_vfio_triggers(const char *address, uint32_t *vectors, size_t max);

/* Open file descriptors of this process, or -errno. */
int host_open_fds(void);

/* Raise RLIMIT_NOFILE to at least @want (up to the hard limit, or beyond
 * it when privileged). Returns 0 or -errno. */
int host_raise_nofile(unsigned long want);

/* Write @text to the sysfs file @path; 0 or -errno. */
int host_sysfs_write(const char *path, const char *text);

#endif
