/*
 * A request's Idempotency-Key: the header's value checked and its key
 * hashed, and the request's fingerprint (method, path, body) that tells
 * a retry from another request sent under the same key.
 */
#include "config.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <string.h>

#include "app.h"

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

/* The request's fingerprint: method, path and body, into fingerprint. */
int
req_fingerprint(const struct req_head *head, const char *buf, size_t len,
    unsigned char *fingerprint)
{
	return (req_sha256(fingerprint, head->method,
	    strlen(head->method) + 1, head->uri, strlen(head->uri) + 1,
	    buf, len));
}
