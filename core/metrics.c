/* metrics.c - the process-wide Prometheus metrics registry (see metrics.h).
 *
 * Families live in a growable array in registration order. Each family keeps its children
 * (one per tuple of label values) in an open-addressing hash table (linear probing, load
 * factor at most 1/2, no tombstones because children are only ever removed all at once by
 * pg_metric_clear) plus an array of the same children that is sorted by label values
 * lazily, only when a render finds new children since the last sort. A child is one
 * allocation: the struct, the histogram's per-bucket counts and the copied label values.
 * Rendering writes text format 0.0.4 into a scratch evbuffer and moves it to the caller's
 * buffer only when complete, so a failed render appends nothing. */
#include "core/metrics.h"

#include "core/log.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

struct pg_metric_child {
    uint64_t hash;
    double value;     /* counter/gauge value */
    double sum;       /* histogram: sum of observations */
    uint64_t count;   /* histogram: number of observations */
    uint64_t *counts; /* histogram: per-bucket (not cumulative) counts, n_buckets + 1 */
    char **values;    /* nlabels copied label values */
};

struct pg_metric {
    enum pg_metric_type type;
    char *name;
    char *help;
    char **label_names;
    size_t nlabels;
    double *buckets; /* histogram upper bounds, ascending, without +Inf */
    size_t n_buckets;
    struct pg_metric_child **slots; /* hash table, cap entries (power of two) or NULL */
    size_t cap;
    struct pg_metric_child **kids; /* every child; sorted by label values when !dirty */
    size_t n, kids_cap;
    int dirty;
};

struct collector {
    pg_metrics_collect_fn fn; /* NULL: removed while collectors were running */
    void *ud;
};

static struct pg_metric **families;
static size_t n_families, cap_families;
static struct collector *collectors;
static size_t n_collectors, cap_collectors;
static int collecting;

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60};

/* ---- helpers ---------------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static int valid_metric_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int valid_label_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits "a, b,c" into trimmed, validated names. Returns 0 (names may be NULL when there
 * are none) or -1 on a malformed list or OOM. */
static int parse_label_names(const char *list, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!list || !*list)
        return 0;
    size_t max = 1;
    for (const char *p = list; *p; p++)
        max += *p == ',';
    char **names = calloc(max, sizeof *names);
    if (!names)
        return -1;
    size_t n = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (!valid_label_name(a, (size_t)(b - a)))
            goto fail;
        for (size_t i = 0; i < n; i++)
            if (strlen(names[i]) == (size_t)(b - a) && memcmp(names[i], a, (size_t)(b - a)) == 0)
                goto fail; /* duplicate */
        names[n] = strndup(a, (size_t)(b - a));
        if (!names[n])
            goto fail;
        n++;
        if (!*end)
            break;
        p = end + 1;
    }
    *out = names;
    *n_out = n;
    return 0;
fail:
    free_strv(names, n);
    return -1;
}

static void free_children(struct pg_metric *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->kids[i]);
    m->n = 0;
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->dirty = 0;
}

static void family_free(struct pg_metric *m)
{
    if (!m)
        return;
    free_children(m);
    free(m->slots);
    free(m->kids);
    free(m->name);
    free(m->help);
    free_strv(m->label_names, m->nlabels);
    free(m->buckets);
    free(m);
}

/* ---- registration ----------------------------------------------------------------- */

static int same_labels(const struct pg_metric *m, char **names, size_t n)
{
    if (m->nlabels != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(m->label_names[i], names[i]) != 0)
            return 0;
    return 1;
}

