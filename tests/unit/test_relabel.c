/* test_relabel.c - unit tests for relabel/: every action and the Prometheus 3 edge
 * cases (anchoring, dot-matches-newline, Go-style template expansion, invalid targets,
 * empty values deleting labels, hashmod values checked against Python's hashlib). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/metrics.h"
#include "relabel/relabel.h"
#include "tests/fuzz/relabel_input.h"
#include "testutil.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Builds and compiles a rule; src is a comma-separated list of source labels or NULL.
 * NULL regex/separator/replacement get Prometheus's defaults. */
static void mkrule(struct pg_relabel_rule *r, enum pg_relabel_action a, const char *src,
                   const char *regex, const char *target, const char *repl)
{
    memset(r, 0, sizeof *r);
    r->action = a;
    if (src != NULL) {
        char *copy = strdup(src), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            r->source_labels = realloc(r->source_labels, (r->n_source + 1) * sizeof(char *));
            r->source_labels[r->n_source++] = strdup(t);
        }
        free(copy);
    }
    r->separator = strdup(";");
    r->regex = strdup(regex ? regex : "(.*)");
    r->target_label = dup_or_null(target);
    r->replacement = strdup(repl ? repl : "$1");
    char err[256];
    assert_int_equal(pg_relabel_compile(r, err, sizeof err), 0);
}

/* Builds a set from "a=1,b=2". */
static void mkset(struct pg_labels *ls, const char *spec)
{
    pg_labels_init(ls);
    char *copy = strdup(spec), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        *eq = '\0';
        assert_int_equal(pg_labels_set(ls, t, eq + 1), 0);
    }
    free(copy);
}

/* Runs one rule over a copy of spec; returns kept and leaves the result in out. */
static int run1(struct pg_relabel_rule *r, const char *spec, struct pg_labels *out)
{
    mkset(out, spec);
    int kept = pg_relabel_process(r, 1, out, NULL, NULL);
    pg_relabel_rule_free(r);
    return kept;
}

static void assert_label(const struct pg_labels *ls, const char *name, const char *want)
{
    const char *got = pg_labels_get(ls, name);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void test_action_names(void **state)
{
    (void)state;
    enum pg_relabel_action a;
    assert_int_equal(pg_relabel_action_parse("LabelMap", &a), 0);
    assert_int_equal(a, PG_RELABEL_LABELMAP);
    assert_int_equal(pg_relabel_action_parse("HASHMOD", &a), 0);
    assert_int_equal(a, PG_RELABEL_HASHMOD);
    assert_int_equal(pg_relabel_action_parse("keepequal", &a), 0);
    assert_int_equal(a, PG_RELABEL_KEEPEQUAL);
    assert_int_equal(pg_relabel_action_parse("nope", &a), -1);
    assert_int_equal(pg_relabel_action_parse("", &a), -1);
    assert_string_equal(pg_relabel_action_name(PG_RELABEL_UPPERCASE), "uppercase");
    assert_string_equal(pg_relabel_action_name(PG_RELABEL_REPLACE), "replace");
    for (int i = PG_RELABEL_REPLACE; i <= PG_RELABEL_UPPERCASE; i++) {
        assert_int_equal(pg_relabel_action_parse(pg_relabel_action_name(i), &a), 0);
        assert_int_equal((int)a, i);
    }
}

static void test_compile_error(void **state)
{
    (void)state;
    struct pg_relabel_rule r = {0};
    r.regex = strdup("ab(c");
    char err[256] = "";
    assert_int_equal(pg_relabel_compile(&r, err, sizeof err), -1);
    assert_string_equal(err, "error parsing regexp: missing closing ): `^(?s:ab(c)$`");
    assert_null(r.re);
    pg_relabel_rule_free(&r);
    pg_relabel_rule_free(&r); /* zeroed rule is fine */

    r.regex = strdup("a[");
    assert_int_equal(pg_relabel_compile(&r, err, sizeof err), -1);
    assert_string_equal(err, "error parsing regexp: missing closing ]: `[)$`");
    pg_relabel_rule_free(&r);
}

/* Issue 15: only the RE2 dialect is accepted, with Go's (promtool's) messages. */
static void test_re2_dialect_rejected(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"(?=x)", "invalid or unsupported Perl syntax: `(?=`"},
        {"(?!x)", "invalid or unsupported Perl syntax: `(?!`"},
        {"(a)\\1", "invalid escape sequence: `\\1`"},
        {"a*+", "invalid nested repetition operator: `*+`"},
        {"a++", "invalid nested repetition operator: `++`"},
        {"(?>a)", "invalid or unsupported Perl syntax: `(?>`"},
        {"(?<=a)b", "invalid named capture: `(?<=a)b)$`"},
        {"(?R)", "invalid or unsupported Perl syntax: `(?R`"},
        {"(?(1)a|b)", "invalid or unsupported Perl syntax: `(?(`"},
        {"(?C1)a", "invalid or unsupported Perl syntax: `(?C`"},
        {"(?#c)", "invalid or unsupported Perl syntax: `(?#`"},
        {"(?|a)", "invalid or unsupported Perl syntax: `(?|`"},
        {"\\C", "invalid escape sequence: `\\C`"},
        {"a\\K", "invalid escape sequence: `\\K`"},
        {"\\g1", "invalid escape sequence: `\\g`"},
        {"\\Z", "invalid escape sequence: `\\Z`"},
        {"x{1001}", "invalid repeat count: `{1001}`"},
        {"[z-a]", "invalid character class range: `z-a`"},
        {"[[:foo:]]", "invalid character class range: `[:foo:]`"},
        {"\\p{NoSuch}", "invalid character class range: `\\p{NoSuch}`"},
        {"*a", "missing argument to repetition operator: `*`"},
        {"a)", "unexpected ): `^(?s:a))$`"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pg_relabel_rule r = {0};
        r.regex = strdup(bad[i][0]);
        char err[256] = "", want[256];
        snprintf(want, sizeof want, "error parsing regexp: %s", bad[i][1]);
        assert_int_equal(pg_relabel_compile(&r, err, sizeof err), -1);
        assert_string_equal(err, want);
        assert_null(r.re);
        pg_relabel_rule_free(&r);
    }
}

