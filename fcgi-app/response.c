/*
 * Responses: one table from every kind of answer to its HTTP status and
 * JSON body. The "code" and "message" fields are those the existing
 * mini-program clients read; "error" is a stable slug for everyone else.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define RESP_JSON	"application/json; charset=utf-8"

struct resp_row {
	int		 status;
	const char	*status_text;
	int		 code;
	const char	*error;		/* NULL: no "error" member */
	const char	*message;
	const char	*retry_after;	/* NULL: no Retry-After header */
};

static const struct resp_row resp_table[RESP__COUNT] = {
	[RESP_CREATED] = { 200, "OK", 0, NULL, "注册成功", NULL },
	[RESP_EXISTS] = { 200, "OK", -1, NULL, "注册失败，Openid已存在", NULL },
	[RESP_INVALID_JSON] = { 400, "Bad Request", -2, "invalid_json",
	    "the body must be one JSON object", NULL },
	[RESP_INVALID_FIELD] = { 400, "Bad Request", -2, "invalid_field",
	    "a field is missing or invalid", NULL },
	[RESP_BODY_TOO_LARGE] = { 413, "Payload Too Large", -2,
	    "body_too_large", "the body is larger than allowed", NULL },
	[RESP_UNSUPPORTED_MEDIA] = { 415, "Unsupported Media Type", -2,
	    "unsupported_media_type", "Content-Type must be application/json",
	    NULL },
	[RESP_METHOD_NOT_ALLOWED] = { 405, "Method Not Allowed", -2,
	    "method_not_allowed", "this method is not allowed here", NULL },
	[RESP_NOT_FOUND] = { 404, "Not Found", -2, "not_found",
	    "no such endpoint", NULL },
	[RESP_BUSY] = { 503, "Service Unavailable", -3, "busy",
	    "this openid is being registered by another request; retry",
	    "1" },
	[RESP_DB_UNAVAILABLE] = { 503, "Service Unavailable", -4,
	    "db_unavailable", "the database is unavailable; retry later", "5" },
	[RESP_OUTCOME_UNKNOWN] = { 503, "Service Unavailable", -4,
	    "outcome_unknown", "the database stopped answering after the "
	    "registration was sent: it may or may not have been stored; a "
	    "retry answers exists if it was", "1" },
	[RESP_EXPIRED] = { 503, "Service Unavailable", -4, "request_expired",
	    "the request waited past its time budget; nothing was written; "
	    "retry", "1" },
	[RESP_KEY_INVALID] = { 400, "Bad Request", -2, "invalid_idempotency_key",
	    "Idempotency-Key must be a quoted string of 1 to 255 printable "
	    "ASCII characters", NULL },
	[RESP_KEY_REQUIRED] = { 400, "Bad Request", -2,
	    "idempotency_key_required", "this endpoint requires an "
	    "Idempotency-Key header", NULL },
	[RESP_KEY_IN_USE] = { 409, "Conflict", -3, "idempotency_key_in_use",
	    "a request with this Idempotency-Key is still running; retry",
	    "1" },
	[RESP_KEY_REUSED] = { 422, "Unprocessable Content", -2,
	    "idempotency_key_reused", "this Idempotency-Key was used with "
	    "another request", NULL },
	[RESP_KEY_STORAGE_FULL] = { 503, "Service Unavailable", -3,
	    "key_storage_full", "too many Idempotency-Key answers are stored; "
	    "nothing was written; retry later", "60" },
	[RESP_INTERNAL] = { 500, "Internal Server Error", -5, "internal_error",
	    "internal error; it has been logged", NULL },
	[RESP_HEALTH_OK] = { 200, "OK", 0, NULL, NULL, NULL },
	[RESP_HEALTH_DOWN] = { 503, "Service Unavailable", -4,
	    "db_unavailable", "the database does not answer", "5" },
	[RESP_FORBIDDEN] = { 403, "Forbidden", -2, "forbidden",
	    "this address may not read the metrics", NULL },
	[RESP_NOT_CONFIGURED] = { 500, "Internal Server Error", -5,
	    "not_configured", "this worker has no usable configuration; "
	    "the reason is in its log file", NULL },
};

/* The answer for a registration result. */
enum resp_kind
resp_kind_of(enum reg_result result)
{
	switch (result) {
	case REG_CREATED:
		return (RESP_CREATED);
	case REG_EXISTS:
		return (RESP_EXISTS);
	case REG_INVALID:
		return (RESP_INVALID_FIELD);
	case REG_BUSY:
		return (RESP_BUSY);
	case REG_DB_UNAVAILABLE:
		return (RESP_DB_UNAVAILABLE);
	case REG_OUTCOME_UNKNOWN:
		return (RESP_OUTCOME_UNKNOWN);
	case REG_EXPIRED:
		return (RESP_EXPIRED);
	case REG_KEY_IN_USE:
		return (RESP_KEY_IN_USE);
	case REG_KEY_REUSED:
		return (RESP_KEY_REUSED);
	case REG_KEY_STORAGE_FULL:
		return (RESP_KEY_STORAGE_FULL);
	case REG_REPLAYED:	/* the stored answer is sent as it is */
	case REG_INTERNAL:
		break;
	}
	return (RESP_INTERNAL);
}

