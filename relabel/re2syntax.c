/* re2syntax.c - Go regexp/syntax (RE2) checker and PCRE2 translator; see re2syntax.h.
 *
 * The scanner follows the structure of Go's parser (parse, parsePerlFlags, parseRepeat,
 * parseEscape, parseClass) closely enough that the error code and the offending text
 * ("expr") are the ones Go reports; comments name the Go function mirrored. */
#include "relabel/re2syntax.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errmsg.h"
#include "core/utf8.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#define E_CHAR_RANGE "invalid character class range"
#define E_ESCAPE "invalid escape sequence"
#define E_NAMED "invalid named capture"
#define E_PERL "invalid or unsupported Perl syntax"
#define E_NESTED "invalid nested repetition operator"
#define E_SIZE "invalid repeat count"
#define E_UTF8 "invalid UTF-8"
#define E_BRACKET "missing closing ]"
#define E_PAREN "missing closing )"
#define E_ARG "missing argument to repetition operator"
#define E_TRAIL "trailing backslash at end of expression"
#define E_UNEXP "unexpected )"
#define E_DEEP "expression nests too deeply"
#define MAX_NEST 1000

enum last { L_NONE, L_ATOM, L_REPEAT };

struct p {
    const char *s; /* the wrapped regex */
    size_t n, i;
    char *o; /* output */
    size_t on, ocap;
    int oom;
    const char *code; /* error code, NULL while fine */
    size_t ex0, ex1;  /* expr = s[ex0, ex1) */
};

static void out(struct p *p, const char *s, size_t len)
{
    if (p->oom)
        return;
    if (p->on + len + 1 > p->ocap) {
        size_t cap = p->ocap ? p->ocap * 2 : 64;
        while (cap < p->on + len + 1)
            cap *= 2;
        char *o = realloc(p->o, cap);
        if (!o) {
            p->oom = 1;
            return;
        }
        p->o = o;
        p->ocap = cap;
    }
    memcpy(p->o + p->on, s, len);
    p->on += len;
    p->o[p->on] = '\0';
}

static void outf(struct p *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct p *p, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out(p, buf, k > 0 ? (size_t)k : 0);
}

static int fail(struct p *p, const char *code, size_t a, size_t b)
{
    if (!p->code) {
        p->code = code;
        p->ex0 = a;
        p->ex1 = b;
    }
    return -1;
}

/* Decodes one UTF-8 rune at s[i] (Go's nextRune). Returns its length, 0 if invalid. */
static size_t rune_at(const struct p *p, size_t i, uint32_t *r)
{
    return pg_utf8_decode(p->s + i, p->n - i, r);
}

/* nextRune with Go's error: invalid UTF-8 reports the rest of the string. */
static int next_rune(struct p *p, size_t *i, uint32_t *r)
{
    if (*i >= p->n)
        return -1;
    size_t k = rune_at(p, *i, r);
    if (k == 0)
        return fail(p, E_UTF8, *i, p->n);
    *i += k;
    return 0;
}

