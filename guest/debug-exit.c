/* SPDX-License-Identifier: MIT */
/*
 * Guest side of the libmsix guest harness: ends the QEMU run with a status.
 *
 * Usage: debug-exit CODE [TTY...]
 *
 * Waits until every TTY has transmitted its output (the UART drains after
 * write() returns, and QEMU exits at once), then writes CODE (0..255) to
 * QEMU's isa-debug-exit port 0xf4, which makes QEMU exit with status
 * (CODE << 1) | 1.  The Debian cloud kernels have no /dev/port, hence
 * ioperm() + outb().  Returns 1 only if the port write did not end QEMU.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CODE [TTY...]\n", argv[0]);
		return 1;
	}
	int code = atoi(argv[1]) & 0xff;

	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			tcdrain(fd);
			close(fd);
		}
	}
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) < 0) {
		perror("debug-exit: ioperm");
		return 1;
	}
	outb((unsigned char)code, DEBUG_EXIT_PORT);
	/* Not reached when the isa-debug-exit device is present. */
	fprintf(stderr, "debug-exit: port 0x%x had no effect\n", DEBUG_EXIT_PORT);
	return 1;
}
