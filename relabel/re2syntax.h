/* re2syntax.h - the RE2 (Go regexp/syntax, Perl flags) dialect of Prometheus regexes,
 * checked and translated to an equivalent PCRE2 pattern.
 *
 * Prometheus compiles relabel regexes with Go's regexp ("^(?s:" + regex + ")$"): RE2
 * syntax, linear-time matching. profgate matches with PCRE2, which accepts far more
 * (lookarounds, backreferences, possessive quantifiers, atomic groups, recursion,
 * conditionals, callouts, \C, \K, verbs...). pg_re2_translate parses the wrapped regex
 * the way Go's parser does and rejects everything Go rejects with Go's message
 * ("error parsing regexp: <code>: `<expr>`"), so `profgate check` and promtool agree.
 * What passes is re-emitted as a PCRE2 pattern with the same meaning: literal chars in
 * classes and escapes become \x{...}, a '{' that is not a Go repeat becomes \{, Go's \v
 * (vertical tab) becomes \x{b}, and Go octal escapes (\0, \12, \123) become \x{...}.
 * Known gaps: Unicode class names are checked by PCRE2 (whose set differs slightly from
 * Go's), Go's nested-repeat size check is left to PCRE2, and \s also matches \v in PCRE2. */
#ifndef PG_RELABEL_RE2SYNTAX_H
#define PG_RELABEL_RE2SYNTAX_H

#include <stddef.h>

/* Checks the Prometheus regex re (as written in the config, not yet wrapped) and, if Go
 * accepts it, returns 0 with *out set to a malloc'd PCRE2 pattern equivalent to
 * ^(?s:re)$ (the caller frees it). Returns -1 with Go's message in err (truncated to
 * errlen) when Go rejects it, or "out of memory". */
int pg_re2_translate(const char *re, char **out, char *err, size_t errlen);

#endif