/* What RE2 accepts still compiles and means the same. */
static void test_re2_dialect_accepted(void **state)
{
    (void)state;
    static const char *const ok[][3] = {
        /* regex, subject, "1" if it must match else "0" */
        {"(?P<n>a+)b", "aab", "1"},
        {"(?<n>a+)b", "aab", "1"},
        {"(?i)ABC", "abc", "1"},
        {"(?i:A)b", "aB", "0"},
        {"\\pL+", "h\xc3\xa9llo", "1"},
        {"\\p{Greek}+", "\xce\xb1\xce\xb2", "1"},
        {"[[:alpha:]]+[[:digit:]]", "ab1", "1"},
        {"a{2}", "aa", "1"},
        {"a{x}", "a{x}", "1"},
        {"\\Qa.b\\E", "a.b", "1"},
        {"\\Qa.b\\E", "axb", "0"},
        {"\\101\\x42\\x{43}", "ABC", "1"},
        {"[\\d\\-x]+", "1-x", "1"},
        {"[]a]+", "]a", "1"},
        {"a|b*", "bbb", "1"},
        {"(.*)*__address__", "x__address__", "1"},
        {"x\\v", "x\v", "1"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct pg_relabel_rule r;
        mkrule(&r, PG_RELABEL_KEEP, "s", ok[i][0], NULL, NULL);
        struct pg_labels ls;
        char spec[64];
        snprintf(spec, sizeof spec, "s=%s", ok[i][1]);
        int kept = run1(&r, spec, &ls);
        if (kept != (ok[i][2][0] == '1'))
            fprintf(stderr, "regex %s on %s: kept=%d\n", ok[i][0], ok[i][1], kept);
        assert_int_equal(kept, ok[i][2][0] == '1');
        pg_labels_reset(&ls);
    }
}

/* Issue 15: the fuzz reproducers run into the match limit: an error (the set is dropped,
 * the hit counted), never "no match". */
static void run_limit_file(const char *path)
{
    size_t len;
    uint8_t *data = pg_test_slurp(path, &len);
    struct pg_relabel_input in;
    assert_int_equal(pg_relabel_input_parse(&in, (const char *)data, len), 0);
    assert_int_equal(in.compile_errors, 0); /* (.*)* is valid RE2 */
    assert_true(in.n_rules >= 1);
    assert_true(in.labels.n >= 1);
    struct pg_metric *m = pg_metric_counter("profgate_relabel_regex_limit_total", "", NULL);
    double before_m = pg_metric_value(m, NULL);
    unsigned long long before = pg_relabel_limit_hits();
    char err[128] = "";
    assert_int_equal(
        pg_relabel_process_err(in.rules, in.n_rules, &in.labels, NULL, NULL, err, sizeof err), -1);
    assert_string_equal(err, "relabel_configs[0]: regex match limit hit");
    assert_int_equal(pg_relabel_limit_hits(), before + 1);
    assert_true(pg_metric_value(m, NULL) == before_m + 1);
    pg_relabel_input_free(&in);
    free(data);
}

static void test_regex_limit_reproducers(void **state)
{
    (void)state;
    run_limit_file("fuzz/regressions/relabel/slow_single_match.bin");
    run_limit_file("fuzz/regressions/relabel/labelmap_backtracking.bin");
    /* the same rule on a short subject still matches normally */
    struct pg_relabel_rule r;
    mkrule(&r, PG_RELABEL_KEEP, "job", "(.*)*__address__", NULL, NULL);
    struct pg_labels ls;
    assert_int_equal(run1(&r, "job=a__address__", &ls), 1);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_KEEP, "job", "(.*)*__address__", NULL, NULL);
    assert_int_equal(run1(&r, "job=a__addr", &ls), 0);
    pg_labels_reset(&ls);
}