static int is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int unhex(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* Go's parseEscape at s[*i] == '\\': the rune, or -1 with Go's error. */
static int parse_escape(struct p *p, size_t *i, uint32_t *r)
{
    size_t st = *i, t = *i + 1;
    uint32_t c, d;
    if (t >= p->n)
        return fail(p, E_TRAIL, p->n, p->n);
    if (next_rune(p, &t, &c) < 0)
        return -1;
    int ok = 0;
    if (c < 0x80 && !is_alnum(c)) {
        *r = c, ok = 1;
    } else if (c >= '0' && c <= '7') {
        if (c == '0' || (t < p->n && p->s[t] >= '0' && p->s[t] <= '7')) {
            *r = c - '0';
            for (int k = 1; k < 3 && t < p->n && p->s[t] >= '0' && p->s[t] <= '7'; k++)
                *r = *r * 8 + (uint32_t)(p->s[t++] - '0');
            ok = 1;
        }
    } else if (c == 'x' && t < p->n) {
        if (next_rune(p, &t, &c) < 0)
            return -1;
        if (c == '{') {
            uint32_t v = 0;
            int nhex = 0;
            for (;;) {
                if (t >= p->n || next_rune(p, &t, &c) < 0)
                    break;
                if (c == '}') {
                    ok = nhex > 0;
                    break;
                }
                int h = unhex(c);
                if (h < 0 || (v = v * 16 + (uint32_t)h) > 0x10FFFF)
                    break;
                nhex++;
            }
            *r = v;
        } else if (t < p->n && next_rune(p, &t, &d) == 0) {
            int x = unhex(c), y = unhex(d);
            if (x >= 0 && y >= 0)
                *r = (uint32_t)(x * 16 + y), ok = 1;
        }
    } else {
        static const char from[] = "afnrtv", to[] = "\a\f\n\r\t\v";
        const char *f = c < 0x80 && c ? strchr(from, (int)c) : NULL;
        if (f)
            *r = (uint32_t)(unsigned char)to[f - from], ok = 1;
    }
    if (p->code)
        return -1;
    if (!ok)
        return fail(p, E_ESCAPE, st, t);
    *i = t;
    return 0;
}

/* Go's parseUnicodeClass at \p or \P: 1 if parsed (emitted), 0 if not one, -1 error. */
static int parse_unicode_class(struct p *p, size_t *i)
{
    size_t st = *i;
    if (st + 1 >= p->n || p->s[st] != '\\' || (p->s[st + 1] != 'p' && p->s[st + 1] != 'P'))
        return 0;
    size_t t = st + 2, ns, ne;
    uint32_t c;
    if (next_rune(p, &t, &c) < 0)
        return p->code ? -1 : fail(p, E_CHAR_RANGE, st, p->n);
    if (c != '{') {
        ns = st + 2, ne = t;
    } else {
        const char *e = memchr(p->s + t, '}', p->n - t);
        if (!e)
            return fail(p, E_CHAR_RANGE, st, p->n);
        ns = t, ne = (size_t)(e - p->s);
        t = ne + 1;
    }
    /* the name is checked by compiling it alone (PCRE2 knows the Unicode tables) */
    char pat[96];
    int k = snprintf(pat, sizeof pat, "\\%c{%.*s}", p->s[st + 1], (int)(ne - ns), p->s + ns);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = NULL;
    if (k > 0 && (size_t)k < sizeof pat && ne > ns)
        re = pcre2_compile((PCRE2_SPTR)pat, (size_t)k, PCRE2_UTF, &ec, &eo, NULL);
    if (!re)
        return fail(p, E_CHAR_RANGE, st, t);
    pcre2_code_free(re);
    out(p, pat, (size_t)k);
    *i = t;
    return 1;
}

/* \d \D \s \S \w \W: 1 if emitted, else 0. */
static int parse_perl_class(struct p *p, size_t *i)
{
    if (*i + 1 >= p->n || p->s[*i] != '\\' || !strchr("dDsSwW", p->s[*i + 1]) || !p->s[*i + 1])
        return 0;
    out(p, p->s + *i, 2);
    *i += 2;
    return 1;
}

/* Go's parseNamedClass at "[:": 1 if emitted, 0 if not one, -1 on an unknown name. */
static int parse_named_class(struct p *p, size_t *i)
{
    static const char *const names[] = {"alnum", "alpha", "ascii", "blank", "cntrl",
                                        "digit", "graph", "lower", "print", "punct",
                                        "space", "upper", "word",  "xdigit"};
    size_t st = *i;
    if (p->n - st < 2 || p->s[st] != '[' || p->s[st + 1] != ':')
        return 0;
    const char *e = NULL;
    for (size_t k = st + 2; k + 1 < p->n && !e; k++)
        if (p->s[k] == ':' && p->s[k + 1] == ']')
            e = p->s + k;
    if (!e)
        return 0;
    size_t end = (size_t)(e - p->s) + 2;
    const char *nm = p->s + st + 2;
    size_t nl = (size_t)(e - nm);
    if (nl > 0 && *nm == '^')
        nm++, nl--;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k]) == nl && !memcmp(names[k], nm, nl)) {
            out(p, p->s + st, end - st);
            *i = end;
            return 1;
        }
    return fail(p, E_CHAR_RANGE, st, end);
}

/* Go's parseClassChar: one (possibly escaped) rune of a class. */
static int class_char(struct p *p, size_t *i, size_t whole, uint32_t *r)
{
    if (*i >= p->n)
        return fail(p, E_BRACKET, whole, p->n);
    if (p->s[*i] == '\\')
        return parse_escape(p, i, r);
    return next_rune(p, i, r);
}

