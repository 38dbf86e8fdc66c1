/*
 * A request from arrival to answer: FastCGI params, the checks made before
 * any body byte is read, a bounded body read, JSON into a struct
 * reg_input, then registration and one response. Nothing here knows SQL.
 */
#include "config.h"

#include <fcgiapp.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"

#define REQ_JSON_DEPTH	8	/* our object is flat; deep nesting is abuse */

/* The results the metrics count requests by: each kind of answer, then: */
enum req_metric {
	REQ_METRIC_SCRAPE = RESP__COUNT,	/* GET /metrics answered */
	REQ_METRIC_REPLAYED_200,		/* a stored answer, by status */
	REQ_METRIC_REPLAYED_400,
	REQ_METRIC_REPLAYED_OTHER,
	REQ_METRIC__COUNT
};
_Static_assert(REQ_METRIC__COUNT <= METRICS_RESULTS, "METRICS_RESULTS");

/* Which endpoint a request URI names, under base_path; query ignored. */
enum req_route
req_route(const char *base_path, const char *uri)
{
	size_t	base_len = strlen(base_path), path_len;

	if (uri == NULL || strncmp(uri, base_path, base_len) != 0)
		return (ROUTE_NONE);
	uri += base_len;
	path_len = strcspn(uri, "?");
	if (path_len == strlen("/register") &&
	    strncmp(uri, "/register", path_len) == 0)
		return (ROUTE_REGISTER);
	if (path_len == strlen("/healthz") &&
	    strncmp(uri, "/healthz", path_len) == 0)
		return (ROUTE_HEALTHZ);
	if (path_len == strlen("/metrics") &&
	    strncmp(uri, "/metrics", path_len) == 0)
		return (ROUTE_METRICS);
	return (ROUTE_NONE);
}

/*
 * Parse CONTENT_LENGTH: absent or "" is 0 (nginx sends "" for no body).
 * 0 = ok, -1 = not a plain decimal (400), -2 = above max (413).
 */
int
req_content_length(const char *text, size_t max, size_t *out)
{
	size_t	value = 0;

	*out = 0;
	if (text == NULL || *text == '\0')
		return (0);
	for (; *text != '\0'; text++) {
		if (*text < '0' || *text > '9')
			return (-1);
		/* Saturate above max: the digits that follow cannot matter. */
		if (value <= max)
			value = value * 10 + (size_t)(*text - '0');
	}
	if (value > max)
		return (-2);
	*out = value;
	return (0);
}

/*
 * Is a Content-Type JSON in UTF-8? The media type application/json (any
 * case), and no parameter but charset=utf-8 (any case, quoted or not):
 * parsed, not prefix-matched, so "application/json garbage" and
 * "charset=utf-16" are refused.
 */
int
req_is_json(const char *content_type)
{
	const char	*p = content_type;
	size_t		 len = strlen("application/json");

	if (p == NULL || strncasecmp(p, "application/json", len) != 0)
		return (0);
	for (p += len;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			return (1);
		if (*p++ != ';')
			return (0);
		p += strspn(p, " \t");
		if (strncasecmp(p, "charset=", 8) != 0)
			return (0);
		p += 8;
		if (strncasecmp(p, "utf-8", 5) == 0)
			p += 5;
		else if (strncasecmp(p, "\"utf-8\"", 7) == 0)
			p += 7;
		else
			return (0);
	}
}

/*
 * When the web server received the request, in wall-clock milliseconds,
 * from REGONCE_REQUEST_START: nginx's $msec ("1700000000.123") or
 * Apache's %t ("t=1700000000123456", microseconds). 0 if absent or not
 * understood: the budget then starts when the worker picks it up.
 */
