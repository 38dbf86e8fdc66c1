/*
 * A registration's words, in and out: the API's rules for each field of
 * its input (what reg_user() refuses before it touches the database and,
 * for a keyed request, refuses and stores as the key's answer; the first
 * bad field is named, with a reason that never quotes the input), and the
 * names of its results, as the log writes them.
 */
#include "config.h"

#include <string.h>

#include "app.h"

/* Check each field against the API's rules; name the first bad one. */
int
reg_validate(const struct config *cfg, const struct reg_input *in,
    const char **field, const char **reason)
{
	*field = "openid";
	/* The one openid rule (openid.c), which regonce-migrate applies too. */
	if ((*reason = openid_refusal(in->openid, in->openid_len)) != NULL)
		return (-1);
	*field = "username";
	if (in->username_len == 0) {
		*reason = "username must not be empty";
		return (-1);
	}
	if (in->username_len > REG_USERNAME_MAX) {
		*reason = "username is longer than 255 bytes";
		return (-1);
	}
	if (!utf8_clean(in->username, in->username_len)) {
		*reason = "username must be UTF-8 without control characters "
		    "or noncharacters";
		return (-1);
	}
	*field = "password";
	if (in->password_len < cfg->password_min_length) {
		*reason = "password is too short";
		return (-1);
	}
	if (in->password_len > REG_PASSWORD_MAX) {
		*reason = "password is longer than 1024 bytes";
		return (-1);
	}
	if (memchr(in->password, '\0', in->password_len) != NULL) {
		*reason = "password must not contain NUL";
		return (-1);
	}
	/*
	 * I-JSON, as for every string: UTF-8 no client's text produces would
	 * be hashed as given and never match a later login.
	 */
	if (!utf8_valid(in->password, in->password_len)) {
		*reason = "password must be valid UTF-8 without noncharacters";
		return (-1);
	}
	*field = NULL;
	*reason = NULL;
	return (0);
}

static const char *const reg_result_names[] = {
	[REG_CREATED] = "created",
	[REG_EXISTS] = "exists",
	[REG_INVALID] = "invalid",
	[REG_BUSY] = "busy",
	[REG_DB_UNAVAILABLE] = "db_unavailable",
	[REG_OUTCOME_UNKNOWN] = "outcome_unknown",
	[REG_EXPIRED] = "expired",
	[REG_REPLAYED] = "replayed",
	[REG_KEY_IN_USE] = "key_in_use",
	[REG_KEY_REUSED] = "key_reused",
	[REG_KEY_STORAGE_FULL] = "key_storage_full",
	[REG_INTERNAL] = "internal",
};

/* Short name of a result, for logs. */
const char *
reg_result_name(enum reg_result result)
{
	return (reg_result_names[result]);
}