/*
 * A kind of answer's name, as the metrics label it: the "error" slug, or
 * a name for the answers without one. Each kind has its own.
 */
const char *
resp_name(enum resp_kind kind)
{
	switch (kind) {
	case RESP_CREATED:
		return ("created");
	case RESP_EXISTS:
		return ("exists");
	case RESP_HEALTH_OK:
		return ("healthz_ok");
	case RESP_HEALTH_DOWN:
		return ("healthz_down");
	default:
		return (resp_table[kind].error);
	}
}

/* The HTTP status of a kind of answer. */
int
resp_status(enum resp_kind kind)
{
	return (resp_table[kind].status);
}

/* The JSON body of an answer; the caller puts it. */
static json_object *
resp_body(enum resp_kind kind, const struct resp_detail *detail)
{
	const struct resp_row	*row = &resp_table[kind];
	const char		*message = row->message;
	json_object		*body = json_object_new_object();

	if (body == NULL)
		return (NULL);
	if (kind == RESP_HEALTH_OK || kind == RESP_HEALTH_DOWN)
		json_object_object_add(body, "status", json_object_new_string(
		    kind == RESP_HEALTH_OK ? "ok" : "unavailable"));
	if (kind == RESP_HEALTH_OK)
		return (body);
	if (detail != NULL && detail->message != NULL)
		message = detail->message;
	json_object_object_add(body, "code", json_object_new_int(row->code));
	if (row->error != NULL)
		json_object_object_add(body, "error",
		    json_object_new_string(row->error));
	if (kind == RESP_INVALID_FIELD && detail != NULL &&
	    detail->field != NULL)
		json_object_object_add(body, "field",
		    json_object_new_string(detail->field));
	json_object_object_add(body, "message",
	    json_object_new_string(message));
	if (kind == RESP_CREATED && detail != NULL)
		json_object_object_add(body, "user_id",
		    json_object_new_uint64(detail->user_id));
	return (body);
}

/* Headers, blank line and body of one response, in a string to free. */
static char *
resp_frame(int status, const char *status_text, const char *type,
    const char *extra, const char *body, size_t body_len, size_t *len)
{
	char	*out = NULL;
	int	 n;

	n = asprintf(&out, "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s\r\n%.*s", status, status_text, type, extra, (int)body_len,
	    body);
	if (n < 0)
		return (NULL);
	*len = (size_t)n;
	return (out);
}

/*
 * The JSON body (with its newline) of an answer into buf, and its status:
 * what an Idempotency-Key stores. -1 if it does not fit.
 */
int
resp_render(enum resp_kind kind, const struct resp_detail *detail,
    unsigned int *status, char *buf, size_t size, size_t *len)
{
	json_object	*body;
	const char	*text;
	int		 n;

	if ((body = resp_body(kind, detail)) == NULL)
		return (-1);
	text = json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = snprintf(buf, size, "%s\n", text != NULL ? text : "{}");
	json_object_put(body);
	if (n < 0 || (size_t)n >= size)
		return (-1);
	*status = (unsigned int)resp_table[kind].status;
	*len = (size_t)n;
	return (0);
}

/*
 * The whole CGI response (headers, blank line, body) for an answer, in a
 * string the caller frees; its length goes to *len. NULL: out of memory.
 */
char *
resp_build(enum resp_kind kind, const struct resp_detail *detail, size_t *len)
{
	const struct resp_row	*row = &resp_table[kind];
	char			 body[2048], extra[128] = "";
	unsigned int		 status;
	size_t			 body_len;

	if (resp_render(kind, detail, &status, body, sizeof(body),
	    &body_len) == -1)
		return (NULL);
	if (row->retry_after != NULL)
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n",
		    row->retry_after);
	else if (kind == RESP_METHOD_NOT_ALLOWED && detail != NULL &&
	    detail->allow != NULL)
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", detail->allow);
	return (resp_frame(row->status, row->status_text, RESP_JSON, extra,
	    body, body_len, len));
}

/* GET /metrics: the Prometheus text exposition format, version 0.0.4. */
char *
resp_metrics(const char *body, size_t body_len, size_t *len)
{
	return (resp_frame(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    "", body, body_len, len));
}

/* A stored answer, byte for byte, marked as a replay. */
char *
resp_replay(unsigned int status, const char *body, size_t body_len,
    size_t *len)
{
	const char	*status_text = "OK";
	size_t		 i;

	for (i = 0; i < RESP__COUNT; i++)
		if ((unsigned int)resp_table[i].status == status) {
			status_text = resp_table[i].status_text;
			break;
		}
	return (resp_frame((int)status, status_text, RESP_JSON,
	    "Idempotency-Replayed: true\r\n", body, body_len, len));
}