int64_t
req_arrival_ms(const char *text)
{
	char		*end;
	long long	 whole, frac = 0;
	size_t		 digits;

	if (text == NULL)
		return (0);
	if (strncmp(text, "t=", 2) == 0) {
		whole = strtoll(text + 2, &end, 10);
		return (*end == '\0' && end != text + 2 && whole > 0 ?
		    whole / 1000 : 0);
	}
	whole = strtoll(text, &end, 10);
	if (end == text || whole <= 0)
		return (0);
	if (*end == '.') {
		digits = strspn(end + 1, "0123456789");
		if (digits != 3 || end[4] != '\0')
			return (0);
		frac = strtoll(end + 1, NULL, 10);
	} else if (*end != '\0')
		return (0);
	return ((int64_t)whole * 1000 + frac);
}

/*
 * Everything decided before reading the body. Returns -1 with the answer
 * in *kind when the request stops here, 0 when the body should be read.
 */
int
req_check_head(const struct config *cfg, const struct req_head *head,
    enum req_route *route, size_t *length, enum resp_kind *kind,
    struct resp_detail *detail)
{
	int	rc;

	*route = req_route(cfg->base_path, head->uri);
	if (*route == ROUTE_NONE) {
		*kind = RESP_NOT_FOUND;
		return (-1);
	}
	if (*route == ROUTE_HEALTHZ || *route == ROUTE_METRICS) {
		if (head->method != NULL && (strcmp(head->method, "GET") == 0 ||
		    strcmp(head->method, "HEAD") == 0))
			return (0);
		*kind = RESP_METHOD_NOT_ALLOWED;
		detail->allow = "GET, HEAD";
		return (-1);
	}
	if (head->method == NULL || strcmp(head->method, "POST") != 0) {
		*kind = RESP_METHOD_NOT_ALLOWED;
		detail->allow = "POST";
		return (-1);
	}
	if (!req_is_json(head->content_type)) {
		*kind = RESP_UNSUPPORTED_MEDIA;
		return (-1);
	}
	rc = req_content_length(head->content_length, cfg->max_body_bytes,
	    length);
	if (rc == -2) {
		*kind = RESP_BODY_TOO_LARGE;
		return (-1);
	}
	if (rc == -1) {
		*kind = RESP_INVALID_JSON;
		detail->message = "Content-Length is not a number";
		return (-1);
	}
	return (0);
}

/* Take one string member of the request object. */
static int
req_get_string(json_object *root, const char *name, const char **value,
    size_t *len, struct resp_detail *detail)
{
	json_object	*member;

	detail->field = name;
	if (!json_object_object_get_ex(root, name, &member) ||
	    json_object_is_type(member, json_type_null)) {
		detail->message = "a required field is missing";
		return (-1);
	}
	if (!json_object_is_type(member, json_type_string)) {
		detail->message = "the field must be a string";
		return (-1);
	}
	*value = json_object_get_string(member);
	*len = (size_t)json_object_get_string_len(member);
	detail->field = NULL;
	return (0);
}

/* The UTF-16 code unit of the 4 hex digits at text, or -1. */
static long
req_hex4(const char *text)
{
	char	digits[5], *end;
	long	unit;

	memcpy(digits, text, 4);
	digits[4] = '\0';
	unit = strtol(digits, &end, 16);
	return (end == digits + 4 && digits[0] != '-' && digits[0] != '+' ?
	    unit : -1);
}

/*
 * I-JSON (RFC 7493 2.1): are all \u escapes that encode surrogates in
 * pairs, high then low? json-c would turn a lone one into U+FFFD and store
 * something the client did not send. Called on text json-c accepted, so
 * strings are well formed and each \u has four hex digits.
 */
