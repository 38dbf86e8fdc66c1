/*
 * The openid rule, in its one home: 1 to OPENID_MAX bytes of printable
 * ASCII without spaces (0x21..0x7e). Openids are opaque tokens; a rule
 * this narrow keeps them one byte string per user under ascii_bin. The
 * same rule as SQL, for regonce-migrate's scans, is OPENID_SQL_REFUSED
 * in app.h; tests/it-openid.sh holds both forms to the same samples.
 */
#include "config.h"

#include "app.h"

/* Which part of the rule the bytes break, if any. */
enum openid_fault
openid_check(const char *openid, size_t len)
{
	size_t	i;

	if (len == 0)
		return (OPENID_EMPTY);
	if (len > OPENID_MAX)
		return (OPENID_TOO_LONG);
	for (i = 0; i < len; i++)
		if ((unsigned char)openid[i] < 0x21 ||
		    (unsigned char)openid[i] > 0x7e)
			return (OPENID_BAD_BYTE);
	return (OPENID_FINE);
}

/* Why the worker refuses this openid, in its answer's words; NULL: fine. */
const char *
openid_refusal(const char *openid, size_t len)
{
	switch (openid_check(openid, len)) {
	case OPENID_FINE:
		break;
	case OPENID_EMPTY:
		return ("openid must not be empty");
	case OPENID_TOO_LONG:
		return ("openid is longer than " OPENID_MAX_TEXT " bytes");
	case OPENID_BAD_BYTE:
		return ("openid may hold only printable ASCII without spaces");
	}
	return (NULL);
}
