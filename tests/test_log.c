/* Unit tests for log.c: nothing a client sends can forge a log line. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "app.h"

struct escape_case {
	const char	*in;
	size_t		 len;
	const char	*out;
};

static const struct escape_case escape_cases[] = {
	{ "plain text", 10, "plain text" },
	{ "a\nb", 3, "a\\x0ab" },
	{ "a\rb", 3, "a\\x0db" },
	{ "\x1b[31mred", 8, "\\x1b[31mred" },
	{ "nul\0byte", 8, "nul\\x00byte" },
	{ "back\\slash", 10, "back\\x5cslash" },
	{ "\xe5\xbc\xa0", 3, "\\xe5\\xbc\\xa0" },
	{ "\x7f", 1, "\\x7f" },
};

/* Control bytes, backslash and non-ASCII become \xHH. */
static void
test_escape_table(void **state)
{
	char	out[64];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		log_escape(out, sizeof(out), escape_cases[i].in,
		    escape_cases[i].len);
		assert_string_equal(out, escape_cases[i].out);
	}
}

/* The output is cut, never overrun, and always terminated. */
static void
test_escape_bounds(void **state)
{
	char	out[6];

	(void)state;
	memset(out, 'Z', sizeof(out));
	assert_int_equal(log_escape(out, sizeof(out), "abcdefgh", 8), 5);
	assert_string_equal(out, "abcde");
	assert_int_equal(log_escape(out, sizeof(out), "ab\ncd", 5), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(log_escape(out, 0, "x", 1), 0);
}

/* A message carrying a newline stays one line in the file. */
static void
test_log_one_line(void **state)
{
	char	 path[] = "/tmp/regonce-log-XXXXXX", buf[512];
	FILE	*fp;
	int	 fd, lines = 0;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	log_open(path, LOG_LEVEL_INFO);
	log_info("register openid=%s", "x\n2026-01-01T00:00:00Z fake: forged");
	log_debug("not at info level");
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		lines++;
		assert_non_null(strstr(buf, "openid=x\\x0a2026-01-01"));
	}
	fclose(fp);
	unlink(path);
	assert_int_equal(lines, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_bounds),
		cmocka_unit_test(test_log_one_line),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
