/* run.h - `profgate run CONFIG`: the daemon's main job. */
#ifndef PG_DAEMON_RUN_H
#define PG_DAEMON_RUN_H

/* Parses run's flags (argv[0] is "profgate", argv[1] "run"), runs until SIGTERM/SIGINT and
 * returns the process exit code: 0 after a clean shutdown, 1 when the config or the
 * startup fails, 2 on a usage error. */
int pg_cmd_run(int argc, char **argv);

#endif
