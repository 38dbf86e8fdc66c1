/*
 * A request's body: read exactly Content-Length bytes (wiping libfcgi's
 * copy), parse them as strict JSON into a struct reg_input, and wipe the
 * password out of the JSON tree when done. Nothing here knows SQL.
 */
#include "config.h"

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define REQ_JSON_DEPTH	8	/* our object is flat; deep nesting is abuse */
#define REQ_LONE_SURROGATE \
	"a string has an unpaired UTF-16 surrogate escape"

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
int
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
 * What json-c lets by, even strict, that RFC 8259 and I-JSON (RFC 7493)
 * forbid: NaN and Infinity outside strings, raw control characters inside
 * them, and \u escapes of surrogates that are not a high-low pair (json-c
 * would turn a lone one into U+FFFD, which the client did not send). The
 * reason, or NULL. Called on text json-c accepted, so strings are well
 * formed and each \u has four hex digits; outside strings the only
 * capitals json-c takes are those of NaN and Infinity.
 */
static const char *
req_strict_text(const char *buf, size_t len)
{
	size_t	pos;
	long	unit, low;
	int	in_string = 0;

	for (pos = 0; pos < len; pos++) {
		if (buf[pos] == '"') {
			in_string = !in_string;
			continue;
		}
		if (!in_string) {
			if (buf[pos] == 'N' || buf[pos] == 'I')
				return ("NaN and Infinity are not JSON");
			continue;
		}
		if ((unsigned char)buf[pos] < 0x20)
			return ("a control character in a string must be "
			    "escaped");
		if (buf[pos] != '\\' || pos + 1 >= len)
			continue;
		pos++;			/* the escaped character */
		if (buf[pos] != 'u' || pos + 4 >= len)
			continue;
		unit = req_hex4(buf + pos + 1);
		pos += 4;
		if (unit >= 0xdc00 && unit <= 0xdfff)
			return (REQ_LONE_SURROGATE);	/* no high half */
		if (unit < 0xd800 || unit > 0xdbff)
			continue;
		/* A high half: a low half must follow at once. */
		if (pos + 6 >= len || buf[pos + 1] != '\\' ||
		    buf[pos + 2] != 'u')
			return (REQ_LONE_SURROGATE);
		low = req_hex4(buf + pos + 3);
		if (low < 0xdc00 || low > 0xdfff)
			return (REQ_LONE_SURROGATE);
		pos += 6;
	}
	return (NULL);
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
	/* RFC 8259 8.1: no byte order mark (json-c says "invalid utf-8"). */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		detail->message = "a byte order mark is not allowed";
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
	if ((detail->message = req_strict_text(buf, len)) != NULL) {
		*root = obj;	/* the caller wipes and releases it */
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
 * Wipe the "password" member's bytes, whatever else the body held or
 * lacked, then release the tree.
 */
void
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
