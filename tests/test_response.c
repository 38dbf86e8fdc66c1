/* Unit tests for response.c: the table from answer to status and body. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "app.h"

/* Build an answer and split it into headers and parsed JSON body. */
static json_object *
build(enum resp_kind kind, const struct resp_detail *detail, char **headers)
{
	char		*text, *split;
	size_t		 len;
	json_object	*body;

	text = resp_build(kind, detail, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	split = strstr(text, "\r\n\r\n");
	assert_non_null(split);
	*split = '\0';
	body = json_tokener_parse(split + 4);
	assert_non_null(body);
	*headers = text;
	return (body);
}

/* Integer member of a body. */
static int64_t
member_int(json_object *body, const char *name)
{
	json_object	*member;

	assert_true(json_object_object_get_ex(body, name, &member));
	return (json_object_get_int64(member));
}

/* String member of a body, or NULL. */
static const char *
member_str(json_object *body, const char *name)
{
	json_object	*member;

	if (!json_object_object_get_ex(body, name, &member))
		return (NULL);
	return (json_object_get_string(member));
}

/* The two answers the old clients read keep their exact shape. */
static void
test_created_and_exists(void **state)
{
	struct resp_detail	 detail = { .user_id = 42 };
	json_object		*body;
	char			*headers;

	(void)state;
	body = build(RESP_CREATED, &detail, &headers);
	assert_non_null(strstr(headers, "Status: 200 OK"));
	assert_non_null(strstr(headers,
	    "Content-Type: application/json; charset=utf-8"));
	assert_int_equal(member_int(body, "code"), 0);
	assert_string_equal(member_str(body, "message"), "注册成功");
	assert_int_equal(member_int(body, "user_id"), 42);
	assert_null(member_str(body, "error"));
	json_object_put(body);
	free(headers);

	body = build(RESP_EXISTS, NULL, &headers);
	assert_non_null(strstr(headers, "Status: 200 OK"));
	assert_int_equal(member_int(body, "code"), -1);
	assert_string_equal(member_str(body, "message"),
	    "注册失败，Openid已存在");
	assert_null(member_str(body, "user_id"));
	json_object_put(body);
	free(headers);
}

struct error_case {
	enum resp_kind	 kind;
	int		 status;
	int		 code;
	const char	*error;
	const char	*header;	/* a header that must be there */
};

static const struct error_case error_cases[] = {
	{ RESP_INVALID_JSON, 400, -2, "invalid_json", NULL },
	{ RESP_INVALID_FIELD, 400, -2, "invalid_field", NULL },
	{ RESP_BODY_TOO_LARGE, 413, -2, "body_too_large", NULL },
	{ RESP_UNSUPPORTED_MEDIA, 415, -2, "unsupported_media_type", NULL },
	{ RESP_METHOD_NOT_ALLOWED, 405, -2, "method_not_allowed",
	    "Allow: POST" },
	{ RESP_NOT_FOUND, 404, -2, "not_found", NULL },
	{ RESP_BUSY, 503, -3, "busy", "Retry-After: " },
	{ RESP_DB_UNAVAILABLE, 503, -4, "db_unavailable", "Retry-After: " },
	{ RESP_KEY_STORAGE_FULL, 503, -3, "key_storage_full",
	    "Retry-After: " },
	{ RESP_INTERNAL, 500, -5, "internal_error", NULL },
	{ RESP_HEALTH_DOWN, 503, -4, "db_unavailable", NULL },
};

/* Every error row: status, code, slug, a message, its header. */
static void
test_error_table(void **state)
{
	struct resp_detail	 detail = { .field = "openid",
				    .allow = "POST" };
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case	*c = &error_cases[i];
		json_object		*body;
		char			*headers, status[32];

		body = build(c->kind, &detail, &headers);
		snprintf(status, sizeof(status), "Status: %d ", c->status);
		if (strncmp(headers, status, strlen(status)) != 0)
			fail_msg("kind %d: headers '%s'", c->kind, headers);
		assert_int_equal(resp_status(c->kind), c->status);
		assert_int_equal(member_int(body, "code"), c->code);
		assert_string_equal(member_str(body, "error"), c->error);
		assert_non_null(member_str(body, "message"));
		if (c->header != NULL && strstr(headers, c->header) == NULL)
			fail_msg("kind %d: no '%s' in '%s'", c->kind,
			    c->header, headers);
		if (c->kind == RESP_INVALID_FIELD)
			assert_string_equal(member_str(body, "field"),
			    "openid");
		json_object_put(body);
		free(headers);
	}
}

/* A registration result maps to one answer each. */
static void
test_kind_of(void **state)
{
	(void)state;
	assert_int_equal(resp_kind_of(REG_CREATED), RESP_CREATED);
	assert_int_equal(resp_kind_of(REG_EXISTS), RESP_EXISTS);
	assert_int_equal(resp_kind_of(REG_INVALID), RESP_INVALID_FIELD);
	assert_int_equal(resp_kind_of(REG_BUSY), RESP_BUSY);
	assert_int_equal(resp_kind_of(REG_DB_UNAVAILABLE),
	    RESP_DB_UNAVAILABLE);
	assert_int_equal(resp_kind_of(REG_INTERNAL), RESP_INTERNAL);
	assert_int_equal(resp_kind_of(REG_KEY_STORAGE_FULL),
	    RESP_KEY_STORAGE_FULL);
}

/* healthz: {"status":"ok"} and nothing else. */
static void
test_health(void **state)
{
	json_object	*body;
	char		*headers;

	(void)state;
	body = build(RESP_HEALTH_OK, NULL, &headers);
	assert_string_equal(json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN), "{\"status\":\"ok\"}");
	json_object_put(body);
	free(headers);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_created_and_exists),
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_kind_of),
		cmocka_unit_test(test_health),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
