/* config_redact.h - the loaded config file as YAML with every secret shown as <secret>,
 * for the web UI's /config page and /api/v1/status/config (as Prometheus's /config).
 *
 * The file is parsed again (libyaml's document API: aliases become shared nodes, so a
 * secret reached through an alias is redacted everywhere) and written back in block style
 * (comments and formatting are not kept; ${VAR} references stay unexpanded, as written).
 * Redacted, whatever the nesting:
 *   - the value (a scalar, or every scalar below a mapping or sequence) of a key that
 *     names a secret: password, credentials, client_secret, bearer_token, token,
 *     secret(s), secret_key, access_key, api_key, private_key, auth_token, session_token,
 *     and any key containing "password", "secret", "token" or "credential" (keys ending
 *     in _file name a file, not a secret, and are shown);
 *   - every header value under headers / http_headers (they often carry API keys);
 *   - the password of credentials embedded in a URL (scheme://user:password@host).
 * The daemon calls this when a config is loaded (start and each successful reload) and
 * keeps the text; the UI never reads the file at request time. */
#ifndef PG_DAEMON_CONFIG_REDACT_H
#define PG_DAEMON_CONFIG_REDACT_H

#include <stddef.h>

/* Returns the redacted YAML of the config file at path (new string, caller frees), or
 * NULL with a reason in err (unreadable file, YAML syntax error, out of memory). */
char *pg_config_redact_file(const char *path, char *err, size_t errlen);

/* As pg_config_redact_file for YAML text in memory (name is used in error messages). */
char *pg_config_redact_text(const char *name, const char *text, size_t len, char *err,
                            size_t errlen);

/* Returns 1 when a mapping key with this name holds a secret (the rules above). */
int pg_config_redact_is_secret_key(const char *key);

/* Writes url with the password of its userinfo replaced by <secret> into out (outlen
 * bytes, truncated). Text without "scheme://user:password@" is copied unchanged. */
void pg_config_redact_url(const char *url, char *out, size_t outlen);

#endif
