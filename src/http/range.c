/*
 * The Range header parser (range.h). It owns the grammar (RFC 9110 §14.1:
 * "bytes=" then a comma list of range-specs, with optional whitespace only
 * around list elements) and the arithmetic that turns one spec into
 * [first, last] against the body size. It does not build the 206/416
 * response; the file handler does that with what this returns. Nothing here
 * allocates.
 */
#include "http/range.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* One range-spec as written: "A-B", "A-" or "-N". */
struct range_spec {
    bool suffix;   /* "-N": the last N bytes */
    bool has_last; /* "A-B" rather than "A-" */
    uint64_t first;
    uint64_t last;
    uint64_t suffix_len;
};

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Reads 1*DIGIT at *P and advances past it. Values beyond 2^64-1 saturate:
 * such a position is past any body we could hold, which gives the right
 * answer (unsatisfiable start, clamped end, whole-body suffix) without
 * overflowing. Returns false when there is no digit.
 */
static bool read_pos(const char **p, uint64_t *ret)
{
    const char *s = *p;
    if (!is_digit(*s))
        return false;
    uint64_t v = 0;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
    }
    *ret = v;
    *p = s;
    return true;
}

/* Parses one range-spec at *P (no surrounding blanks). Returns false if malformed. */
static bool read_spec(const char **p, struct range_spec *ret)
{
    struct range_spec spec = {0};
    const char *s = *p;
    if (*s == '-') {
        s++;
        spec.suffix = true;
        if (!read_pos(&s, &spec.suffix_len))
            return false;
    } else {
        if (!read_pos(&s, &spec.first) || *s != '-')
            return false;
        s++;
        spec.has_last = read_pos(&s, &spec.last);
        if (spec.has_last && spec.last < spec.first)
            return false; /* "5-3" is invalid, not unsatisfiable (RFC 9110 §14.1.1) */
    }
    *ret = spec;
    *p = s;
    return true;
}

enum range_result range_parse(const char *header, uint64_t size, struct byte_range *ret_range)
{
    if (!header)
        return RANGE_NONE;
    const char *p = skip_ows(header);
    if (strncasecmp(p, "bytes=", 6) != 0) /* the range unit is case-insensitive */
        return RANGE_NONE;
    p += 6;

    /* 1#range-spec: empty list elements (", ,") are allowed and skipped (RFC 9110 §5.6.1). */
    struct range_spec spec = {0};
    unsigned specs = 0;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == 0)
            break;
        if (specs > 0)
            return RANGE_NONE; /* several ranges: we serve the whole body instead */
        if (!read_spec(&p, &spec))
            return RANGE_NONE;
        specs++;
        p = skip_ows(p);
        if (*p != ',' && *p != 0)
            return RANGE_NONE;
    }
    if (specs == 0)
        return RANGE_NONE;

    struct byte_range r;
    if (spec.suffix) {
        if (spec.suffix_len == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        r.first = spec.suffix_len >= size ? 0 : size - spec.suffix_len;
        r.last = size - 1;
    } else {
        if (spec.first >= size)
            return RANGE_UNSATISFIABLE;
        r.first = spec.first;
        /* Clamped: esp_https_ota asks for one byte past the end. */
        r.last = (spec.has_last && spec.last < size - 1) ? spec.last : size - 1;
    }
    *ret_range = r;
    return RANGE_PARTIAL;
}
