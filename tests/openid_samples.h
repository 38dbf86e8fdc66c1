/*
 * The openid rule's samples, shared by the two tests that hold its forms
 * together: tests/test_openid.c checks the C form's verdict on each, and
 * tests/openid-forms.c hands each, with that verdict, to MariaDB for
 * tests/it-openid.sh to compare with the SQL form's (OPENID_SQL_REFUSED).
 */
#ifndef REGONCE_OPENID_SAMPLES_H
#define REGONCE_OPENID_SAMPLES_H

#include <string.h>

#include "app.h"

struct openid_sample {
	const char		*name;
	const char		*bytes;		/* NULL: len times 'a' */
	size_t			 len;
	enum openid_fault	 fault;		/* the rule's verdict */
};

#define OS_TXT(t) t, sizeof(t) - 1

static const struct openid_sample openid_samples[] = {
	{ "normal", OS_TXT("alice-1@example"), OPENID_FINE },
	{ "edge !", OS_TXT("!"), OPENID_FINE },
	{ "edge ~", OS_TXT("~"), OPENID_FINE },
	{ "255 bytes", NULL, 255, OPENID_FINE },
	{ "empty", OS_TXT(""), OPENID_EMPTY },
	{ "256 bytes", NULL, 256, OPENID_TOO_LONG },
	{ "space", OS_TXT("a b"), OPENID_BAD_BYTE },
	{ "0x7f", OS_TXT("a\x7f"), OPENID_BAD_BYTE },
	{ "tab", OS_TXT("a\tb"), OPENID_BAD_BYTE },
	{ "newline", OS_TXT("a\n"), OPENID_BAD_BYTE },
	{ "byte 0x80", OS_TXT("a\x80"), OPENID_BAD_BYTE },
	{ "byte 0xff", OS_TXT("\xff"), OPENID_BAD_BYTE },
	{ "UTF-8 letter", OS_TXT("\xc3\xbc"), OPENID_BAD_BYTE },
	{ "NUL inside", OS_TXT("a\0b"), OPENID_BAD_BYTE },
};

#define OPENID_SAMPLES	(sizeof(openid_samples) / sizeof(openid_samples[0]))
/* The longest sample, plus one for a terminating NUL. */
#define OPENID_SAMPLE_MAX	(OPENID_MAX + 2)

/* A sample's bytes into buf (OPENID_SAMPLE_MAX bytes). */
static inline const char *
openid_sample_bytes(const struct openid_sample *sample, char *buf)
{
	if (sample->bytes != NULL)
		memcpy(buf, sample->bytes, sample->len);
	else
		memset(buf, 'a', sample->len);
	buf[sample->len] = '\0';
	return (buf);
}

#endif /* REGONCE_OPENID_SAMPLES_H */