static void test_replace_default_regex(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a,b", NULL, "c", NULL);
    assert_int_equal(run1(&r, "a=foo,b=bar", &ls), 1);
    assert_label(&ls, "c", "foo;bar");
    pg_labels_reset(&ls);

    /* missing source label joins as "" */
    mkrule(&r, PG_RELABEL_REPLACE, "a,zz", NULL, "c", NULL);
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    assert_label(&ls, "c", "foo;");
    pg_labels_reset(&ls);
}

static void test_replace_anchoring(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a", "a", "c", "hit");
    assert_int_equal(run1(&r, "a=ba", &ls), 1);
    assert_label(&ls, "c", NULL);
    pg_labels_reset(&ls);

    mkrule(&r, PG_RELABEL_REPLACE, "a", "a", "c", "hit");
    assert_int_equal(run1(&r, "a=ab", &ls), 1);
    assert_label(&ls, "c", NULL);
    pg_labels_reset(&ls);

    /* a trailing newline is not swallowed by the end anchor */
    mkrule(&r, PG_RELABEL_REPLACE, "a", "a", "c", "hit");
    assert_int_equal(run1(&r, "a=a\n", &ls), 1);
    assert_label(&ls, "c", NULL);
    pg_labels_reset(&ls);

    /* alternation is anchored as a whole */
    mkrule(&r, PG_RELABEL_REPLACE, "a", "x|y", "c", "hit");
    assert_int_equal(run1(&r, "a=xy", &ls), 1);
    assert_label(&ls, "c", NULL);
    pg_labels_reset(&ls);

    mkrule(&r, PG_RELABEL_REPLACE, "a", "x|y", "c", "hit");
    assert_int_equal(run1(&r, "a=y", &ls), 1);
    assert_label(&ls, "c", "hit");
    pg_labels_reset(&ls);
}

static void test_replace_dot_newline(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a", "f(.*)", "c", "$1");
    assert_int_equal(run1(&r, "a=foo\nbar", &ls), 1);
    assert_label(&ls, "c", "oo\nbar");
    pg_labels_reset(&ls);
}

