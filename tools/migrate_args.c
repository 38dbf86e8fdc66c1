/*
 * regonce-migrate's command line, apart from main so the unit test can
 * drive it: every value is checked, the table name strictly.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "migrate.h"

/* Fill args from argv; -1 with a message in err ("help", "version"). */
int
mig_parse_args(int argc, char *argv[], struct mig_args *args, char *err,
    size_t errlen)
{
	static const struct option	 longopts[] = {
		{ "conf",	required_argument,	NULL, 'c' },
		{ "table",	required_argument,	NULL, 't' },
		{ "batch",	required_argument,	NULL, 'b' },
		{ "dry-run",	no_argument,		NULL, 'n' },
		{ "online-tries", required_argument,	NULL, 'o' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	char		*end;
	unsigned long	 number;
	int		 opt;

	memset(args, 0, sizeof(*args));
	args->batch = MIG_BATCH_DEFAULT;
	args->online_tries = MIG_ONLINE_TRIES;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			args->conf = optarg;
			break;
		case 't':
			if (!mig_ident_ok(optarg, MIG_TABLE_MAX)) {
				snprintf(err, errlen, "--table must be 1 to %zu "
				    "letters, digits or '_'", MIG_TABLE_MAX);
				return (-1);
			}
			snprintf(args->table, sizeof(args->table), "%s",
			    optarg);
			break;
		case 'b':
			number = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' ||
			    number < 1 || number > MIG_BATCH_MAX) {
				snprintf(err, errlen, "--batch must be 1 to %d: "
				    "'%s'", MIG_BATCH_MAX, optarg);
				return (-1);
			}
			args->batch = (unsigned int)number;
			break;
		case 'o':
			number = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' ||
			    number > MIG_ONLINE_TRIES_MAX) {
				snprintf(err, errlen, "--online-tries must be 0 "
				    "to %d: '%s'", MIG_ONLINE_TRIES_MAX, optarg);
				return (-1);
			}
			args->online_tries = (unsigned int)number;
			break;
		case 'n':
			args->dry_run = 1;
			break;
		case 'j':
			args->json = 1;
			break;
		case 'h':
			snprintf(err, errlen, "help");
			return (-1);
		case 'V':
			snprintf(err, errlen, "version");
			return (-1);
		default:
			snprintf(err, errlen, "unknown or incomplete option "
			    "'%s'", argv[optind - 1]);
			return (-1);
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return (-1);
	}
	if (args->conf == NULL || args->table[0] == '\0') {
		snprintf(err, errlen, "-c FILE and --table NAME are required");
		return (-1);
	}
	return (0);
}
