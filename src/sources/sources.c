/*
 * Release sources at run time (sources.h): adding and listing sources, one
 * sync of a source (poll, pick, download, publish, record), the poller
 * thread that runs syncs when they are due, and the webhook entry point
 * that makes them due now.
 *
 * Scheduling. A source is due at the earlier of its regular next poll and a
 * pending request (a webhook, the API's sync), but never before its
 * not_before time (the rate limit, Retry-After), which is shared by every
 * source with the same credentials. Requests live in memory only: a
 * restart loses a webhook's fast re-queries, not the release (the regular
 * poll still finds it). The state in the database is written only by a
 * sync, so a webhook never races with one.
 */
#include "sources/sources.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "sources/backoff.h"
#include "sources/fetch.h"
#include "sources/github.h"
#include "sources/webhook.h"

#define SRC_FMT       "source %lld (%s/%s)"
#define SRC_ARGS(src) (long long)(src)->id, (src)->owner, (src)->repo
#define WAKE_FLOOR_MS 100 /* the poller never spins faster than this */

/* A sync the poller should run before the source's regular time. */
struct sources_request {
    int64_t source_id;
    int64_t due_ms;
    char awaited_tag[LIMIT_GITHUB_TAG_BYTES + 1]; /* a webhook's release; "" = none */
    unsigned tries;                               /* syncs run while awaiting it */
    uint64_t generation;                          /* changes whenever the request is renewed */
};

struct sources {
    struct config config;
    struct service *svc; /* borrowed */
    struct db *db;       /* our own connection to the service's database */
    enum sources_mode mode;
    bool curl_ready;
    atomic_bool cancel; /* stopping: transfers abort, the poller leaves */

    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t wake;
    bool kicked; /* a request arrived since the poller last looked */
    struct sources_request *requests;
    size_t request_count, request_cap; /* at most LIMIT_SOURCES */
    uint64_t generation;

    pthread_t worker;
    bool worker_running;
};

static uint64_t interval_of(const struct sources *s, const struct source *src)
{
    return src->poll_interval_s ? src->poll_interval_s : s->config.github_poll_interval_s;
}

/* --- secrets --- */

/*
 * Reads a token (TOKEN true: printable ASCII only, it goes into a header)
 * or a webhook secret from FILE or the variable ENV into OUT (SIZE bytes,
 * NUL-terminated), trailing blanks and line ends removed. Returns its
 * length; -ENOENT when neither FILE nor ENV is set; -EINVAL, -E2BIG or a
 * file error with WHY, which says where, never what.
 */
static int secret_read(const struct config *config, const char *file, const char *env, bool token,
                       char *out, size_t size, const char *what, struct reason *why)
{
    uint8_t *data = NULL;
    size_t data_len = 0, len;
    const char *value;
    char where[LIMIT_SOURCE_PATH_BYTES + 32];
    if (file[0]) {
        snprintf(where, sizeof(where), "file \"%s\"", file);
        int r = file_read_all(file, LIMIT_SOURCE_SECRET_BYTES, &data, &data_len);
        if (r < 0)
            return reason_set(why, r, "cannot read the %s %s: %s", what, where,
                              r == -EFBIG ? "too large" : strerror(-r));
        value = (const char *)data;
        len = data_len;
    } else if (env[0]) {
        snprintf(where, sizeof(where), "variable %s", env);
        value = config_getenv(config, env);
        if (!value)
            return reason_set(why, -EINVAL, "the %s %s is not set", what, where);
        len = strlen(value);
    } else {
        return -ENOENT;
    }
    while (len > 0 && strchr(" \t\r\n", value[len - 1]))
        len--;
    int r = (int)len;
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        printable = printable && value[i] > 0x20 && value[i] < 0x7f;
    if (len == 0)
        r = reason_set(why, -EINVAL, "the %s in %s is empty", what, where);
    else if (len >= size)
        r = reason_set(why, -E2BIG, "the %s in %s is longer than %zu bytes", what, where, size - 1);
    else if (token && !printable)
        r = reason_set(why, -EINVAL, "the %s in %s has blanks or control characters", what, where);
    if (r >= 0) {
        memcpy(out, value, len);
        out[len] = 0;
    }
    if (data) {
        explicit_bzero(data, data_len);
        free(data);
    }
    return r;
}

/* --- one sync --- */