static void test_replace_expansion(void **state)
{
    (void)state;
    static const struct {
        const char *repl, *want;
    } cases[] = {
        {"$1", "foo"},
        {"${1}", "foo"},
        {"$name", "bar"},
        {"${name}", "bar"},
        {"$$", "$"},
        {"$$1", "$1"},
        {"${1}x", "foox"},
        {"x$1x-", "x-"},
        {"$2-$1", "bar-foo"},
        {"${1", "${1"},
        {"$-", "$-"},
        {"a$", "a$"},
        {"$0", "foo;bar"},
        {"$01", "-"},
        {"${nope}z", "z"},
        {"${3}", "-"},
        {"$1;${name}", "foo;bar"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_relabel_rule r;
        struct pg_labels ls;
        /* "-" stands for "expands to empty": prefix it so the label is still set */
        int empty = strcmp(cases[i].want, "-") == 0;
        char repl[64];
        snprintf(repl, sizeof repl, "%s%s", empty ? "-" : "", cases[i].repl);
        mkrule(&r, PG_RELABEL_REPLACE, "a,b", "(\\w+);(?<name>\\w+)", "c", repl);
        assert_int_equal(run1(&r, "a=foo,b=bar", &ls), 1);
        assert_label(&ls, "c", cases[i].want);
        pg_labels_reset(&ls);
    }
}

static void test_replace_unmatched_group(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a", "(x)?(foo)", "c", "[$1][$2]");
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    assert_label(&ls, "c", "[][foo]");
    pg_labels_reset(&ls);
}

static void test_replace_target_template(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a", "(\\w+)-(\\w+)", "${1}_x", "$2");
    assert_int_equal(run1(&r, "a=foo-bar", &ls), 1);
    assert_label(&ls, "foo_x", "bar");
    pg_labels_reset(&ls);

    /* expanded target is empty (not a valid name): no-op, even with empty value */
    mkrule(&r, PG_RELABEL_REPLACE, "a", "(\\w+)", "$2", "v");
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    assert_int_equal(ls.n, 1);
    assert_label(&ls, "a", "foo");
    pg_labels_reset(&ls);

    /* "$1x" is group "1x", which does not exist: empty target, no-op */
    mkrule(&r, PG_RELABEL_REPLACE, "a", "(\\w+)", "$1x", "v");
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    assert_int_equal(ls.n, 1);
    pg_labels_reset(&ls);

    /* Prometheus 3 accepts UTF-8 names */
    mkrule(&r, PG_RELABEL_REPLACE, "a", NULL, "na.me-\xc3\xa9", "v");
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    assert_label(&ls, "na.me-\xc3\xa9", "v");
    pg_labels_reset(&ls);
}

static void test_replace_empty_deletes(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_REPLACE, "a", "(x*)foo", "b", "$1");
    assert_int_equal(run1(&r, "a=foo,b=old", &ls), 1);
    assert_label(&ls, "b", NULL);
    assert_label(&ls, "a", "foo");
    pg_labels_reset(&ls);

    /* explicit empty replacement */
    mkrule(&r, PG_RELABEL_REPLACE, NULL, NULL, "b", "");
    assert_int_equal(run1(&r, "a=foo,b=old", &ls), 1);
    assert_label(&ls, "b", NULL);
    pg_labels_reset(&ls);

    /* no match: nothing changes */
    mkrule(&r, PG_RELABEL_REPLACE, "a", "bar", "b", "new");
    assert_int_equal(run1(&r, "a=foo,b=old", &ls), 1);
    assert_label(&ls, "b", "old");
    pg_labels_reset(&ls);
}

static void test_keep_drop(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_KEEP, "a", "f.*", NULL, NULL);
    assert_int_equal(run1(&r, "a=foo", &ls), 1);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_KEEP, "a", "f.*", NULL, NULL);
    assert_int_equal(run1(&r, "a=afoo", &ls), 0);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_KEEP, "a", "f", NULL, NULL);
    assert_int_equal(run1(&r, "a=foo", &ls), 0); /* anchored */
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_DROP, "a", "f.*", NULL, NULL);
    assert_int_equal(run1(&r, "a=foo", &ls), 0);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_DROP, "a", "f.*", NULL, NULL);
    assert_int_equal(run1(&r, "a=bar", &ls), 1);
    pg_labels_reset(&ls);
    /* missing source is "" */
    mkrule(&r, PG_RELABEL_DROP, "zz", "", NULL, NULL);
    assert_int_equal(run1(&r, "a=bar", &ls), 0);
    pg_labels_reset(&ls);
}

