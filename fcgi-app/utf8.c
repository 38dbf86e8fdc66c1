/*
 * UTF-8 checks for text fields: strict decoding (no overlong forms, no
 * surrogates, nothing above U+10FFFF), I-JSON's rule (RFC 7493 2.1: no
 * noncharacters either) and, for text shown to people, no control
 * characters.
 */
#include "config.h"

#include "app.h"

/*
 * Length of the valid UTF-8 sequence at text (left bytes available), its
 * code point in *cp; 0 if the bytes there are not one.
 */
size_t
utf8_char(const unsigned char *text, size_t left, unsigned int *cp)
{
	size_t		need, i;
	unsigned int	min;

	if (left == 0)
		return (0);
	if (text[0] < 0x80) {
		*cp = text[0];
		return (1);
	} else if ((text[0] & 0xe0) == 0xc0) {
		need = 2, min = 0x80, *cp = text[0] & 0x1f;
	} else if ((text[0] & 0xf0) == 0xe0) {
		need = 3, min = 0x800, *cp = text[0] & 0x0f;
	} else if ((text[0] & 0xf8) == 0xf0) {
		need = 4, min = 0x10000, *cp = text[0] & 0x07;
	} else
		return (0);
	if (left < need)
		return (0);
	for (i = 1; i < need; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return (0);
		*cp = (*cp << 6) | (text[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return (0);
	return (need);
}

/* Is cp a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF)? */
static int
utf8_nonchar(unsigned int cp)
{
	return ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe);
}

/* Is text strict UTF-8 with no noncharacters, and no controls if asked? */
static int
utf8_check(const char *text, size_t len, int controls_ok)
{
	const unsigned char	*bytes = (const unsigned char *)text;
	size_t			 pos = 0, step;
	unsigned int		 cp;

	while (pos < len) {
		if ((step = utf8_char(bytes + pos, len - pos, &cp)) == 0)
			return (0);
		if (utf8_nonchar(cp))
			return (0);
		if (!controls_ok && (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)))
			return (0);
		pos += step;
	}
	return (1);
}

/*
 * Is text what I-JSON allows in a string: strict UTF-8 without
 * noncharacters? Control characters pass (a password may hold them).
 */
int
utf8_valid(const char *text, size_t len)
{
	return (utf8_check(text, len, 1));
}

/* Is text I-JSON-valid with no control characters (C0, DEL, C1)? */
int
utf8_clean(const char *text, size_t len)
{
	return (utf8_check(text, len, 0));
}
