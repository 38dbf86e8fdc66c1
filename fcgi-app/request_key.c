/*
 * A request's Idempotency-Key: the header's value checked and its key
 * hashed, and the request's fingerprint (method, path, body) that tells
 * a retry from another request sent under the same key. The fingerprint
 * covers the clear password and is stored for idempotency_ttl_s: it is
 * an HMAC-SHA-256 under a secret key read from fingerprint_key_file at
 * start and kept only in memory, so a copy of the table is no dictionary
 * oracle for the passwords.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static unsigned char	fp_key[REQ_FP_KEY_MAX];
static size_t		fp_key_len;

/*
 * The Idempotency-Key header's value from the FastCGI params envp, in
 * *value (NULL when absent); -1 when it came more than once. nginx passes
 * each header line as a param of its own and FCGX_GetParam would take the
 * first; two keys are not the one sf-string the draft allows.
 */
int
req_key_header(char **envp, const char **value)
{
	static const char	 name[] = "HTTP_IDEMPOTENCY_KEY=";

	*value = NULL;
	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, sizeof(name) - 1) != 0)
			continue;
		if (*value != NULL)
			return (-1);
		*value = *envp + sizeof(name) - 1;
	}
	return (0);
}

/*
 * An Idempotency-Key value: an RFC 8941 sf-string, quoted, with \" and
 * \\ the only escapes, holding 1 to 255 printable ASCII characters. The
 * characters go to key (REQ_KEY_MAX + 1 bytes), their count to *len.
 */
int
req_idem_key(const char *value, char *key, size_t *len)
{
	const char	*p = value;
	size_t		 n = 0;

	if (value == NULL || *p++ != '"')
		return (-1);
	for (; *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		else if (*p < 0x20 || *p > 0x7e || *p == '\\')
			return (-1);
		if (n == REQ_KEY_MAX)
			return (-1);
		key[n++] = *p;
	}
	if (n == 0 || p[1] != '\0')
		return (-1);
	key[n] = '\0';
	*len = n;
	return (0);
}

/* SHA-256 over the given pieces, one after another. */
static int
req_sha256(unsigned char *out, const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX	*md;
	int		 ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, a, alen) == 1 &&
	    EVP_DigestUpdate(md, b, blen) == 1 &&
	    EVP_DigestUpdate(md, c, clen) == 1 &&
	    EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return (ok ? 0 : -1);
}

/*
 * The SHA-256 of the key an Idempotency-Key header carries, into hash
 * (DB_HASH_BYTES); -1 if the value is not a valid key.
 */
int
req_key_hash(const char *header, unsigned char *hash)
{
	char	key[REQ_KEY_MAX + 1];
	size_t	key_len = 0;

	if (req_idem_key(header, key, &key_len) == -1 ||
	    req_sha256(hash, key, key_len, "", 0, "", 0) == -1)
		return (-1);
	return (0);
}

/* Use key (REQ_FP_KEY_MIN to REQ_FP_KEY_MAX bytes) for fingerprints. */
int
req_fingerprint_key_set(const void *key, size_t len)
{
	if (len < REQ_FP_KEY_MIN || len > REQ_FP_KEY_MAX)
		return (-1);
	memcpy(fp_key, key, len);
	fp_key_len = len;
	return (0);
}

static int PRINTFLIKE(3, 4)
req_key_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/*
 * Read the fingerprint key from path: a regular file of the worker's own
 * user, closed to group and others (a secret), of REQ_FP_KEY_MIN to
 * REQ_FP_KEY_MAX bytes. -1 with err set when it is not.
 */
int
req_fingerprint_key_load(const char *path, char *err, size_t errlen)
{
	unsigned char	 buf[REQ_FP_KEY_MAX + 1];
	struct stat	 st;
	ssize_t		 n = 0;
	size_t		 got = 0;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (req_key_fail(err, errlen, "fingerprint_key_file %s: %s",
		    path, strerror(errno)));
	if (fstat(fd, &st) == -1)
		rc = req_key_fail(err, errlen, "fingerprint_key_file %s: %s",
		    path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = req_key_fail(err, errlen, "fingerprint_key_file %s: not "
		    "a regular file", path);
	else if (st.st_uid != geteuid())
		rc = req_key_fail(err, errlen, "fingerprint_key_file %s: owned "
		    "by uid %u, not by the worker's (%u)", path,
		    (unsigned int)st.st_uid, (unsigned int)geteuid());
	else if ((st.st_mode & 077) != 0)
		rc = req_key_fail(err, errlen, "fingerprint_key_file %s: mode "
		    "%04o lets group or others in; it must be 0600 or 0400",
		    path, (unsigned int)(st.st_mode & 07777));
	else {
		while (got < sizeof(buf) &&
		    (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				break;
			got += (size_t)n;
		}
		if (got < sizeof(buf) && n == -1)
			rc = req_key_fail(err, errlen, "fingerprint_key_file "
			    "%s: %s", path, strerror(errno));
		else if (req_fingerprint_key_set(buf, got) == -1)
			rc = req_key_fail(err, errlen, "fingerprint_key_file "
			    "%s: holds %zu bytes, not %d to %d", path, got,
			    REQ_FP_KEY_MIN, REQ_FP_KEY_MAX);
		else
			rc = 0;
		pw_wipe(buf, sizeof(buf));
	}
	close(fd);
	return (rc);
}

/*
 * The request's fingerprint: HMAC-SHA-256 under the fingerprint key of
 * method, path and body, into fingerprint. -1 without a key.
 */
int
req_fingerprint(const struct req_head *head, const char *buf, size_t len,
    unsigned char *fingerprint)
{
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx = NULL;
	OSSL_PARAM	 params[2];
	size_t		 out_len = 0;
	int		 ok;

	if (fp_key_len == 0 || (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (-1);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = (ctx = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(ctx, fp_key, fp_key_len, params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)head->method,
	    strlen(head->method) + 1) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)head->uri,
	    strlen(head->uri) + 1) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)buf, len) == 1 &&
	    EVP_MAC_final(ctx, fingerprint, &out_len, DB_HASH_BYTES) == 1 &&
	    out_len == DB_HASH_BYTES;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return (ok ? 0 : -1);
}
