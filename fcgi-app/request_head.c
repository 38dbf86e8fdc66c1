/*
 * A request's head: its FastCGI params, which endpoint it names, and the
 * checks made before any body byte is read (method, Content-Type,
 * Content-Length), plus when the web server received it.
 */
#include "config.h"

#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"

/* Seconds: 10000-01-01, past any real clock. */
#define REQ_ARRIVAL_MAX_S	253402300800LL

/*
 * The FastCGI params the head checks look at, and when the web server
 * received the request (see req_arrival_ms) in *arrival_ms.
 */
void
req_read_head(struct FCGX_Request *req, struct req_head *head,
    int64_t *arrival_ms)
{
	const char	*arrival;

	/* nginx's param, else the header the Apache snippet sets. */
	if ((arrival = FCGX_GetParam("REGONCE_REQUEST_START", req->envp)) ==
	    NULL)
		arrival = FCGX_GetParam("HTTP_X_REGONCE_REQUEST_START",
		    req->envp);
	*arrival_ms = req_arrival_ms(arrival);
	head->method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	/* nginx's normalised path ("//register" is /register), else raw. */
	head->uri = FCGX_GetParam("DOCUMENT_URI", req->envp);
	if (head->uri == NULL)
		head->uri = FCGX_GetParam("REQUEST_URI", req->envp);
	head->content_type = FCGX_GetParam("CONTENT_TYPE", req->envp);
	head->content_length = FCGX_GetParam("CONTENT_LENGTH", req->envp);
}

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
 * understood: the budget then starts when the worker picks it up. A
 * value past REQ_ARRIVAL_MAX_S is not understood either: it is no clock
 * reading, and "* 1000" must not overflow.
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
		return (*end == '\0' && end != text + 2 && whole > 0 &&
		    whole / 1000000 < REQ_ARRIVAL_MAX_S ? whole / 1000 : 0);
	}
	whole = strtoll(text, &end, 10);
	if (end == text || whole <= 0 || whole >= REQ_ARRIVAL_MAX_S)
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
