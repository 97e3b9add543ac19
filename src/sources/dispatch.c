/*
 * What a GitHub webhook delivery does (sources_webhook), and the bound on
 * the deliveries whose bodies are being read (sources_webhook_admit). The
 * pure parts, the signature check and the payload fields, are webhook.c's;
 * the secrets, secrets.c's.
 *
 * A delivery is answered at once and does nothing itself but make sources
 * due: authenticate (the signature against the cached secrets), skip what
 * is not a release event, refuse a replay (its delivery id, or its signed
 * body, seen before), then queue a sync, awaiting the delivery's tag, of
 * each source that watches the repository and whose secret signed it. The
 * poller does the fetching.
 *
 * Nothing is known about a delivery until its whole body is in and its
 * HMAC checked, so the body bytes admitted at a time are capped
 * (LIMIT_WEBHOOK_BYTES_IN_FLIGHT): a peer holding bodies open gets a 503
 * past it, before its body is read, instead of growing the daemon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "sources/github.h"
#include "sources/internal.h"
#include "sources/webhook.h"

/* One delivery while it is dispatched. */
struct hook {
    struct sources *s;
    const struct sources_delivery *d;
    struct source_row *rows; /* owned: every source */
    size_t n;
    bool *matched; /* owned: rows whose webhook secret verifies the delivery */
    char peer[64], delivery[LIMIT_WEBHOOK_DELIVERY_BYTES + 1]; /* fit for a log line */
};

int sources_webhook_admit(struct sources *s, uint64_t bytes)
{
    uint_fast64_t cur = atomic_load(&s->hook_bytes);
    do {
        if (bytes > LIMIT_WEBHOOK_BYTES_IN_FLIGHT || cur > LIMIT_WEBHOOK_BYTES_IN_FLIGHT - bytes) {
            if (!atomic_exchange(&s->hook_busy, true))
                log_warn("webhook: %llu bytes of deliveries are being read, the most at once: "
                         "refusing more (503) until some are done",
                         (unsigned long long)cur);
            return -EBUSY;
        }
    } while (!atomic_compare_exchange_weak(&s->hook_bytes, &cur, cur + bytes));
    if (atomic_exchange(&s->hook_busy, false))
        log_info("webhook: deliveries are accepted again");
    return 0;
}

void sources_webhook_leave(struct sources *s, uint64_t bytes)
{
    atomic_fetch_sub(&s->hook_bytes, bytes);
}

/* A copy of peer-controlled TEXT (may be NULL) fit for a log line. */
static void log_safe(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "-");
    github_ascii_safe(out);
}

/* The signature against the sources' secrets: 0 when at least one verifies it, else -EPERM. */
static int hook_authenticate(struct hook *h, struct reason *why)
{
    const struct sources_delivery *d = h->d;
    struct secret_verdict v = {0, 0};
    int r = secret_cache_verify(h->s->secrets, h->rows, h->n, d->body, d->body_len, d->signature,
                                h->matched, &v);
    if (r < 0)
        return reason_set(why, r, "out of memory");
    if (v.matched > 0)
        return 0;
    log_warn("webhook: delivery %s from %s refused: %s", h->delivery, h->peer,
             !d->signature   ? "no X-Hub-Signature-256"
             : v.with_secret ? "the signature matches no source's webhook secret"
                             : "no source has a webhook secret");
    return reason_set(why, -EPERM, "%s",
                      d->signature ? "X-Hub-Signature-256 does not match"
                                   : "X-Hub-Signature-256 is missing");
}

/* An authentic event other than `release`: a ping is answered, the rest ignored. */
static void hook_not_release(struct hook *h, enum sources_hook_result *ret_result,
                             struct reason *why)
{
    if (h->d->event && strcmp(h->d->event, "ping") == 0) {
        *ret_result = SOURCES_HOOK_PONG;
        reason_set(why, 0, "pong");
        return;
    }
    char event[32];
    log_safe(event, sizeof(event), h->d->event);
    *ret_result = SOURCES_HOOK_IGNORED;
    reason_set(why, 0, "event \"%s\" is not acted on", event);
}

/* Remembers KEY against replays: 0 when new, 1 when seen before, -errno. */
static int hook_remember(struct hook *h, const char *key, struct reason *why)
{
    int r = db_webhook_delivery_record(h->s->db, key, time_now_ms(),
                                       (int64_t)LIMIT_WEBHOOK_DELIVERIES_KEEP_S * 1000);
    if (r == -EEXIST)
        return 1;
    return r < 0 ? reason_set(why, r, "cannot record the delivery") : 0;
}

/*
 * Whether the delivery was seen before: its id, or its signed body. The id
 * is not signed, so a captured body re-sent under a new id would queue a
 * sync each time; the signature names the signed body and is remembered
 * too (GitHub's own redeliveries repeat both). Returns 1 (a replay: *RET_RESULT
 * and WHY say so), 0, or -errno.
 */
