/*
 * Unit tests for openid.c: the rule's C form on the shared samples, and
 * the worker's words for each refusal. The SQL form meets the same
 * samples on MariaDB in tests/it-openid.sh.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"
#include "openid_samples.h"

/* Every sample gets the verdict the table gives it. */
static void
test_openid_samples(void **state)
{
	char	buf[OPENID_SAMPLE_MAX];
	size_t	i;

	(void)state;
	for (i = 0; i < OPENID_SAMPLES; i++) {
		const struct openid_sample *sample = &openid_samples[i];
		enum openid_fault fault;

		fault = openid_check(openid_sample_bytes(sample, buf),
		    sample->len);
		if (fault != sample->fault)
			fail_msg("%s: openid_check says %d, the table %d",
			    sample->name, fault, sample->fault);
	}
}

/* The texts the worker answers (400, field openid) stay as they were. */
static void
test_openid_refusal_words(void **state)
{
	char	buf[OPENID_SAMPLE_MAX];

	(void)state;
	assert_null(openid_refusal("o-1", 3));
	assert_string_equal(openid_refusal("", 0),
	    "openid must not be empty");
	memset(buf, 'a', sizeof(buf));
	assert_string_equal(openid_refusal(buf, OPENID_MAX + 1),
	    "openid is longer than 255 bytes");
	assert_null(openid_refusal(buf, OPENID_MAX));
	assert_string_equal(openid_refusal("a b", 3),
	    "openid may hold only printable ASCII without spaces");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openid_samples),
		cmocka_unit_test(test_openid_refusal_words),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