static void note(struct sources_sync_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct sources_sync_result *res, const char *fmt, ...)
{
    size_t used = strlen(res->message);
    if (used && used + 2 < sizeof(res->message)) {
        memcpy(res->message + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message + used, sizeof(res->message) - used, fmt, ap);
    va_end(ap);
    github_ascii_safe(res->message);
}

static void rate_apply(struct source_state *st, const struct github_rate *rate)
{
    if (rate->limit >= 0)
        st->rate_limit = rate->limit;
    if (rate->remaining >= 0)
        st->rate_remaining = rate->remaining;
    if (rate->reset_s > 0)
        st->rate_reset_ms = rate->reset_s * 1000;
}

/* No request with SRC's credentials before NOT_BEFORE (ours and the siblings'). */
static void gate(struct sources *s, const struct source *src, struct source_state *st,
                 int64_t not_before)
{
    if (not_before <= st->not_before_ms)
        return;
    st->not_before_ms = not_before;
    db_source_gate_siblings(s->db, src, not_before);
    char when[21];
    time_format_rfc3339(not_before, when);
    log_info(SRC_FMT ": rate limit: no request to %s before %s", SRC_ARGS(src), src->api_url, when);
}

static void sync_failed(struct sources *s, const struct source *src, struct source_state *st,
                        struct sources_sync_result *res, int64_t now, const char *text)
{
    st->failures++;
    st->last_error_ms = now;
    snprintf(st->last_error, sizeof(st->last_error), "%s", text);
    github_ascii_safe(st->last_error);
    st->next_poll_ms = github_retry_at_ms(now, st->failures, interval_of(s, src));
    res->failed = true;
    note(res, "%s", text);
    log_warn(SRC_FMT ": %s (retry in %llds)", SRC_ARGS(src), st->last_error,
             (long long)((st->next_poll_ms - now) / 1000));
}

static void sync_succeeded(struct sources *s, const struct source *src, struct source_state *st,
                           int64_t now)
{
    st->failures = 0;
    st->next_poll_ms = now + (int64_t)interval_of(s, src) * 1000;
}

static void tag_record(struct sources *s, const struct source *src, const char *tag,
                       enum source_tag_status status, int64_t attempts, const char *version,
                       const char *detail)
{
    struct source_tag t;
    memset(&t, 0, sizeof(t));
    str_copy(t.tag, sizeof(t.tag), tag);
    t.status = status;
    t.attempts = attempts;
    str_copy(t.version, sizeof(t.version), version);
    snprintf(t.detail, sizeof(t.detail), "%s", detail);
    github_ascii_safe(t.detail);
    t.updated_ms = time_now_ms();
    db_source_tag_put(s->db, src->id, &t); /* a failure is logged there; the tag is retried */
}

static void refuse(struct sources *s, const struct source *src, const struct github_pick *pick,
                   struct sources_sync_result *res, const char *detail)
{
    tag_record(s, src, pick->tag, SOURCE_TAG_REFUSED, 0, "", detail);
    res->refused++;
    note(res, "refused %s: %s", pick->tag, detail);
    log_warn(SRC_FMT ": release \"%s\" refused: %s", SRC_ARGS(src), pick->tag, detail);
}

/* The release body as notes: cut to the limit on a UTF-8 boundary. *RET NULL when there is none. */
static int notes_copy(const char *body, char **ret)
{
    *ret = NULL;
    if (!body || !*body)
        return 0;
    size_t n = strlen(body);
    if (n > LIMIT_RELEASE_NOTES_BYTES) {
        n = LIMIT_RELEASE_NOTES_BYTES;
        while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
            n--;
    }
    char *out = malloc(n + 1);
    if (!out)
        return -ENOMEM;
    memcpy(out, body, n);
    out[n] = 0;
    *ret = out;
    return 0;
}

/* Says in TRANSIENT (SIZE bytes) why the page must be read again; returns 1 for ingest_pick. */
static int transient_set(char *transient, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int transient_set(char *transient, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(transient, size, fmt, ap);
    va_end(ap);
    return 1;
}

/*
 * Counts the ATTEMPTS-th failed attempt at PICK (a download, or publishing
 * what was downloaded): recorded for a retry, or refused for good at
 * LIMIT_GITHUB_TAG_ATTEMPTS. Returns what ingest_pick returns.
 */
static int attempt_failed(struct sources *s, const struct source *src,
                          const struct github_pick *pick, int64_t attempts, const char *text,
                          struct sources_sync_result *res, char *transient, size_t transient_size)
{
    if (attempts >= LIMIT_GITHUB_TAG_ATTEMPTS) {
        char detail[256];
        snprintf(detail, sizeof(detail), "gave up after %lld failed attempts: %.200s",
                 (long long)attempts, text);
        refuse(s, src, pick, res, detail);
        return 0;
    }
    tag_record(s, src, pick->tag, SOURCE_TAG_FAILED, attempts, "", text);
    return transient_set(transient, transient_size, "release %s: %s", pick->tag, text);
}

/*
 * The service's refusals of the release itself (service.h): not a valid
 * image, a conflicting version, a bad version or channel, too large. Those
 * will not change by trying again. A signing problem of the server (a key
 * missing or without its private half here: -ENOKEY, -EKEYREJECTED, as
 * sources never upload pre-signed images) is the operator's to fix, and
 * anything else our own failure: both are retried.
 */
static bool publish_refusal(int r)
{
    return r == -EBADMSG || r == -EEXIST || r == -EINVAL || r == -EFBIG || r == -E2BIG;
}

/*
 * Deals with one picked release of ROW. Returns 0 when it is settled
 * (ingested, refused, dealt with before, or waiting for its asset, which
 * changes the page when it comes), 1 after a failure that needs the page
 * read again (TRANSIENT says what), -ECANCELED when stopping.
 */
static int ingest_pick(struct sources *s, struct source_row *row, const struct github_pick *pick,
                       const char *token, int64_t now, struct sources_sync_result *res,
                       char *transient, size_t transient_size)
{
    struct source *src = &row->source;
    struct source_state *st = &row->state;
    struct source_tag known;
    int64_t attempts = 0;
    int r = db_source_tag_get(s->db, src->id, pick->tag, &known);
    if (r == 0 && known.status != SOURCE_TAG_FAILED)
        return 0;
    if (r == 0)
        attempts = known.attempts;
    else if (r != -ENOENT)
        return transient_set(transient, transient_size, "cannot read the tags dealt with");

    switch (pick->status) {
    case GITHUB_PICK_NO_ASSET:
        res->waiting++;
        note(res, "%s: %s", pick->tag, pick->detail);
        log_info(SRC_FMT ": release \"%s\": %s", SRC_ARGS(src), pick->tag, pick->detail);
        return 0;
    case GITHUB_PICK_AMBIGUOUS:
    case GITHUB_PICK_BAD_TAG:
        refuse(s, src, pick, res, pick->detail);
        return 0;
    case GITHUB_PICK_READY:
        break;
    }
    if (pick->asset.size > s->config.max_upload_bytes) {
        char detail[256];
        snprintf(detail, sizeof(detail),
                 "asset \"%.80s\" is %llu bytes, more than max_upload_bytes", pick->asset.name,
                 (unsigned long long)pick->asset.size);
        refuse(s, src, pick, res, detail);
        return 0;
    }
    if (st->rate_remaining == 0)
        return transient_set(transient, transient_size, "no request left for the download of %s",
                             pick->tag);

    char url[LIMIT_GITHUB_API_URL_BYTES + LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 64];
    snprintf(url, sizeof(url), "%s/repos/%s/%s/releases/assets/%lld", src->api_url, src->owner,
             src->repo, (long long)pick->asset.id);
    struct fetch_asset fa;
    struct reason why = {""};
    r = fetch_asset_get(url, token, pick->asset.size, github_url_is_http(src->api_url), &s->cancel,
                        &fa, &why);
    st->api_calls += fa.api_calls;
    res->api_calls += fa.api_calls;
    rate_apply(st, &fa.rate);
    if (r == -ECANCELED) {
        fetch_asset_release(&fa);
        return -ECANCELED;
    }
    if (r < 0) {
        fetch_asset_release(&fa);
        if (r == -EBUSY)
            gate(s, src, st, github_not_before_ms(fa.api_status, &fa.rate, now, st->failures + 1));
        return attempt_failed(s, src, pick, attempts + 1, why.text, res, transient, transient_size);
    }

    char *notes;
    if (notes_copy(pick->notes, &notes) < 0) {
        fetch_asset_release(&fa);
        return transient_set(transient, transient_size, "out of memory");
    }
    struct publish_request req = {
        .product = src->product,
        .version = pick->version,
        .channel = pick->channel,
        .mode = FW_MODE_SKETCH,
        .image = fa.image.data,
        .image_len = fa.image.len,
        .source = "github",
        .notes = notes,
    };
    struct release rel;
    bool created = false;
    r = service_publish(s->svc, &req, &rel, &created, &why);
    free(notes);
    fetch_asset_release(&fa);
    if (publish_refusal(r)) {
        refuse(s, src, pick, res, why.text);
        return 0;
    }
    if (r < 0) /* our failure (the disk, memory): the bytes were fine, try again */
        return attempt_failed(s, src, pick, attempts + 1, why.text, res, transient, transient_size);
    free(rel.notes);
    tag_record(s, src, pick->tag, SOURCE_TAG_INGESTED, 0, rel.version,
               created ? "" : "already published with the same bytes");
    if (created) {
        res->ingested++;
        st->last_change_ms = now;
        str_copy(st->last_tag, sizeof(st->last_tag), pick->tag);
        note(res, "ingested %s as %s (channel %s)", pick->tag, rel.version, rel.channel);
        log_info(SRC_FMT ": ingested release \"%s\" as %s %s (channel %s, %llu bytes)",
                 SRC_ARGS(src), pick->tag, src->product, rel.version, rel.channel,
                 (unsigned long long)rel.size);
    } else {
        note(res, "%s was already published", pick->tag);
    }
    return 0;
}

/* True when TAG of SRC has been ingested or refused for good. */
static bool tag_settled(struct sources *s, const struct source *src, const char *tag)
{
    struct source_tag t;
    return db_source_tag_get(s->db, src->id, tag, &t) == 0 && t.status != SOURCE_TAG_FAILED;
}

/* A short reason out of an API error body ({"message": ...}), for the status line. */
static void api_message(const struct fetch_response *resp, char *out, size_t size)
{
    out[0] = 0;
    json_t *root = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
    const json_t *m = json_object_get(root, "message");
    if (json_is_string(m))
        snprintf(out, size, ": %.120s", json_string_value(m));
    json_decref(root);
    github_ascii_safe(out);
}

/*
 * Syncs ROW once (its state is updated in memory and saved). AWAITED (may
 * be NULL) is a webhook's tag: *RET_SETTLED tells whether it is dealt with
 * or cannot be waited for any more usefully. Fills *RES.
 */
static void sync_one(struct sources *s, struct source_row *row, const char *awaited,
                     bool *ret_settled, struct sources_sync_result *res)
{
    struct source *src = &row->source;
    struct source_state *st = &row->state;
    int64_t now = time_now_ms();
    char token[LIMIT_SOURCE_SECRET_BYTES + 1] = "";
    char text[512]; /* a failure: a fixed text, the API URL and GitHub's message */
    struct fetch_response resp;
    bool have_resp = false;
    json_t *root = NULL;
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t pick_count = 0;
    struct reason why = {""};
    memset(res, 0, sizeof(*res));
    res->source_id = src->id;
    *ret_settled = false;

    if (st->not_before_ms > now) {
        char when[21];
        time_format_rfc3339(st->not_before_ms, when);
        res->rate_limited = true;
        note(res, "rate limited: no request before %s", when);
        return;
    }
    struct product product;
    int r = service_product_get(s->svc, src->product, &product, &why);
    if (r < 0) {
        sync_failed(s, src, st, res, now, why.text);
        goto save;
    }
    r = secret_read(&s->config, src->token_file, src->token_env, true, token, sizeof(token),
                    "token", &why);
    if (r < 0 && r != -ENOENT) { /* -ENOENT: no token configured, ask anonymously */
        sync_failed(s, src, st, res, now, why.text);
        goto save;
    }

    bool latest_only = src->prerelease_channel[0] == 0;
    char url[LIMIT_GITHUB_API_URL_BYTES + LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 64];
    if (latest_only)
        snprintf(url, sizeof(url), "%s/repos/%s/%s/releases/latest", src->api_url, src->owner,
                 src->repo);
    else
        snprintf(url, sizeof(url), "%s/repos/%s/%s/releases?per_page=%u", src->api_url, src->owner,
                 src->repo, LIMIT_GITHUB_RELEASES_PER_PAGE);
    struct fetch_request req = {.url = url,
                                .token = token,
                                .if_none_match = st->etag,
                                .max_body = LIMIT_GITHUB_API_BODY_BYTES,
                                .cancel = &s->cancel};
    r = fetch_api_get(&req, &resp, &why);
    st->last_poll_ms = now;
    st->api_calls++;
    res->api_calls++;
    if (r == -ECANCELED)
        goto save;
    if (r < 0) {
        sync_failed(s, src, st, res, now, why.text);
        goto save;
    }
    have_resp = true;
    rate_apply(st, &resp.rate);
    int64_t not_before = github_not_before_ms(resp.status, &resp.rate, now, st->failures + 1);
    if (not_before > now)
        gate(s, src, st, not_before);

    if (resp.status == 304) {
        res->not_modified = true;
        note(res, "unchanged");
        log_debug(SRC_FMT ": unchanged (304)", SRC_ARGS(src));
        sync_succeeded(s, src, st, now);
        goto settled;
    }
    if (resp.status == 404 && latest_only) {
        note(res, "no release yet");
        st->etag[0] = 0;
        sync_succeeded(s, src, st, now);
        goto settled;
    }
    if (resp.status != 200) {
        char msg[160];
        api_message(&resp, msg, sizeof(msg));
        snprintf(text, sizeof(text), "%s: HTTP %ld from %s%s",
                 github_rate_limited(resp.status, &resp.rate) ? "rate limited" : "GitHub refused",
                 resp.status, src->api_url, msg);
        sync_failed(s, src, st, res, now, text);
        goto save;
    }
    root = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
    struct github_rules rules = {.asset_glob = src->asset_glob,
                                 .default_channel = product.default_channel,
                                 .prerelease_channel = src->prerelease_channel};
    if (!root || github_plan(root, &rules, picks, &pick_count, &why) < 0) {
        sync_failed(s, src, st, res, now, "the API's answer is not a release list");
        goto save;
    }
    char transient[256] = "";
    for (size_t i = pick_count; i-- > 0;) { /* oldest first: publish order is release order */
        r = ingest_pick(s, row, &picks[i], token, now, res, transient, sizeof(transient));
        if (r == -ECANCELED)
            goto save;
    }
    if (transient[0]) {
        sync_failed(s, src, st, res, now,
                    transient); /* the ETag stays old: the page is read again */
        goto settled;
    }
    str_copy(st->etag, sizeof(st->etag), resp.etag);
    sync_succeeded(s, src, st, now);
    if (!res->ingested && !res->refused && !res->waiting)
        note(res, "nothing new");
settled:
    if (awaited) {
        bool waiting = false;
        for (size_t i = 0; i < pick_count; i++)
            waiting = waiting || (picks[i].status == GITHUB_PICK_NO_ASSET &&
                                  strcmp(picks[i].tag, awaited) == 0);
        *ret_settled = tag_settled(s, src, awaited) ||
                       (root && github_page_has_tag(root, awaited) && !waiting && !res->failed);
    }
save:
    db_source_state_save(s->db, src->id, st); /* a failure is logged there */
    explicit_bzero(token, sizeof(token));
    json_decref(root);
    if (have_resp)
        fetch_response_release(&resp);
}

/* --- requests and the poller --- */

static struct sources_request *request_find(struct sources *s, int64_t id)
{
    for (size_t i = 0; i < s->request_count; i++)
        if (s->requests[i].source_id == id)
            return &s->requests[i];
    return NULL;
}

/* Makes source ID due now; TAG (may be NULL) is a release to wait for. */
static int request_add(struct sources *s, int64_t id, const char *tag)
{
    int r = 0;
    pthread_mutex_lock(&s->lock);
    struct sources_request *q = request_find(s, id);
    if (!q) {
        if (s->request_count == s->request_cap) {
            size_t ncap = s->request_cap ? s->request_cap * 2 : 8;
            struct sources_request *n = s->request_count >= LIMIT_SOURCES
                                            ? NULL
                                            : realloc(s->requests, ncap * sizeof(*s->requests));
            if (!n) {
                r = -ENOBUFS;
                goto out;
            }
            s->requests = n;
            s->request_cap = ncap;
        }
        q = &s->requests[s->request_count++];
        memset(q, 0, sizeof(*q));
        q->source_id = id;
    }
    q->due_ms = time_now_ms();
    if (tag) {
        str_copy(q->awaited_tag, sizeof(q->awaited_tag), tag);
        q->tries = 0;
    }
    q->generation = ++s->generation;
    s->kicked = true;
    pthread_cond_signal(&s->wake);
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void request_remove_at(struct sources *s, size_t i)
{
    s->requests[i] = s->requests[--s->request_count];
}

/* A copy of the request for ID, if any. */
static bool request_get(struct sources *s, int64_t id, struct sources_request *ret)
{
    pthread_mutex_lock(&s->lock);
    struct sources_request *q = request_find(s, id);
    if (q)
        *ret = *q;
    pthread_mutex_unlock(&s->lock);
    return q != NULL;
}

/* After a sync that served request Q: drop it, or schedule the next re-query for its tag. */
static void request_done(struct sources *s, const struct sources_request *q, bool settled)
{
    pthread_mutex_lock(&s->lock);
    struct sources_request *cur = request_find(s, q->source_id);
    if (cur && cur->generation == q->generation) { /* not renewed meanwhile */
        cur->tries++;
        if (settled || !cur->awaited_tag[0] || cur->tries >= LIMIT_GITHUB_ASSET_WAIT_TRIES)
            request_remove_at(s, (size_t)(cur - s->requests));
        else
            cur->due_ms =
                time_now_ms() + (((int64_t)LIMIT_GITHUB_ASSET_WAIT_S * 1000) << (cur->tries - 1));
    }
    pthread_mutex_unlock(&s->lock);
}

/* Drops requests for sources that no longer exist. */
static void requests_prune(struct sources *s, const struct source_row *rows, size_t n)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->request_count;) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = rows[k].source.id == s->requests[i].source_id;
        if (found)
            i++;
        else
            request_remove_at(s, i);
    }
    pthread_mutex_unlock(&s->lock);
}

