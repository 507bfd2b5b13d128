/* relabel_cfg.c - parses and validates relabel_config lists (see relabel_cfg.h).
 *
 * Each sequence item is read into a struct pg_relabel_rule: absent (or null) keys get
 * Prometheus's defaults, explicit values (even empty strings) are kept verbatim and read
 * raw, since ${1} in regex/replacement/target_label is a regex group, not an env var.
 * Validation mirrors Prometheus 3's relabel.Config.Validate: one message per rule, at
 * the node that is wrong (or at the rule's mapping when a required key is missing). */
#include "config/relabel_cfg.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

static const char *const relabel_keys[] = {"source_labels", "separator", "regex",  "target_label",
                                           "replacement",   "modulus",   "action", NULL};

/* Returns 1 if s is non-empty, valid UTF-8 (Prometheus 3's label name rule). */
static int valid_utf8_name(const char *s)
{
    return *s && pg_utf8_valid(s, strlen(s));
}

/* Returns the value node of key in map, or NULL if absent or YAML null. */
static yaml_node_t *get_present(struct pg_yaml *y, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = pg_yaml_get(y, map, key);
    return (v && !pg_yaml_is_null(v)) ? v : NULL;
}

/* Reads an optional string key into *out (default def when absent). 0 or -1. */
static int get_str(struct pg_yaml *y, yaml_node_t *map, const char *key, const char *def,
                   yaml_node_t **node, char **out, struct pg_cfg_errors *errs)
{
    *node = get_present(y, map, key);
    if (*node)
        return pg_yaml_str(y, *node, key, 0, out, errs);
    if (def == NULL)
        return 0;
    *out = strdup(def);
    if (*out == NULL) {
        pg_yaml_error(y, map, errs, "%s: out of memory", key);
        return -1;
    }
    return 0;
}

/* Reads source_labels (a sequence of label names) into r. 0 or -1. */
static int get_sources(struct pg_yaml *y, yaml_node_t *v, struct pg_relabel_rule *r,
                       struct pg_cfg_errors *errs)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, v, errs, "source_labels: expected a sequence of strings");
        return -1;
    }
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (cnt == 0)
        return 0;
    r->source_labels = calloc(cnt, sizeof(char *));
    if (r->source_labels == NULL) {
        pg_yaml_error(y, v, errs, "source_labels: out of memory");
        return -1;
    }
    int rc = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = pg_yaml_at(y, *it);
        char *s = NULL;
        if (pg_yaml_str(y, item, "source_labels", 0, &s, errs) < 0) {
            rc = -1;
            continue;
        }
        if (!valid_utf8_name(s)) {
            pg_yaml_error(y, item, errs, "\"%s\" is not a valid label name", s);
            free(s);
            rc = -1;
            continue;
        }
        r->source_labels[r->n_source++] = s;
    }
    return rc;
}

/* Returns the first node of nodes[0..n) that is non-NULL, or fallback. */
static yaml_node_t *first_of(yaml_node_t *const *nodes, size_t n, yaml_node_t *fallback)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i])
            return nodes[i];
    return fallback;
}

/* The value nodes of one relabel config's keys (NULL when absent), where errors point. */
struct rule_nodes {
    yaml_node_t *src, *sep, *re, *tgt, *rep, *mod, *act;
};

/* Reads the action key into r->action (replace when absent). Returns 0, or -1 after
 * adding an error. */
static int read_action(struct pg_yaml *y, yaml_node_t *map, struct pg_relabel_rule *r,
                       struct rule_nodes *nd, struct pg_cfg_errors *errs)
{
    int action_ok = 1;
    r->action = PG_RELABEL_REPLACE;
    nd->act = get_present(y, map, "action");
    if (nd->act) {
        char *a = NULL;
        if (pg_yaml_str(y, nd->act, "action", 0, &a, errs) < 0) {
            action_ok = 0;
        } else if (pg_relabel_action_parse(a, &r->action) < 0) {
            pg_yaml_error(y, nd->act, errs, "unknown relabel action \"%s\"", a);
            action_ok = 0;
        }
        free(a);
    }
    return action_ok ? 0 : -1;
}

/* Reads every key of the mapping into r (defaults for absent ones) and compiles the
 * regex, noting the value nodes in nd. Returns 0, or -1 after adding errors. */
static int read_rule(struct pg_yaml *y, yaml_node_t *map, struct pg_relabel_rule *r,
                     struct rule_nodes *nd, struct pg_cfg_errors *errs)
{
    int rc = 0;
    nd->src = get_present(y, map, "source_labels");
    if (nd->src && get_sources(y, nd->src, r, errs) < 0)
        rc = -1;
    if (get_str(y, map, "separator", ";", &nd->sep, &r->separator, errs) < 0)
        rc = -1;
    if (get_str(y, map, "regex", "(.*)", &nd->re, &r->regex, errs) < 0)
        rc = -1;
    if (get_str(y, map, "target_label", NULL, &nd->tgt, &r->target_label, errs) < 0)
        rc = -1;
    if (get_str(y, map, "replacement", "$1", &nd->rep, &r->replacement, errs) < 0)
        rc = -1;
    nd->mod = get_present(y, map, "modulus");
    if (nd->mod && pg_yaml_uint(y, nd->mod, "modulus", &r->modulus, errs) < 0)
        rc = -1;
    if (read_action(y, map, r, nd, errs) < 0)
        rc = -1;
    /* the regex is checked whatever else is wrong (Prometheus does it while decoding) */
    if (r->regex) {
        char err[300];
        if (pg_relabel_compile(r, err, sizeof err) < 0) {
            pg_yaml_error(y, nd->re ? nd->re : map, errs, "%s", err);
            rc = -1;
        }
    }
    return rc;
}