static int
req_surrogates_paired(const char *buf, size_t len)
{
	size_t	pos;
	long	unit, low;
	int	in_string = 0;

	for (pos = 0; pos < len; pos++) {
		if (buf[pos] == '"') {
			in_string = !in_string;
			continue;
		}
		if (!in_string || buf[pos] != '\\' || pos + 1 >= len)
			continue;
		pos++;			/* the escaped character */
		if (buf[pos] != 'u' || pos + 4 >= len)
			continue;
		unit = req_hex4(buf + pos + 1);
		pos += 4;
		if (unit >= 0xdc00 && unit <= 0xdfff)
			return (0);	/* a low half with no high one */
		if (unit < 0xd800 || unit > 0xdbff)
			continue;
		/* A high half: a low half must follow at once. */
		if (pos + 6 >= len || buf[pos + 1] != '\\' ||
		    buf[pos + 2] != 'u')
			return (0);
		low = req_hex4(buf + pos + 3);
		if (low < 0xdc00 || low > 0xdfff)
			return (0);
		pos += 6;
	}
	return (1);
}

/*
 * The worker's one JSON tokener. Its string buffer is sized for the
 * largest body up front, so json-c never reallocs it and leaves no copy
 * of a password in freed memory; it is wiped after every parse.
 */
static json_tokener *
req_tokener(size_t len)
{
	static json_tokener	*tok;

	if (tok == NULL && (tok = json_tokener_new_ex(REQ_JSON_DEPTH)) == NULL)
		return (NULL);
	json_tokener_reset(tok);
	if ((size_t)tok->pb->size <= len &&
	    printbuf_memset(tok->pb, 0, 0, (int)len + 1) == -1)
		return (NULL);
	printbuf_reset(tok->pb);
	/* Strict: no comments, no single quotes, no data after the value. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	return (tok);
}

/*
 * Parse a body of exactly len bytes into in: 0, or -1 with the answer in
 * *kind. The strings in "in" point into *root, which the caller releases
 * with json_object_put() (also after -1).
 */
int
req_parse_body(const char *buf, size_t len, struct reg_input *in,
    json_object **root, enum resp_kind *kind, struct resp_detail *detail)
{
	json_tokener		*tok;
	json_object		*obj;
	enum json_tokener_error	 jerr;

	*root = NULL;
	memset(in, 0, sizeof(*in));
	*kind = RESP_INVALID_JSON;
	if (len == 0) {
		detail->message = "the body is empty";
		return (-1);
	}
	/* JSON text never holds a raw NUL; json-c would stop reading there. */
	if (memchr(buf, '\0', len) != NULL) {
		detail->message = "the body holds a NUL byte";
		return (-1);
	}
	if ((tok = req_tokener(len)) == NULL) {
		*kind = RESP_INTERNAL;
		return (-1);
	}
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj != NULL && json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		obj = NULL;
		jerr = json_tokener_error_parse_unexpected;
	}
	pw_wipe(tok->pb->buf, (size_t)tok->pb->size);
	if (obj == NULL) {
		detail->message = jerr == json_tokener_continue ?
		    "the JSON ends early" : json_tokener_error_desc(jerr);
		return (-1);
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		detail->message = "the body must be a JSON object";
		return (-1);
	}
	if (!req_surrogates_paired(buf, len)) {
		*root = obj;	/* the caller wipes and releases it */
		detail->message = "a string has an unpaired UTF-16 surrogate "
		    "escape";
		return (-1);
	}
	*root = obj;
	*kind = RESP_INVALID_FIELD;
	if (req_get_string(obj, "openid", &in->openid, &in->openid_len,
	    detail) == -1 ||
	    req_get_string(obj, "username", &in->username, &in->username_len,
	    detail) == -1 ||
	    req_get_string(obj, "password", &in->password, &in->password_len,
	    detail) == -1)
		return (-1);
	return (0);
}

/*
 * An Idempotency-Key value: an RFC 8941 sf-string, quoted, with \" and
 * \\ the only escapes, holding 1 to 255 printable ASCII characters. The
 * characters go to key (REQ_KEY_MAX + 1 bytes), their count to *len.
 */
int
req_idem_key(const char *value, char *key, size_t *len)
{
	const char	*p = value;
	size_t		 n = 0;

	if (value == NULL || *p++ != '"')
		return (-1);
	for (; *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		else if (*p < 0x20 || *p > 0x7e || *p == '\\')
			return (-1);
		if (n == REQ_KEY_MAX)
			return (-1);
		key[n++] = *p;
	}
	if (n == 0 || p[1] != '\0')
		return (-1);
	key[n] = '\0';
	*len = n;
	return (0);
}

