/*
 * libFuzzer target for the parsers of the GitHub sources: src/sources/github.c
 * (a releases page -> picks; a tag -> a version), src/sources/backoff.c
 * (rate-limit headers -> waits) and src/sources/webhook.c (a delivery's
 * payload and signature). The first input byte picks the parser; the rest
 * is what GitHub (or whoever reaches the webhook) would send. Invariants:
 * at most one pick per channel; a READY pick names an asset the glob
 * matches and a version otad accepts; every detail is one line of ASCII;
 * every wait lies between now and now + LIMIT_GITHUB_WAIT_MAX_S; a parsed
 * event has its three strings; a refusal has a reason.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "sources/backoff.h"
#include "sources/github.h"
#include "sources/webhook.h"

#define FUZZ_MAX_INPUT 65536
#define NOW_MS         1700000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
    if (!memchr(s, 0, size))
        abort();
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            abort();
}

static void check_version(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > LIMIT_RELEASE_VERSION_BYTES)
        abort();
    for (const char *p = v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("/\\?#%\"<>^`{}|[]", *p))
            abort();
}

static void fuzz_page(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!root)
        return;
    static const struct github_rules rules = {
        .asset_glob = "firmware*.bin", .default_channel = "stable", .prerelease_channel = "beta"};
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n = 0;
    struct reason why = {""};
    int r = github_plan(root, &rules, picks, &n, &why);
    if (r < 0) {
        if (r != -EBADMSG || !why.text[0] || json_is_array(root) || json_is_object(root))
            abort();
        json_decref(root);
        return;
    }
    if (n > GITHUB_PICKS_MAX || (n == 2 && strcmp(picks[0].channel, picks[1].channel) == 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct github_pick *p = &picks[i];
        if (!memchr(p->tag, 0, sizeof(p->tag)) || !p->tag[0])
            abort();
        check_text(p->detail, sizeof(p->detail));
        if (p->status == GITHUB_PICK_READY) {
            if (p->asset.id <= 0 || fnmatch(rules.asset_glob, p->asset.name, 0) != 0)
                abort();
            check_version(p->version);
        } else if (!p->detail[0]) {
            abort();
        }
        if (strlen(p->tag) < LIMIT_GITHUB_TAG_BYTES && !github_page_has_tag(root, p->tag))
            abort();
    }
    json_decref(root);
}

static void fuzz_headers(const uint8_t *data, size_t size)
{
    struct github_rate rate;
    github_rate_init(&rate);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);
        github_rate_header(&rate, p, len);
        p += len;
    }
    if (rate.limit < -1 || rate.remaining < -1 || rate.reset_s < -1 || rate.retry_after_s < -1)
        abort();
    static const long statuses[] = {200, 304, 403, 404, 429, 500, 503};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        for (int64_t failures = 0; failures < 70; failures += 7) {
            int64_t nb = github_not_before_ms(statuses[i], &rate, NOW_MS, failures);
            if (nb != 0 && (nb < NOW_MS || nb > NOW_MS + (int64_t)LIMIT_GITHUB_WAIT_MAX_S * 1000))
                abort();
            /* Backoff: never now or in the past, never past the cap, never before the last. */
            int64_t at = github_retry_at_ms(NOW_MS, failures + 1, 300);
            if (at <= NOW_MS || at > NOW_MS + (int64_t)LIMIT_GITHUB_RETRY_MAX_S * 1000 ||
                at < github_retry_at_ms(NOW_MS, failures, 300))
                abort();
        }
    }
    /* The same bytes as a tag. */
    char tag[LIMIT_GITHUB_TAG_BYTES + 1];
    size_t n = size < sizeof(tag) - 1 ? size : sizeof(tag) - 1;
    memcpy(tag, data, n);
    tag[n] = 0;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1];
    int r = github_tag_version(tag, version, sizeof(version));
    if (r == 0)
        check_version(version);
    else if (r != -EINVAL && r != -ENAMETOOLONG)
        abort();
}

static void fuzz_webhook(const uint8_t *data, size_t size, bool form)
{
    struct github_event ev;
    struct reason why = {""};
    int r = github_event_parse(data, size, form, &ev, &why);
    if (r == 0) {
        if (!ev.action[0] || !ev.repository[0] || !ev.tag[0] ||
            !memchr(ev.action, 0, sizeof(ev.action)) || !memchr(ev.tag, 0, sizeof(ev.tag)))
            abort();
        (void)github_event_actionable(&ev);
    } else if (r != -EBADMSG || !why.text[0]) {
        abort();
    }
    /* The first line as the signature header, the rest as the body. */
    const uint8_t *nl = memchr(data, '\n', size);
    char header[128];
    size_t hn = nl ? (size_t)(nl - data) : 0;
    if (hn >= sizeof(header))
        hn = sizeof(header) - 1;
    memcpy(header, data, hn);
    header[hn] = 0;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t blen = nl ? size - (size_t)(nl + 1 - data) : size;
    (void)github_signature_valid((const uint8_t *)"secret", 6, body, blen, header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    switch (data[0] % 4) {
    case 0:
        fuzz_page(data + 1, size - 1);
        break;
    case 1:
        fuzz_headers(data + 1, size - 1);
        break;
    default:
        fuzz_webhook(data + 1, size - 1, data[0] % 4 == 3);
        break;
    }
    return 0;
}
