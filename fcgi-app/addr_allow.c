/*
 * Address allow-lists: "127.0.0.0/8, ::1" style lists of addresses and
 * CIDR blocks, matched against the REMOTE_ADDR the web server passes.
 * metrics_allow uses it, so that /metrics is closed even behind a web
 * server whose configuration restricts nothing (shared hosting).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define ADDR_ENTRY_MAX	64	/* an IPv6 text form with a prefix fits */

/* An address as 16 bytes; IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d. */
struct addr {
	unsigned char	bytes[16];
};

/* Parse one address; 0 on success. */
static int
addr_parse(const char *text, struct addr *out)
{
	struct in_addr	v4;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, &v4) == 1) {
		out->bytes[10] = 0xff;
		out->bytes[11] = 0xff;
		memcpy(&out->bytes[12], &v4, 4);
		return (0);
	}
	return (inet_pton(AF_INET6, text, out->bytes) == 1 ? 0 : -1);
}

/*
 * Parse one entry, "ADDR" or "ADDR/BITS", into an address and a prefix
 * length counted over the 16-byte form. 0 on success.
 */
static int
addr_entry(const char *entry, struct addr *net, unsigned int *bits)
{
	char		 text[ADDR_ENTRY_MAX], *slash, *end;
	unsigned long	 prefix;
	int		 v4;

	if (snprintf(text, sizeof(text), "%s", entry) >= (int)sizeof(text))
		return (-1);
	if ((slash = strchr(text, '/')) != NULL)
		*slash++ = '\0';
	v4 = strchr(text, ':') == NULL;
	if (addr_parse(text, net) == -1)
		return (-1);
	*bits = 128;
	if (slash == NULL)
		return (0);
	if (!isdigit((unsigned char)*slash))
		return (-1);
	prefix = strtoul(slash, &end, 10);
	if (*end != '\0' || prefix > (v4 ? 32UL : 128UL))
		return (-1);
	*bits = (unsigned int)prefix + (v4 ? 96 : 0);
	return (0);
}

/* Do the first bits of two addresses agree? */
static int
addr_match(const struct addr *a, const struct addr *net, unsigned int bits)
{
	unsigned int	whole = bits / 8, rest = bits % 8;
	unsigned char	mask;

	if (memcmp(a->bytes, net->bytes, whole) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (unsigned char)(0xff << (8 - rest));
	return ((a->bytes[whole] & mask) == (net->bytes[whole] & mask));
}

/*
 * Walk a list (entries split by commas and blanks): with addr NULL, check
 * every entry parses (-1 and the bad one in *bad otherwise); else 1 when
 * addr is in one of them.
 */
static int
addr_walk(const char *list, const struct addr *addr, char *bad, size_t badlen)
{
	char		 entry[ADDR_ENTRY_MAX];
	struct addr	 net;
	unsigned int	 bits;
	size_t		 len;

	for (;;) {
		list += strspn(list, ", \t");
		if (*list == '\0')
			return (0);
		len = strcspn(list, ", \t");
		if (len >= sizeof(entry) ||
		    (memcpy(entry, list, len), entry[len] = '\0',
		    addr_entry(entry, &net, &bits) == -1)) {
			if (bad != NULL)
				snprintf(bad, badlen, "%.*s", (int)len, list);
			return (-1);
		}
		if (addr != NULL && addr_match(addr, &net, bits))
			return (1);
		list += len;
	}
}

/* Is a list well formed? 0 yes; -1 with the first bad entry in bad. */
int
addr_list_check(const char *list, char *bad, size_t badlen)
{
	return (addr_walk(list, NULL, bad, badlen));
}

/*
 * Is the address (REMOTE_ADDR's text) in the list? A missing or
 * unparsable address is not: the guard fails closed.
 */
int
addr_allowed(const char *list, const char *remote)
{
	struct addr	addr;

	if (remote == NULL || addr_parse(remote, &addr) == -1)
		return (0);
	return (addr_walk(list, &addr, NULL, 0) == 1);
}
