/*
 * Unit tests for request_head.c, request_body.c and request_key.c: routes,
 * head checks, body parsing and the Idempotency-Key value.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "app.h"

struct body_case {
	const char	*name;
	const char	*body;
	size_t		 len;		/* 0: strlen(body) */
	enum resp_kind	 want;		/* PARSED: accepted */
	const char	*field;		/* RESP_INVALID_FIELD: which */
};

#define PARSED	RESP__COUNT	/* not an answer: the body was accepted */
#define OK_BODY "{\"openid\":\"o1\",\"username\":\"u\",\"password\":\"p\"}"

static const struct body_case body_cases[] = {
	{ "valid", OK_BODY, 0, PARSED, NULL },
	{ "unknown fields ignored", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":\"p\",\"extra\":[1,2]}", 0, PARSED, NULL },
	{ "trailing white space", OK_BODY " \n", 0, PARSED, NULL },
	{ "empty", "", 0, RESP_INVALID_JSON, NULL },
	{ "not json", "openid=o1", 0, RESP_INVALID_JSON, NULL },
	{ "truncated", "{\"openid\":\"o1\",\"user", 0, RESP_INVALID_JSON,
	    NULL },
	{ "array", "[1,2,3]", 0, RESP_INVALID_JSON, NULL },
	{ "string", "\"hello\"", 0, RESP_INVALID_JSON, NULL },
	{ "number", "42", 0, RESP_INVALID_JSON, NULL },
	{ "null", "null", 0, RESP_INVALID_JSON, NULL },
	{ "two objects", OK_BODY OK_BODY, 0, RESP_INVALID_JSON, NULL },
	{ "trailing junk", OK_BODY "x", 0, RESP_INVALID_JSON, NULL },
	{ "single quotes", "{'openid':'o'}", 0, RESP_INVALID_JSON, NULL },
	{ "invalid utf-8", "{\"openid\":\"\xff\xfe\"}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "too deep", "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "lone high surrogate", "{\"openid\":\"o\",\"username\":\"\\ud800\","
	    "\"password\":\"p\"}", 0, RESP_INVALID_JSON, NULL },
	{ "lone low surrogate", "{\"openid\":\"o\",\"username\":\"a\\uDC00\","
	    "\"password\":\"p\"}", 0, RESP_INVALID_JSON, NULL },
	{ "high surrogate then letter", "{\"openid\":\"o\",\"username\":"
	    "\"\\ud83dx\",\"password\":\"p\"}", 0, RESP_INVALID_JSON, NULL },
	{ "two high surrogates", "{\"openid\":\"o\",\"username\":"
	    "\"\\ud83d\\ud83d\",\"password\":\"p\"}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "surrogate in a key", "{\"\\udead\":1,\"openid\":\"o\","
	    "\"username\":\"u\",\"password\":\"p\"}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "paired surrogates", "{\"openid\":\"o\",\"username\":"
	    "\"\\ud83d\\ude00\",\"password\":\"p\"}", 0, PARSED, NULL },
	{ "escaped backslash before u", "{\"openid\":\"o\",\"username\":"
	    "\"\\\\ud800\",\"password\":\"p\"}", 0, PARSED, NULL },
	{ "NUL then garbage after the object", OK_BODY "\0GARBAGE",
	    sizeof(OK_BODY "\0GARBAGE") - 1, RESP_INVALID_JSON, NULL },
	{ "NUL byte in body", "{\"openid\":\"o\0\"}", 15, RESP_INVALID_JSON,
	    NULL },
	/* RFC 8259 has no NaN or Infinity; json-c takes them even strict. */
	{ "NaN", "{\"openid\":\"o\",\"username\":\"u\",\"password\":\"p\","
	    "\"x\":NaN}", 0, RESP_INVALID_JSON, NULL },
	{ "Infinity", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":\"p\",\"x\":[1,Infinity]}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "-Infinity", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":\"p\",\"x\":-Infinity}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "nan, any case", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":\"p\",\"x\":nan}", 0, RESP_INVALID_JSON, NULL },
	{ "infinity, any case", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":\"p\",\"x\":-infinity}", 0, RESP_INVALID_JSON, NULL },
	{ "NaN in a string is text", "{\"openid\":\"NaN\",\"username\":"
	    "\"Infinity\",\"password\":\"p\"}", 0, PARSED, NULL },
	/* RFC 8259 7: control characters in strings must be escaped. */
	{ "raw control character", "{\"openid\":\"o\",\"username\":"
	    "\"a\x01b\",\"password\":\"p\"}", 0, RESP_INVALID_JSON, NULL },
	{ "raw tab in the password", "{\"openid\":\"o\",\"username\":"
	    "\"u\",\"password\":\"a\tb\"}", 0, RESP_INVALID_JSON, NULL },
	{ "raw newline in a key", "{\"a\nb\":1,\"openid\":\"o\","
	    "\"username\":\"u\",\"password\":\"p\"}", 0, RESP_INVALID_JSON,
	    NULL },
	{ "escaped control characters", "{\"openid\":\"o\",\"username\":"
	    "\"u\",\"password\":\"a\\tb\\u0001\"}", 0, PARSED, NULL },
	{ "byte order mark", "\xef\xbb\xbf" OK_BODY, 0, RESP_INVALID_JSON,
	    NULL },
	{ "openid missing", "{\"username\":\"u\",\"password\":\"p\"}", 0,
	    RESP_INVALID_FIELD, "openid" },
	{ "openid null", "{\"openid\":null,\"username\":\"u\","
	    "\"password\":\"p\"}", 0, RESP_INVALID_FIELD, "openid" },
	{ "openid number", "{\"openid\":12,\"username\":\"u\","
	    "\"password\":\"p\"}", 0, RESP_INVALID_FIELD, "openid" },
	{ "username bool", "{\"openid\":\"o\",\"username\":true,"
	    "\"password\":\"p\"}", 0, RESP_INVALID_FIELD, "username" },
	{ "password object", "{\"openid\":\"o\",\"username\":\"u\","
	    "\"password\":{}}", 0, RESP_INVALID_FIELD, "password" },
	{ "password missing", "{\"openid\":\"o\",\"username\":\"u\"}", 0,
	    RESP_INVALID_FIELD, "password" },
};

/* Each body row gets its documented answer and, for fields, the name. */
static void
test_parse_body_table(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case	*c = &body_cases[i];
		struct reg_input	 in;
		struct resp_detail	 detail;
		json_object		*root;
		enum resp_kind		 got = PARSED;

		memset(&detail, 0, sizeof(detail));
		if (req_parse_body(c->body, c->len ? c->len : strlen(c->body),
		    &in, &root, &got, &detail) == 0)
			got = PARSED;
		if (got != c->want)
			fail_msg("%s: want kind %d, got %d (%s)", c->name,
			    c->want, got, detail.message ? detail.message : "");
		if (c->field != NULL && (detail.field == NULL ||
		    strcmp(detail.field, c->field) != 0))
			fail_msg("%s: want field %s, got %s", c->name, c->field,
			    detail.field ? detail.field : "(none)");
		if (got != PARSED && got != RESP_INVALID_FIELD &&
		    detail.message == NULL)
			fail_msg("%s: no message", c->name);
		if (root != NULL)
			json_object_put(root);
	}
}

/* Strings keep their JSON length: an escaped NUL is not a terminator. */
static void
test_parse_body_lengths(void **state)
{
	static const char	 body[] = "{\"openid\":\"a\\u0000b\","
	    "\"username\":\"\xe7\x94\xa8\",\"password\":\"12345678\"}";
	struct reg_input	 in;
	struct resp_detail	 detail;
	json_object		*root;
	enum resp_kind		 kind;

	(void)state;
	memset(&detail, 0, sizeof(detail));
	assert_int_equal(req_parse_body(body, strlen(body), &in, &root, &kind,
	    &detail), 0);
	assert_int_equal(in.openid_len, 3);
	assert_memory_equal(in.openid, "a\0b", 3);
	assert_int_equal(in.username_len, 3);
	assert_int_equal(in.password_len, 8);
	json_object_put(root);
}

/* A paired escape is stored as the one 4-byte UTF-8 character. */
static void
test_parse_body_surrogate_pair(void **state)
{
	static const char	 body[] = "{\"openid\":\"o\",\"username\":"
	    "\"\\ud83d\\ude00\",\"password\":\"12345678\"}";
	struct reg_input	 in;
	struct resp_detail	 detail;
	json_object		*root;
	enum resp_kind		 kind;

	(void)state;
	memset(&detail, 0, sizeof(detail));
	assert_int_equal(req_parse_body(body, strlen(body), &in, &root, &kind,
	    &detail), 0);
	assert_int_equal(in.username_len, 4);
	assert_memory_equal(in.username, "\xf0\x9f\x98\x80", 4);
	json_object_put(root);
}

/* A BOM is named as such (RFC 8259 8.1), not as bad UTF-8. */
static void
test_parse_body_bom(void **state)
{
	static const char	 body[] = "\xef\xbb\xbf" OK_BODY;
	struct reg_input	 in;
	struct resp_detail	 detail;
	json_object		*root;
	enum resp_kind		 kind;

	(void)state;
	memset(&detail, 0, sizeof(detail));
	assert_int_equal(req_parse_body(body, strlen(body), &in, &root, &kind,
	    &detail), -1);
	assert_int_equal(kind, RESP_INVALID_JSON);
	assert_non_null(detail.message);
	assert_non_null(strstr(detail.message, "byte order mark"));
	if (root != NULL)
		json_object_put(root);
}

/* CONTENT_LENGTH: "" is 0, junk is -1, over the bound is -2. */
static void
test_content_length(void **state)
{
	size_t	len;

	(void)state;
	assert_int_equal(req_content_length(NULL, 100, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(req_content_length("", 100, &len), 0);
	assert_int_equal(req_content_length("100", 100, &len), 0);
	assert_int_equal(len, 100);
	assert_int_equal(req_content_length("101", 100, &len), -2);
	assert_int_equal(req_content_length("99999999999999999999999999", 100,
	    &len), -2);
	assert_int_equal(req_content_length("-1", 100, &len), -1);
	assert_int_equal(req_content_length("1e3", 100, &len), -1);
	assert_int_equal(req_content_length(" 5", 100, &len), -1);
	assert_int_equal(req_content_length("0x10", 100, &len), -1);
}

/* Routes under a base path; the query string is ignored. */
static void
test_route(void **state)
{
	(void)state;
	assert_int_equal(req_route("", "/register"), ROUTE_REGISTER);
	assert_int_equal(req_route("", "/register?x=1"), ROUTE_REGISTER);
	assert_int_equal(req_route("", "/healthz"), ROUTE_HEALTHZ);
	assert_int_equal(req_route("", "/metrics"), ROUTE_METRICS);
	assert_int_equal(req_route("", "/metrics/"), ROUTE_NONE);
	assert_int_equal(req_route("/api", "/api/metrics"), ROUTE_METRICS);
	assert_int_equal(req_route("", "/registerx"), ROUTE_NONE);
	assert_int_equal(req_route("", "/register/"), ROUTE_NONE);
	assert_int_equal(req_route("", "/"), ROUTE_NONE);
	assert_int_equal(req_route("", NULL), ROUTE_NONE);
	assert_int_equal(req_route("/api", "/api/register"), ROUTE_REGISTER);
	assert_int_equal(req_route("/api", "/register"), ROUTE_NONE);
	assert_int_equal(req_route("/api", "/apiregister"), ROUTE_NONE);
}

/* Content-Type must be JSON; parameters and case do not matter. */
static void
test_is_json(void **state)
{
	(void)state;
	assert_true(req_is_json("application/json"));
	assert_true(req_is_json("application/json; charset=utf-8"));
	assert_true(req_is_json("Application/JSON"));
	assert_true(req_is_json("application/json;charset=UTF-8"));
	assert_true(req_is_json("application/json; charset=\"utf-8\" "));
	assert_false(req_is_json("application/jsonx"));
	assert_false(req_is_json("application/json garbage"));
	assert_false(req_is_json("application/json; charset=utf-16"));
	assert_false(req_is_json("application/json; charset=utf-8x"));
	assert_false(req_is_json("application/json; boundary=x"));
	assert_false(req_is_json("application/json;"));
	assert_false(req_is_json("text/plain"));
	assert_false(req_is_json("application/x-www-form-urlencoded"));
	assert_false(req_is_json(""));
	assert_false(req_is_json(NULL));
}

/* REGONCE_REQUEST_START: nginx's $msec or Apache's %t, else 0. */
static void
test_arrival(void **state)
{
	(void)state;
	assert_int_equal(req_arrival_ms("1700000000.123"), 1700000000123LL);
	assert_int_equal(req_arrival_ms("t=1700000000123456"),
	    1700000000123LL);
	assert_int_equal(req_arrival_ms("1700000000"), 1700000000000LL);
	assert_int_equal(req_arrival_ms(NULL), 0);
	assert_int_equal(req_arrival_ms(""), 0);
	assert_int_equal(req_arrival_ms("1700000000.12"), 0);
	assert_int_equal(req_arrival_ms("1700000000.123x"), 0);
	assert_int_equal(req_arrival_ms("-5"), 0);
	assert_int_equal(req_arrival_ms("t="), 0);
	assert_int_equal(req_arrival_ms("soon"), 0);
	/*
	 * Past any sane clock: whole * 1000 would overflow int64 (undefined
	 * behaviour); such a value is not understood, so 0, like junk.
	 */
	assert_int_equal(req_arrival_ms("9223372036854775807.999"), 0);
	assert_int_equal(req_arrival_ms("9223372036854775"), 0);
	assert_int_equal(req_arrival_ms("99999999999999999999999"), 0);
	assert_int_equal(req_arrival_ms("t=99999999999999999999999"), 0);
	/* The largest accepted: the year 9999 (253402300799 s). */
	assert_int_equal(req_arrival_ms("253402300799.999"), 253402300799999LL);
	assert_int_equal(req_arrival_ms("253402300800"), 0);
}

/* Idempotency-Key values: sf-strings of 1 to 255 printable characters. */
static void
test_idem_key(void **state)
{
	char	key[REQ_KEY_MAX + 1], long_value[REQ_KEY_MAX + 4];
	size_t	len;

	(void)state;
	assert_int_equal(req_idem_key("\"abc-123\"", key, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(key, "abc-123");
	assert_int_equal(req_idem_key("\"a\\\"b\\\\c\"", key, &len), 0);
	assert_string_equal(key, "a\"b\\c");
	assert_int_equal(req_idem_key("\"with space\"", key, &len), 0);
	assert_int_equal(req_idem_key("abc", key, &len), -1);
	assert_int_equal(req_idem_key("\"\"", key, &len), -1);
	assert_int_equal(req_idem_key("\"abc", key, &len), -1);
	assert_int_equal(req_idem_key("\"abc\"x", key, &len), -1);
	assert_int_equal(req_idem_key("\"a\\tb\"", key, &len), -1);
	assert_int_equal(req_idem_key("\"a\tb\"", key, &len), -1);
	assert_int_equal(req_idem_key("\"\xc3\xa9\"", key, &len), -1);
	assert_int_equal(req_idem_key(NULL, key, &len), -1);
	long_value[0] = '"';
	memset(long_value + 1, 'k', REQ_KEY_MAX);
	long_value[REQ_KEY_MAX + 1] = '"';
	long_value[REQ_KEY_MAX + 2] = '\0';
	assert_int_equal(req_idem_key(long_value, key, &len), 0);
	assert_int_equal(len, REQ_KEY_MAX);
	long_value[REQ_KEY_MAX + 1] = 'k';
	long_value[REQ_KEY_MAX + 2] = '"';
	long_value[REQ_KEY_MAX + 3] = '\0';
	assert_int_equal(req_idem_key(long_value, key, &len), -1);
}

/* Hex of a fingerprint, for comparing with a known answer. */
static void
hex32(const unsigned char *in, char *out)
{
	size_t	i;

	for (i = 0; i < DB_HASH_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/*
 * The fingerprint is HMAC-SHA-256 under the secret key (known answer from
 * Python's hmac), changes with the key, and is not the plain SHA-256 of
 * method, path and body (issue 20 item 2: that is a dictionary oracle).
 */
static void
test_fingerprint_keyed(void **state)
{
	static const char	 body[] =
	    "{\"openid\":\"o\",\"username\":\"u\",\"password\":\"12345678\"}";
	struct req_head		 head = { "POST", "/register", NULL, NULL };
	unsigned char		 key[REQ_FP_KEY_MIN], fp_a[DB_HASH_BYTES],
				 fp_b[DB_HASH_BYTES];
	char			 hex[2 * DB_HASH_BYTES + 1];

	(void)state;
	/* No key yet: no fingerprint, never an unkeyed one. */
	assert_int_equal(req_fingerprint(&head, body, sizeof(body) - 1,
	    fp_a), -1);
	memset(key, 'a', sizeof(key));
	assert_int_equal(req_fingerprint_key_set(key, sizeof(key) - 1), -1);
	assert_int_equal(req_fingerprint_key_set(key, sizeof(key)), 0);
	assert_int_equal(req_fingerprint(&head, body, sizeof(body) - 1,
	    fp_a), 0);
	hex32(fp_a, hex);
	assert_string_equal(hex,
	    "4430c58a6ef2363368e79934fa8228120562b10a890954dd18b3d98936525a91");
	/* The plain SHA-256 of the same bytes, which the old code stored. */
	assert_string_not_equal(hex,
	    "ca95bf2b5f7bbc9c538c67769c2dcdebac4bcc7e324a08fb5ce60a09e9806e52");
	memset(key, 'b', sizeof(key));
	assert_int_equal(req_fingerprint_key_set(key, sizeof(key)), 0);
	assert_int_equal(req_fingerprint(&head, body, sizeof(body) - 1,
	    fp_b), 0);
	assert_memory_not_equal(fp_a, fp_b, DB_HASH_BYTES);
}

/* write_key MODE LEN: a key file of LEN bytes with MODE; its path. */
static void
write_key(char *path, mode_t mode, size_t len)
{
	unsigned char	buf[64];
	int		fd;

	memset(buf, 'k', sizeof(buf));
	strcpy(path, "/tmp/test_request.key.XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The key file: the worker's own, closed to group and others, 32+ bytes. */
static void
test_fingerprint_key_load(void **state)
{
	char	path[64], err[256];

	(void)state;
	write_key(path, 0600, 32);
	assert_int_equal(req_fingerprint_key_load(path, err, sizeof(err)), 0);
	unlink(path);
	write_key(path, 0640, 32);
	assert_int_equal(req_fingerprint_key_load(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0640"));
	unlink(path);
	write_key(path, 0400, 31);
	assert_int_equal(req_fingerprint_key_load(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "holds 31 bytes"));
	unlink(path);
	assert_int_equal(req_fingerprint_key_load("/nonexistent/key", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

/* The key header counted: absent, once, and twice (nginx's two params). */
static void
test_key_header(void **state)
{
	char		*none[] = { "HTTP_IDEMPOTENCY_KEYS=\"x\"", NULL };
	char		*once[] = { "REQUEST_METHOD=POST",
			    "HTTP_IDEMPOTENCY_KEY=\"a\"", NULL };
	char		*twice[] = { "HTTP_IDEMPOTENCY_KEY=\"a\"",
			    "REQUEST_METHOD=POST", "HTTP_IDEMPOTENCY_KEY=\"a\"",
			    NULL };
	const char	*value;

	(void)state;
	assert_int_equal(req_key_header(none, &value), 0);
	assert_null(value);
	assert_int_equal(req_key_header(once, &value), 0);
	assert_string_equal(value, "\"a\"");
	assert_int_equal(req_key_header(twice, &value), -1);
	assert_int_equal(req_key_header(NULL, &value), 0);
	assert_null(value);
}

struct head_case {
	const char	*method, *uri, *type, *length;
	int		 rc;
	enum resp_kind	 kind;
};

static const struct head_case head_cases[] = {
	{ "POST", "/register", "application/json", "40", 0, 0 },
	{ "POST", "/register", "application/json", "", 0, 0 },
	{ "GET", "/healthz", NULL, "", 0, 0 },
	{ "HEAD", "/healthz", NULL, "", 0, 0 },
	{ "POST", "/nope", "application/json", "40", -1, RESP_NOT_FOUND },
	{ "GET", "/register", NULL, "", -1, RESP_METHOD_NOT_ALLOWED },
	{ "DELETE", "/register", NULL, "", -1, RESP_METHOD_NOT_ALLOWED },
	{ "POST", "/healthz", NULL, "", -1, RESP_METHOD_NOT_ALLOWED },
	{ "GET", "/metrics", NULL, "", 0, 0 },
	{ "HEAD", "/metrics", NULL, "", 0, 0 },
	{ "POST", "/metrics", "application/json", "2", -1,
	    RESP_METHOD_NOT_ALLOWED },
	{ "POST", "/register", "text/plain", "40", -1,
	    RESP_UNSUPPORTED_MEDIA },
	{ "POST", "/register", NULL, "40", -1, RESP_UNSUPPORTED_MEDIA },
	{ "POST", "/register", "application/json", "16385", -1,
	    RESP_BODY_TOO_LARGE },
	{ "POST", "/register", "application/json", "abc", -1,
	    RESP_INVALID_JSON },
};

/* What is decided before the body: 404, 405, 415, 413, 400. */
static void
test_check_head_table(void **state)
{
	struct config	cfg;
	size_t		i;

	(void)state;
	config_defaults(&cfg);
	for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
		const struct head_case	*c = &head_cases[i];
		struct req_head		 head = { c->method, c->uri, c->type,
					    c->length };
		struct resp_detail	 detail;
		enum req_route		 route;
		enum resp_kind		 kind = RESP__COUNT;
		size_t			 len;
		int			 rc;

		memset(&detail, 0, sizeof(detail));
		rc = req_check_head(&cfg, &head, &route, &len, &kind, &detail);
		if (rc != c->rc || (rc == -1 && kind != c->kind))
			fail_msg("row %zu (%s %s): want %d/%d, got %d/%d", i,
			    c->method, c->uri, c->rc, c->kind, rc, kind);
		if (kind == RESP_METHOD_NOT_ALLOWED && detail.allow == NULL)
			fail_msg("row %zu: 405 without Allow", i);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_body_table),
		cmocka_unit_test(test_parse_body_lengths),
		cmocka_unit_test(test_parse_body_surrogate_pair),
		cmocka_unit_test(test_parse_body_bom),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_is_json),
		cmocka_unit_test(test_arrival),
		cmocka_unit_test(test_idem_key),
		cmocka_unit_test(test_key_header),
		cmocka_unit_test(test_fingerprint_keyed),
		cmocka_unit_test(test_fingerprint_key_load),
		cmocka_unit_test(test_check_head_table),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
