/*
 * The pure parts of the notification layer (format.h): patterns, URLs,
 * bodies, signatures and the retry schedule. No I/O but random_bytes.
 */
#include "notify/format.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/limits.h"
#include "core/util.h"

/* A family's prefix with its dot ("rollout."), or NULL when PATTERN is not "family.*". */
static bool pattern_family(const char *pattern, char *family, size_t size)
{
    size_t n = strlen(pattern);
    if (n < 3 || strcmp(pattern + n - 2, ".*") != 0 || n - 1 >= size)
        return false;
    memcpy(family, pattern, n - 1); /* keeps the dot */
    family[n - 1] = 0;
    return true;
}

static bool pattern_known(const char *pattern)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    char family[LIMIT_NOTIFY_PATTERN_BYTES + 1];
    bool is_family = pattern_family(pattern, family, sizeof(family));
    for (unsigned k = 1; k < EVENT_KIND_COUNT; k++) { /* 0 is ping: not subscribed to */
        const char *name = event_kind_name((enum event_kind)k);
        if (is_family ? strncmp(name, family, strlen(family)) == 0 : strcmp(name, pattern) == 0)
            return true;
    }
    return false;
}

int notify_patterns_join(const char *const *patterns, size_t n, char *out, size_t size,
                         struct reason *why)
{
    if (n == 0)
        return reason_set(why, -EINVAL, "events must name at least one event (or \"*\")");
    if (n > LIMIT_NOTIFY_PATTERNS)
        return reason_set(why, -EINVAL, "at most %u event patterns", LIMIT_NOTIFY_PATTERNS);
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = patterns[i];
        if (!p || strlen(p) > LIMIT_NOTIFY_PATTERN_BYTES || !pattern_known(p))
            return reason_set(why, -EINVAL,
                              "\"%.32s\" is no event: give rollout.halted, rollout.promoted, "
                              "rollout.completed, release.published, source.failing, "
                              "source.recovered, a family such as \"rollout.*\", or \"*\"",
                              p ? p : "");
        for (size_t k = 0; k < i; k++)
            if (strcmp(patterns[k], p) == 0)
                return reason_set(why, -EINVAL, "event \"%s\" is given twice", p);
        int w = snprintf(out + used, size - used, "%s%s", i ? "," : "", p);
        if (w < 0 || (size_t)w >= size - used)
            return reason_set(why, -EINVAL, "too many event patterns");
        used += (size_t)w;
    }
    return 0;
}

