/*
 * libFuzzer target for src/core/tz.c. The first byte chooses the mode: even,
 * the rest is a whole TZif file; odd, the rest is a footer TZ string, put
 * after a minimal version 2 file with no transitions (so the footer decides
 * every instant). Besides memory errors it checks that a file is either
 * refused with -EBADMSG (nothing written) or loaded, and that a loaded zone
 * answers every instant with an offset RFC 8536 allows and a minute of the
 * day in 0..1439.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"

/* Longer inputs only grow the transitions; the limits are checked before them. */
#define FUZZ_MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A version 2 file: one type (offset 0, "UTC"), no transitions, then "\n" footer "\n". */
static uint8_t *footer_file(const uint8_t *footer, size_t len, size_t *ret_len)
{
    static const uint8_t head[] = {
        'T', 'Z', 'i', 'f', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* magic, v */
        0,   0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* isut..time */
        0,   0,   0,   1,   0,   0, 0, 4,                                     /* type, char */
    };
    static const uint8_t block[] = {0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0};
    size_t n = 2 * (sizeof(head) + sizeof(block)) + len + 2;
    uint8_t *f = malloc(n);
    if (!f)
        abort();
    uint8_t *p = f;
    for (int i = 0; i < 2; i++) {
        memcpy(p, head, sizeof(head));
        p += sizeof(head);
        memcpy(p, block, sizeof(block));
        p += sizeof(block);
    }
    *p++ = '\n';
    if (len)
        memcpy(p, footer, len);
    p[len] = '\n';
    *ret_len = n;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    size_t len = size - 1;
    uint8_t *file;
    if (data[0] & 1) {
        file = footer_file(data + 1, len, &len);
    } else {
        /* An exact-size copy, so that reading past the end is caught. */
        file = malloc(len ? len : 1);
        if (!file)
            abort();
        if (len)
            memcpy(file, data + 1, len);
    }
    struct tz *tz = (struct tz *)(uintptr_t)1;
    int r = tz_parse(file, len, "Fuzz/Zone", &tz);
    free(file);
    if (r != 0) {
        if (r != -EBADMSG || tz != (struct tz *)(uintptr_t)1)
            abort();
        return 0;
    }
    if (strcmp(tz_name(tz), "Fuzz/Zone") != 0)
        abort();
    static const int64_t instants[] = {
        INT64_MIN,        -(INT64_C(1) << 40), -4102444800, -1,         0,          1,
        951782400,        1711846800,          2147483647,  2147483648, 4102444800, 15148742400,
        INT64_C(1) << 40, INT64_MAX - 1,       INT64_MAX,
    };
    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
        for (int64_t d = -86400; d <= 86400; d += 3601) {
            int64_t t = instants[i];
            if ((d < 0 && t < INT64_MIN - d) || (d > 0 && t > INT64_MAX - d))
                continue;
            t += d;
            int32_t off = tz_offset_s(tz, t);
            if (off < -89999 || off > 93599)
                abort();
            if (t > INT64_MIN / 1000 && t < INT64_MAX / 1000) {
                int m = tz_local_minute(tz, t * 1000);
                if (m < 0 || m > 1439)
                    abort();
            }
        }
    }
    tz_free(tz);
    return 0;
}