/* SHA-256 over the given pieces, one after another. */
static int
req_sha256(unsigned char *out, const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX	*md;
	int		 ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, a, alen) == 1 &&
	    EVP_DigestUpdate(md, b, blen) == 1 &&
	    EVP_DigestUpdate(md, c, clen) == 1 &&
	    EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return (ok ? 0 : -1);
}

/* The answer's details, from a registration's outcome. */
static void
req_detail_of(const struct reg_outcome *outcome, struct resp_detail *detail)
{
	detail->user_id = outcome->user_id;
	detail->field = outcome->field;
	detail->message = outcome->result == REG_INVALID ? outcome->reason :
	    NULL;
}

/* What a keyed request stores: the answer this layer gives an outcome. */
static int
req_render(const struct reg_outcome *outcome, struct db_idem *row)
{
	struct resp_detail	detail;

	memset(&detail, 0, sizeof(detail));
	req_detail_of(outcome, &detail);
	return (resp_render(resp_kind_of(outcome->result), &detail,
	    &row->status, row->body, sizeof(row->body), &row->body_len));
}

/*
 * Write a whole response and free it; NULL (out of memory) writes a
 * plain 500. A failed write means nginx has gone: nothing to do. Returns
 * status, or 500.
 */
static int
req_put(FCGX_Request *req, char *text, size_t len, int status)
{
	static const char	fallback[] = "Status: 500 Internal Server Error"
	    "\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
	    "{\"code\":-5,\"error\":\"internal_error\","
	    "\"message\":\"out of memory\"}\n";

	if (text == NULL) {
		FCGX_PutStr(fallback, (int)sizeof(fallback) - 1, req->out);
		return (500);
	}
	if (FCGX_PutStr(text, (int)len, req->out) != (int)len)
		log_warn("response write failed: client gone");
	free(text);
	return (status);
}

/* Write an answer; the HTTP status sent. */
static int
req_send(FCGX_Request *req, enum resp_kind kind,
    const struct resp_detail *detail)
{
	const struct db_idem	*stored = detail->replay;
	char			*text;
	size_t			 len = 0;

	/* A replay is the stored answer, byte for byte. */
	text = stored != NULL ? resp_replay(stored->status, stored->body,
	    stored->body_len, &len) : resp_build(kind, detail, &len);
	return (req_put(req, text, len, stored != NULL ?
	    (int)stored->status : resp_status(kind)));
}

/*
 * The leading fields of libfcgi's private stream state (fcgiapp.c,
 * unchanged since 2.4.0): where its record buffer is, so the body's bytes
 * can be wiped there too.
 */
struct req_fcgi_stream_data {
	unsigned char	*buff;
	int		 bufflen;
	unsigned char	*mbuff;
	unsigned char	*buff_stop;
};

/*
 * Wipe what libfcgi's input buffer holds of the body: everything already
 * read, and what is left of earlier reads past the current fill. The
 * unread rest (the end-of-stream record) is left for libfcgi.
 */
static void
req_wipe_input(FCGX_Stream *in)
{
	struct req_fcgi_stream_data	*data = in->data;

	if (data == NULL || data->buff == NULL || in->rdNext < data->buff ||
	    data->buff_stop < in->rdNext ||
	    data->buff_stop > data->buff + data->bufflen)
		return;
	pw_wipe(data->buff, (size_t)(in->rdNext - data->buff));
	pw_wipe(data->buff_stop, (size_t)(data->buff + data->bufflen -
	    data->buff_stop));
}

/* Read exactly len body bytes; short means the client sent less. */
static int
req_read_body(FCGX_Request *req, char *buf, size_t len)
{
	size_t	got = 0;
	int	n, rc = 0;

	while (got < len) {
		n = FCGX_GetStr(buf + got, (int)(len - got), req->in);
		if (n <= 0) {
			rc = -1;
			break;
		}
		got += (size_t)n;
	}
	req_wipe_input(req->in);
	return (rc);
}

