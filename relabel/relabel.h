/* relabel.h - Prometheus 3 relabelling rules for target and series label sets.
 *
 * A struct pg_relabel_rule holds one relabel_config (as loaded from YAML) plus its
 * compiled regex. The config loader fills the fields, applying Prometheus's defaults
 * (separator ";", regex "(.*)", replacement "$1", action replace) only to absent
 * fields, then calls pg_relabel_compile(), which accepts only the RE2 dialect
 * Prometheus accepts. pg_relabel_process() runs a rule list over a label set in place,
 * exactly as Prometheus's relabel.Process does, except that a regex match that exceeds
 * the match limits below is an error (the set is dropped), not a slow "no match". */
#ifndef PG_RELABEL_H
#define PG_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "core/labels.h"

enum pg_relabel_action {
    PG_RELABEL_REPLACE,
    PG_RELABEL_KEEP,
    PG_RELABEL_DROP,
    PG_RELABEL_KEEPEQUAL,
    PG_RELABEL_DROPEQUAL,
    PG_RELABEL_HASHMOD,
    PG_RELABEL_LABELMAP,
    PG_RELABEL_LABELDROP,
    PG_RELABEL_LABELKEEP,
    PG_RELABEL_LOWERCASE,
    PG_RELABEL_UPPERCASE
};

/* One relabel rule. Every string (and the source_labels vector) is owned by the rule
 * and freed by pg_relabel_rule_free(). re is set by pg_relabel_compile(). */
struct pg_relabel_rule {
    char **source_labels;
    size_t n_source;
    char *separator;
    char *regex;
    char *target_label;
    char *replacement;
    uint64_t modulus;
    enum pg_relabel_action action;
    pcre2_code *re;
};

/* Called after each rule with the rule's index, the set after it (borrowed, valid only
 * during the call) and whether the set is still kept (1) or was dropped (0). */
typedef void (*pg_relabel_trace_fn)(void *ud, size_t rule_index, const struct pg_labels *after,
                                    int kept);

/* Parses an action name ("replace", "labelmap", ...; case-insensitive like Prometheus)
 * into *out. Returns 0, or -1 if s is unknown (*out unchanged). */
int pg_relabel_action_parse(const char *s, enum pg_relabel_action *out);

/* Returns the canonical lower-case name of an action (static string), or "unknown". */
const char *pg_relabel_action_name(enum pg_relabel_action a);

/* Limits every regex match runs under (see relabel.c, "bounded matching"). The match
 * limit bounds backtracking steps (about 1-2 ms of work per subject); depth and heap
 * bound the interpreter's backtracking memory. */
#define PG_RELABEL_MATCH_LIMIT 100000u
#define PG_RELABEL_DEPTH_LIMIT 10000u
#define PG_RELABEL_HEAP_LIMIT_KIB 8192u
#define PG_RELABEL_ERR_LIMIT (-2)

/* Checks r->regex (NULL means "(.*)") against the RE2 dialect Prometheus accepts
 * (re2syntax.h) and compiles it, like Go's ^(?s:REGEX)$, in UTF mode (JIT when PCRE2
 * has it), into r->re (replacing any previous one). Returns 0, or -1 with Go's message
 * ("error parsing regexp: invalid or unsupported Perl syntax: `(?=`") in err (when
 * err/errlen allow). */
int pg_relabel_compile(struct pg_relabel_rule *r, char *err, size_t errlen);

/* Total regex matches stopped by a limit since start (also exported as the counter
 * profgate_relabel_regex_limit_total, which is updated through core/metrics and so,
 * like every metric, from the event-loop thread). */
unsigned long long pg_relabel_limit_hits(void);

/* Relabeling off the event-loop thread (sink/wrelabel.c on the forwarding workers): a
 * thread that calls pg_relabel_set_off_loop(1) leaves the metric alone and its limit hits
 * are counted into profgate_relabel_regex_limit_total by the next
 * pg_relabel_report_hits() (or limit hit) on the loop thread. */
void pg_relabel_set_off_loop(int on);
void pg_relabel_report_hits(void);

/* Frees every member of r (not r itself) and zeroes it. Accepts a zeroed rule. */
void pg_relabel_rule_free(struct pg_relabel_rule *r);

/* Applies rules[0..n) in order to ls, in place. Every rule must be compiled. trace,
 * when non-NULL, is called after each rule. Returns 1 if the set is kept, 0 if a rule
 * dropped it, or -1 on error: a regex hit a match limit (counted and logged, rate
 * limited) or an allocation failed. The caller must drop the set on -1 and should record
 * the reason, which pg_relabel_process_err writes into err ("relabel_configs[2]: regex
 * match limit hit"). After 0 or -1, ls is in an unspecified but valid state that the
 * caller still owns and resets. */
int pg_relabel_process(const struct pg_relabel_rule *rules, size_t n, struct pg_labels *ls,
                       pg_relabel_trace_fn trace, void *ud);
int pg_relabel_process_err(const struct pg_relabel_rule *rules, size_t n, struct pg_labels *ls,
                           pg_relabel_trace_fn trace, void *ud, char *err, size_t errlen);

#endif
