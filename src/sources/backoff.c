/* Rate-limit headers and retry schedules (backoff.h). */
#include "sources/backoff.h"

#include <string.h>

#include "core/limits.h"
#include "core/util.h"

void github_rate_init(struct github_rate *rate)
{
    rate->limit = rate->remaining = rate->reset_s = rate->retry_after_s = -1;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool github_header_value(const char *line, size_t len, const char *name, const char **ret_value,
                         size_t *ret_value_len)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':')
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = line[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    const char *v = line + n + 1, *end = line + len;
    while (v < end && blank(*v))
        v++;
    while (end > v && blank(end[-1]))
        end--;
    *ret_value = v;
    *ret_value_len = (size_t)(end - v);
    return true;
}

/* Parses LEN digits at V as a number no larger than a day of seconds past 2100. */
static int64_t small_number(const char *v, size_t len)
{
    char text[24];
    uint64_t x;
    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, v, len);
    text[len] = 0;
    /* 4102531200 is 2100-01-02: a reset time or a wait, in seconds, is never larger. */
    if (parse_u64(text, UINT64_C(4102531200), &x) < 0)
        return -1;
    return (int64_t)x;
}

void github_rate_header(struct github_rate *rate, const char *line, size_t len)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"x-ratelimit-limit", offsetof(struct github_rate, limit)},
        {"x-ratelimit-remaining", offsetof(struct github_rate, remaining)},
        {"x-ratelimit-reset", offsetof(struct github_rate, reset_s)},
        {"retry-after", offsetof(struct github_rate, retry_after_s)},
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *v;
        size_t vlen;
        if (!github_header_value(line, len, fields[i].name, &v, &vlen))
            continue;
        int64_t x = small_number(v, vlen);
        if (x >= 0)
            memcpy((char *)rate + fields[i].offset, &x, sizeof(x));
        return;
    }
}

bool github_rate_limited(long status, const struct github_rate *rate)
{
    return status == 429 || (status == 403 && (rate->remaining == 0 || rate->retry_after_s >= 0));
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t github_not_before_ms(long status, const struct github_rate *rate, int64_t now_ms,
                             int64_t failures)
{
    const int64_t cap = now_ms + (int64_t)LIMIT_GITHUB_WAIT_MAX_S * 1000;
    if (rate->retry_after_s >= 0 && (status == 403 || status == 429 || status >= 500))
        return min64(now_ms + rate->retry_after_s * 1000, cap);
    if (rate->remaining == 0) {
        /* A second past the reset: GitHub's clock and ours need not agree to the second. */
        if (rate->reset_s > 0 && rate->reset_s * 1000 + 1000 > now_ms)
            return min64(rate->reset_s * 1000 + 1000, cap);
        return now_ms + (int64_t)LIMIT_GITHUB_SECONDARY_WAIT_S * 1000;
    }
    if (status == 403 || status == 429) {
        /* A limit that names no time (or a refusal we cannot tell from one): a minute, doubling. */
        int64_t shift = failures > 1 ? min64(failures - 1, 6) : 0;
        return min64(now_ms + (((int64_t)LIMIT_GITHUB_SECONDARY_WAIT_S * 1000) << shift), cap);
    }
    return 0;
}

int64_t github_retry_at_ms(int64_t now_ms, int64_t failures, uint64_t interval_s)
{
    int64_t first = (int64_t)LIMIT_GITHUB_RETRY_BASE_S * 1000;
    if (interval_s > 0 && (int64_t)interval_s * 1000 < first)
        first = (int64_t)interval_s * 1000;
    const int64_t cap = (int64_t)LIMIT_GITHUB_RETRY_MAX_S * 1000;
    /* 2^20 times a second is already past the cap: the shift cannot overflow. */
    int64_t shift = failures > 1 ? min64(failures - 1, 20) : 0;
    return now_ms + min64(first << shift, cap);
}
