/* targets.h - the `profgate targets` command (see targets.c). */
#ifndef PG_DAEMON_TARGETS_H
#define PG_DAEMON_TARGETS_H

/* Runs `profgate targets` with main's argv (argv[1] == "targets"). Returns the exit
 * code: 0 on success, 1 on a bad config, 2 on usage errors. */
int pg_cmd_targets(int argc, char **argv);

#endif