struct pg_metric *pg_metric_register(enum pg_metric_type type, const char *name, const char *help,
                                     const char *label_names, const double *buckets,
                                     size_t n_buckets)
{
    if (type != PG_METRIC_COUNTER && type != PG_METRIC_GAUGE && type != PG_METRIC_HISTOGRAM)
        return NULL;
    if (!valid_metric_name(name)) {
        pg_log_warn("metrics", "name=\"%s\" msg=\"invalid metric name\"", name ? name : "");
        return NULL;
    }
    char **names;
    size_t nl;
    if (parse_label_names(label_names, &names, &nl) < 0) {
        pg_log_warn("metrics", "name=%s labels=\"%s\" msg=\"invalid label names\"", name,
                    label_names);
        return NULL;
    }
    for (size_t i = 0; i < n_families; i++) {
        struct pg_metric *m = families[i];
        if (strcmp(m->name, name) != 0)
            continue;
        int same = m->type == type && same_labels(m, names, nl);
        free_strv(names, nl);
        if (!same) {
            pg_log_warn("metrics", "name=%s msg=\"registered again with another type or labels\"",
                        name);
            return NULL;
        }
        return m;
    }
    if (type == PG_METRIC_HISTOGRAM) {
        for (size_t i = 0; i < nl; i++)
            if (strcmp(names[i], "le") == 0) {
                pg_log_warn("metrics", "name=%s msg=\"histogram cannot use label le\"", name);
                free_strv(names, nl);
                return NULL;
            }
        if (!buckets) {
            buckets = default_buckets;
            n_buckets = sizeof default_buckets / sizeof default_buckets[0];
        }
        if (n_buckets > 0 && isinf(buckets[n_buckets - 1]) && buckets[n_buckets - 1] > 0)
            n_buckets--; /* +Inf is implied */
        for (size_t i = 0; i < n_buckets; i++)
            if (isnan(buckets[i]) || isinf(buckets[i]) ||
                (i > 0 && !(buckets[i] > buckets[i - 1]))) {
                pg_log_warn("metrics", "name=%s msg=\"histogram buckets must ascend\"", name);
                free_strv(names, nl);
                return NULL;
            }
    } else {
        n_buckets = 0;
    }

    struct pg_metric *m = calloc(1, sizeof *m);
    if (!m || grow((void **)&families, &cap_families, n_families + 1, sizeof *families) < 0) {
        free(m);
        free_strv(names, nl);
        return NULL;
    }
    m->type = type;
    m->label_names = names;
    m->nlabels = nl;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (n_buckets > 0) {
        m->buckets = malloc(n_buckets * sizeof *m->buckets);
        if (m->buckets)
            memcpy(m->buckets, buckets, n_buckets * sizeof *m->buckets);
    }
    m->n_buckets = n_buckets;
    if (!m->name || !m->help || (n_buckets > 0 && !m->buckets)) {
        family_free(m);
        return NULL;
    }
    families[n_families++] = m;
    return m;
}

struct pg_metric *pg_metric_counter(const char *name, const char *help, const char *label_names)
{
    return pg_metric_register(PG_METRIC_COUNTER, name, help, label_names, NULL, 0);
}

struct pg_metric *pg_metric_gauge(const char *name, const char *help, const char *label_names)
{
    return pg_metric_register(PG_METRIC_GAUGE, name, help, label_names, NULL, 0);
}

struct pg_metric *pg_metric_histogram(const char *name, const char *help, const char *label_names)
{
    return pg_metric_register(PG_METRIC_HISTOGRAM, name, help, label_names, NULL, 0);
}

/* ---- children --------------------------------------------------------------------- */

/* A NULL label value counts as "" (Prometheus treats an empty value as an absent label). */
static const char *lv(const char *const *values, size_t i)
{
    return values[i] ? values[i] : "";
}

/* XXH3 over the values, each followed by a 0xff separator (never inside UTF-8). */
static uint64_t hash_values(const char *const *values, size_t n)
{
    static const char sep = '\xff';
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        const char *v = lv(values, i);
        XXH3_64bits_update(&st, v, strlen(v));
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

static int child_matches(const struct pg_metric_child *c, uint64_t h, const char *const *values,
                         size_t n)
{
    if (c->hash != h)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->values[i], lv(values, i)) != 0)
            return 0;
    return 1;
}

static struct pg_metric_child *find_child(const struct pg_metric *m, const char *const *values,
                                          uint64_t h)
{
    if (!m->slots)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct pg_metric_child *c = m->slots[i];
        if (!c)
            return NULL;
        if (child_matches(c, h, values, m->nlabels))
            return c;
    }
}

static void slot_insert(struct pg_metric_child **slots, size_t cap, struct pg_metric_child *c)
{
    size_t mask = cap - 1;
    size_t i = (size_t)c->hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = c;
}

static struct pg_metric_child *new_child(const struct pg_metric *m, const char *const *values,
                                         uint64_t h)
{
    size_t nb = m->type == PG_METRIC_HISTOGRAM ? m->n_buckets + 1 : 0;
    size_t size =
        sizeof(struct pg_metric_child) + nb * sizeof(uint64_t) + m->nlabels * sizeof(char *);
    for (size_t i = 0; i < m->nlabels; i++)
        size += strlen(lv(values, i)) + 1;
    struct pg_metric_child *c = calloc(1, size);
    if (!c)
        return NULL;
    char *p = (char *)(c + 1);
    c->hash = h;
    c->counts = nb ? (uint64_t *)p : NULL;
    p += nb * sizeof(uint64_t);
    c->values = (char **)p;
    p += m->nlabels * sizeof(char *);
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t len = strlen(lv(values, i)) + 1;
        memcpy(p, lv(values, i), len);
        c->values[i] = p;
        p += len;
    }
    return c;
}