static bool same_credentials(const struct source *a, const struct source *b)
{
    return strcmp(a->api_url, b->api_url) == 0 && strcmp(a->token_file, b->token_file) == 0 &&
           strcmp(a->token_env, b->token_env) == 0;
}

static int64_t row_due(const struct source_row *row, const struct sources_request *q)
{
    int64_t due = row->state.next_poll_ms;
    if (q && q->due_ms < due)
        due = q->due_ms;
    return due < row->state.not_before_ms ? row->state.not_before_ms : due;
}

/* Runs every due sync once. Returns when the next one is due (ms since the epoch). */
static int64_t poll_round(struct sources *s)
{
    struct source_row *rows = NULL;
    size_t n = 0;
    int64_t wake = time_now_ms() + (int64_t)SOURCES_IDLE_S * 1000;
    if (db_source_list(s->db, &rows, &n) < 0)
        return wake;
    requests_prune(s, rows, n);
    for (size_t i = 0; i < n && !atomic_load(&s->cancel); i++) {
        struct source_row *row = &rows[i];
        /* A limit learnt earlier in this round binds every source with the same credentials. */
        for (size_t k = 0; k < i; k++)
            if (same_credentials(&rows[k].source, &row->source) &&
                rows[k].state.not_before_ms > row->state.not_before_ms)
                row->state.not_before_ms = rows[k].state.not_before_ms;
        struct sources_request q;
        bool has_q = request_get(s, row->source.id, &q);
        int64_t due = row_due(row, has_q ? &q : NULL);
        if (due <= time_now_ms()) {
            bool settled = false;
            struct sources_sync_result res;
            sync_one(s, row, has_q && q.awaited_tag[0] ? q.awaited_tag : NULL, &settled, &res);
            if (has_q && !res.rate_limited && !atomic_load(&s->cancel))
                request_done(s, &q, settled);
            has_q = request_get(s, row->source.id, &q);
            due = row_due(row, has_q ? &q : NULL);
        }
        if (due < wake)
            wake = due;
    }
    free(rows);
    return wake;
}

