/* relabel.c - Prometheus 3 relabelling (relabel_configs / metric_relabel_configs).
 *
 * Implements the rule actions of Prometheus's relabel.Process over a struct pg_labels:
 * regexes are RE2-dialect (re2syntax.h) run by PCRE2 under match limits, like Go's
 * ^(?s:REGEX)$), templates expand like Go's Regexp.Expand, and hashmod uses MD5 of the
 * joined source values (bytes 8..15, big-endian). A compact MD5 (RFC 1321) lives at the
 * bottom of this file because none of the libraries we link exposes one. Known
 * differences from Go: lowercase/uppercase and template group names are ASCII-only. */
#include "relabel/relabel.h"

#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sbuf.h"
#include "relabel/re2syntax.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void md5_sum(const unsigned char *msg, size_t len, unsigned char out[16]);

static const char *const action_names[] = {
    [PG_RELABEL_REPLACE] = "replace",     [PG_RELABEL_KEEP] = "keep",
    [PG_RELABEL_DROP] = "drop",           [PG_RELABEL_KEEPEQUAL] = "keepequal",
    [PG_RELABEL_DROPEQUAL] = "dropequal", [PG_RELABEL_HASHMOD] = "hashmod",
    [PG_RELABEL_LABELMAP] = "labelmap",   [PG_RELABEL_LABELDROP] = "labeldrop",
    [PG_RELABEL_LABELKEEP] = "labelkeep", [PG_RELABEL_LOWERCASE] = "lowercase",
    [PG_RELABEL_UPPERCASE] = "uppercase",
};
#define N_ACTIONS (sizeof action_names / sizeof action_names[0])

int pg_relabel_action_parse(const char *s, enum pg_relabel_action *out)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < N_ACTIONS; i++) {
        if (strcasecmp(s, action_names[i]) == 0) {
            *out = (enum pg_relabel_action)i;
            return 0;
        }
    }
    return -1;
}

const char *pg_relabel_action_name(enum pg_relabel_action a)
{
    if ((size_t)a >= N_ACTIONS)
        return "unknown";
    return action_names[a];
}

int pg_relabel_compile(struct pg_relabel_rule *r, char *err, size_t errlen)
{
    char *pat = NULL;
    if (pg_re2_translate(r->regex ? r->regex : "(.*)", &pat, err, errlen) < 0)
        return -1;
    uint32_t opts = PCRE2_UTF | PCRE2_DOTALL | PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                    PCRE2_DOLLAR_ENDONLY |
                    PCRE2_DUPNAMES; /* Go accepts a capture name used twice */
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF; /* label values need not be valid UTF-8 */
#endif
    int ec = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &off, NULL);
    free(pat);
    if (re == NULL) {
        /* RE2 syntax that PCRE2 still refuses (an unknown Unicode class, too deep) */
        if (err != NULL && errlen > 0) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(ec, msg, sizeof msg) < 0)
                snprintf((char *)msg, sizeof msg, "error %d", ec);
            pg_errmsg_set(err, errlen, "error parsing regexp: %s", (const char *)msg);
        }
        return -1;
    }
    /* JIT where available; a failure just leaves the interpreter */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_code_free(r->re);
    r->re = re;
    return 0;
}

void pg_relabel_rule_free(struct pg_relabel_rule *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_source; i++)
        free(r->source_labels[i]);
    free(r->source_labels);
    free(r->separator);
    free(r->regex);
    free(r->target_label);
    free(r->replacement);
    pcre2_code_free(r->re);
    memset(r, 0, sizeof *r);
}

/* ---- matching and Go-style template expansion --------------------------------- */

struct match {
    pcre2_match_data *md;
    const char *subj;
    int rc; /* pairs set in the ovector */
};

/* ---- bounded matching ------------------------------------------------------------
 * Every match runs with a match context whose limits bound the work one subject can
 * cost (RE2-dialect rules never come close on label-sized subjects):
 *   match limit  PG_RELABEL_MATCH_LIMIT  calls of PCRE2's internal match() (backtracks);
 *   depth limit  PG_RELABEL_DEPTH_LIMIT  nested backtracking frames (interpreter);
 *   heap limit   PG_RELABEL_HEAP_LIMIT_KIB KiB of backtracking frames (interpreter).
 * JIT code (the default when PCRE2 has JIT) obeys the match limit and runs on PCRE2's
 * default 32 KiB JIT stack; if that stack runs out the match is retried once in the
 * interpreter, which is bounded by the depth and heap limits. Hitting any limit is an
 * error (PG_RELABEL_ERR_LIMIT), never "no match". */
static pcre2_match_context *mctx;
static pthread_once_t mctx_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned long long limit_hits;

