/* SPDX-License-Identifier: MIT */
/*
 * Logging, for the whole library: lmx_vlog() formats a message and hands it
 * to a log callback of the public API (struct libmsix_config.log,
 * libmsix_vfio_opts.log, libmsix_kvm_vm_config.log: one type); the
 * device's log adds the rate limit per kind of guest-triggerable event.
 * Callbacks are called on the thread that logs, with whatever lock it
 * holds; they must not call into libmsix.
 */
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <syslog.h>

#include "internal.h"

void lmx_vlog(libmsix_log_fn fn, void *opaque, int max, int level,
	      const char *prefix, const char *fmt, va_list ap)
{
	char buf[LMX_LOG_MAX];
	int n;

	if (!fn || level > (max ? max : LOG_WARNING))
		return;
	n = snprintf(buf, sizeof(buf), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	fn(opaque, level, buf);
}

void lmx_cfg_log(const struct libmsix_config *cfg, int level, const char *fmt,
		 ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmx_vlog(cfg->log, cfg->opaque, cfg->log_level, level, "", fmt, ap);
	va_end(ap);
}

/*
 * A guest can cause every kind but LK_OTHER, so each of those kinds is
 * rate-limited on its own (lmx_log_due()); LK_OTHER is counted but always
 * logged.
 */
void lmx_dev_log(struct libmsix_dev *dev, enum log_kind kind, int level,
		 const char *fmt, ...)
{
	va_list ap;
	char buf[LMX_LOG_MAX - 32]; /* room for " (N times so far)" */
	bool due;
	uint64_t n;

	if (!dev->cfg.log)
		return;
	due = lmx_log_due(&dev->log_count[kind]);
	if (!due && kind != LK_OTHER)
		return;
	n = dev->log_count[kind];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 4)
		lmx_cfg_log(&dev->cfg, level, "%s (%llu times so far)", buf,
			    (unsigned long long)n);
	else
		lmx_cfg_log(&dev->cfg, level, "%s", buf);
}

int lmx_sink_einval(libmsix_log_fn fn, void *opaque, int max,
		    const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmx_vlog(fn, opaque, max, LOG_ERR, prefix, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *lmx_errstr(int err, char *buf, size_t len)
{
	int e = err < 0 ? -err : err;

#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, len); /* GNU: may return a static string */
#else
	if (strerror_r(e, buf, len))
		snprintf(buf, len, "error %d", e);
	return buf;
#endif
}

static int einval_v(struct libmsix_dev *dev, uintptr_t key, const char *fmt,
		    va_list ap)
{
	char buf[LMX_LOG_MAX - 64];

	if (!dev->cfg.log)
		return -EINVAL;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	lmx_dev_lock(dev);
	/* The rate limit is for one mistake in a loop: another starts over. */
	if (dev->api_key != key) {
		dev->api_key = key;
		dev->log_count[LK_API] = 0;
	}
	lmx_dev_log(dev, LK_API, LOG_ERR, "libmsix: %s", buf);
	lmx_dev_unlock(dev);
	return -EINVAL;
}

int lmx_einval(struct libmsix_dev *dev, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = einval_v(dev, (uintptr_t)fmt, fmt, ap);
	va_end(ap);
	return err;
}

int lmx_einval_key(struct libmsix_dev *dev, uintptr_t key, const char *fmt,
		   ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = einval_v(dev, key, fmt, ap);
	va_end(ap);
	return err;
}

int lmx_bad_vector(struct libmsix_dev *dev, const char *fn, uint32_t vector)
{
	return lmx_einval(dev, "%s(): vector %u is outside the table (0..%u)",
			  fn, vector, dev->n - 1);
}