/*
 * Wipe the "password" member's bytes, whatever else the body held or
 * lacked, then release the tree.
 */
static void
req_wipe_password(json_object *root)
{
	json_object	*member;

	if (root == NULL)
		return;
	if (json_object_object_get_ex(root, "password", &member) &&
	    json_object_is_type(member, json_type_string))
		pw_wipe((char *)(uintptr_t)json_object_get_string(member),
		    (size_t)json_object_get_string_len(member));
	json_object_put(root);
}

/*
 * POST /register with a body of len bytes, answered before deadline. The
 * outcome lives in *outcome, where a replayed answer is kept.
 */
static enum resp_kind
req_register(FCGX_Request *req, struct db *db, const struct config *cfg,
    const struct req_head *head, size_t len, int64_t deadline,
    struct reg_outcome *outcome, struct resp_detail *detail)
{
	struct reg_input	 in;
	struct reg_idem		 idem;
	json_object		*root = NULL;
	enum resp_kind		 kind;
	const char		*header = NULL;
	char			*buf, key[REQ_KEY_MAX + 1];
	size_t			 key_len = 0;

	if (cfg->idempotency != IDEM_MODE_OFF)
		header = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", req->envp);
	if (header == NULL && cfg->idempotency == IDEM_MODE_REQUIRED)
		return (RESP_KEY_REQUIRED);
	if (header != NULL && (req_idem_key(header, key, &key_len) == -1 ||
	    req_sha256(idem.key_hash, key, key_len, "", 0, "", 0) == -1))
		return (RESP_KEY_INVALID);
	/* len <= max_body_bytes: checked before this allocation. */
	if ((buf = malloc(len + 1)) == NULL)
		return (RESP_INTERNAL);
	if (req_read_body(req, buf, len) == -1) {
		detail->message = "the body is shorter than Content-Length";
		kind = RESP_INVALID_JSON;
		goto out;
	}
	if (req_parse_body(buf, len, &in, &root, &kind, detail) == -1)
		goto out;
	if (header != NULL) {
		/* The request's fingerprint: method, path and body. */
		idem.render = req_render;
		if (req_sha256(idem.fingerprint, head->method,
		    strlen(head->method) + 1, head->uri, strlen(head->uri) + 1,
		    buf, len) == -1) {
			kind = RESP_INTERNAL;
			goto out;
		}
	}
	reg_user(db, cfg, &in, header != NULL ? &idem : NULL, deadline,
	    outcome);
	kind = resp_kind_of(outcome->result);
	req_detail_of(outcome, detail);
	if (outcome->result == REG_REPLAYED)
		detail->replay = &outcome->stored;
out:
	/* The clear password is in the body and the JSON tree: wipe both. */
	pw_wipe(buf, len);
	free(buf);
	req_wipe_password(root);
	return (kind);
}

/* The labels of each request result the metrics count. */
static const struct metrics_result *
req_metric_names(void)
{
	static struct metrics_result	names[REQ_METRIC__COUNT];
	static char			codes[RESP__COUNT][4];
	int				i;

	for (i = 0; i < RESP__COUNT; i++) {
		snprintf(codes[i], sizeof(codes[i]), "%d",
		    resp_status((enum resp_kind)i));
		names[i].name = resp_name((enum resp_kind)i);
		names[i].code = codes[i];
	}
	names[REQ_METRIC_SCRAPE] = (struct metrics_result){ "metrics", "200" };
	names[REQ_METRIC_REPLAYED_200] =
	    (struct metrics_result){ "replayed", "200" };
	names[REQ_METRIC_REPLAYED_400] =
	    (struct metrics_result){ "replayed", "400" };
	names[REQ_METRIC_REPLAYED_OTHER] =
	    (struct metrics_result){ "replayed", "other" };
	return (names);
}

