/*
 * regonce-replay: fire N registrations, each sent R times at once, and
 * count what came back and what the table holds. replay_report.c holds
 * the pieces without network or database (arguments, tallies, percentiles,
 * the report); replay.c drives libcurl and the database check.
 */
#ifndef REGONCE_REPLAY_H
#define REGONCE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

struct replay_args {
	const char	*url;
	unsigned int	 users;
	unsigned int	 replays;
	unsigned int	 concurrency;
	char		 prefix[64];
	const char	*db_conf;
	unsigned int	 timeout_s;
	unsigned int	 interval_ms;	/* 0: release as fast as allowed */
	int		 idempotency_key; /* the copies share one key */
	int		 json;
};

/* One answer. status 0 = no HTTP answer (transport error). */
struct replay_result {
	unsigned int	 user;
	int		 status;
	int		 code;		/* "code" member; INT32_MIN: none */
	char		 error[32];	/* "error" member, or "" */
	double		 latency_ms;
	int		 replayed;	/* Idempotency-Replayed: true */
	uint64_t	 body_hash;	/* FNV-1a of the body bytes */
};

/* One outcome bucket: "200 created", "503 busy", "transport", ... */
struct replay_bucket {
	char		 name[48];
	unsigned int	 count;
};

#define REPLAY_BUCKETS	32

struct replay_report {
	unsigned int	 requests;
	unsigned int	 created;
	unsigned int	 exists;
	unsigned int	 unknown;		/* 503 outcome_unknown */
	unsigned int	 replayed;		/* stored answers replayed */
	unsigned int	 answers_differ;	/* keyed copies unlike the first */
	unsigned int	 transport_errors;
	unsigned int	 server_errors;		/* 5xx */
	unsigned int	 openids_created_twice;	/* answered created > once */
	unsigned int	 openids_incomplete;	/* created+exists != replays */
	struct replay_bucket buckets[REPLAY_BUCKETS];
	unsigned int	 nbuckets;
	double		 wall_s;
	double		 p50_ms, p90_ms, p99_ms, max_ms;
	/* The database check (db_checked = 0: not asked for, or failed). */
	int		 db_checked;
	unsigned int	 duplicates;		/* openids with > 1 row */
	unsigned int	 extra_rows;		/* rows beyond the first */
	unsigned int	 lost;			/* created, but no row */
	unsigned int	 unclaimed;		/* a row, told neither created
						   nor outcome_unknown */
};

int	 replay_parse_args(int, char *[], struct replay_args *, char *,
	    size_t);
double	 replay_percentile(double *, size_t, double);
void	 replay_tally(const struct replay_args *, const struct replay_result *,
	    size_t, struct replay_report *);
void	 replay_classify(struct replay_result *, long, const char *, size_t);
struct json_object *replay_report_json(const struct replay_args *,
	    const struct replay_report *);
void	 replay_report_print(const struct replay_args *,
	    const struct replay_report *);
int	 replay_exit_status(const struct replay_report *);
int	 replay_wait_ms(const struct replay_args *, unsigned int, unsigned int,
	    double, double, double);

#endif /* REGONCE_REPLAY_H */