static void mctx_init(void)
{
    mctx = pcre2_match_context_create(NULL);
    if (mctx) {
        pcre2_set_match_limit(mctx, PG_RELABEL_MATCH_LIMIT);
        pcre2_set_depth_limit(mctx, PG_RELABEL_DEPTH_LIMIT);
        pcre2_set_heap_limit(mctx, PG_RELABEL_HEAP_LIMIT_KIB);
    }
}

unsigned long long pg_relabel_limit_hits(void)
{
    return limit_hits;
}

static int is_limit(int rc)
{
    return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
           rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

/* Counts a limit hit (profgate_relabel_regex_limit_total) and logs at most once every
 * 10 s (with how many hits were not logged). */
static _Thread_local int off_loop;            /* this thread may not touch metrics */
static _Atomic unsigned long long unreported; /* hits off the loop, not yet counted */

void pg_relabel_set_off_loop(int on)
{
    off_loop = on;
}

void pg_relabel_report_hits(void)
{
    unsigned long long n = unreported;
    if (n == 0 || off_loop)
        return;
    unreported -= n;
    pg_metric_inc(pg_metric_counter("profgate_relabel_regex_limit_total",
                                    "Relabel regex matches stopped by the match, depth or "
                                    "heap limit (the target or series was dropped).",
                                    NULL),
                  NULL, (double)n);
}

static void limit_hit(const char *subject)
{
    static _Atomic long long last_log_s = -1;
    static _Atomic unsigned long long unlogged;
    limit_hits++;
    unreported++;
    pg_relabel_report_hits();
    long long now_s = (long long)(pg_clock_mono_ns() / 1000000000);
    long long prev = last_log_s;
    if (prev >= 0 && now_s - prev < 10) {
        unlogged++;
        return;
    }
    last_log_s = now_s;
    unsigned long long skipped = unlogged;
    unlogged = 0;
    pg_log_warn("relabel",
                "msg=\"regex match limit hit; target dropped\" subject_len=%zu "
                "suppressed=%llu",
                strlen(subject), skipped);
}

/* Returns 1 on a (full) match, 0 on no match, -1 on allocation failure, -2
 * (PG_RELABEL_ERR_LIMIT) when a limit stopped the match. m->md must be freed. */
static int do_match(const pcre2_code *re, const char *s, struct match *m)
{
    m->subj = s;
    m->rc = 0;
    m->md = pcre2_match_data_create_from_pattern(re, NULL);
    pthread_once(&mctx_once, mctx_init);
    if (m->md == NULL || mctx == NULL)
        return -1;
    size_t len = strlen(s);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, m->md, mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, m->md, mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (is_limit(rc)) {
        limit_hit(s);
        return PG_RELABEL_ERR_LIMIT;
    }
    if (rc < 0)
        return 0; /* e.g. invalid UTF-8 on old PCRE2: treat as no match */
    m->rc = rc == 0 ? (int)pcre2_get_ovector_count(m->md) : rc;
    return 1;
}

/* 1 match, 0 no match, negative on error (as do_match). */
static int match_simple(const pcre2_code *re, const char *s)
{
    struct match m;
    int rc = do_match(re, s, &m);
    pcre2_match_data_free(m.md);
    return rc;
}

static void add_group(struct pg_sbuf *b, const struct match *m, long num)
{
    if (num < 0 || num >= m->rc)
        return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    if (ov[2 * num] == PCRE2_UNSET)
        return;
    pg_sbuf_add(b, m->subj + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
}

static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends tmpl expanded with match m to b, following Go's Regexp.Expand. */
static void expand(struct pg_sbuf *b, const pcre2_code *re, const struct match *m, const char *tmpl)
{
    const char *t = tmpl;
    for (;;) {
        const char *d = strchr(t, '$');
        if (d == NULL)
            break;
        pg_sbuf_add(b, t, (size_t)(d - t));
        t = d + 1;
        if (*t == '$') {
            pg_sbuf_add(b, "$", 1);
            t++;
            continue;
        }
        /* extract: optional brace, run of name chars, closing brace */
        const char *p = t;
        int brace = 0;
        if (*p == '{') {
            brace = 1;
            p++;
        }
        const char *name = p;
        while (is_name_char((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0 || (brace && *p != '}')) {
            pg_sbuf_add(b, "$", 1); /* malformed: the $ is literal text */
            continue;
        }
        if (brace)
            p++;
        t = p;
        long num = 0;
        for (size_t j = 0; j < nlen; j++) {
            if (name[j] < '0' || name[j] > '9' || num >= 100000000L) {
                num = -1;
                break;
            }
            num = num * 10 + (name[j] - '0');
        }
        if (name[0] == '0' && nlen > 1)
            num = -1; /* no leading zeros */
        if (num >= 0) {
            add_group(b, m, num);
        } else {
            char nm[128];
            if (nlen < sizeof nm) {
                memcpy(nm, name, nlen);
                nm[nlen] = '\0';
                int gn = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
                if (gn > 0)
                    add_group(b, m, gn);
            }
        }
    }
    pg_sbuf_add(b, t, strlen(t));
}

/* Prometheus 3 (UTF-8 scheme): a label name is any non-empty valid UTF-8 string. */
static int valid_utf8_name(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (*p == '\0')
        return 0;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        p++;
        for (size_t i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (*p & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
    }
    return 1;
}

/* Sets name=value, or deletes name when value is empty (labels.Builder.Set). An empty
 * name is never set (the config loader requires target_label where an action needs one;
 * this keeps rules compiled without that check from making a nameless label). */
static int set_or_del(struct pg_labels *ls, const char *name, const char *value)
{
    if (*name == '\0')
        return 0;
    if (*value == '\0') {
        pg_labels_del(ls, name);
        return 0;
    }
    return pg_labels_set(ls, name, value);
}

/* ---- the actions -------------------------------------------------------------- */

/* Joins the source_labels values (missing labels as "") with the separator into src.
 * Returns the joined string, or NULL after OOM. */
static const char *join_sources(const struct pg_relabel_rule *r, const struct pg_labels *ls,
                                struct pg_sbuf *src)
{
    const char *sep = r->separator ? r->separator : "";
    for (size_t i = 0; i < r->n_source; i++) {
        const char *v = pg_labels_get(ls, r->source_labels[i]);
        if (i > 0)
            pg_sbuf_add(src, sep, strlen(sep));
        if (v != NULL)
            pg_sbuf_add(src, v, strlen(v));
    }
    return pg_sbuf_cstr(src);
}

/* replace: on a match, sets the expanded target label to the expanded replacement. The
 * return values are apply()'s. */
static int apply_replace(const struct pg_relabel_rule *r, struct pg_labels *ls, const char *val,
                         const char *target, const char *repl)
{
    int ret = 1;
    struct match m;
    int mr = do_match(r->re, val, &m);
    if (mr == 1) {
        struct pg_sbuf tb = {0}, vb = {0};
        expand(&tb, r->re, &m, target);
        expand(&vb, r->re, &m, repl);
        const char *t = pg_sbuf_cstr(&tb), *v = pg_sbuf_cstr(&vb);
        if (t == NULL || v == NULL)
            ret = -1;
        else if (!valid_utf8_name(t)) {
            /* Prometheus 3: an invalid expanded target is a no-op */
        } else if (*v == '\0')
            pg_labels_del(ls, target); /* as Prometheus: lb.Del(cfg.TargetLabel) */
        else if (pg_labels_set(ls, t, v) < 0)
            ret = -1;
        pg_sbuf_reset(&tb);
        pg_sbuf_reset(&vb);
    } else if (mr < 0) {
        ret = mr;
    }
    pcre2_match_data_free(m.md);
    return ret;
}

/* hashmod: sets target to MD5(val) bytes 8..15 (big-endian) modulo r->modulus. */
static int apply_hashmod(const struct pg_relabel_rule *r, struct pg_labels *ls, const char *val,
                         const char *target)
{
    if (r->modulus == 0)
        return 1; /* rejected by config validation; never divide by zero */
    unsigned char d[16];
    md5_sum((const unsigned char *)val, strlen(val), d);
    uint64_t h = 0;
    for (int i = 8; i < 16; i++)
        h = (h << 8) | d[i];
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)(h % r->modulus));
    return set_or_del(ls, target, num) < 0 ? -1 : 1;
}

/* labelmap, labeldrop, labelkeep: match the regex against every label name (of a
 * snapshot, since ls changes underneath). The return values are apply()'s. */
static int apply_label_names(const struct pg_relabel_rule *r, struct pg_labels *ls,
                             const char *repl)
{
    int ret = 1;
    struct pg_labels snap;
    pg_labels_init(&snap);
    if (pg_labels_copy(&snap, ls) < 0)
        return -1;
    for (size_t i = 0; i < snap.n && ret == 1; i++) {
        const char *nm = snap.v[i].name;
        struct match m;
        int mr = do_match(r->re, nm, &m);
        if (mr < 0) {
            ret = mr;
        } else if (r->action == PG_RELABEL_LABELDROP) {
            if (mr == 1)
                pg_labels_del(ls, nm);
        } else if (r->action == PG_RELABEL_LABELKEEP) {
            if (mr == 0)
                pg_labels_del(ls, nm);
        } else if (mr == 1) {
            struct pg_sbuf nb = {0};
            expand(&nb, r->re, &m, repl);
            const char *nn = pg_sbuf_cstr(&nb);
            if (nn == NULL)
                ret = -1;
            else if (*nn != '\0' && set_or_del(ls, nn, snap.v[i].value) < 0)
                ret = -1;
            pg_sbuf_reset(&nb);
        }
        pcre2_match_data_free(m.md);
    }
    pg_labels_reset(&snap);
    return ret;
}

/* lowercase, uppercase: sets target to val case-mapped. ASCII case mapping only (Go's
 * strings.ToLower/ToUpper are Unicode-aware). */
static int apply_case(const struct pg_relabel_rule *r, struct pg_labels *ls, const char *val,
                      const char *target)
{
    char *cv = strdup(val);
    if (cv == NULL)
        return -1;
    for (char *p = cv; *p; p++) {
        if (r->action == PG_RELABEL_LOWERCASE && *p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (r->action == PG_RELABEL_UPPERCASE && *p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
    int ret = set_or_del(ls, target, cv) < 0 ? -1 : 1;
    free(cv);
    return ret;
}

/* Returns 1 kept, 0 dropped, -1 on allocation failure, PG_RELABEL_ERR_LIMIT when a
 * regex hit a match limit. */
static int apply(const struct pg_relabel_rule *r, struct pg_labels *ls)
{
    int ret = 1;
    struct pg_sbuf src = {0};
    const char *val = join_sources(r, ls, &src);
    const char *target = r->target_label ? r->target_label : "";
    const char *repl = r->replacement ? r->replacement : "";
    if (val == NULL) {
        pg_sbuf_reset(&src);
        return -1;
    }

    switch (r->action) {
    case PG_RELABEL_REPLACE: ret = apply_replace(r, ls, val, target, repl); break;
    case PG_RELABEL_KEEP: ret = match_simple(r->re, val); break;
    case PG_RELABEL_DROP: {
        int mr = match_simple(r->re, val);
        ret = mr < 0 ? mr : !mr;
        break;
    }
    case PG_RELABEL_KEEPEQUAL:
    case PG_RELABEL_DROPEQUAL: {
        const char *tv = pg_labels_get(ls, target);
        int eq = strcmp(val, tv ? tv : "") == 0;
        ret = r->action == PG_RELABEL_KEEPEQUAL ? eq : !eq;
        break;
    }
    case PG_RELABEL_HASHMOD: ret = apply_hashmod(r, ls, val, target); break;
    case PG_RELABEL_LABELMAP:
    case PG_RELABEL_LABELDROP:
    case PG_RELABEL_LABELKEEP: ret = apply_label_names(r, ls, repl); break;
    case PG_RELABEL_LOWERCASE:
    case PG_RELABEL_UPPERCASE: ret = apply_case(r, ls, val, target); break;
    default: break;
    }
    pg_sbuf_reset(&src);
    return ret;
}

int pg_relabel_process_err(const struct pg_relabel_rule *rules, size_t n, struct pg_labels *ls,
                           pg_relabel_trace_fn trace, void *ud, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int kept = apply(&rules[i], ls);
        if (kept < 0 && err != NULL && errlen > 0)
            pg_errmsg_set(err, errlen, "relabel_configs[%zu]: %s", i,
                          kept == PG_RELABEL_ERR_LIMIT ? "regex match limit hit" : "out of memory");
        if (trace != NULL)
            trace(ud, i, ls, kept > 0);
        if (kept <= 0)
            return kept < 0 ? -1 : 0;
    }
    return 1;
}

int pg_relabel_process(const struct pg_relabel_rule *rules, size_t n, struct pg_labels *ls,
                       pg_relabel_trace_fn trace, void *ud)
{
    return pg_relabel_process_err(rules, n, ls, trace, ud, NULL, 0);
}

/* ---- MD5 (RFC 1321), compact ---------------------------------------------------- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const unsigned char md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const unsigned char *blk)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t tmp = d;
        d = c;
        c = b;
        uint32_t x = a + f + md5_k[i] + w[g];
        b = b + ((x << md5_r[i]) | (x >> (32 - md5_r[i])));
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md5_sum(const unsigned char *msg, size_t len, unsigned char out[16])
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    size_t i = 0;
    for (; i + 64 <= len; i += 64)
        md5_block(h, msg + i);
    unsigned char tail[128] = {0};
    size_t rem = len - i;
    if (rem > 0)
        memcpy(tail, msg + i, rem);
    tail[rem] = 0x80;
    size_t tl = rem + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int j = 0; j < 8; j++)
        tail[tl - 8 + j] = (unsigned char)(bits >> (8 * j));
    md5_block(h, tail);
    if (tl == 128)
        md5_block(h, tail + 64);
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++)
            out[4 * j + k] = (unsigned char)(h[j] >> (8 * k));
}
