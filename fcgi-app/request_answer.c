/*
 * A request's answer: the details an outcome gives it, rendered for an
 * Idempotency-Key's store or written to the client (a stored one byte for
 * byte), the /metrics page, and the count each answer adds to the metrics.
 */
#include "config.h"

#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* The results the metrics count requests by: each kind of answer, then: */
enum req_metric {
	REQ_METRIC_SCRAPE = RESP__COUNT,	/* GET /metrics answered */
	REQ_METRIC_REPLAYED_200,		/* a stored answer, by status */
	REQ_METRIC_REPLAYED_400,
	REQ_METRIC_REPLAYED_OTHER,
	REQ_METRIC__COUNT
};
_Static_assert(REQ_METRIC__COUNT <= METRICS_RESULTS, "METRICS_RESULTS");

/* The answer's details, from a registration's outcome. */
void
req_detail_of(const struct reg_outcome *outcome, struct resp_detail *detail)
{
	detail->user_id = outcome->user_id;
	detail->field = outcome->field;
	detail->message = outcome->result == REG_INVALID ? outcome->reason :
	    NULL;
}

/* What a keyed request stores: the answer this layer gives an outcome. */
int
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
int
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
int
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
void
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
	    clock_mono_us() - start);
}

