/*
 * fcgi-stall SOCKET: connect to a FastCGI unix socket, send half of a
 * BEGIN_REQUEST record, print "sent" and hold the connection until stdin
 * closes (it-fcgi-stall: a web server that stalls mid-record). Exit 0
 * when the worker closed the connection first, 1 when stdin closed
 * first, 2 on error.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	/* Version 1, BEGIN_REQUEST, id 1, content length 8: 4 bytes of 16. */
	static const unsigned char half[] = { 1, 1, 0, 1, 0, 8, 0, 0,
		0, 1, 0, 0 };
	struct sockaddr_un	 sun;
	struct pollfd		 pfd[2];
	char			 c;
	int			 fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: fcgi-stall SOCKET\n");
		return (2);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    write(fd, half, sizeof(half)) != (ssize_t)sizeof(half)) {
		perror("fcgi-stall");
		return (2);
	}
	printf("sent\n");
	fflush(stdout);
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = 0;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			perror("fcgi-stall: poll");
			return (2);
		}
		/* The worker hung up (EOF or reset): dropped, as it should. */
		if (pfd[0].revents != 0 && read(fd, &c, 1) <= 0)
			return (0);
		if (pfd[1].revents != 0)
			return (1);
	}
}
