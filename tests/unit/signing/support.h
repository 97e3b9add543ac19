/*
 * Helpers shared by the signing and verifier tests: a temporary folder that
 * is removed afterwards, running the openssl command line, small file I/O and
 * deterministic payloads. Header-only (static inline functions) so each test binary
 * stays one source file.
 */
#ifndef OTAD_TESTS_SIGNING_SUPPORT_H
#define OTAD_TESTS_SIGNING_SUPPORT_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Creates a fresh folder under TMPDIR (or /tmp); the caller frees the path. */
static inline char *test_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = malloc(PATH_MAX);
    if (!path)
        abort();
    snprintf(path, PATH_MAX, "%s/otad-test-XXXXXX", base);
    if (!mkdtemp(path))
        abort();
    return path;
}

static inline int test_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes PATH and everything below it, then frees PATH. NULL-safe. */
static inline void test_tmpdir_free(char *path)
{
    if (!path)
        return;
    nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

/* Runs a shell command built from FMT; returns its exit status (-1 when it did not exit). */
static inline int test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_run(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int status = system(cmd);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Formats a path into a static rotating buffer: fine for a few at a time. */
static inline const char *test_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *test_path(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *out = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    return out;
}

static inline void test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
}

/* Reads a whole file into a new allocation (caller frees); aborts on failure. */
static inline uint8_t *test_read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap + 1);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            data = realloc(data, cap + 1);
        }
    }
    fclose(f);
    if (!data)
        abort();
    data[len] = 0;
    *ret_len = len;
    return data;
}

/* LEN bytes of a fixed pseudo-random sequence that starts like an image (0xE9). */
static inline uint8_t *test_payload(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        abort();
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    if (len > 0)
        p[0] = 0xe9;
    return p;
}

#endif
