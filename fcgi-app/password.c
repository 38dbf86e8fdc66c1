/*
 * Password hashing: argon2id with a fresh 16-byte salt from getrandom(2),
 * stored as the PHC string ("$argon2id$v=19$m=...,t=...,p=...$salt$tag").
 */
#include "config.h"

#include <argon2.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "app.h"

#define PW_SALT_BYTES	16
#define PW_TAG_BYTES	32

/* Overwrite memory in a way the compiler may not drop. */
void
pw_wipe(void *buf, size_t len)
{
	explicit_bzero(buf, len);
}

/* Fill buf with len bytes from the kernel's random source. */
static int
pw_random(unsigned char *buf, size_t len)
{
	size_t	got = 0;
	ssize_t	n;

	while (got < len) {
		n = getrandom(buf + got, len - got, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		got += (size_t)n;
	}
	return (0);
}

/* Hash a password into out (PHC string); -1 with *cause on failure. */
int
pw_hash(const struct config *cfg, const char *password, size_t len,
    char *out, size_t outlen, const char **cause)
{
	unsigned char	salt[PW_SALT_BYTES];
	int		rc;

	if (argon2_encodedlen(cfg->argon2_iterations, cfg->argon2_memory_kib,
	    cfg->argon2_parallelism, PW_SALT_BYTES, PW_TAG_BYTES,
	    Argon2_id) > outlen) {
		*cause = "argon2id output does not fit the buffer";
		return (-1);
	}
	if (pw_random(salt, sizeof(salt)) == -1) {
		*cause = "getrandom failed";
		return (-1);
	}
	rc = argon2id_hash_encoded(cfg->argon2_iterations,
	    cfg->argon2_memory_kib, cfg->argon2_parallelism, password, len,
	    salt, sizeof(salt), PW_TAG_BYTES, out, outlen);
	pw_wipe(salt, sizeof(salt));
	if (rc != ARGON2_OK) {
		*cause = argon2_error_message(rc);
		return (-1);
	}
	return (0);
}