/* Go's parseClass at '['. */
static int parse_class(struct p *p, size_t *i)
{
    size_t whole = *i, t = *i + 1;
    out(p, "[", 1);
    if (t < p->n && p->s[t] == '^') {
        out(p, "^", 1);
        t++;
    }
    for (int first = 1; t >= p->n || p->s[t] != ']' || first; first = 0) {
        int k = parse_named_class(p, &t);
        if (k == 0)
            k = parse_unicode_class(p, &t);
        if (k == 0)
            k = parse_perl_class(p, &t);
        if (k < 0)
            return -1;
        if (k > 0)
            continue;
        size_t rng = t;
        uint32_t lo, hi;
        if (class_char(p, &t, whole, &lo) < 0)
            return -1;
        hi = lo;
        if (p->n - t >= 2 && p->s[t] == '-' && p->s[t + 1] != ']') {
            t++;
            if (class_char(p, &t, whole, &hi) < 0)
                return -1;
            if (hi < lo)
                return fail(p, E_CHAR_RANGE, rng, t);
        }
        if (hi == lo)
            outf(p, "\\x{%x}", (unsigned)lo);
        else
            outf(p, "\\x{%x}-\\x{%x}", (unsigned)lo, (unsigned)hi);
    }
    out(p, "]", 1);
    *i = t + 1;
    return 0;
}

/* Go's parseInt: digits without leading zeros; -1 for a value too large. */
static int parse_int(struct p *p, size_t *t, long *v)
{
    size_t s = *t;
    if (s >= p->n || p->s[s] < '0' || p->s[s] > '9')
        return 0;
    if (p->n - s >= 2 && p->s[s] == '0' && p->s[s + 1] >= '0' && p->s[s + 1] <= '9')
        return 0;
    *v = 0;
    for (; *t < p->n && p->s[*t] >= '0' && p->s[*t] <= '9'; (*t)++)
        if (*v >= 0)
            *v = *v >= 100000000L ? -1 : *v * 10 + (p->s[*t] - '0');
    return 1;
}

/* Go's parseRepeat at '{': 1 with min/max (max -1: unbounded) and *t past '}', else 0. */
static int parse_repeat(struct p *p, size_t *t, long *min, long *max)
{
    size_t s = *t + 1;
    if (!parse_int(p, &s, min) || s >= p->n)
        return 0;
    if (p->s[s] != ',') {
        *max = *min;
    } else if (++s >= p->n) {
        return 0;
    } else if (p->s[s] == '}') {
        *max = -1;
    } else if (!parse_int(p, &s, max)) {
        return 0;
    } else if (*max < 0) {
        *min = -1;
    }
    if (s >= p->n || p->s[s] != '}')
        return 0;
    *t = s + 1;
    return 1;
}

/* Go's parsePerlFlags at "(?": named captures and flag groups; anything else (lookaround,
 * atomic group, comment, recursion, conditional, callout, branch reset...) is rejected
 * as Go rejects it. Sets *group when a group was opened. */
static int parse_perl_flags(struct p *p, size_t *i, int *group)
{
    size_t st = *i, rest = p->n - st;
    const char *s = p->s + st;
    if ((rest > 4 && s[2] == 'P' && s[3] == '<') || (rest > 3 && s[2] == '<')) {
        size_t begin = s[2] == '<' ? 3 : 4;
        const char *e = memchr(s, '>', rest);
        if (!e) {
            uint32_t r;
            for (size_t k = st; k < p->n;)
                if (next_rune(p, &k, &r) < 0)
                    return -1;
            return fail(p, E_NAMED, st, p->n);
        }
        size_t end = (size_t)(e - s);
        int ok = end > begin;
        for (size_t k = begin; k < end; k++)
            ok = ok && (is_alnum((unsigned char)s[k]) || s[k] == '_');
        if (!ok)
            return fail(p, E_NAMED, st, st + end + 1);
        out(p, "(?<", 3);
        out(p, s + begin, end - begin + 1);
        *i = st + end + 1;
        *group = 1;
        return 0;
    }
    size_t t = st + 2;
    int sign = 1, saw = 0;
    out(p, "(?", 2);
    while (t < p->n) {
        uint32_t c;
        if (next_rune(p, &t, &c) < 0)
            return -1;
        if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
            outf(p, "%c", (char)c);
            saw = 1;
        } else if (c == '-' && sign > 0) {
            out(p, "-", 1);
            sign = -1, saw = 0;
        } else if ((c == ':' || c == ')') && (sign > 0 || saw)) {
            outf(p, "%c", (char)c);
            *group = c == ':';
            *i = t;
            return 0;
        } else {
            break;
        }
    }
    return fail(p, E_PERL, st, t);
}

/* A repetition operator at s[*i] ('*', '+', '?' or a valid '{n,m}'); Go's repeat(). */
static int repeat(struct p *p, size_t *i, enum last *last, size_t *last_rep)
{
    size_t st = *i, t = st + 1;
    if (p->s[st] == '{') {
        long min, max;
        t = st;
        if (!parse_repeat(p, &t, &min, &max))
            return 1; /* a literal '{' */
        if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && min > max))
            return fail(p, E_SIZE, st, t);
    }
    if (t < p->n && p->s[t] == '?')
        t++;
    if (*last == L_REPEAT)
        return fail(p, E_NESTED, *last_rep, t);
    if (*last == L_NONE)
        return fail(p, E_ARG, st, t);
    out(p, p->s + st, t - st);
    *last = L_REPEAT;
    *last_rep = st;
    *i = t;
    return 0;
}