bool notify_patterns_match(const char *joined, const char *name)
{
    const char *p = joined;
    while (*p) {
        size_t len = strcspn(p, ",");
        char pattern[LIMIT_NOTIFY_PATTERN_BYTES + 1];
        if (len < sizeof(pattern)) {
            memcpy(pattern, p, len);
            pattern[len] = 0;
            char family[LIMIT_NOTIFY_PATTERN_BYTES + 1];
            if (strcmp(pattern, "*") == 0 || strcmp(pattern, name) == 0)
                return true;
            if (pattern_family(pattern, family, sizeof(family)) &&
                strncmp(name, family, strlen(family)) == 0)
                return true;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

int notify_url_check(const char *url, struct reason *why)
{
    size_t n = strlen(url);
    if (n > LIMIT_NOTIFY_URL_BYTES)
        return reason_set(why, -EINVAL, "the URL is longer than %u bytes", LIMIT_NOTIFY_URL_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return reason_set(why, -EINVAL, "the URL must be printable ASCII without blanks");
    const char *host;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return reason_set(why, -EINVAL, "the URL must begin with http:// or https://");
    if (!*host || *host == '/' || *host == '?' || *host == '#' || *host == ':')
        return reason_set(why, -EINVAL, "the URL has no host");
    if (strchr(host, '@') && strchr(host, '@') < host + strcspn(host, "/?#"))
        return reason_set(why, -EINVAL,
                          "the URL must not carry a user name or password (use the secret)");
    return 0;
}

int notify_uuid(char out[37])
{
    uint8_t b[16];
    int r = random_bytes(b, sizeof(b));
    if (r < 0)
        return r;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    hex_encode(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return 0;
}

char *notify_body_json(const char *uuid, const struct event *ev)
{
    json_t *data = json_loads(ev->data, 0, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        return NULL;
    }
    char at[21];
    time_format_rfc3339(ev->at_ms, at);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", uuid, "event", event_kind_name(ev->kind), "at", at,
                  "product", ev->product[0] ? json_string(ev->product) : json_null(), "data", data);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    return text;
}

/* Appends TEXT to OUT (SIZE bytes, USED so far) with Slack's & < > escaped. */
static void slack_append(char *out, size_t size, size_t *used, const char *text)
{
    for (const char *p = text; *p && *used + 1 < size; p++) {
        const char *esc = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        size_t len = esc ? strlen(esc) : 1;
        if (*used + len >= size)
            break;
        memcpy(out + *used, esc ? esc : p, len);
        *used += len;
    }
    out[*used] = 0;
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

void notify_slack_text(const struct event *ev, char *out, size_t size)
{
    json_t *d = json_loads(ev->data, 0, NULL);
    const char *product = ev->product[0] ? ev->product : "otad";
    char line[1024];
    switch (ev->kind) {
    case EVENT_ROLLOUT_HALTED: {
        const json_t *c = json_object_get(d, "counters");
        long long failed = int_of(c, "failed"), offered = int_of(c, "offered");
        if (failed > 0 && offered > 0)
            snprintf(line, sizeof(line),
                     ":warning: rollout %lld of %s %s halted at stage %lld: %lld of %lld failed "
                     "(%lld %%)",
                     int_of(d, "rollout"), product, str_of(d, "version"), int_of(d, "stage"),
                     failed, offered, failed * 100 / offered);
        else
            snprintf(line, sizeof(line), ":warning: rollout %lld of %s %s halted at stage %lld: %s",
                     int_of(d, "rollout"), product, str_of(d, "version"), int_of(d, "stage"),
                     str_of(d, "reason"));
        break;
    }
    case EVENT_ROLLOUT_PROMOTED:
        snprintf(line, sizeof(line),
                 ":arrow_forward: rollout %lld of %s %s promoted to stage %lld of %lld (%g %%)",
                 int_of(d, "rollout"), product, str_of(d, "version"), int_of(d, "stage"),
                 int_of(d, "stages"), json_number_value(json_object_get(d, "percent")));
        break;
    case EVENT_ROLLOUT_COMPLETED:
        snprintf(line, sizeof(line),
                 ":white_check_mark: rollout %lld of %s %s completed: channel %s runs it",
                 int_of(d, "rollout"), product, str_of(d, "version"), str_of(d, "channel"));
        break;
    case EVENT_RELEASE_PUBLISHED: {
        char forms[128] = "";
        size_t used = 0;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(d, "forms"), i, f)
        {
            int w = snprintf(forms + used, sizeof(forms) - used, "%s%s", i ? ", " : "",
                             json_string_value(f) ? json_string_value(f) : "?");
            if (w < 0 || (size_t)w >= sizeof(forms) - used)
                break;
            used += (size_t)w;
        }
        snprintf(line, sizeof(line), ":package: %s %s published on %s from %s (%s)", product,
                 str_of(d, "version"), str_of(d, "channel"), str_of(d, "source"), forms);
        break;
    }
    case EVENT_SOURCE_FAILING:
        snprintf(line, sizeof(line), ":x: source %s of %s is failing: %s", str_of(d, "repository"),
                 product, str_of(d, "error"));
        break;
    case EVENT_SOURCE_RECOVERED:
        snprintf(line, sizeof(line), ":white_check_mark: source %s of %s works again",
                 str_of(d, "repository"), product);
        break;
    case EVENT_PING:
    default:
        snprintf(line, sizeof(line), ":wave: otad test notification to %s", str_of(d, "receiver"));
        break;
    }
    json_decref(d);
    size_t used = 0;
    out[0] = 0;
    slack_append(out, size, &used, line);
}

char *notify_body_slack(const struct event *ev)
{
    char text[1200];
    notify_slack_text(ev, text, sizeof(text));
    str_printable(text); /* a line cut to fit may end inside a character: JSON takes only UTF-8 */
    json_t *body = json_pack("{s:s}", "text", text);
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return out;
}

void notify_signature(const char *secret, const void *body, size_t len, char out[72])
{
    uint8_t mac[DIGEST_SHA256_BYTES];
    digest_hmac_sha256(secret, strlen(secret), body, len, mac);
    memcpy(out, "sha256=", 7);
    hex_encode(mac, sizeof(mac), out + 7);
}

int64_t notify_backoff_ms(uint64_t base_ms, int64_t attempts, uint32_t random)
{
    static const uint64_t factor[] = {1, 3, 6, 30, 90, 360};
    size_t i = attempts <= 1 ? 0 : (size_t)attempts - 1;
    if (i >= ARRAY_SIZE(factor))
        i = ARRAY_SIZE(factor) - 1;
    uint64_t delay = base_ms * factor[i];
    uint64_t jitter = (delay / 4) * (uint64_t)random / UINT32_MAX;
    return (int64_t)(delay + jitter);
}
