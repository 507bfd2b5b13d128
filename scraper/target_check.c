/* target_check.c - Prometheus's post-relabeling checks and limits (see target_check.h).
 *
 * The order of the checks and every message follow Prometheus (scrape/target.go
 * PopulateLabels, scrape/scrape.go verifyLabelLimits and refreshTargetLimitErr), with
 * Go's %q and %.50s rendered by go_quote and go_trunc below. */
#include "scraper/target_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/errmsg.h"
#include "core/sbuf.h"
#include "core/utf8.h"
#include "yamlcfg/units.h"

/* Upper bound of a scrape interval (keeps the time arithmetic far from overflow). */
#define MAX_INTERVAL_MS (366LL * 24 * 3600 * 1000)
/* Go's %.50s / %.50q: at most this many runes of the string are shown. */
#define SHOWN_RUNES 50

/* Returns the byte length of the first max_runes runes of s (an invalid byte counts as
 * one rune, as in Go). */
static size_t rune_prefix(const char *s, size_t max_runes)
{
    size_t len = strlen(s), off = 0;
    for (size_t r = 0; r < max_runes && off < len; r++) {
        uint32_t cp;
        size_t n = pg_utf8_decode(s + off, len - off, &cp);
        off += n ? n : 1;
    }
    return off;
}

/* Appends the first max_runes runes of s quoted as Go's %q does (printable runes as they
 * are, \" \\ \n \t \r and \xNN for the rest). */
static void go_quote(struct pg_sbuf *b, const char *s, size_t max_runes)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = rune_prefix(s, max_runes);
    pg_sbuf_str(b, "\"");
    for (size_t off = 0; off < len;) {
        uint32_t cp;
        size_t n = pg_utf8_decode(s + off, len - off, &cp);
        unsigned char c = (unsigned char)s[off];
        if (n > 1 && cp >= 0xa0) {
            pg_sbuf_add(b, s + off, n);
        } else if (n == 1 && c >= 0x20 && c < 0x7f) {
            if (c == '"' || c == '\\')
                pg_sbuf_str(b, "\\");
            pg_sbuf_add(b, s + off, 1);
        } else if (n == 1 && (c == '\n' || c == '\t' || c == '\r')) {
            pg_sbuf_str(b, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r");
        } else {
            /* a control character, or a byte that does not start valid UTF-8 */
            size_t k = n ? n : 1;
            for (size_t i = 0; i < k; i++) {
                unsigned char x = (unsigned char)s[off + i];
                char e[4] = {'\\', 'x', hex[x >> 4], hex[x & 15]};
                pg_sbuf_add(b, e, 4);
            }
        }
        off += n ? n : 1;
    }
    pg_sbuf_str(b, "\"");
}

/* Copies the sbuf's text (or "out of memory") into err. */
static void take_err(struct pg_sbuf *b, char *err, size_t errlen)
{
    const char *s = pg_sbuf_cstr(b);
    pg_errmsg_set(err, errlen, "%s", s ? s : "out of memory");
    pg_sbuf_reset(b);
}

/* Parses the duration label name of fin ("" when absent) into *ms. Returns 0 or -1 with
 * "error parsing scrape <what>: <reason>" / "scrape <what> cannot be 0" in err. */
static int label_duration(const struct pg_labels *fin, const char *name, const char *what,
                          int64_t *ms, char *err, size_t errlen)
{
    const char *v = pg_labels_get(fin, name);
    char why[200];
    if (pg_units_parse_duration(v ? v : "", ms, why, sizeof why) != 0) {
        pg_errmsg_set(err, errlen, "error parsing scrape %s: %s", what, why);
        return -1;
    }
    if (*ms == 0) {
        pg_errmsg_set(err, errlen, "scrape %s cannot be 0", what);
        return -1;
    }
    return 0;
}

/* Checks that every label value of fin is valid UTF-8. Returns 0 or -1 (err set). */
static int check_values(const struct pg_labels *fin, char *err, size_t errlen)
{
    for (size_t i = 0; i < fin->n; i++) {
        const char *v = fin->v[i].value;
        if (pg_utf8_valid(v, strlen(v)))
            continue;
        struct pg_sbuf b = {0};
        pg_sbuf_str(&b, "invalid label value for ");
        go_quote(&b, fin->v[i].name, SIZE_MAX);
        pg_sbuf_str(&b, ": ");
        go_quote(&b, v, SIZE_MAX);
        take_err(&b, err, errlen);
        return -1;
    }
    return 0;
}

