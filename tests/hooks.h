/*
 * The test worker, tests/regonce-test: the installed worker plus what only
 * tests and ./stack demo may have. Compiled with -DREGONCE_TEST_BUILD;
 * the installed fcgi-app/regonce never sees this file.
 *
 * - strategy = naive: check-then-insert without a lock, the original bug,
 *   with naive_delay_ms between the check and the insert;
 * - db_isolation = repeatable_read: the gap-lock deadlock control;
 * - pause points between INSERT and COMMIT, and after COMMIT before the
 *   answer, for the fault tests.
 */
#ifndef REGONCE_HOOKS_H
#define REGONCE_HOOKS_H

#include <stddef.h>

struct config;

void	test_build_warn(const struct config *);
void	test_hook_before_insert(const struct config *);
void	test_hook_pause(const char *, const char *, size_t);

#define TEST_HOOK_BEFORE_INSERT(cfg)		test_hook_before_insert(cfg)
#define TEST_HOOK_BEFORE_COMMIT(openid, len)	test_hook_pause("pause", openid, len)
#define TEST_HOOK_AFTER_COMMIT(openid, len) \
	test_hook_pause("pause-after", openid, len)

#endif /* REGONCE_HOOKS_H */
