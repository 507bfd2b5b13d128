/* testutil.h - small helpers shared by the cmocka unit tests (include after cmocka.h).
 * Static functions: each test executable compiles its own copy. */
#ifndef PG_TESTUTIL_H
#define PG_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole file into a new buffer (caller frees); fails the test if it can't. */
static inline uint8_t *pg_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Writes text to a new temporary file whose name is stored in path (>= 32 bytes); the
 * caller unlinks it. */
static inline void pg_test_write_temp(const char *text, char *path)
{
    strcpy(path, "/tmp/pg_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

#endif
