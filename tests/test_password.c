/* Unit tests for password.c: argon2id PHC strings that verify. */
#include "config.h"

#include <argon2.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"

/* A hash verifies its password, not another; salts differ per call. */
static void
test_hash_verifies(void **state)
{
	struct config	 cfg;
	char		 one[PW_HASH_MAX], two[PW_HASH_MAX];
	const char	*cause;

	(void)state;
	config_defaults(&cfg);
	cfg.argon2_memory_kib = 64;
	cfg.argon2_iterations = 1;
	assert_int_equal(pw_hash(&cfg, "secret-pw", 9, one, sizeof(one),
	    &cause), 0);
	assert_memory_equal(one, "$argon2id$v=19$m=64,t=1,p=1$", 28);
	assert_null(strstr(one, "secret-pw"));
	assert_int_equal(argon2id_verify(one, "secret-pw", 9), ARGON2_OK);
	assert_int_equal(argon2id_verify(one, "secret-pX", 9),
	    ARGON2_VERIFY_MISMATCH);
	assert_int_equal(pw_hash(&cfg, "secret-pw", 9, two, sizeof(two),
	    &cause), 0);
	assert_string_not_equal(one, two);
}

/* The default (OWASP) cost fits the buffer; a tiny buffer is refused. */
static void
test_hash_sizes(void **state)
{
	struct config	 cfg;
	char		 out[PW_HASH_MAX], small[32];
	const char	*cause = NULL;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(pw_hash(&cfg, "12345678", 8, out, sizeof(out),
	    &cause), 0);
	assert_memory_equal(out, "$argon2id$v=19$m=19456,t=2,p=1$", 31);
	assert_int_equal(pw_hash(&cfg, "12345678", 8, small, sizeof(small),
	    &cause), -1);
	assert_non_null(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verifies),
		cmocka_unit_test(test_hash_sizes),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