/* Prometheus's Validate() of a rule read without errors: only the first problem is
 * reported, as Prometheus does. Returns 0, or -1 after adding the error. */
static int validate_rule(struct pg_yaml *y, yaml_node_t *map, const struct pg_relabel_rule *r,
                         const struct rule_nodes *nd, struct pg_cfg_errors *errs)
{
    const char *an = pg_relabel_action_name(r->action);
    enum pg_relabel_action a = r->action;
    int tgt_empty = r->target_label == NULL || r->target_label[0] == '\0';
    int sep_def = !strcmp(r->separator, ";");
    int re_def = !strcmp(r->regex, "(.*)");
    int rep_def = !strcmp(r->replacement, "$1");
    yaml_node_t *mod_set = nd->mod && r->modulus ? nd->mod : NULL;
    if (a == PG_RELABEL_HASHMOD && r->modulus == 0) {
        pg_yaml_error(y, nd->mod ? nd->mod : map, errs,
                      "relabel configuration for hashmod requires non-zero modulus");
        return -1;
    }
    if ((a == PG_RELABEL_REPLACE || a == PG_RELABEL_HASHMOD || a == PG_RELABEL_LOWERCASE ||
         a == PG_RELABEL_UPPERCASE || a == PG_RELABEL_KEEPEQUAL || a == PG_RELABEL_DROPEQUAL) &&
        tgt_empty) {
        pg_yaml_error(y, nd->tgt ? nd->tgt : map, errs,
                      "relabel configuration for %s action requires 'target_label' value", an);
        return -1;
    }
    /* Prometheus checks this before the "requires only" rules below, so a replacement on
     * keepequal/dropequal gets this message (2.42 and 3 alike) */
    if ((a == PG_RELABEL_LOWERCASE || a == PG_RELABEL_UPPERCASE || a == PG_RELABEL_KEEPEQUAL ||
         a == PG_RELABEL_DROPEQUAL) &&
        !rep_def) {
        pg_yaml_error(y, nd->rep ? nd->rep : map, errs,
                      "'replacement' can not be set for %s action", an);
        return -1;
    }
    if (a == PG_RELABEL_LABELDROP || a == PG_RELABEL_LABELKEEP) {
        yaml_node_t *bad[] = {nd->src, tgt_empty ? NULL : nd->tgt, mod_set,
                              sep_def ? NULL : nd->sep, rep_def ? NULL : nd->rep};
        /* Go compares source_labels with nil: an explicit empty list counts as set */
        if (nd->src || !tgt_empty || r->modulus || !sep_def || !rep_def) {
            pg_yaml_error(y, first_of(bad, sizeof bad / sizeof bad[0], map), errs,
                          "%s action requires only 'regex', and no other fields", an);
            return -1;
        }
    }
    if (a == PG_RELABEL_KEEPEQUAL || a == PG_RELABEL_DROPEQUAL) {
        yaml_node_t *bad[] = {re_def ? NULL : nd->re, mod_set, sep_def ? NULL : nd->sep,
                              rep_def ? NULL : nd->rep};
        if (!re_def || r->modulus || !sep_def || !rep_def) {
            pg_yaml_error(
                y, first_of(bad, sizeof bad / sizeof bad[0], map), errs,
                "%s action requires only 'source_labels' and `target_label`, and no other fields",
                an);
            return -1;
        }
    }
    return 0;
}

/* Parses and validates one relabel config mapping into r (zeroed on entry). Returns 0,
 * or -1 after adding errors (r may then hold partial members for the caller to free). */
static int parse_one(struct pg_yaml *y, yaml_node_t *map, struct pg_relabel_rule *r,
                     struct pg_cfg_errors *errs)
{
    int keys_rc = pg_yaml_check_keys(y, map, relabel_keys, "relabel.Config", errs);
    if (map->type != YAML_MAPPING_NODE)
        return -1;
    struct rule_nodes nd;
    /* value errors: when any, Validate() is skipped (no follow-on noise) */
    if (read_rule(y, map, r, &nd, errs) < 0)
        return -1;
    if (validate_rule(y, map, r, &nd, errs) < 0)
        return -1;
    return keys_rc < 0 ? -1 : 0; /* unknown keys: values were still validated */
}

int pg_cfg_parse_relabel_configs(struct pg_yaml *y, yaml_node_t *seq, const char *what,
                                 struct pg_relabel_rule **out, size_t *n,
                                 struct pg_cfg_errors *errs)
{
    *out = NULL;
    *n = 0;
    if (seq == NULL || pg_yaml_is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, seq, errs, "%s: expected a sequence of relabel configs", what);
        return -1;
    }
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (cnt == 0)
        return 0;
    struct pg_relabel_rule *rules = calloc(cnt, sizeof *rules);
    if (rules == NULL) {
        pg_yaml_error(y, seq, errs, "%s: out of memory", what);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *item = pg_yaml_at(y, seq->data.sequence.items.start[i]);
        if (parse_one(y, item, &rules[i], errs) < 0)
            rc = -1;
    }
    if (rc < 0) {
        pg_cfg_relabel_rules_free(rules, cnt);
        return -1;
    }
    *out = rules;
    *n = cnt;
    return 0;
}

void pg_cfg_relabel_rules_free(struct pg_relabel_rule *rules, size_t n)
{
    if (rules == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pg_relabel_rule_free(&rules[i]);
    free(rules);
}
