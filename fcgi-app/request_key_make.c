/*
 * Making the fingerprint key where there is none (shared hosting): a
 * worker whose configuration was found beside its program has no package
 * and no administrator to write fingerprint_key_file for it, so it writes
 * the key itself the first time. Several workers start at once under
 * mod_fcgid: each writes a whole key to a temporary file of its own and
 * link(2)s it into place; link never replaces, so the first one in wins
 * and every worker then reads that one.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

/* Write all of buf to fd; -1 with errno on failure. */
static int
req_key_write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Flush the folder of path, so the new name survives a crash too. */
static void
req_key_sync_dir(const char *path)
{
	char	copy[PATH_MAX];
	int	fd;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/*
 * When path does not exist, create it: REQ_FP_KEY_MIN random bytes, mode
 * 0600, the worker's own. 1 when this worker made it; 0 when it was
 * there (or another worker made it first: loading judges it); -1 with
 * err set when it could not be made.
 */
int
req_fingerprint_key_make(const char *path, char *err, size_t errlen)
{
	unsigned char	 key[REQ_FP_KEY_MIN];
	char		 tmp[PATH_MAX];
	struct stat	 st;
	int		 fd, made = 0, rc = -1;

	if (lstat(path, &st) == 0 || errno != ENOENT)
		return (0);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "fingerprint_key_file %s: path too long",
		    path);
		return (-1);
	}
	/* mkstemp opens 0600 and O_EXCL: nobody else has this file. */
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "fingerprint_key_file %s: missing, and "
		    "cannot be made (%s): %s", path, tmp, strerror(errno));
		return (-1);
	}
	if (RAND_priv_bytes(key, sizeof(key)) != 1)
		snprintf(err, errlen, "fingerprint_key_file %s: missing, and "
		    "no random bytes to make it from", path);
	else if (fchmod(fd, 0600) == -1 ||
	    req_key_write_all(fd, key, sizeof(key)) == -1 || fsync(fd) == -1)
		snprintf(err, errlen, "fingerprint_key_file %s: missing, and "
		    "cannot write %s: %s", path, tmp, strerror(errno));
	else
		rc = 0;
	pw_wipe(key, sizeof(key));
	if (close(fd) == -1 && rc == 0) {
		snprintf(err, errlen, "fingerprint_key_file %s: missing, and "
		    "cannot write %s: %s", path, tmp, strerror(errno));
		rc = -1;
	}
	/* A worker that got there first made the key all of us use. */
	if (rc == 0 && link(tmp, path) == 0)
		made = 1;
	else if (rc == 0 && errno != EEXIST) {
		snprintf(err, errlen, "fingerprint_key_file %s: missing, and "
		    "cannot be made: %s", path, strerror(errno));
		rc = -1;
	}
	(void)unlink(tmp);
	if (made)
		req_key_sync_dir(path);
	return (rc == -1 ? -1 : made);
}
