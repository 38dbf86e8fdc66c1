/*
 * openid-forms: the SQL that puts the openid rule's samples
 * (tests/openid_samples.h) through its SQL form, OPENID_SQL_REFUSED, on
 * MariaDB, beside the C form's verdict on each. tests/it-openid.sh pipes
 * it into the server and compares the two columns. "-n" prints the
 * number of samples; "-b" swaps in a known-bad SQL form (space allowed)
 * so the test can show that it sees a disagreement.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "openid_samples.h"

/* The rule as it must not be: a space passes. The negative control. */
#define BAD_SQL_REFUSED(col)	"(LENGTH(" col ") = 0 OR LENGTH(" col \
	") > " OPENID_MAX_TEXT " OR CAST(" col " AS BINARY) REGEXP '[^ -~]')"

int
main(int argc, char *argv[])
{
	char	buf[OPENID_SAMPLE_MAX];
	size_t	i, j;
	int	bad = argc == 2 && strcmp(argv[1], "-b") == 0;

	if (argc == 2 && strcmp(argv[1], "-n") == 0) {
		printf("%zu\n", OPENID_SAMPLES);
		return (0);
	}
	/* Bytes, not text: every sample goes in as a hex literal. */
	printf("CREATE TEMPORARY TABLE openid_samples (n INT PRIMARY KEY, "
	    "name VARCHAR(64) NOT NULL, c_refused INT NOT NULL, "
	    "openid VARBINARY(%d) NOT NULL);\n", OPENID_SAMPLE_MAX);
	for (i = 0; i < OPENID_SAMPLES; i++) {
		openid_sample_bytes(&openid_samples[i], buf);
		printf("INSERT INTO openid_samples VALUES (%zu, '%s', %d, X'",
		    i, openid_samples[i].name,
		    openid_check(buf, openid_samples[i].len) != OPENID_FINE);
		for (j = 0; j < openid_samples[i].len; j++)
			printf("%02x", (unsigned char)buf[j]);
		printf("');\n");
	}
	printf("SELECT n, name, c_refused, %s FROM openid_samples "
	    "ORDER BY n;\n", bad ? BAD_SQL_REFUSED("openid") :
	    OPENID_SQL_REFUSED("openid"));
	return (0);
}