static void *poller_main(void *arg)
{
    struct sources *s = arg;
    while (!atomic_load(&s->cancel)) {
        int64_t wake = poll_round(s);
        pthread_mutex_lock(&s->lock);
        int64_t delay = wake - time_now_ms();
        if (delay < WAKE_FLOOR_MS)
            delay = WAKE_FLOOR_MS;
        if (!s->kicked && !atomic_load(&s->cancel)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(delay / 1000);
            ts.tv_nsec += (long)(delay % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
        s->kicked = false;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* --- the public calls --- */

int sources_open(const struct config *config, struct service *svc, enum sources_mode mode,
                 struct sources **ret_sources)
{
    struct sources *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->config = *config;
    s->svc = svc;
    s->mode = mode;
    atomic_init(&s->cancel, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    int r = fetch_global_init();
    if (r < 0) {
        log_error("sources: cannot initialize libcurl");
        goto fail;
    }
    s->curl_ready = true;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/" DB_FILE_NAME, config->data_dir) >= (int)sizeof(path)) {
        r = -ENAMETOOLONG;
        log_error("sources: data folder name too long");
        goto fail;
    }
    if ((r = db_open(path, DB_DURABLE, &s->db)) < 0)
        goto fail;
    if (mode == SOURCES_SERVING) {
        if ((r = -pthread_create(&s->worker, NULL, poller_main, s)) < 0) {
            log_error("sources: cannot start the poller: %s", strerror(-r));
            goto fail;
        }
        s->worker_running = true;
    }
    *ret_sources = s;
    return 0;
fail:
    sources_close(s);
    return r;
}

void sources_close(struct sources *s)
{
    if (!s)
        return;
    if (s->worker_running) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->cancel, true);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->worker, NULL);
    }
    free(s->requests);
    db_close(s->db);
    if (s->curl_ready)
        fetch_global_cleanup();
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Copies an optional setting TEXT (NULL = "") into OUT; checks its size and that JSON can carry it.
 */
static int setting_copy(char *out, size_t size, const char *text, const char *name,
                        struct reason *why)
{
    if (!text)
        text = "";
    if (str_copy(out, size, text) < 0)
        return reason_set(why, -EINVAL, "%s is longer than %zu bytes", name, size - 1);
    json_t *probe = json_string(text); /* NULL for text that is not UTF-8 */
    bool ok = probe != NULL;
    json_decref(probe);
    for (const char *p = text; ok && *p; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (!ok)
        return reason_set(why, -EINVAL, "%s has control characters or is not UTF-8", name);
    return 0;
}

static bool env_name_valid(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (p != name && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Checks one "file or variable" pair of SPEC into OUT_FILE / OUT_ENV. */
static int reference_copy(struct source *out, bool secret, const char *file, const char *env,
                          struct reason *why)
{
    const char *what = secret ? "webhook secret" : "token";
    if (file && *file && env && *env)
        return reason_set(why, -EINVAL, "give the %s as a file or a variable, not both", what);
    char *ofile = secret ? out->secret_file : out->token_file;
    char *oenv = secret ? out->secret_env : out->token_env;
    int r = setting_copy(ofile, secret ? sizeof(out->secret_file) : sizeof(out->token_file), file,
                         secret ? "the webhook secret file name" : "the token file name", why);
    if (r < 0)
        return r;
    if ((r = setting_copy(oenv, secret ? sizeof(out->secret_env) : sizeof(out->token_env), env,
                          "the variable name", why)) < 0)
        return r;
    if (!env_name_valid(oenv))
        return reason_set(why, -EINVAL, "\"%s\" is not a variable name", oenv);
    return 0;
}

int sources_add(struct sources *s, const struct source_spec *spec, struct source_row *ret_row,
                struct reason *why)
{
    struct source src;
    memset(&src, 0, sizeof(src));
    struct product product;
    int r = service_product_get(s->svc, spec->product ? spec->product : "", &product, why);
    if (r < 0)
        return r;
    src.product_id = product.id;
    if ((r = github_repository_parse(spec->repository ? spec->repository : "", src.owner, src.repo,
                                     why)) < 0)
        return r;
    const char *glob = spec->asset_glob ? spec->asset_glob : GITHUB_ASSET_GLOB_DEFAULT;
    if (!*glob || strchr(glob, '/'))
        return reason_set(why, -EINVAL, "asset pattern \"%.64s\" must be a file name glob", glob);
    if ((r = setting_copy(src.asset_glob, sizeof(src.asset_glob), glob, "the asset pattern", why)) <
            0 ||
        (r = reference_copy(&src, false, spec->token_file, spec->token_env, why)) < 0 ||
        (r = reference_copy(&src, true, spec->secret_file, spec->secret_env, why)) < 0)
        return r;
    const char *pre =
        spec->prerelease_channel ? spec->prerelease_channel : GITHUB_PRERELEASE_CHANNEL_DEFAULT;
    if (strcmp(pre, "none") == 0)
        pre = "";
    if (*pre && !service_name_valid(pre, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -", pre,
                          LIMIT_CHANNEL_NAME_BYTES);
    str_copy(src.prerelease_channel, sizeof(src.prerelease_channel), pre);
    if ((r = github_api_url_check(spec->api_url ? spec->api_url : GITHUB_API_URL_DEFAULT,
                                  src.api_url, sizeof(src.api_url), why)) < 0)
        return r;
    if (spec->poll_interval_s > LIMIT_GITHUB_POLL_INTERVAL_S_MAX)
        return reason_set(why, -EINVAL, "poll interval must be 1-%u seconds",
                          LIMIT_GITHUB_POLL_INTERVAL_S_MAX);
    src.poll_interval_s = spec->poll_interval_s;

    struct source_row *rows = NULL;
    size_t n = 0;
    if ((r = db_source_list(s->db, &rows, &n)) < 0)
        return reason_set(why, r, "cannot read the sources");
    free(rows);
    if (n >= LIMIT_SOURCES)
        return reason_set(why, -ENOSPC, "otad polls at most %u sources", LIMIT_SOURCES);
    r = db_source_insert(s->db, &src);
    if (r == -EEXIST)
        return reason_set(why, r, "product %s already has a source for %s/%s", product.name,
                          src.owner, src.repo);
    if (r < 0)
        return reason_set(why, r, "cannot store the source");
    log_info(SRC_FMT ": added for product %s", SRC_ARGS(&src), product.name);
    if (ret_row && (r = db_source_get(s->db, src.id, ret_row)) < 0)
        return reason_set(why, r, "cannot read the source back");
    if (s->mode == SOURCES_SERVING)
        request_add(s, src.id, NULL);
    return 0;
}

int sources_remove(struct sources *s, int64_t id, struct reason *why)
{
    int r = db_source_delete(s->db, id);
    if (r == -ENOENT)
        return reason_set(why, r, "no source %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot remove the source");
    log_info("source %lld removed", (long long)id);
    return 0;
}

int sources_get(struct sources *s, int64_t id, struct source_row *ret_row, struct reason *why)
{
    int r = db_source_get(s->db, id, ret_row);
    if (r == -ENOENT)
        return reason_set(why, r, "no source %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot read the sources");
    return 0;
}

int sources_list(struct sources *s, struct source_row **ret_rows, size_t *ret_count)
{
    return db_source_list(s->db, ret_rows, ret_count);
}

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char text[21];
    time_format_rfc3339(ms, text);
    return json_string(text);
}

static json_t *text_or_null(const char *text)
{
    return text && *text ? json_string(text) : json_null();
}

static json_t *count_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *sources_present(const struct sources *s, const struct source_row *row)
{
    const struct source *src = &row->source;
    const struct source_state *st = &row->state;
    char repository[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2];
    snprintf(repository, sizeof(repository), "%s/%s", src->owner, src->repo);
    int64_t next = st->next_poll_ms > st->not_before_ms ? st->next_poll_ms : st->not_before_ms;
    json_t *rate =
        st->rate_limit >= 0 || st->rate_remaining >= 0
            ? json_pack("{s:o,s:o,s:o}", "limit", count_or_null(st->rate_limit), "remaining",
                        count_or_null(st->rate_remaining), "reset", time_or_null(st->rate_reset_ms))
            : json_null();
    json_t *status = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:I}", "last_poll", time_or_null(st->last_poll_ms),
        "last_change", time_or_null(st->last_change_ms), "last_tag", text_or_null(st->last_tag),
        "last_error", text_or_null(st->last_error), "last_error_at",
        time_or_null(st->last_error_ms), "failures", (json_int_t)st->failures, "rate_limit",
        rate ? rate : json_null(), "next_poll", time_or_null(next), "not_before",
        time_or_null(st->not_before_ms > time_now_ms() ? st->not_before_ms : 0), "api_calls",
        (json_int_t)st->api_calls);
    if (!status)
        return NULL;
    return json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:o,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)src->id,
        "kind", "github", "product", src->product, "repository", repository, "asset",
        src->asset_glob, "prerelease_channel", text_or_null(src->prerelease_channel), "api_url",
        src->api_url, "poll_interval_s", (json_int_t)interval_of(s, src), "token_file",
        text_or_null(src->token_file), "token_env", text_or_null(src->token_env),
        "webhook_secret_file", text_or_null(src->secret_file), "webhook_secret_env",
        text_or_null(src->secret_env), "created", time_or_null(src->created_ms), "status", status);
}

int sources_sync(struct sources *s, int64_t id, struct sources_sync_result **ret_results,
                 size_t *ret_count, struct reason *why)
{
    struct source_row *rows = NULL;
    size_t n = 0;
    int r;
    if (id) {
        if (!(rows = malloc(sizeof(*rows))))
            return -ENOMEM;
        if ((r = sources_get(s, id, rows, why)) < 0) {
            free(rows);
            return r;
        }
        n = 1;
    } else if ((r = db_source_list(s->db, &rows, &n)) < 0) {
        return reason_set(why, r, "cannot read the sources");
    }
    struct sources_sync_result *results = calloc(n ? n : 1, sizeof(*results));
    if (!results) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        bool settled;
        sync_one(s, &rows[i], NULL, &settled, &results[i]);
    }
    free(rows);
    *ret_results = results;
    *ret_count = n;
    return 0;
}

