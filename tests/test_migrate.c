/*
 * Unit tests for regonce-migrate's pieces that need no database: the
 * command line, identifier checks, statement templates, the openid rule
 * and the PHC test. Tables of cases.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"
#include "migrate.h"

#define ARGV(...) (char *[]){ "regonce-migrate", __VA_ARGS__, NULL }
#define ARGC(...) ((int)(sizeof((char *[]){ "x", __VA_ARGS__ }) / \
	sizeof(char *)))
#define PARSE(args, err, ...) mig_parse_args(ARGC(__VA_ARGS__), \
	ARGV(__VA_ARGS__), args, err, sizeof(err))

static void
test_args(void **state)
{
	struct mig_args	args;
	char		err[256];

	(void)state;
	assert_int_equal(PARSE(&args, err, "-c", "m.conf", "--table", "users"),
	    0);
	assert_string_equal(args.conf, "m.conf");
	assert_string_equal(args.table, "users");
	assert_int_equal(args.batch, MIG_BATCH_DEFAULT);
	assert_int_equal(args.online_tries, MIG_ONLINE_TRIES);
	assert_false(args.dry_run);
	assert_false(args.json);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--batch", "5", "--dry-run", "--json"), 0);
	assert_int_equal(args.batch, 5);
	assert_true(args.dry_run);
	assert_true(args.json);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--online-tries", "0"), 0);
	assert_int_equal(args.online_tries, 0);

	/* Each of these is refused, with a message. */
	assert_int_equal(PARSE(&args, err, "--table", "users"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "a;b"), -1);
	assert_non_null(strstr(err, "--table"));
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "a`b"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table",
	    "t23456789012345678901234567890123456789012345"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--batch", "0"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--batch", "-1"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--batch", "5x"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--batch", "100001"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "extra"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--online-tries", "21"), -1);
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table", "t",
	    "--online-tries", ""), -1);
	assert_int_equal(PARSE(&args, err, "--bogus"), -1);
	assert_int_equal(PARSE(&args, err, "--help"), -1);
	assert_string_equal(err, "help");
	assert_int_equal(PARSE(&args, err, "--version"), -1);
	assert_string_equal(err, "version");
	/* 44 characters: the longest that leaves room for the suffix. */
	assert_int_equal(PARSE(&args, err, "-c", "m", "--table",
	    "t2345678901234567890123456789012345678901234"), 0);
}

static void
test_ident(void **state)
{
	static const struct {
		const char	*name;
		int		 ok;
	} cases[] = {
		{ "users", 1 }, { "Users_2", 1 }, { "_", 1 }, { "", 0 },
		{ "a b", 0 }, { "a`b", 0 }, { "a-b", 0 }, { "a.b", 0 },
		{ "us\xc3\xa9rs", 0 }, { "a'b", 0 }, { "a;b", 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mig_ident_ok(cases[i].name, 64), cases[i].ok);
	assert_int_equal(mig_ident_ok("abcd", 3), 0);
}

static void
test_render(void **state)
{
	struct mig	mig;
	char		out[512];

	(void)state;
	memset(&mig, 0, sizeof(mig));
	strcpy(mig.args.table, "users");
	strcpy(mig.audit, "users" MIG_AUDIT_SUFFIX);
	strcpy(mig.cols, "`id`, `openid`");
	mig.shape = SHAPE_LEGACY;
	mig.has_password = 1;
	mig.has_hash = 1;
	assert_int_equal(mig_render(&mig, "INSERT INTO {A} ({C}) SELECT {C} "
	    "FROM {T} WHERE {N} AND {P} = ?{W}", out, sizeof(out)), 0);
	assert_string_equal(out, "INSERT INTO `users_migrated_duplicates` "
	    "(`id`, `openid`) SELECT `id`, `openid` FROM `users` WHERE "
	    "(`password` IS NULL AND `password_hash` IS NULL) AND `password` "
	    "= ?, ALGORITHM=INPLACE, LOCK=NONE");
	/* The audit table without its clear column: regonce columns. */
	mig.on_audit = 1;
	mig.way = 1;
	assert_int_equal(mig_render(&mig, "{X} {P} {N}{W}", out, sizeof(out)),
	    0);
	assert_string_equal(out, "`users_migrated_duplicates` "
	    "`password_hash` `password_hash` IS NULL, ALGORITHM=COPY, "
	    "LOCK=SHARED");
	/* Unknown placeholders, bad names, no room: refused. */
	assert_int_equal(mig_render(&mig, "{Z}", out, sizeof(out)), -1);
	strcpy(mig.args.table, "a`b");
	assert_int_equal(mig_render(&mig, "{T}", out, sizeof(out)), -1);
	strcpy(mig.args.table, "users");
	assert_int_equal(mig_render(&mig, "SELECT 1 FROM {T}", out, 10), -1);
}

static void
test_openid(void **state)
{
	static const struct {
		const char	*openid;
		size_t		 len;
		int		 is_null;
		const char	*why;
	} cases[] = {
		{ "o-1", 3, 0, NULL },
		{ "!~", 2, 0, NULL },
		{ NULL, 0, 1, "refused:openid_null" },
		{ "", 0, 0, "refused:openid_empty" },
		{ "a b", 3, 0, "refused:openid_bytes" },
		{ "a\n", 2, 0, "refused:openid_bytes" },
		{ "a\x7f", 2, 0, "refused:openid_bytes" },
		{ "\xc3\xbc", 2, 0, "refused:openid_bytes" },
		{ "a\0b", 3, 0, "refused:openid_bytes" },
	};
	char	long_openid[OPENID_MAX + 1];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = mig_openid_refusal(cases[i].openid,
		    cases[i].len, cases[i].is_null);

		if (cases[i].why == NULL)
			assert_null(why);
		else
			assert_string_equal(why, cases[i].why);
	}
	memset(long_openid, 'a', sizeof(long_openid));
	assert_null(mig_openid_refusal(long_openid, OPENID_MAX, 0));
	assert_string_equal(mig_openid_refusal(long_openid,
	    OPENID_MAX + 1, 0), "refused:openid_too_long");
}

static void
test_phc(void **state)
{
	static const struct {
		const char	*text;
		int		 phc;
	} cases[] = {
		{ "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", 1 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB", 1 },
		{ "correct horse", 0 },
		{ "", 0 },
		{ "$argon2i$v=19$m=8,t=1,p=1$AAAA$BBBB", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AAAA", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AAAA$", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$$BBBB", 0 },
		{ "$argon2id$v=19$m=,t=1,p=1$AAAA$BBBB", 0 },
		{ "$argon2id$v=19$m=8,p=1,t=1$AAAA$BBBB", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AA AA$BBBB", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB$CCCC", 0 },
		{ "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB\n", 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mig_is_phc(cases[i].text,
		    strlen(cases[i].text)), cases[i].phc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_ident),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_openid),
		cmocka_unit_test(test_phc),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
