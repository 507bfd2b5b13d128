/* secretfile.h - reading the small files HTTP client options point at (password_file,
 * credentials_file, client_secret_file, http_headers files, TLS cert_file and key_file)
 * at request time, as Prometheus's FileSecret does, so a rotated file is used by the next
 * request. Error texts follow Go's: "unable to read file <path>: <reason>". */
#ifndef PG_CORE_SECRETFILE_H
#define PG_CORE_SECRETFILE_H

#include <stddef.h>

/* Largest file read (a secret or a PEM bundle). */
#define PG_SECRETFILE_MAX (4u << 20)

/* Reads path whole into a new NUL-terminated buffer of *len bytes (len may be NULL).
 * Returns it, or NULL with a reason in err (missing, unreadable, larger than
 * PG_SECRETFILE_MAX, OOM). */
char *pg_secretfile_read(const char *path, size_t *len, char *err, size_t errlen);

/* As pg_secretfile_read, with leading and trailing white space removed (Go's
 * strings.TrimSpace), for secrets and header values. */
char *pg_secretfile_read_trimmed(const char *path, char *err, size_t errlen);

#endif
