/* relabel_input.h - the text format of relabel fuzz inputs and regression files, read by
 * the relabel fuzz harness and by tests/unit/test_relabel.c (static functions: each user
 * compiles its own copy).
 *
 * Lines before a line "--" are rules, one per line, tab-separated fields: action,
 * source labels (';'-joined, may be empty), separator, regex, target label,
 * replacement, modulus. Missing trailing fields get Prometheus's defaults (";", "(.*)",
 * none, "$1", 0). Lines after "--" are the label set, "name=value" each. */
#ifndef PG_TESTS_FUZZ_RELABEL_INPUT_H
#define PG_TESTS_FUZZ_RELABEL_INPUT_H

#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "relabel/relabel.h"

#define PG_RI_MAX_RULES 16

struct pg_relabel_input {
    struct pg_relabel_rule rules[PG_RI_MAX_RULES];
    size_t n_rules;
    int compile_errors; /* rules rejected by pg_relabel_compile (not kept in rules) */
    char last_err[256];
    struct pg_labels labels;
};

static char *pg_ri_field(char **line)
{
    if (*line == NULL)
        return NULL;
    char *f = *line, *tab = strchr(f, '\t');
    if (tab) {
        *tab = '\0';
        *line = tab + 1;
    } else {
        *line = NULL;
    }
    return f;
}

static void pg_ri_rule(struct pg_relabel_input *in, char *line)
{
    struct pg_relabel_rule r;
    memset(&r, 0, sizeof r);
    char *f = pg_ri_field(&line);
    if (pg_relabel_action_parse(f, &r.action) < 0)
        r.action = PG_RELABEL_REPLACE;
    f = pg_ri_field(&line);
    for (char *save = NULL, *t = f ? strtok_r(f, ";", &save) : NULL; t;
         t = strtok_r(NULL, ";", &save)) {
        char **v = realloc(r.source_labels, (r.n_source + 1) * sizeof *v);
        if (!v)
            break;
        r.source_labels = v;
        r.source_labels[r.n_source++] = strdup(t);
    }
    f = pg_ri_field(&line);
    r.separator = strdup(f ? f : ";");
    f = pg_ri_field(&line);
    r.regex = strdup(f ? f : "(.*)");
    f = pg_ri_field(&line);
    r.target_label = f ? strdup(f) : NULL;
    f = pg_ri_field(&line);
    r.replacement = strdup(f ? f : "$1");
    f = pg_ri_field(&line);
    r.modulus = f ? strtoull(f, NULL, 10) : 0;
    if (pg_relabel_compile(&r, in->last_err, sizeof in->last_err) < 0) {
        in->compile_errors++;
        pg_relabel_rule_free(&r);
        return;
    }
    in->rules[in->n_rules++] = r;
}

/* Parses data[0..len) (NUL bytes end a line's text) into *in. Returns 0. */
static int pg_relabel_input_parse(struct pg_relabel_input *in, const char *data, size_t len)
{
    memset(in, 0, sizeof *in);
    pg_labels_init(&in->labels);
    char *text = malloc(len + 1);
    if (!text)
        return -1;
    memcpy(text, data, len);
    text[len] = '\0';
    int in_labels = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!in_labels && !strcmp(l, "--")) {
            in_labels = 1;
        } else if (!in_labels) {
            if (in->n_rules < PG_RI_MAX_RULES)
                pg_ri_rule(in, l);
        } else {
            char *eq = strchr(l, '=');
            if (eq && eq != l && eq[1]) {
                *eq = '\0';
                pg_labels_set(&in->labels, l, eq + 1);
            }
        }
    }
    free(text);
    return 0;
}

static void pg_relabel_input_free(struct pg_relabel_input *in)
{
    for (size_t i = 0; i < in->n_rules; i++)
        pg_relabel_rule_free(&in->rules[i]);
    pg_labels_reset(&in->labels);
}

#endif
