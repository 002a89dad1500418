/* SPDX-License-Identifier: MIT */
/*
 * Minimal ivshmem server for the libmsix guest harness (host side).
 *
 * Serves exactly one client (QEMU's ivshmem-doorbell device) over a unix
 * socket, following the client-server protocol in QEMU's
 * docs/specs/ivshmem-spec.txt: protocol version 0, the client's own ID, the
 * shared memory fd (sent with ID -1), then the client's own ID once per
 * vector, each with an eventfd.  Those eventfds are the device's own
 * interrupt sources, so a doorbell write of (own ID << 16) | v raises the
 * device's own MSI-X vector v.  There are no peers.
 *
 * Usage: ivshmem-server SOCKET VECTORS [WATCH_PID]
 *
 * It prints "ready" on stdout, then closes stdout, once it is listening, so
 * the caller knows when QEMU can connect.  It exits when the client
 * disconnects, or after 120 s with no client.  If WATCH_PID (the calling
 * script) dies while the client is connected, it sends SIGTERM to the client
 * (QEMU, from SO_PEERCRED) and exits, so a killed script leaks nothing.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define SHM_SIZE (1u << 20) /* BAR2 must be a power of two */
#define OWN_ID 3            /* nonzero, so tests must read it from BAR0 */
#define MAX_VECTORS 2048
#define ACCEPT_TIMEOUT_MS 120000

static int send_msg(int sock, int64_t value, int fd)
{
	int64_t le = (int64_t)htole64((uint64_t)value);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(le))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

enum wait_result { READABLE, WATCHED_EXITED, TIMED_OUT };

/* Waits for fd to become readable or the watched pid to exit. */
static enum wait_result wait_readable(int fd, int pidfd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = pidfd, .events = POLLIN } };
	for (;;) {
		int n = poll(p, pidfd >= 0 ? 2 : 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("ivshmem-server: poll");
			return TIMED_OUT;
		}
		if (n == 0)
			return TIMED_OUT;
		if (pidfd >= 0 && p[1].revents)
			return WATCHED_EXITED;
		return READABLE;
	}
}

static int serve(int lsock, long vectors, int pidfd)
{
	if (wait_readable(lsock, pidfd, ACCEPT_TIMEOUT_MS) != READABLE)
		return 1;
	int sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0) {
		perror("ivshmem-server: accept");
		return 1;
	}
	close(lsock); /* one client only */
	struct ucred peer = { .pid = 0 };
	socklen_t len = sizeof(peer);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
		peer.pid = 0;

	int shm = memfd_create("libmsix-ivshmem", MFD_CLOEXEC);
	if (shm < 0 || ftruncate(shm, SHM_SIZE) < 0) {
		perror("ivshmem-server: memfd");
		return 1;
	}
	if (send_msg(sock, 0, -1) < 0 ||      /* protocol version */
	    send_msg(sock, OWN_ID, -1) < 0 || /* the client's own ID */
	    send_msg(sock, -1, shm) < 0) {    /* shared memory */
		perror("ivshmem-server: send");
		return 1;
	}
	close(shm);
	/* The client's own ID once per vector: its interrupt eventfds. */
	for (long v = 0; v < vectors; v++) {
		int efd = eventfd(0, EFD_CLOEXEC);
		if (efd < 0 || send_msg(sock, OWN_ID, efd) < 0) {
			perror("ivshmem-server: eventfd");
			return 1;
		}
		close(efd); /* the client holds its own copy */
	}
	/*
	 * Keep the connection until the client goes away.  If the watched pid
	 * (the harness) dies first, without its cleanup (kill -9), take the
	 * client (QEMU) down with us rather than leave it running.
	 */
	char buf[64];
	for (;;) {
		enum wait_result w = wait_readable(sock, pidfd, -1);
		if (w == WATCHED_EXITED && peer.pid > 0)
			kill(peer.pid, SIGTERM);
		if (w != READABLE)
			return 0;
		ssize_t n = read(sock, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return 0;
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s SOCKET VECTORS [WATCH_PID]\n", argv[0]);
		return 2;
	}
	char *end;
	long vectors = strtol(argv[2], &end, 10);
	if (*end || vectors < 1 || vectors > MAX_VECTORS) {
		fprintf(stderr, "ivshmem-server: vectors must be 1..%d\n", MAX_VECTORS);
		return 2;
	}
	int pidfd = -1;
	if (argc == 4) {
		pid_t pid = (pid_t)strtol(argv[3], &end, 10);
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (*end || pidfd < 0) {
			perror("ivshmem-server: pidfd_open");
			return 1;
		}
	}

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "ivshmem-server: socket path too long\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lsock, 1) < 0) {
		perror("ivshmem-server: listen");
		return 1;
	}

	/* Tell the caller that QEMU may connect now, and release its pipe. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (printf("ready\n") < 0 || fflush(stdout) != 0 || devnull < 0 ||
	    dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0) {
		perror("ivshmem-server: ready");
		return 1;
	}
	close(devnull);
	int rc = serve(lsock, vectors, pidfd);
	unlink(argv[1]);
	return rc;
}