int sources_request_sync(struct sources *s, int64_t id, struct reason *why)
{
    if (s->mode != SOURCES_SERVING)
        return reason_set(why, -EOPNOTSUPP, "no poller runs here");
    struct source_row row;
    int r = sources_get(s, id, &row, why);
    if (r < 0)
        return r;
    if ((r = request_add(s, id, NULL)) < 0)
        return reason_set(why, r, "too many pending requests");
    return 0;
}

/* A copy of peer-controlled TEXT (may be NULL) fit for a log line. */
static void log_safe(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "-");
    github_ascii_safe(out);
}

int sources_webhook(struct sources *s, const struct sources_delivery *d,
                    enum sources_hook_result *ret_result, struct reason *why)
{
    if (s->mode != SOURCES_SERVING)
        return reason_set(why, -EOPNOTSUPP, "webhooks are handled by otad serve");
    if (d->body_len > LIMIT_WEBHOOK_BODY_BYTES)
        return reason_set(why, -EFBIG, "webhook body larger than %u bytes",
                          LIMIT_WEBHOOK_BODY_BYTES);
    char peer[64], delivery[LIMIT_WEBHOOK_DELIVERY_BYTES + 1];
    log_safe(peer, sizeof(peer), d->remote_addr);
    log_safe(delivery, sizeof(delivery), d->delivery);

