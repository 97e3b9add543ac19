/*
 * X-Forwarded-For read from the right (forwarded.h). The values are walked
 * backwards in place, one element at a time, without copying the header:
 * the last value's last element first.
 */
#include "http/forwarded.h"

#include <stdbool.h>
#include <string.h>

#include "core/limits.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

enum forwarded_result forwarded_client(const struct net_addr *peer,
                                       const struct net_prefix *trusted, size_t trusted_count,
                                       const char *const *values, size_t count,
                                       struct net_addr *ret_client)
{
    if (!net_prefixes_contain(trusted, trusted_count, peer))
        return FORWARDED_PEER;
    struct net_addr leftmost;
    bool seen = false;
    unsigned trusted_hops = 0;
    for (size_t v = count; v-- > 0;) {
        const char *value = values[v];
        size_t end = strlen(value);
        /* Each pass takes the element VALUE[start..end) before the comma at END. */
        for (;;) {
            size_t start = end;
            while (start > 0 && value[start - 1] != ',')
                start--;
            size_t first = start, last = end;
            while (first < last && is_ows(value[first]))
                first++;
            while (last > first && is_ows(value[last - 1]))
                last--;
            if (first < last) {
                struct net_addr a;
                if (net_addr_parse(value + first, last - first, &a) < 0)
                    return FORWARDED_MALFORMED;
                if (!net_prefixes_contain(trusted, trusted_count, &a)) {
                    *ret_client = a;
                    return FORWARDED_CLIENT;
                }
                if (++trusted_hops > LIMIT_FORWARDED_HOPS)
                    return FORWARDED_MALFORMED;
                leftmost = a;
                seen = true;
            }
            if (start == 0)
                break;
            end = start - 1; /* before the comma */
        }
    }
    if (!seen)
        return FORWARDED_PEER;
    *ret_client = leftmost;
    return FORWARDED_CLIENT;
}