static int hook_replayed(struct hook *h, enum sources_hook_result *ret_result, struct reason *why)
{
    const char *id = h->d->delivery;
    int r;
    if (id && strlen(id) > LIMIT_WEBHOOK_DELIVERY_BYTES)
        return reason_set(why, -EINVAL, "X-GitHub-Delivery is longer than %u bytes",
                          LIMIT_WEBHOOK_DELIVERY_BYTES);
    if (id && (r = hook_remember(h, id, why)) != 0) {
        if (r > 0) {
            log_info("webhook: delivery %s from %s seen before; ignored", h->delivery, h->peer);
            reason_set(why, 0, "delivery %s was seen before", h->delivery);
        }
        goto out;
    }
    char body_key[LIMIT_WEBHOOK_DELIVERY_BYTES + 1];
    snprintf(body_key, sizeof(body_key), "body:%.*s", (int)sizeof(body_key) - 6, h->d->signature);
    if ((r = hook_remember(h, body_key, why)) > 0) {
        log_info("webhook: a delivery from %s repeats a signed body seen before; ignored", h->peer);
        reason_set(why, 0, "this signed body was delivered before");
    }
out:
    if (r > 0)
        *ret_result = SOURCES_HOOK_DUPLICATE;
    return r;
}

/* A release event: queues a sync of each authenticated source that watches its repository. */
static int hook_release(struct hook *h, enum sources_hook_result *ret_result, struct reason *why)
{
    const struct sources_delivery *d = h->d;
    struct github_event ev;
    int r = github_event_parse(d->body, d->body_len, d->form_encoded, &ev, why);
    if (r < 0) /* a delivery we cannot read is the sender's error, not an image's */
        return r == -EBADMSG ? -EINVAL : r;
    github_ascii_safe(ev.action);
    *ret_result = SOURCES_HOOK_IGNORED;
    if (!github_event_actionable(&ev)) {
        reason_set(why, 0, "%s release: not acted on", ev.draft ? "draft" : ev.action);
        return 0;
    }
    size_t queued = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct source *src = &h->rows[i].source;
        char repository[sizeof(ev.repository)];
        snprintf(repository, sizeof(repository), "%s/%s", src->owner, src->repo);
        if (!h->matched[i] || !str_eq_nocase(repository, ev.repository))
            continue;
        if (ev.prerelease && !src->prerelease_channel[0])
            continue;
        if (sources_request_add(h->s, src->id, ev.tag) == 0)
            queued++;
    }
    char repo_safe[sizeof(ev.repository)], tag_safe[sizeof(ev.tag)];
    log_safe(repo_safe, sizeof(repo_safe), ev.repository);
    log_safe(tag_safe, sizeof(tag_safe), ev.tag);
    log_info("webhook: delivery %s: %s \"%s\" of %s: %zu source(s) to sync", h->delivery, ev.action,
             tag_safe, repo_safe, queued);
    if (queued == 0) {
        reason_set(why, 0, "no source acts on %s %s of %s",
                   ev.prerelease ? "pre-release" : "release", tag_safe, repo_safe);
        return 0;
    }
    *ret_result = SOURCES_HOOK_QUEUED;
    reason_set(why, 0, "%zu source(s) will fetch %s", queued, tag_safe);
    return 0;
}

int sources_webhook(struct sources *s, const struct sources_delivery *d,
                    enum sources_hook_result *ret_result, struct reason *why)
{
    if (s->mode != SOURCES_SERVING)
        return reason_set(why, -EAGAIN, "webhooks are handled by otad serve");
    if (d->body_len > LIMIT_WEBHOOK_BODY_BYTES)
        return reason_set(why, -EFBIG, "webhook body larger than %u bytes",
                          LIMIT_WEBHOOK_BODY_BYTES);
    struct hook h = {.s = s, .d = d};
    log_safe(h.peer, sizeof(h.peer), d->remote_addr);
    log_safe(h.delivery, sizeof(h.delivery), d->delivery);
    int r = db_source_list(s->db, &h.rows, &h.n);
    if (r < 0)
        return reason_set(why, r, "cannot read the sources");
    if (!(h.matched = calloc(h.n ? h.n : 1, sizeof(*h.matched)))) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = hook_authenticate(&h, why)) < 0)
        goto out;
    if (!d->event || strcmp(d->event, "release") != 0) {
        hook_not_release(&h, ret_result, why);
        goto out;
    }
    if ((r = hook_replayed(&h, ret_result, why)) != 0) {
        r = r > 0 ? 0 : r;
        goto out;
    }
    r = hook_release(&h, ret_result, why);
out:
    free(h.matched);
    free(h.rows);
    return r;
}
