/*
 * Logging: one line per event to a file, stderr or syslog. Every line is
 * escaped as a whole, so nothing a client sends can start a fake log line.
 * spawn-fcgi points a forked worker's stderr at /dev/null: use log_file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

#define LOG_LINE_MAX	2048

static enum log_level	log_max = LOG_LEVEL_INFO;
static int		log_fd = STDERR_FILENO;
static int		log_syslog;
static unsigned long	log_request;
static const char	*log_path;	/* the file, for log_reopen */

/* Start logging: "" means syslog, "-" stderr, anything else a file. */
void
log_open(const char *path, enum log_level level)
{
	int	fd;

	log_max = level;
	if (path[0] == '\0') {
		/*
		 * Without /dev/log (a container) every line would vanish:
		 * stderr instead, which a supervisor's journal or log keeps.
		 * Said once, by regonce -t, not by every worker.
		 */
		if (access("/dev/log", W_OK) != 0)
			return;
		openlog("regonce", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return;
	}
	if (strcmp(path, "-") == 0)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	/* With O_CREAT, ENOENT can only mean a missing directory. */
	if (fd == -1 && errno == ENOENT)
		fatalx("log_open(%s): its directory does not exist", path);
	if (fd == -1)
		fatalx("log_open(%s): %s", path, strerror(errno));
	log_fd = fd;
	log_path = path;
}

/*
 * Open the log file again (after logrotate moved it, on SIGHUP). If that
 * fails, keep writing to the old one and say so there.
 */
void
log_reopen(void)
{
	int	fd;

	if (log_path == NULL)
		return;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("log_reopen(%s): %s; still writing to the old file",
		    log_path, strerror(errno));
		return;
	}
	close(log_fd);
	log_fd = fd;
}

/* Tag the lines that follow with a request number (0: none). */
void
log_set_request(unsigned long id)
{
	log_request = id;
}

/*
 * Copy src into dst, writing control bytes, backslash and non-ASCII as
 * \xHH. Returns the length written; the output is always terminated.
 */
size_t
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 in, out = 0;

	if (dstlen == 0)
		return (0);
	for (in = 0; in < srclen; in++) {
		unsigned char ch = (unsigned char)src[in];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			if (out + 1 >= dstlen)
				break;
			dst[out++] = (char)ch;
		} else {
			if (out + 4 >= dstlen)
				break;
			dst[out++] = '\\';
			dst[out++] = 'x';
			dst[out++] = hex[ch >> 4];
			dst[out++] = hex[ch & 0xf];
		}
	}
	dst[out] = '\0';
	return (out);
}

/* Format, escape and write one line. */
static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const char	*names[] = { "error", "warn", "info", "debug" };
	static const int	 prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char			 raw[LOG_LINE_MAX], safe[LOG_LINE_MAX];
	char			 line[LOG_LINE_MAX + 128], stamp[32];
	int			 len, saved = errno;
	time_t			 now;
	struct tm		 tm;

	if (level > log_max)
		return;
	len = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (len < 0)
		return;
	log_escape(safe, sizeof(safe), raw,
	    (size_t)len < sizeof(raw) ? (size_t)len : sizeof(raw) - 1);
	if (log_syslog) {
		syslog(prio[level], "req=%lu %s: %s", log_request,
		    names[level], safe);
		errno = saved;
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	len = snprintf(line, sizeof(line), "%s regonce[%ld] req=%lu %s: %s\n",
	    stamp, (long)getpid(), log_request, names[level], safe);
	if (len > 0) {
		/* One write per line: O_APPEND keeps workers' lines whole. */
		if (write(log_fd, line, (size_t)len < sizeof(line) ?
		    (size_t)len : sizeof(line) - 1) == -1) {
			/* Nowhere left to report a failed log write. */
		}
	}
	errno = saved;
}

/* An error that costs a request, not the process. */
void
log_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

/* Something odd that was handled. */
void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* One line per request and per start/stop. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

/* Detail for debugging, off by default. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

/* Start-up failures and broken invariants: log, tell stderr, exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	if (log_fd != STDERR_FILENO || log_syslog) {
		fputs("regonce: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	exit(1);
}
