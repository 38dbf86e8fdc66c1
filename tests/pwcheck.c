/*
 * pwcheck: for it-migrate. Reads "id<TAB>password<TAB>phc" lines and
 * checks each password against its argon2id PHC string; prints the ids
 * that do not verify, and the counts. Exit 0 only if every line verifies.
 */
#include <argon2.h>
#include <stdio.h>
#include <string.h>

int
main(void)
{
	char		 line[8192], *id, *password, *phc, *end;
	unsigned long	 good = 0, bad = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		if ((end = strchr(line, '\n')) != NULL)
			*end = '\0';
		id = line;
		if ((password = strchr(id, '\t')) == NULL ||
		    (phc = strchr(password + 1, '\t')) == NULL) {
			printf("malformed line\n");
			bad++;
			continue;
		}
		*password++ = '\0';
		*phc++ = '\0';
		if (argon2id_verify(phc, password, strlen(password)) ==
		    ARGON2_OK)
			good++;
		else {
			printf("id %s does not verify\n", id);
			bad++;
		}
	}
	printf("verified %lu, failed %lu\n", good, bad);
	return (bad == 0 && good > 0 ? 0 : 1);
}
