/*
 * libFuzzer target for src/core/version.c. The input is two strings split at
 * the first NUL or newline; each is checked with version_is_semver and the
 * two are compared both ways. Besides memory errors it checks the ordering
 * laws: compare(a, a) == 0, compare(a, b) == -compare(b, a) in sign, and
 * compare succeeds exactly when both are semver. The first string is also
 * read as an Arduino core version (core_gen_parse): a known generation, or
 * nothing written.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/version.h"
#include "service/compat.h"

/* Longer inputs add nothing a parser of short strings has not already seen. */
#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    /* Exact-size copies, so reading past a string's NUL is caught. */
    size_t split = 0;
    while (split < size && data[split] != 0 && data[split] != '\n')
        split++;
    size_t rest = split < size ? size - split - 1 : 0;
    char *a = malloc(split + 1);
    char *b = malloc(rest + 1);
    if (!a || !b)
        abort();
    memcpy(a, data, split);
    a[split] = 0;
    if (rest)
        memcpy(b, data + split + 1, rest);
    b[rest] = 0;

    bool sa = version_is_semver(a), sb = version_is_semver(b);
    int ab = 99, ba = 99, aa = 99;
    int rab = version_compare(a, b, &ab);
    int rba = version_compare(b, a, &ba);
    if ((rab == 0) != (sa && sb) || (rba == 0) != (sa && sb))
        abort();
    if (rab == 0 && sign(ab) != -sign(ba))
        abort();
    if (rab != 0 && (ab != 99 || ba != 99))
        abort(); /* nothing written on failure */
    if (sa && (version_compare(a, a, &aa) != 0 || aa != 0))
        abort();
    /* The same strings as an Arduino core version (?core=, --core-min; service/compat.c). */
    enum core_gen gen = (enum core_gen)99;
    int rg = core_gen_parse(a, &gen);
    if ((rg == 0 && (unsigned)gen >= CORE_GEN_COUNT) || (rg != 0 && gen != (enum core_gen)99))
        abort();
    free(a);
    free(b);
    return 0;
}