/* Finds or creates the child for values. Returns NULL on OOM or missing label values. */
static struct pg_metric_child *get_child(struct pg_metric *m, const char *const *values)
{
    if (m->nlabels > 0 && !values)
        return NULL;
    uint64_t h = hash_values(values, m->nlabels);
    struct pg_metric_child *c = find_child(m, values, h);
    if (c)
        return c;
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        struct pg_metric_child **ns = calloc(nc, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < m->n; i++)
            slot_insert(ns, nc, m->kids[i]);
        free(m->slots);
        m->slots = ns;
        m->cap = nc;
    }
    if (grow((void **)&m->kids, &m->kids_cap, m->n + 1, sizeof *m->kids) < 0)
        return NULL;
    c = new_child(m, values, h);
    if (!c)
        return NULL;
    slot_insert(m->slots, m->cap, c);
    m->kids[m->n++] = c;
    m->dirty = 1;
    return c;
}

void pg_metric_inc(struct pg_metric *m, const char *const *label_values, double v)
{
    if (!m || m->type == PG_METRIC_HISTOGRAM)
        return;
    if (m->type == PG_METRIC_COUNTER && !(v >= 0))
        return; /* counters only go up */
    struct pg_metric_child *c = get_child(m, label_values);
    if (c)
        c->value += v;
}

/* Allowed on counters too, for collectors that mirror a total kept elsewhere. */
void pg_metric_set(struct pg_metric *m, const char *const *label_values, double v)
{
    if (!m || m->type == PG_METRIC_HISTOGRAM)
        return;
    struct pg_metric_child *c = get_child(m, label_values);
    if (c)
        c->value = v;
}

void pg_metric_observe(struct pg_metric *m, const char *const *label_values, double v)
{
    if (!m || m->type != PG_METRIC_HISTOGRAM)
        return;
    struct pg_metric_child *c = get_child(m, label_values);
    if (!c)
        return;
    /* first bucket whose bound is >= v; NaN lands in the implied +Inf bucket */
    size_t lo = 0, hi = m->n_buckets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->buckets[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = m->n_buckets;
    c->counts[lo]++;
    c->count++;
    c->sum += v;
}

void pg_metric_clear(struct pg_metric *m)
{
    if (m)
        free_children(m);
}

double pg_metric_value(struct pg_metric *m, const char *const *label_values)
{
    if (!m || (m->nlabels > 0 && !label_values))
        return 0;
    struct pg_metric_child *c = find_child(m, label_values, hash_values(label_values, m->nlabels));
    if (!c)
        return 0;
    return m->type == PG_METRIC_HISTOGRAM ? (double)c->count : c->value;
}

/* ---- collectors ------------------------------------------------------------------- */

int pg_metrics_add_collector(pg_metrics_collect_fn fn, void *ud)
{
    if (!fn)
        return -1;
    if (grow((void **)&collectors, &cap_collectors, n_collectors + 1, sizeof *collectors) < 0)
        return -1;
    collectors[n_collectors].fn = fn;
    collectors[n_collectors].ud = ud;
    n_collectors++;
    return 0;
}

static void compact_collectors(void)
{
    size_t j = 0;
    for (size_t i = 0; i < n_collectors; i++)
        if (collectors[i].fn)
            collectors[j++] = collectors[i];
    n_collectors = j;
}

void pg_metrics_remove_collector(pg_metrics_collect_fn fn, void *ud)
{
    for (size_t i = 0; i < n_collectors; i++)
        if (collectors[i].fn == fn && collectors[i].ud == ud) {
            collectors[i].fn = NULL;
            break;
        }
    if (!collecting)
        compact_collectors();
}

static void run_collectors(void)
{
    collecting = 1;
    /* n_collectors is re-read: a collector may add another, which then runs too */
    for (size_t i = 0; i < n_collectors; i++)
        if (collectors[i].fn)
            collectors[i].fn(collectors[i].ud);
    collecting = 0;
    compact_collectors();
}

/* ---- rendering -------------------------------------------------------------------- */

/* Sample values: whole numbers without exponent, otherwise the shortest of %.15g..%.17g
 * that reads back to the same double. */
static void fmt_value(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, len, "0");
    } else if (v == floor(v) && fabs(v) <= 9007199254740992.0) { /* 2^53: exact */
        snprintf(buf, len, "%.0f", v);
    } else {
        for (int p = 15; p <= 17; p++) {
            snprintf(buf, len, "%.*g", p, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

/* Bucket bounds as Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang uses:
 * shortest round-trip digits; exponent form when the exponent is < -4 or >= 6. */
static void fmt_le(char *buf, size_t len, double v)
{
    if (isnan(v) || isinf(v) || v == 0) {
        fmt_value(buf, len, v);
        return;
    }
    char e[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v || p == 17) {
            int x = atoi(strchr(e, 'e') + 1);
            if (x < -4 || x >= 6)
                snprintf(buf, len, "%s", e);
            else
                snprintf(buf, len, "%.*f", p - 1 - x > 0 ? p - 1 - x : 0, v);
            return;
        }
    }
}

static int add_escaped(struct evbuffer *b, const char *s, int quote)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        else if (*p != '\0')
            continue;
        if (p > run && evbuffer_add(b, run, (size_t)(p - run)) < 0)
            return -1;
        if (!rep)
            return 0; /* end of string */
        if (evbuffer_add(b, rep, strlen(rep)) < 0)
            return -1;
        run = p + 1;
    }
}

