/*
 * A request from arrival to answer, read top to bottom: its head's params
 * and checks (request_head.c), the Idempotency-Key (request_key.c), the
 * body read and parsed (request_body.c), registration, then one answer,
 * counted (request_answer.c). Nothing here knows SQL.
 */
#include "config.h"

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define REQ_HEALTH_MS	2000	/* /healthz's budget: a prober's usual wait */

static enum resp_kind	req_health(struct db *, int64_t,
			    struct resp_detail *);
static enum resp_kind	req_register(FCGX_Request *, struct db *,
			    const struct config *, const struct req_head *,
			    size_t, int64_t, struct reg_outcome *,
			    struct resp_detail *);

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
	int64_t			 arrival, deadline, start = clock_mono_us();
	int			 status = 0;

	memset(&detail, 0, sizeof(detail));
	req_read_head(req, &head, &arrival);
	/* One budget from when the web server received it. */
	deadline = deadline_at(arrival, cfg->request_timeout_ms);

	if (req_check_head(cfg, &head, &route, &len, &kind, &detail) == 0) {
		/* Closed by the worker itself, whatever the web server lets by. */
		if (route == ROUTE_METRICS && !addr_allowed(cfg->metrics_allow,
		    FCGX_GetParam("REMOTE_ADDR", req->envp)))
			kind = RESP_FORBIDDEN;
		else if (route == ROUTE_METRICS && metrics_on())
			status = req_metrics(req);
		else if (route == ROUTE_METRICS) {
			kind = RESP_NOT_FOUND;
			detail.message = "metrics are off: metrics_file is not set";
		} else if (route == ROUTE_HEALTHZ)
			kind = req_health(db, deadline, &detail);
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

/*
 * GET /healthz: does the database answer, and take writes? Within
 * REQ_HEALTH_MS (or the request's own budget if less): a probe that
 * hangs on a stalled server would hold the worker and the prober alike.
 */
static enum resp_kind
req_health(struct db *db, int64_t deadline, struct resp_detail *detail)
{
	enum db_status	st;
	int64_t		own = deadline_at(0, REQ_HEALTH_MS);

	db_set_deadline(db, own < deadline ? own : deadline);
	st = db_ping(db);
	db_set_deadline(db, DEADLINE_NONE);
	if (st == DB_OK)
		return (RESP_HEALTH_OK);
	if (st == DB_READ_ONLY)
		detail->message = "the database takes no writes now "
		    "(read-only)";
	return (RESP_HEALTH_DOWN);
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
	char			*buf;

	if (cfg->idempotency != IDEM_MODE_OFF &&
	    req_key_header(req->envp, &header) == -1)
		return (RESP_KEY_INVALID);
	if (header == NULL && cfg->idempotency == IDEM_MODE_REQUIRED)
		return (RESP_KEY_REQUIRED);
	if (header != NULL && req_key_hash(header, idem.key_hash) == -1)
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
		/* A keyed request stores the answer this layer gives. */
		idem.render = req_render;
		if (req_fingerprint(head, buf, len, idem.fingerprint) == -1) {
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
