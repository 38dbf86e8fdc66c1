/*
 * memscan PID NEEDLE: does NEEDLE occur anywhere in the readable memory of
 * process PID? Exit 0 found, 1 not found, 2 could not read. For the test
 * that no clear password stays in a worker after its request.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK		(1024 * 1024)
/* Larger mappings are reservations (ASan's shadow, thread stacks' guard
 * areas), not where a request's bytes live: reading them takes hours. */
#define REGION_MAX	(1024UL * 1024 * 1024)

int
main(int argc, char *argv[])
{
	char		 path[64], line[512], perms[8], *buf;
	unsigned long	 start, end, at;
	size_t		 nlen;
	ssize_t		 n;
	FILE		*maps;
	int		 mem, found = 0, readable = 0;

	if (argc != 3 || (nlen = strlen(argv[2])) == 0 || nlen > 4096) {
		fprintf(stderr, "usage: memscan PID NEEDLE\n");
		return (2);
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if ((maps = fopen(path, "r")) == NULL) {
		perror(path);
		return (2);
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((mem = open(path, O_RDONLY)) == -1) {
		perror(path);
		return (2);
	}
	if ((buf = malloc(CHUNK)) == NULL)
		return (2);
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || end - start > REGION_MAX)
			continue;
		/* Chunks overlap by nlen - 1 bytes: no match straddles two. */
		for (at = start; at < end && !found; ) {
			n = pread(mem, buf, end - at < CHUNK ? end - at : CHUNK,
			    (off_t)at);
			if (n <= 0)
				break;
			readable = 1;
			if (memmem(buf, (size_t)n, argv[2], nlen) != NULL)
				found = 1;
			if ((size_t)n < nlen)
				break;
			at += (unsigned long)n - (nlen - 1);
			if ((size_t)n < CHUNK)
				break;
		}
	}
	free(buf);
	close(mem);
	fclose(maps);
	if (!readable)
		return (2);
	return (found ? 0 : 1);
}