static int add_str(struct evbuffer *b, const char *s)
{
    return evbuffer_add(b, s, strlen(s));
}

/* Writes `name suffix{l1="v1",...,le="x"} value\n`. le may be NULL. */
static int add_sample(struct evbuffer *b, const struct pg_metric *m, const char *suffix,
                      const struct pg_metric_child *c, const char *le, const char *value)
{
    if (add_str(b, m->name) < 0 || add_str(b, suffix) < 0)
        return -1;
    if (m->nlabels > 0 || le) {
        if (add_str(b, "{") < 0)
            return -1;
        for (size_t i = 0; i < m->nlabels; i++) {
            if ((i > 0 && add_str(b, ",") < 0) || add_str(b, m->label_names[i]) < 0 ||
                add_str(b, "=\"") < 0 || add_escaped(b, c->values[i], 1) < 0 ||
                add_str(b, "\"") < 0)
                return -1;
        }
        if (le && (evbuffer_add_printf(b, "%sle=\"%s\"", m->nlabels > 0 ? "," : "", le) < 0))
            return -1;
        if (add_str(b, "}") < 0)
            return -1;
    }
    return evbuffer_add_printf(b, " %s\n", value) < 0 ? -1 : 0;
}

static size_t cmp_nlabels;

static int cmp_children(const void *a, const void *b)
{
    const struct pg_metric_child *x = *(const struct pg_metric_child *const *)a;
    const struct pg_metric_child *y = *(const struct pg_metric_child *const *)b;
    for (size_t i = 0; i < cmp_nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static int render_family(struct evbuffer *b, struct pg_metric *m)
{
    if (evbuffer_add_printf(b, "# HELP %s ", m->name) < 0 || add_escaped(b, m->help, 0) < 0 ||
        evbuffer_add_printf(b, "\n# TYPE %s %s\n", m->name, type_names[m->type]) < 0)
        return -1;
    if (m->dirty) {
        cmp_nlabels = m->nlabels;
        qsort(m->kids, m->n, sizeof *m->kids, cmp_children);
        m->dirty = 0;
    }
    char val[64], le[64];
    for (size_t k = 0; k < m->n; k++) {
        const struct pg_metric_child *c = m->kids[k];
        if (m->type != PG_METRIC_HISTOGRAM) {
            fmt_value(val, sizeof val, c->value);
            if (add_sample(b, m, "", c, NULL, val) < 0)
                return -1;
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= m->n_buckets; i++) {
            cum += c->counts[i];
            fmt_le(le, sizeof le, i < m->n_buckets ? m->buckets[i] : INFINITY);
            snprintf(val, sizeof val, "%llu", (unsigned long long)cum);
            if (add_sample(b, m, "_bucket", c, le, val) < 0)
                return -1;
        }
        fmt_value(val, sizeof val, c->sum);
        if (add_sample(b, m, "_sum", c, NULL, val) < 0)
            return -1;
        snprintf(val, sizeof val, "%llu", (unsigned long long)c->count);
        if (add_sample(b, m, "_count", c, NULL, val) < 0)
            return -1;
    }
    return 0;
}

int pg_metrics_render(struct evbuffer *out)
{
    if (!out)
        return -1;
    run_collectors();
    struct evbuffer *tmp = evbuffer_new();
    if (!tmp)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n_families && rc == 0; i++)
        rc = render_family(tmp, families[i]);
    if (rc == 0 && evbuffer_add_buffer(out, tmp) < 0)
        rc = -1;
    evbuffer_free(tmp);
    return rc;
}

void pg_metrics_shutdown(void)
{
    for (size_t i = 0; i < n_families; i++)
        family_free(families[i]);
    free(families);
    families = NULL;
    n_families = cap_families = 0;
    free(collectors);
    collectors = NULL;
    n_collectors = cap_collectors = 0;
    collecting = 0;
}