/* GET /metrics: the pool's counters; the HTTP status sent. */
static int
req_metrics(FCGX_Request *req)
{
	char	*body, *text = NULL;
	size_t	 body_len, len = 0;

	if ((body = metrics_render(req_metric_names(), REQ_METRIC__COUNT,
	    &body_len)) != NULL)
		text = resp_metrics(body, body_len, &len);
	free(body);
	return (req_put(req, text, len, 200));
}

/* Count an answered request; a registration's verdict too. */
static void
req_count(enum req_route route, enum resp_kind kind,
    const struct resp_detail *detail, int status, int64_t start)
{
	unsigned int	result = kind;

	if (route == ROUTE_METRICS && status == 200)
		result = REQ_METRIC_SCRAPE;
	else if (detail->replay != NULL) {
		metrics_count(METRIC_IDEM_REPLAYS);
		result = status == 200 ? REQ_METRIC_REPLAYED_200 :
		    status == 400 ? REQ_METRIC_REPLAYED_400 :
		    REQ_METRIC_REPLAYED_OTHER;
	} else if (kind == RESP_CREATED)
		metrics_count(METRIC_REG_CREATED);
	else if (kind == RESP_EXISTS)
		metrics_count(METRIC_REG_EXISTS);
	/* Scrapes stay out of the latency histogram: polling is not load. */
	metrics_request(result, route == ROUTE_METRICS ? -1 :
	    metrics_clock_us() - start);
}

/* Answer one accepted request. */
void
req_handle(struct FCGX_Request *req, struct db *db, const struct config *cfg)
{
	struct req_head		 head;
	struct resp_detail	 detail;
	struct reg_outcome	 outcome;
	enum req_route		 route;
	enum resp_kind		 kind = RESP_INTERNAL;
	size_t			 len;
	const char		*arrival;
	int64_t			 deadline, start = metrics_clock_us();
	int			 status = 0;

	memset(&detail, 0, sizeof(detail));
	/* One budget from when the web server received it: nginx's param,
	 * else the header the Apache snippet sets. */
	if ((arrival = FCGX_GetParam("REGONCE_REQUEST_START", req->envp)) ==
	    NULL)
		arrival = FCGX_GetParam("HTTP_X_REGONCE_REQUEST_START",
		    req->envp);
	deadline = deadline_at(req_arrival_ms(arrival),
	    cfg->request_timeout_ms);
	head.method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	/* nginx's normalised path ("//register" is /register), else raw. */
	head.uri = FCGX_GetParam("DOCUMENT_URI", req->envp);
	if (head.uri == NULL)
		head.uri = FCGX_GetParam("REQUEST_URI", req->envp);
	head.content_type = FCGX_GetParam("CONTENT_TYPE", req->envp);
	head.content_length = FCGX_GetParam("CONTENT_LENGTH", req->envp);

	if (req_check_head(cfg, &head, &route, &len, &kind, &detail) == 0) {
		if (route == ROUTE_METRICS && metrics_on())
			status = req_metrics(req);
		else if (route == ROUTE_METRICS) {
			kind = RESP_NOT_FOUND;
			detail.message = "metrics are off: metrics_file is not set";
		} else if (route == ROUTE_HEALTHZ)
			kind = db_ping(db) == DB_OK ? RESP_HEALTH_OK :
			    RESP_HEALTH_DOWN;
		else if (deadline_left_ms(deadline) <= 0)
			/* Waited too long in the queue: touch nothing. */
			kind = RESP_EXPIRED;
		else
			kind = req_register(req, db, cfg, &head, len,
			    deadline, &outcome, &detail);
	}
	if (status == 0)
		status = req_send(req, kind, &detail);
	req_count(route, kind, &detail, status, start);
	log_info("%s %.200s -> %d", head.method != NULL ? head.method : "-",
	    head.uri != NULL ? head.uri : "-", status);
}
