/*
 * libFuzzer target for the receiver checks in src/notify/format.c. The input
 * is lines: the first a receiver URL for notify_url_check, the rest event
 * patterns for notify_patterns_join (the first byte of the input, mod 4,
 * picks the output buffer: 0 the smallest, else a full one). Checks what
 * format.h promises: an accepted URL is short, printable ASCII, http(s)://
 * and a host with no user part; a refusal is -EINVAL with a reason. Joined
 * patterns are the input's, in order, each known, and notify_patterns_match
 * takes an event exactly when one of them names it (itself, its family or
 * "*"). Every raw line is also matched as if it were stored, for crashes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "notify/format.h"

#define FUZZ_MAX_INPUT 8192
#define FUZZ_MAX_LINES 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_url(const char *url)
{
    struct reason why = {""};
    int r = notify_url_check(url, &why);
    if (r < 0) {
        if (r != -EINVAL || why.text[0] == 0)
            abort();
        return;
    }
    if (r != 0 || strlen(url) > LIMIT_NOTIFY_URL_BYTES)
        abort();
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            abort();
    const char *host = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    if (!host)
        abort();
    size_t authority = strcspn(host, "/?#");
    if (authority == 0 || host[0] == ':' || memchr(host, '@', authority))
        abort();
}

/* Whether PATTERN names event NAME, said once more, the simple way. */
static bool names(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (strcmp(pattern, "*") == 0 || strcmp(pattern, name) == 0)
        return true;
    return n >= 3 && strcmp(pattern + n - 2, ".*") == 0 && strncmp(name, pattern, n - 1) == 0;
}

static void check_patterns(const char *const *patterns, size_t n, size_t out_size)
{
    char *out = malloc(out_size);
    if (!out)
        abort();
    struct reason why = {""};
    int r = notify_patterns_join(patterns, n, out, out_size, &why);
    if (r < 0) {
        if (r != -EINVAL || why.text[0] == 0)
            abort();
        free(out);
        return;
    }
    if (r != 0 || n == 0 || n > LIMIT_NOTIFY_PATTERNS || !memchr(out, 0, out_size))
        abort();
    /* OUT is the patterns joined with commas, in order. */
    const char *p = out;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(patterns[i]);
        if (strncmp(p, patterns[i], len) != 0 || p[len] != (i + 1 < n ? ',' : 0))
            abort();
        p += len + 1;
    }
    bool any = false;
    for (unsigned k = 0; k < EVENT_KIND_COUNT; k++) {
        const char *name = event_kind_name((enum event_kind)k);
        bool want = false;
        for (size_t i = 0; i < n; i++)
            want = want || names(patterns[i], name);
        if (notify_patterns_match(out, name) != want)
            abort();
        any = any || (k != 0 && want);
    }
    if (!any) /* every accepted pattern names at least one event beside ping */
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_MAX_INPUT)
        return 0;
    static const size_t sizes[] = {16, 64, 256, 1024};
    size_t out_size = sizes[data[0] & 3];
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;

    const char *lines[FUZZ_MAX_LINES];
    size_t n = 0;
    char *line = text;
    while (line && n < FUZZ_MAX_LINES) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        lines[n++] = line;
        line = next;
    }
    check_url(lines[0]);
    check_patterns(lines + 1, n - 1, out_size);
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < EVENT_KIND_COUNT; k++)
            (void)notify_patterns_match(lines[i], event_kind_name((enum event_kind)k));
    free(text);
    return 0;
}
