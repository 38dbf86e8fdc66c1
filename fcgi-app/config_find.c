/*
 * Finding the configuration when nobody says where it is. Under Apache's
 * mod_fcgid on a shared host the worker gets no environment of ours
 * (SetEnv reaches it only as per-request params) and no -c: it looks
 * beside its own executable, then at the system default. The paths a
 * found file names relative to itself are taken from its folder, so a
 * customer's folder can move as a whole.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

/* The folder of the running executable into buf; NULL if unknown. */
const char *
config_exe_dir(char *buf, size_t len)
{
	char	exe[PATH_MAX];
	ssize_t	n;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return (NULL);
	exe[n] = '\0';
	if (snprintf(buf, len, "%s", dirname(exe)) >= (int)len)
		return (NULL);
	return (buf);
}

/*
 * The first configuration file that exists of: <executable>.conf (say
 * register.fcgi.conf), regonce.conf beside the executable, then
 * SYSCONFDIR/regonce.conf. Its path into buf and 0; -1 when none does
 * (buf then lists where it looked, for the log).
 */
int
config_find(char *buf, size_t len)
{
	char	exe[PATH_MAX], dir[PATH_MAX], tried[3][PATH_MAX];
	ssize_t	n;
	size_t	i, count = 0;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if (snprintf(tried[count], sizeof(tried[0]), "%s.conf", exe) <
		    (int)sizeof(tried[0]))
			count++;
		if (config_exe_dir(dir, sizeof(dir)) != NULL &&
		    snprintf(tried[count], sizeof(tried[0]), "%s/regonce.conf",
		    dir) < (int)sizeof(tried[0]))
			count++;
	}
	snprintf(tried[count++], sizeof(tried[0]), "%s/regonce.conf",
	    SYSCONFDIR);
	for (i = 0; i < count; i++)
		/* Present but unreadable counts as found: loading says why. */
		if (access(tried[i], F_OK) == 0 || errno != ENOENT) {
			snprintf(buf, len, "%s", tried[i]);
			return (0);
		}
	snprintf(buf, len, "no configuration file: looked for %s%s%s%s%s",
	    tried[0], count > 1 ? ", " : "", count > 1 ? tried[1] : "",
	    count > 2 ? ", " : "", count > 2 ? tried[2] : "");
	return (-1);
}

/* Prefix a relative path with dir, when it fits; else leave it. */
static void
config_rebase_one(char *field, size_t size, const char *dir)
{
	char	joined[PATH_MAX];

	if (field[0] == '\0' || field[0] == '/' || strcmp(field, "-") == 0)
		return;
	if (snprintf(joined, sizeof(joined), "%s/%s", dir, field) >=
	    (int)sizeof(joined) || strlen(joined) >= size)
		return;
	memcpy(field, joined, strlen(joined) + 1);
}

/*
 * A file's relative log_file, metrics_file, db_cap_dir, hash_cap_dir
 * and fingerprint_key_file name places beside the file itself, not in
 * whatever folder the worker started in.
 */
void
config_rebase(struct config *cfg, const char *conf_path)
{
	char	copy[PATH_MAX], dir[PATH_MAX];

	if (snprintf(copy, sizeof(copy), "%s", conf_path) >= (int)sizeof(copy))
		return;
	if (realpath(dirname(copy), dir) == NULL)
		return;
	config_rebase_one(cfg->log_file, sizeof(cfg->log_file), dir);
	config_rebase_one(cfg->metrics_file, sizeof(cfg->metrics_file), dir);
	config_rebase_one(cfg->db_cap_dir, sizeof(cfg->db_cap_dir), dir);
	config_rebase_one(cfg->hash_cap_dir, sizeof(cfg->hash_cap_dir), dir);
	config_rebase_one(cfg->fingerprint_key_file,
	    sizeof(cfg->fingerprint_key_file), dir);
}
