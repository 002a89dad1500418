/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the library's files: the core (device, engine,
 * model, snapshot) and the backends (vfio, kvm, ims, passthrough,
 * recorder). A backend includes this and the public headers, never
 * internal.h: what it knows of libmsix is the backend interface in
 * libmsix.h. One copy of each helper, one behaviour.
 */
#ifndef LIBMSIX_UTIL_H
#define LIBMSIX_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "libmsix.h"

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

/*
 * Member @m of an ops table that starts with its own size_t size (struct
 * libmsix_backend_ops, struct libmsix_ims_ops), or NULL when it is absent:
 * NULL in the table, or past the end of a table built against an older
 * header (its size says so). Reading the slot then would read past it.
 */
#define LMX_OP(ops, type, m)                                          \
	((ops)->size >= offsetof(type, m) + sizeof((ops)->m) ? (ops)->m \
							      : NULL)

/*
 * The .size of the public structs that begin with their own size_t size
 * (configs, options, rules, ops tables), as libbpf's libbpf_validate_opts()
 * has it: a struct from an older, smaller header is accepted, and the
 * members it lacks read as 0; one from a newer, larger header only when
 * every byte the library does not know is 0, since a member it cannot
 * honour must not be ignored silently. @user: the caller's struct, @usize
 * its .size, @ours: sizeof the library's.
 * Return: 0; -EINVAL when @usize does not even cover .size; -E2BIG when a
 * byte past @ours is not 0.
 */
static inline int lmx_size_check(const void *user, size_t usize, size_t ours)
{
	const unsigned char *p = user;

	if (usize < sizeof(size_t))
		return -EINVAL;
	for (size_t i = ours; i < usize; i++)
		if (p[i])
			return -E2BIG;
	return 0;
}

/*
 * Copy such a struct into the library's own @out (@ours bytes): checked as
 * lmx_size_check() does, the members the caller's lacks zeroed, and
 * out->size set to @ours. Read only what the caller's .size covers.
 */
static inline int lmx_struct_in(void *out, size_t ours, const void *user)
{
	size_t usize = *(const size_t *)user;
	int err = lmx_size_check(user, usize, ours);

	if (err)
		return err;
	memset(out, 0, ours);
	memcpy(out, user, usize < ours ? usize : ours);
	*(size_t *)out = ours;
	return 0;
}

#define LMX_STRUCT_IN(out, user) lmx_struct_in((out), sizeof(*(out)), (user))

/* [@start, @start + @count) is a non-empty range of vectors 0..@n-1. */
static inline bool lmx_range_ok(uint32_t n, uint32_t start, uint32_t count)
{
	return count > 0 && start < n && count <= n - start;
}

/*
 * The vectors touched since the last commit, as [lo, hi): commit and
 * abort walk that span, not all N (up to 2048). Empty when lo >= hi.
 */
struct lmx_span {
	uint32_t lo, hi;
};

static inline void lmx_span_clear(struct lmx_span *s, uint32_t n)
{
	s->lo = n;
	s->hi = 0;
}

static inline void lmx_span_add(struct lmx_span *s, uint32_t start,
				uint32_t count)
{
	if (start < s->lo)
		s->lo = start;
	if (start + count > s->hi)
		s->hi = start + count;
}

static inline bool lmx_span_empty(const struct lmx_span *s)
{
	return s->lo >= s->hi;
}

/*
 * Read an eventfd without blocking. Return: 1 if it held a count (now
 * consumed), 0 if it was empty or @fd < 0 (no eventfd: nothing to read),
 * -errno when read() fails, -EIO for a read of other than 8 bytes (@fd is
 * not an eventfd: eventfd(2) reads are exactly 8 bytes and never 0).
 */
static inline int lmx_eventfd_drain(int fd)
{
	uint64_t val;
	ssize_t r;

	if (fd < 0)
		return 0;
	r = read(fd, &val, sizeof(val));
	if (r == (ssize_t)sizeof(val))
		return 1;
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	return -EIO;
}

/*
 * Counters: atomic, relaxed (statistics, read by any thread).
 */
static inline void cnt_inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/*
 * Logging (lib/log.c). Every log callback of the public API is a
 * libmsix_log_fn; @max is the config's log_level (0: LOG_WARNING). lmx_vlog() formats "@prefix
 * message" and calls @fn when @fn is set and @level <= @max; messages
 * longer than LMX_LOG_MAX - 1 bytes are cut.
 */
#define LMX_LOG_MAX 320

/*
 * The errno text of -@err (or @err), e.g. "No space left on device", for
 * log lines: thread-safe (strerror_r), in @buf of @len bytes.
 * LMX_ERRSTR(err) gives it a buffer that lives to the end of the call.
 */
const char *lmx_errstr(int err, char *buf, size_t len);
#define LMX_ERRSTR(err) lmx_errstr((err), (char[64]){ 0 }, 64)

void lmx_vlog(libmsix_log_fn fn, void *opaque, int max, int level,
	      const char *prefix, const char *fmt, va_list ap);

/*
 * A VMM's call broke a rule of the API: log which argument and which rule
 * at LOG_ERR through the sink (@fn, @opaque, @max) of the object or config
 * it was given, as "@prefix message", and return -EINVAL. Not rate-limited:
 * only the VMM's own calls get here, never a guest's access.
 */
int lmx_sink_einval(libmsix_log_fn fn, void *opaque, int max,
		    const char *prefix, const char *fmt, ...)
	LIBMSIX_PRINTF(5, 6);

/*
 * Rate limit for what a guest can cause (XSA-130 filled a disk with
 * guest-triggered lines): count one more in @n; due for the first four
 * and then only the 2^k-th, so a million events log about twenty lines.
 */
static inline bool lmx_log_due(uint64_t *n)
{
	uint64_t k = ++*n;

	return k <= 4 || (k & (k - 1)) == 0;
}

#endif /* LIBMSIX_UTIL_H */
