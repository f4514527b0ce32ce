/*
 * Logging: syslog for a daemon, stderr with -d.  The process name set by
 * log_procinit() prefixes every line so one log shows who said what.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_debug_fg;
static int	 log_verbose;
static const char *log_procname = "imapx";

void
log_init(int foreground, int facility)
{
	log_debug_fg = foreground;
	if (!foreground)
		openlog("imapx", LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_procinit(const char *name)
{
	if (name != NULL)
		log_procname = name;
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
logit(int pri, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	buf[1024];
	int	saved_errno = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_debug_fg) {
		fprintf(stderr, "%s[%d]: %s\n", log_procname, (int)getpid(),
		    buf);
		fflush(stderr);
	} else
		syslog(pri, "%s: %s", log_procname, buf);
	errno = saved_errno;
}

static void
vlog_errno(int pri, const char *emsg, va_list ap)
{
	char	 buf[1024];
	int	 saved_errno = errno;

	if (emsg == NULL) {
		logit(pri, "%s", strerror(saved_errno));
	} else {
		vsnprintf(buf, sizeof(buf), emsg, ap);
		logit(pri, "%s: %s", buf, strerror(saved_errno));
	}
	errno = saved_errno;
}

void
log_warn(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vlog_errno(LOG_ERR, emsg, ap);
	va_end(ap);
}

void
log_warnx(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vlog(LOG_ERR, emsg, ap);
	va_end(ap);
}

void
log_info(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vlog(LOG_INFO, emsg, ap);
	va_end(ap);
}

void
log_debug(const char *emsg, ...)
{
	va_list	ap;

	if (log_verbose > 1) {
		va_start(ap, emsg);
		vlog(LOG_DEBUG, emsg, ap);
		va_end(ap);
	}
}

void
fatal(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vlog_errno(LOG_CRIT, emsg, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vlog(LOG_CRIT, emsg, ap);
	va_end(ap);
	exit(1);
}