/* A backslash outside a class: assertions, \Q...\E, classes, or one escaped rune. */
static int top_escape(struct p *p, size_t *i, enum last *last)
{
    char c = *i + 1 < p->n ? p->s[*i + 1] : '\0';
    if (c && strchr("AzbB", c)) {
        out(p, p->s + *i, 2);
        *i += 2;
        *last = L_ATOM;
        return 0;
    }
    if (c == 'Q') {
        const char *e = strstr(p->s + *i + 2, "\\E");
        size_t end = e ? (size_t)(e - p->s) : p->n;
        for (size_t k = *i + 2; k < end;) {
            uint32_t r;
            if (next_rune(p, &k, &r) < 0)
                return -1;
            outf(p, "\\x{%x}", (unsigned)r);
            *last = L_ATOM;
        }
        *i = e ? end + 2 : end;
        return 0;
    }
    if (c == 'C')
        return fail(p, E_ESCAPE, *i, *i + 2);
    int k = parse_unicode_class(p, i);
    if (k == 0)
        k = parse_perl_class(p, i);
    if (k < 0)
        return -1;
    *last = L_ATOM;
    if (k > 0)
        return 0;
    uint32_t r;
    if (parse_escape(p, i, &r) < 0)
        return -1;
    outf(p, "\\x{%x}", (unsigned)r);
    return 0;
}

/* One step of Go's parse loop at s[*i]. */
static int step(struct p *p, size_t *i, int *depth, enum last *last, size_t *last_rep)
{
    char c = p->s[*i];
    switch (c) {
    case '(': {
        int group = 1;
        if (*depth >= MAX_NEST)
            return fail(p, E_DEEP, 0, p->n);
        if (*i + 1 < p->n && p->s[*i + 1] == '?') {
            group = 0;
            if (parse_perl_flags(p, i, &group) < 0)
                return -1;
        } else {
            out(p, "(", 1);
            (*i)++;
        }
        *depth += group;
        *last = L_NONE;
        return 0;
    }
    case ')':
        if (*depth == 0)
            return fail(p, E_UNEXP, 0, p->n);
        (*depth)--;
        break;
    case '|':
        out(p, "|", 1);
        (*i)++;
        *last = L_NONE;
        return 0;
    case '[': *last = L_ATOM; return parse_class(p, i);
    case '\\': return top_escape(p, i, last);
    case '*':
    case '+':
    case '?':
    case '{': {
        int rc = repeat(p, i, last, last_rep);
        if (rc <= 0)
            return rc;
        out(p, "\\{", 2);
        (*i)++;
        *last = L_ATOM;
        return 0;
    }
    default: {
        size_t st = *i;
        uint32_t r;
        if (next_rune(p, i, &r) < 0)
            return -1;
        out(p, p->s + st, *i - st);
        *last = L_ATOM;
        return 0;
    }
    }
    out(p, p->s + *i, 1);
    (*i)++;
    *last = L_ATOM;
    return 0;
}

int pg_re2_translate(const char *re, char **outp, char *err, size_t errlen)
{
    static const char pre[] = "^(?s:", post[] = ")$";
    size_t rl = strlen(re);
    struct p p = {0};
    char *w = malloc(sizeof pre + rl + sizeof post);
    if (w) {
        memcpy(w, pre, sizeof pre - 1);
        memcpy(w + sizeof pre - 1, re, rl);
        memcpy(w + sizeof pre - 1 + rl, post, sizeof post);
    }
    p.s = w;
    p.n = w ? strlen(w) : 0;
    int depth = 0;
    enum last last = L_NONE;
    size_t last_rep = 0;
    while (w && p.i < p.n && !p.oom)
        if (step(&p, &p.i, &depth, &last, &last_rep) < 0)
            break;
    if (w && !p.code && !p.oom && depth > 0)
        fail(&p, E_PAREN, 0, p.n);
    if (!w || p.oom || p.code) {
        if (err && errlen) {
            if (!w || p.oom)
                pg_errmsg_set(err, errlen, "out of memory");
            else
                pg_errmsg_set(err, errlen, "error parsing regexp: %s: `%.*s`", p.code,
                              (int)(p.ex1 - p.ex0), p.s + p.ex0);
        }
        free(w);
        free(p.o);
        return -1;
    }
    free(w);
    *outp = p.o;
    return 0;
}