    struct source_row *rows = NULL;
    size_t n = 0;
    bool *matched = NULL;
    int r = db_source_list(s->db, &rows, &n);
    if (r < 0)
        return reason_set(why, r, "cannot read the sources");
    if (!(matched = calloc(n ? n : 1, sizeof(*matched)))) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto out;
    }
    size_t nmatched = 0, nsecrets = 0;
    for (size_t i = 0; i < n && d->signature; i++) {
        const struct source *src = &rows[i].source;
        char secret[LIMIT_SOURCE_SECRET_BYTES + 1];
        struct reason swhy = {""};
        int len = secret_read(&s->config, src->secret_file, src->secret_env, false, secret,
                              sizeof(secret), "webhook secret", &swhy);
        if (len == -ENOENT)
            continue;
        nsecrets++;
        if (len < 0) {
            log_warn(SRC_FMT ": %s", SRC_ARGS(src), swhy.text);
            continue;
        }
        if (github_signature_valid((const uint8_t *)secret, (size_t)len, d->body, d->body_len,
                                   d->signature)) {
            matched[i] = true;
            nmatched++;
        }
        explicit_bzero(secret, sizeof(secret));
    }
    if (nmatched == 0) {
        log_warn("webhook: delivery %s from %s refused: %s", delivery, peer,
                 !d->signature ? "no X-Hub-Signature-256"
                 : nsecrets    ? "the signature matches no source's webhook secret"
                               : "no source has a webhook secret");
        r = reason_set(why, -EPERM, "%s",
                       d->signature ? "X-Hub-Signature-256 does not match"
                                    : "X-Hub-Signature-256 is missing");
        goto out;
    }
    if (!d->event || strcmp(d->event, "release") != 0) {
        bool ping = d->event && strcmp(d->event, "ping") == 0;
        *ret_result = ping ? SOURCES_HOOK_PONG : SOURCES_HOOK_IGNORED;
        char event[32];
        log_safe(event, sizeof(event), d->event);
        if (ping)
            reason_set(why, 0, "pong");
        else
            reason_set(why, 0, "event \"%s\" is not acted on", event);
        r = 0;
        goto out;
    }
    if (d->delivery) {
        if (strlen(d->delivery) > LIMIT_WEBHOOK_DELIVERY_BYTES) {
            r = reason_set(why, -EINVAL, "X-GitHub-Delivery is longer than %u bytes",
                           LIMIT_WEBHOOK_DELIVERY_BYTES);
            goto out;
        }
        r = db_webhook_delivery_record(s->db, d->delivery, time_now_ms(),
                                       (int64_t)LIMIT_WEBHOOK_DELIVERIES_KEEP_S * 1000);
        if (r == -EEXIST) {
            log_info("webhook: delivery %s from %s seen before; ignored", delivery, peer);
            *ret_result = SOURCES_HOOK_DUPLICATE;
            reason_set(why, 0, "delivery %s was seen before", delivery);
            r = 0;
            goto out;
        }
        if (r < 0) {
            r = reason_set(why, r, "cannot record the delivery");
            goto out;
        }
    }
    /*
     * The delivery id is not signed: a captured body re-sent under a new id
     * would queue a sync each time. The signature names the signed body, so
     * it is remembered too (GitHub's own redeliveries repeat both).
     */
    char body_key[LIMIT_WEBHOOK_DELIVERY_BYTES + 1];
    if (snprintf(body_key, sizeof(body_key), "body:%.*s", (int)sizeof(body_key) - 6, d->signature) >
        0) {
        r = db_webhook_delivery_record(s->db, body_key, time_now_ms(),
                                       (int64_t)LIMIT_WEBHOOK_DELIVERIES_KEEP_S * 1000);
        if (r == -EEXIST) {
            log_info("webhook: a delivery from %s repeats a signed body seen before; ignored",
                     peer);
            *ret_result = SOURCES_HOOK_DUPLICATE;
            reason_set(why, 0, "this signed body was delivered before");
            r = 0;
            goto out;
        }
        if (r < 0) {
            r = reason_set(why, r, "cannot record the delivery");
            goto out;
        }
    }
    struct github_event ev;
    if ((r = github_event_parse(d->body, d->body_len, d->form_encoded, &ev, why)) < 0)
        goto out;
    github_ascii_safe(ev.action);
    *ret_result = SOURCES_HOOK_IGNORED;
    r = 0;
    if (!github_event_actionable(&ev)) {
        reason_set(why, 0, "%s release: not acted on", ev.draft ? "draft" : ev.action);
        goto out;
    }
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
        const struct source *src = &rows[i].source;
        char repository[sizeof(ev.repository)];
        snprintf(repository, sizeof(repository), "%s/%s", src->owner, src->repo);
        if (!matched[i] || !str_eq_nocase(repository, ev.repository))
            continue;
        if (ev.prerelease && !src->prerelease_channel[0])
            continue;
        if (request_add(s, src->id, ev.tag) == 0)
            queued++;
    }
    char repo_safe[sizeof(ev.repository)], tag_safe[sizeof(ev.tag)];
    log_safe(repo_safe, sizeof(repo_safe), ev.repository);
    log_safe(tag_safe, sizeof(tag_safe), ev.tag);
    if (queued == 0) {
        log_info("webhook: delivery %s: %s \"%s\" of %s: no source acts on it", delivery, ev.action,
                 tag_safe, repo_safe);
        reason_set(why, 0, "no source acts on %s %s of %s",
                   ev.prerelease ? "pre-release" : "release", tag_safe, repo_safe);
        goto out;
    }
    log_info("webhook: delivery %s: %s \"%s\" of %s: %zu source(s) to sync", delivery, ev.action,
             tag_safe, repo_safe, queued);
    *ret_result = SOURCES_HOOK_QUEUED;
    reason_set(why, 0, "%zu source(s) will fetch %s", queued, tag_safe);
out:
    free(matched);
    free(rows);
    return r;
}