static void test_keepequal_dropequal(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_KEEPEQUAL, "a", NULL, "b", NULL);
    assert_int_equal(run1(&r, "a=x,b=x", &ls), 1);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_KEEPEQUAL, "a", NULL, "b", NULL);
    assert_int_equal(run1(&r, "a=x,b=y", &ls), 0);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_KEEPEQUAL, "zz", NULL, "yy", NULL);
    assert_int_equal(run1(&r, "a=x", &ls), 1); /* both missing: "" == "" */
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_DROPEQUAL, "a", NULL, "b", NULL);
    assert_int_equal(run1(&r, "a=x,b=x", &ls), 0);
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_DROPEQUAL, "a", NULL, "b", NULL);
    assert_int_equal(run1(&r, "a=x,b=y", &ls), 1);
    pg_labels_reset(&ls);
}

static void test_hashmod(void **state)
{
    (void)state;
    /* expected = int.from_bytes(md5(src)[8:16], "big") % modulus (Python hashlib) */
    static const struct {
        const char *src, *spec;
        uint64_t mod;
        const char *want;
    } cases[] = {
        {"a", "a=foo", 1000, "696"},
        {"a,b", "a=foo,b=bar", 1000, "750"},
        {"zz", "a=foo", 10, "8"},
        {"a", "a=foo", UINT64_MAX, "17145033699835028696"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_relabel_rule r;
        struct pg_labels ls;
        mkrule(&r, PG_RELABEL_HASHMOD, cases[i].src, NULL, "h", NULL);
        r.modulus = cases[i].mod;
        assert_int_equal(run1(&r, cases[i].spec, &ls), 1);
        assert_label(&ls, "h", cases[i].want);
        pg_labels_reset(&ls);
    }
}

/* MD5 padding edge cases: 55, 56, 64 and 130 byte inputs (hashlib, full 64 bits) */
static void test_hashmod_block_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        const char *want;
    } cases[] = {
        {55, "15661451353638211442"},
        {56, "7123213223354806603"},
        {64, "8739068135478731862"},
        {130, "11499243181173513044"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char spec[160] = "a=";
        memset(spec + 2, 'x', cases[i].len);
        spec[2 + cases[i].len] = '\0';
        struct pg_relabel_rule r;
        struct pg_labels ls;
        mkrule(&r, PG_RELABEL_HASHMOD, "a", NULL, "h", NULL);
        r.modulus = UINT64_MAX;
        assert_int_equal(run1(&r, spec, &ls), 1);
        assert_label(&ls, "h", cases[i].want);
        pg_labels_reset(&ls);
    }
}

static void test_labelmap(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_LABELMAP, NULL, "__meta_(.+)", NULL, "$1");
    assert_int_equal(run1(&r, "__meta_env=prod,__meta_zone=eu,__meta_=x,job=api", &ls), 1);
    assert_label(&ls, "env", "prod");
    assert_label(&ls, "zone", "eu");
    assert_label(&ls, "__meta_env", "prod");
    assert_label(&ls, "job", "api");
    assert_int_equal(ls.n, 6);
    pg_labels_reset(&ls);

    /* mapping onto a later label of the snapshot still sees the original values */
    mkrule(&r, PG_RELABEL_LABELMAP, NULL, "(a|b)", NULL, "x${1}");
    assert_int_equal(run1(&r, "a=1,b=2,xb=old", &ls), 1);
    assert_label(&ls, "xa", "1");
    assert_label(&ls, "xb", "2");
    pg_labels_reset(&ls);
}

static void test_labeldrop_labelkeep(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_LABELDROP, NULL, "__meta_.*", NULL, NULL);
    assert_int_equal(run1(&r, "__meta_a=1,__meta_b=2,job=api,x__meta_c=3", &ls), 1);
    assert_int_equal(ls.n, 2);
    assert_label(&ls, "job", "api");
    assert_label(&ls, "x__meta_c", "3");
    pg_labels_reset(&ls);

    mkrule(&r, PG_RELABEL_LABELKEEP, NULL, "job|instance", NULL, NULL);
    assert_int_equal(run1(&r, "a=1,instance=i,job=api,jobx=2", &ls), 1);
    assert_int_equal(ls.n, 2);
    assert_label(&ls, "job", "api");
    assert_label(&ls, "instance", "i");
    pg_labels_reset(&ls);
}

