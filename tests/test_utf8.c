/*
 * Unit tests for utf8.c: strict decoding, I-JSON's rule (no surrogates,
 * no noncharacters) and the control-character rule on top of it.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"

struct utf8_case {
	const char	*name;
	const char	*text;
	size_t		 len;
	int		 clean;		/* utf8_clean's answer */
	int		 valid;		/* utf8_valid's answer */
};

#define TXT(t) t, sizeof(t) - 1

static const struct utf8_case utf8_cases[] = {
	{ "empty", TXT(""), 1, 1 },
	{ "ascii", TXT("plain name"), 1, 1 },
	{ "two-byte", TXT("caf\xc3\xa9"), 1, 1 },
	{ "three-byte", TXT("\xe5\xbc\xa0\xe4\xb8\x89"), 1, 1 },
	{ "four-byte emoji", TXT("\xf0\x9f\x98\x80"), 1, 1 },
	{ "U+10FFFF (a noncharacter)", TXT("\xf4\x8f\xbf\xbf"), 0, 0 },
	{ "NUL", TXT("a\0b"), 0, 1 },
	{ "tab", TXT("a\tb"), 0, 1 },
	{ "DEL", TXT("a\x7f"), 0, 1 },
	{ "C1 NEL", TXT("a\xc2\x85"), 0, 1 },
	{ "lone continuation", TXT("\x80"), 0, 0 },
	{ "bad lead byte", TXT("a\xff"), 0, 0 },
	{ "overlong slash", TXT("\xc0\xaf"), 0, 0 },
	{ "overlong three-byte", TXT("\xe0\x80\xaf"), 0, 0 },
	{ "surrogate", TXT("\xed\xa0\x80"), 0, 0 },
	{ "above U+10FFFF", TXT("\xf4\x90\x80\x80"), 0, 0 },
	{ "truncated", TXT("\xe5\xbc"), 0, 0 },
	{ "five-byte form", TXT("\xf8\x88\x80\x80\x80"), 0, 0 },
	{ "U+10FFFD", TXT("\xf4\x8f\xbf\xbd"), 1, 1 },
	{ "U+FFFD", TXT("\xef\xbf\xbd"), 1, 1 },
	{ "U+FFFE", TXT("\xef\xbf\xbe"), 0, 0 },
	{ "U+FFFF", TXT("a\xef\xbf\xbf"), 0, 0 },
	{ "U+1FFFE", TXT("\xf0\x9f\xbf\xbe"), 0, 0 },
	{ "U+FDD0", TXT("\xef\xb7\x90"), 0, 0 },
	{ "U+FDEF", TXT("\xef\xb7\xaf"), 0, 0 },
	{ "U+FDF0", TXT("\xef\xb7\xb0"), 1, 1 },
	{ "CESU-8 pair", TXT("\xed\xa0\xbd\xed\xb8\x80"), 0, 0 },
	{ "low surrogate", TXT("\xed\xbf\xbf"), 0, 0 },
	{ "U+D7FF", TXT("\xed\x9f\xbf"), 1, 1 },
	{ "F5 lead byte", TXT("\xf5\x80\x80\x80"), 0, 0 },
	{ "F7 lead byte", TXT("\xf7\xbf\xbf\xbf"), 0, 0 },
	{ "C1 lead byte", TXT("\xc1\xbf"), 0, 0 },
	{ "overlong E0 9F", TXT("\xe0\x9f\xbf"), 0, 0 },
	{ "overlong F0 8F", TXT("\xf0\x8f\xbf\xbf"), 0, 0 },
	{ "CR LF", TXT("a\r\n"), 0, 1 },
};

/* Each row: clean or not, as the table says. */
static void
test_utf8_clean_table(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];

		if (utf8_clean(c->text, c->len) != c->clean)
			fail_msg("%s: want clean %d", c->name, c->clean);
		if (utf8_valid(c->text, c->len) != c->valid)
			fail_msg("%s: want valid %d", c->name, c->valid);
	}
}

/* utf8_char decodes the code point and its length, never past left. */
static void
test_utf8_char(void **state)
{
	unsigned int	cp = 0;

	(void)state;
	assert_int_equal(utf8_char((const unsigned char *)"\xf0\x9f\x98\x80",
	    4, &cp), 4);
	assert_int_equal(cp, 0x1f600);
	assert_int_equal(utf8_char((const unsigned char *)"\xc3\xa9", 2, &cp),
	    2);
	assert_int_equal(cp, 0xe9);
	/* The bytes are there, but the caller said only 3 are ours. */
	assert_int_equal(utf8_char((const unsigned char *)"\xf0\x9f\x98\x80",
	    3, &cp), 0);
	assert_int_equal(utf8_char((const unsigned char *)"", 0, &cp), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_clean_table),
		cmocka_unit_test(test_utf8_char),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
