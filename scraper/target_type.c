/* target_type.c - relabel_configs per target x profile type (see target_type.h).
 *
 * The rules run one at a time here (not through one pg_relabel_process call) so that the
 * rule that dropped a (target, type) is known: the `targets` command and /api/v1/targets
 * list it. Which rules can see the type is decided from the rule alone (its labels,
 * action and regex), once per sync. */
#include "scraper/target_type.h"

#include <stdio.h>
#include <string.h>

#include "core/errmsg.h"
#include "scraper/target.h"

#define NAME_LABEL "__name__"
#define PATH_LABEL "__profile_path__"
#define PREFIX_LABEL "__profile_path_prefix__"

static const char *const type_labels[] = {NAME_LABEL, PATH_LABEL, PREFIX_LABEL};
#define N_TYPE_LABELS (sizeof(type_labels) / sizeof(type_labels[0]))

static int is_type_label(const char *name)
{
    for (size_t i = 0; i < N_TYPE_LABELS; i++)
        if (name != NULL && !strcmp(name, type_labels[i]))
            return 1;
    return 0;
}

/* Returns how many of the type labels r's regex matches in full (a failed match, even
 * one stopped by a limit, counts as no match; callers stay conservative either way). */
static size_t regex_matches(const struct pg_relabel_rule *r)
{
    if (r->re == NULL)
        return N_TYPE_LABELS; /* uncompiled: "(.*)" */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re, NULL);
    if (md == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < N_TYPE_LABELS; i++) {
        const char *s = type_labels[i];
        int rc = pcre2_match(r->re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
        n += rc >= 0;
    }
    pcre2_match_data_free(md);
    return n;
}

int pg_target_rule_per_type(const struct pg_relabel_rule *r)
{
    for (size_t i = 0; i < r->n_source; i++)
        if (is_type_label(r->source_labels[i]))
            return 1;
    switch (r->action) {
    case PG_RELABEL_REPLACE:
    case PG_RELABEL_HASHMOD:
    case PG_RELABEL_LOWERCASE:
    case PG_RELABEL_UPPERCASE:
    case PG_RELABEL_KEEPEQUAL:
    case PG_RELABEL_DROPEQUAL:
        /* a target_label with a $ template may name any label */
        return r->target_label != NULL &&
               (is_type_label(r->target_label) || strchr(r->target_label, '$') != NULL);
    case PG_RELABEL_LABELMAP:
        /* the new names: a fixed replacement is one name; one with $ templates other than
         * the default $1 could be anything */
        if (regex_matches(r) > 0)
            return 1;
        if (r->replacement == NULL || !strcmp(r->replacement, "$1"))
            return 0;
        return strchr(r->replacement, '$') != NULL || is_type_label(r->replacement);
    case PG_RELABEL_LABELDROP: return regex_matches(r) > 0;
    case PG_RELABEL_LABELKEEP: return regex_matches(r) < N_TYPE_LABELS;
    case PG_RELABEL_KEEP:
    case PG_RELABEL_DROP: return 0;
    }
    return 1;
}

size_t pg_target_type_split(const struct pg_cfg_scrape *job)
{
    if (job->legacy_app_name)
        return job->n_relabel; /* __name__ is not the type there */
    for (size_t i = 0; i < job->n_relabel; i++)
        if (pg_target_rule_per_type(&job->relabel[i]))
            return i;
    return job->n_relabel;
}

/* Runs job's rules [from, to) on ls one at a time. Returns 1, 0 (dropped by *rule) or -1
 * (error in err, *rule the failing rule). */
static int run_rules(const struct pg_cfg_scrape *job, size_t from, size_t to, struct pg_labels *ls,
                     pg_relabel_trace_fn trace, void *ud, size_t *rule, char *err, size_t errlen)
{
    for (size_t i = from; i < to; i++) {
        char rerr[96] = "";
        int kept = pg_relabel_process_err(&job->relabel[i], 1, ls, NULL, NULL, rerr, sizeof rerr);
        if (trace != NULL)
            trace(ud, i, ls, kept > 0);
        if (kept <= 0) {
            *rule = i;
            if (kept < 0) {
                /* pg_relabel_process_err numbered the rule 0: give its real index */
                const char *why = strstr(rerr, "]: ");
                pg_errmsg_set(err, errlen, "relabel_configs[%zu]: %s", i,
                              why != NULL ? why + 3 : "error");
            }
            return kept < 0 ? -1 : 0;
        }
    }
    return 1;
}

int pg_target_populate_common(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                              const struct pg_labels *target_labels, struct pg_labels *discovered,
                              struct pg_labels *out, size_t split, pg_relabel_trace_fn trace,
                              void *ud, size_t *rule, char *err, size_t errlen)
{
    *rule = PG_TARGET_NO_RULE;
    if (split > job->n_relabel)
        split = job->n_relabel;
    if (pg_target_prepare(job, group_labels, target_labels, discovered, out) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    /* each type sets its own __name__ before it is relabeled, whatever discovery said */
    pg_labels_del(out, NAME_LABEL);
    int kept = run_rules(job, 0, split, out, trace, ud, rule, err, errlen);
    if (kept > 0 && split == job->n_relabel)
        kept = pg_target_finish(out, err, errlen);
    if (kept > 0 && job->legacy_app_name)
        pg_labels_del(out, NAME_LABEL); /* the application name, now in service_name */
    if (kept <= 0)
        pg_labels_reset(out);
    return kept;
}

/* Sets name to value unless it is already set to something non-empty or value is empty
 * (Alloy's setIfNotPresentAndNotEmpty). Returns 0 or -1. */
static int set_default(struct pg_labels *ls, const char *name, const char *value)
{
    const char *cur = pg_labels_get(ls, name);
    if ((cur != NULL && cur[0] != '\0') || value == NULL || value[0] == '\0')
        return 0;
    return pg_labels_set(ls, name, value);
}

int pg_target_populate_type(const struct pg_cfg_scrape *job, const struct pg_labels *common,
                            size_t split, const struct pg_cfg_profile *p, struct pg_labels *out,
                            pg_relabel_trace_fn trace, void *ud, size_t *rule, char *err,
                            size_t errlen)
{
    *rule = PG_TARGET_NO_RULE;
    if (pg_labels_copy(out, common) != 0 || pg_labels_set(out, NAME_LABEL, p->name) != 0 ||
        set_default(out, PATH_LABEL, p->path) != 0 ||
        set_default(out, PREFIX_LABEL, job->path_prefix) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        pg_labels_reset(out);
        return -1;
    }
    int kept = run_rules(job, split, job->n_relabel, out, trace, ud, rule, err, errlen);
    if (kept > 0)
        kept = pg_target_finish(out, err, errlen);
    if (kept <= 0)
        pg_labels_reset(out);
    return kept;
}
