/* file_sd.h - reading file-based service discovery files (Prometheus file_sd).
 *
 * The file-reading half of Prometheus's discovery/file: each file (.json, or .yml/.yaml)
 * holds a list of {targets: [...], labels: {...}} groups. Every group gets the source id
 * "<path>:<index>" and the label __meta_filepath=<path>; every target becomes a label set
 * {__address__: target}. Reading is synchronous; watching and periodic refresh come later. */
#ifndef PG_DISCOVERY_FILE_SD_H
#define PG_DISCOVERY_FILE_SD_H

#include <stddef.h>
#include <stdint.h>

#include "discovery/tgroup.h"

/* The file mechanism's config: one file_sd_configs entry (loaded by file_watch.c). */
struct pg_cfg_file_sd {
    char **files; /* patterns; each must end in .json, .yml or .yaml */
    size_t n_files;
    int64_t refresh_interval_ms; /* default 5m */
};

/* Label added to every group: the path of the file it came from. */
#define PG_SD_FILE_PATH_LABEL "__meta_filepath"

/* Parses one file_sd file; the format is chosen by extension (.json, .yml, .yaml).
 * On success returns 0 and stores a new array of *n groups in *groups (NULL when the file
 * holds an empty list); the caller frees it with pg_tgroup_free_array. On any error
 * (unreadable file, syntax, wrong types, empty target, empty label name, unknown
 * extension, OOM) returns -1, writes a message naming the file (and line:col for YAML)
 * to err (if errlen > 0), and leaves *groups = NULL, *n = 0 with nothing allocated. */
int pg_sd_file_read(const char *path, struct pg_tgroup **groups, size_t *n, char *err,
                    size_t errlen);

/* Parses len bytes of file_sd JSON (a list of {targets, labels} groups) from memory, as
 * pg_sd_file_read does for a .json file, except that groups get the source
 * "<source>:<index>" and the label `label` (e.g. "__meta_url") set to source, overriding
 * one the document may carry. Same return and ownership contract as pg_sd_file_read
 * (errors name source). */
int pg_sd_file_parse_json(const char *data, size_t len, const char *source, const char *label,
                          struct pg_tgroup **groups, size_t *n, char *err, size_t errlen);

/* Expands every pattern of cfg->files with glob(3) (matches in sorted order; a pattern
 * matching nothing is not an error) and reads each file with pg_sd_file_read,
 * concatenating the groups into a new array (*groups, *n; caller frees with
 * pg_tgroup_free_array). A file that cannot be read is reported through
 * on_error(ud, path, msg) (if non-NULL) and skipped. Returns 0, or -1 on allocation
 * failure (then *groups = NULL, *n = 0). */
int pg_sd_file_read_all(const struct pg_cfg_file_sd *cfg, struct pg_tgroup **groups, size_t *n,
                        void (*on_error)(void *ud, const char *path, const char *msg), void *ud);

#endif