static void test_lower_upper(void **state)
{
    (void)state;
    struct pg_relabel_rule r;
    struct pg_labels ls;
    mkrule(&r, PG_RELABEL_LOWERCASE, "a,b", NULL, "l", NULL);
    assert_int_equal(run1(&r, "a=FoO,b=Bar1", &ls), 1);
    assert_label(&ls, "l", "foo;bar1");
    pg_labels_reset(&ls);
    mkrule(&r, PG_RELABEL_UPPERCASE, "a", NULL, "a", NULL);
    assert_int_equal(run1(&r, "a=FoO-x", &ls), 1);
    assert_label(&ls, "a", "FOO-X");
    pg_labels_reset(&ls);
    /* empty source value deletes the target */
    mkrule(&r, PG_RELABEL_UPPERCASE, "zz", NULL, "a", NULL);
    assert_int_equal(run1(&r, "a=x", &ls), 1);
    assert_label(&ls, "a", NULL);
    pg_labels_reset(&ls);
}

struct trace_state {
    size_t calls;
    size_t last_index;
    int last_kept;
};

static void trace_cb(void *ud, size_t idx, const struct pg_labels *after, int kept)
{
    struct trace_state *t = ud;
    assert_non_null(after);
    t->calls++;
    t->last_index = idx;
    t->last_kept = kept;
}

static void test_process_chain_and_trace(void **state)
{
    (void)state;
    struct pg_relabel_rule rules[3];
    mkrule(&rules[0], PG_RELABEL_REPLACE, "__address__", "([^:]+):\\d+", "host", "$1");
    mkrule(&rules[1], PG_RELABEL_DROP, "host", "bad.*", NULL, NULL);
    mkrule(&rules[2], PG_RELABEL_LABELDROP, NULL, "__.*", NULL, NULL);

    struct pg_labels ls;
    struct trace_state t = {0};
    mkset(&ls, "__address__=web:80,job=api");
    assert_int_equal(pg_relabel_process(rules, 3, &ls, trace_cb, &t), 1);
    assert_int_equal(t.calls, 3);
    assert_int_equal(t.last_index, 2);
    assert_int_equal(t.last_kept, 1);
    assert_int_equal(ls.n, 2);
    assert_label(&ls, "host", "web");
    pg_labels_reset(&ls);

    memset(&t, 0, sizeof t);
    mkset(&ls, "__address__=bad1:80");
    assert_int_equal(pg_relabel_process(rules, 3, &ls, trace_cb, &t), 0);
    assert_int_equal(t.calls, 2);
    assert_int_equal(t.last_index, 1);
    assert_int_equal(t.last_kept, 0);
    pg_labels_reset(&ls);

    mkset(&ls, "__address__=x:1");
    assert_int_equal(pg_relabel_process(rules, 0, &ls, NULL, NULL), 1);
    assert_int_equal(ls.n, 1);
    pg_labels_reset(&ls);

    for (int i = 0; i < 3; i++)
        pg_relabel_rule_free(&rules[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_compile_error),
        cmocka_unit_test(test_replace_default_regex),
        cmocka_unit_test(test_replace_anchoring),
        cmocka_unit_test(test_replace_dot_newline),
        cmocka_unit_test(test_replace_expansion),
        cmocka_unit_test(test_replace_unmatched_group),
        cmocka_unit_test(test_replace_target_template),
        cmocka_unit_test(test_replace_empty_deletes),
        cmocka_unit_test(test_keep_drop),
        cmocka_unit_test(test_keepequal_dropequal),
        cmocka_unit_test(test_hashmod),
        cmocka_unit_test(test_hashmod_block_boundaries),
        cmocka_unit_test(test_labelmap),
        cmocka_unit_test(test_labeldrop_labelkeep),
        cmocka_unit_test(test_lower_upper),
        cmocka_unit_test(test_process_chain_and_trace),
        cmocka_unit_test(test_re2_dialect_rejected),
        cmocka_unit_test(test_re2_dialect_accepted),
        cmocka_unit_test(test_regex_limit_reproducers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