int pg_target_check(const struct pg_labels *fin, int64_t *interval_ms, int64_t *timeout_ms,
                    char *err, size_t errlen)
{
    if (label_duration(fin, "__scrape_interval__", "interval", interval_ms, err, errlen) != 0 ||
        label_duration(fin, "__scrape_timeout__", "timeout", timeout_ms, err, errlen) != 0)
        return -1;
    if (*timeout_ms > *interval_ms) {
        struct pg_sbuf b = {0};
        pg_sbuf_str(&b, "scrape timeout cannot be greater than scrape interval (");
        go_quote(&b, pg_labels_get(fin, "__scrape_timeout__"), SIZE_MAX);
        pg_sbuf_str(&b, " > ");
        go_quote(&b, pg_labels_get(fin, "__scrape_interval__"), SIZE_MAX);
        pg_sbuf_str(&b, ")");
        take_err(&b, err, errlen);
        return -1;
    }
    if (*interval_ms > MAX_INTERVAL_MS) {
        pg_errmsg_set(err, errlen, "scrape interval cannot be above one year (%s)",
                      pg_labels_get(fin, "__scrape_interval__"));
        return -1;
    }
    return check_values(fin, err, errlen);
}

/* Returns 1 if name is counted as a series label (public, or __name__). */
static int counted(const char *name)
{
    return strncmp(name, "__", 2) != 0 || strcmp(name, "__name__") == 0;
}

/* Appends "<prefix> exceeded (metric: <name>" for a label limit message. */
static void limit_head(struct pg_sbuf *b, const char *what, const struct pg_labels *series)
{
    const char *met = pg_labels_get(series, "__name__");
    met = met ? met : "";
    pg_sbuf_str(b, what);
    pg_sbuf_str(b, " exceeded (metric: ");
    pg_sbuf_add(b, met, rune_prefix(met, SHOWN_RUNES));
}

/* The name and value length limits of one label. Returns 0 or -1 (err set). */
static int check_lengths(const struct pg_cfg_limits *lim, const struct pg_labels *series,
                         const struct pg_label *lb, char *err, size_t errlen)
{
    struct pg_sbuf b = {0};
    char tail[96];
    size_t nlen = strlen(lb->name), vlen = strlen(lb->value);
    if (lim->label_name_length_limit > 0 && nlen > lim->label_name_length_limit) {
        limit_head(&b, "label_name_length_limit", series);
        pg_sbuf_str(&b, ", label name: ");
        pg_sbuf_add(&b, lb->name, rune_prefix(lb->name, SHOWN_RUNES));
        snprintf(tail, sizeof tail, ", length: %zu, limit: %" PRIu64 ")", nlen,
                 lim->label_name_length_limit);
        pg_sbuf_str(&b, tail);
        take_err(&b, err, errlen);
        return -1;
    }
    if (lim->label_value_length_limit > 0 && vlen > lim->label_value_length_limit) {
        limit_head(&b, "label_value_length_limit", series);
        pg_sbuf_str(&b, ", label name: ");
        pg_sbuf_add(&b, lb->name, rune_prefix(lb->name, SHOWN_RUNES));
        pg_sbuf_str(&b, ", value: ");
        go_quote(&b, lb->value, SHOWN_RUNES);
        snprintf(tail, sizeof tail, ", length: %zu, limit: %" PRIu64 ")", vlen,
                 lim->label_value_length_limit);
        pg_sbuf_str(&b, tail);
        take_err(&b, err, errlen);
        return -1;
    }
    return 0;
}

int pg_target_check_label_limits(const struct pg_cfg_limits *lim, const struct pg_labels *series,
                                 char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < series->n; i++)
        n += counted(series->v[i].name);
    if (lim->label_limit > 0 && n > lim->label_limit) {
        struct pg_sbuf b = {0};
        char tail[96];
        limit_head(&b, "label_limit", series);
        snprintf(tail, sizeof tail, ", number of labels: %zu, limit: %" PRIu64 ")", n,
                 lim->label_limit);
        pg_sbuf_str(&b, tail);
        take_err(&b, err, errlen);
        return -1;
    }
    if (lim->label_name_length_limit == 0 && lim->label_value_length_limit == 0)
        return 0;
    for (size_t i = 0; i < series->n; i++)
        if (counted(series->v[i].name) &&
            check_lengths(lim, series, &series->v[i], err, errlen) != 0)
            return -1;
    return 0;
}

int pg_target_limit_exceeded(const struct pg_cfg_limits *lim, size_t n_targets, char *err,
                             size_t errlen)
{
    if (lim->target_limit == 0 || n_targets <= lim->target_limit)
        return 0;
    pg_errmsg_set(err, errlen, "target_limit exceeded (number of targets: %zu, limit: %" PRIu64 ")",
                  n_targets, lim->target_limit);
    return 1;
}

int64_t pg_target_delta_duration_ms(const struct pg_cfg_scrape *job, const struct pg_labels *fin)
{
    const char *v = pg_labels_get(fin, "__scrape_interval__");
    int64_t iv = job->scrape_interval_ms;
    if (v == NULL || pg_units_parse_duration(v, &iv, NULL, 0) != 0 || iv <= 0 ||
        iv == job->scrape_interval_ms)
        return job->delta_profiling_duration_ms;
    if (job->delta_profiling_duration_set && job->delta_profiling_duration_ms < iv)
        return job->delta_profiling_duration_ms;
    return iv > 1000 ? iv - 1000 : iv;
}
