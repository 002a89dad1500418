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
