/*
 * One sync of one source (internal.h), and `otad source sync`, which runs
 * it in the foreground (sources_sync). A sync asks GitHub for the source's
 * releases with one conditional request, picks each channel's newest
 * release (github.c), downloads its asset through the API (fetch.c) and
 * publishes it with service_publish, exactly like an upload; then it
 * records the outcome in the source's state and tag records.
 *
 * The retry rules live here. A tag is dealt with once: ingested, or
 * refused for good (not an image, two matching assets, too large, a tag
 * that cannot be a version), and the refusal stays visible in the status
 * (last_refused) and fails `otad source sync`. A failure that trying again
 * can mend (GitHub's 5xx, a storage outage, a truncated download, our disk)
 * counts against the source, which is retried on the backoff schedule
 * (backoff.h) for as long as it fails: a failed tag is tried again as long
 * as it is its channel's newest, and the status says which and when.
 *
 * What a sync writes for the operator (last_error, a refusal's reason, the
 * result's message) is our own text: an HTTP status, a fixed reason, a tag
 * or an asset name. Never a message from upstream: read tokens see it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "core/metrics.h"
#include "service/audit.h"
#include "service/events.h"
#include "service/present.h"
#include "sources/fetch.h"
#include "sources/github.h"
#include "sources/internal.h"

/* What one sync carries from step to step. */
struct sync {
    struct sources *s;
    struct source *src;
    struct source_state *st;
    struct sources_sync_result *res;
    int64_t now;
    char token[LIMIT_SOURCE_SECRET_BYTES + 1]; /* "" = ask anonymously; wiped at the end */
    /* The first failure that needs the page read again: the tag ("" = none), its attempt. */
    char retry_tag[LIMIT_GITHUB_TAG_BYTES + 1];
    int64_t retry_attempt;
    char retry_reason[200]; /* "" = nothing to retry */
    enum actor_via via;     /* who asked: a webhook's delivery, or the schedule (the CLI's too) */
};

/* The sources' metrics (docs/METRICS.md), labelled "owner/repo". */
static struct metric_family metric_polls =
    METRIC_COUNTER("otad_github_polls_total",
                   "Requests for a source's release list sent to GitHub.", METRIC_LABELS("source"));
static struct metric_family metric_poll_errors =
    METRIC_COUNTER("otad_github_poll_errors_total",
                   "Failed syncs of a source (the request, the answer, a download or a publish).",
                   METRIC_LABELS("source"));
static struct metric_family metric_failures = METRIC_GAUGE(
    "otad_github_source_consecutive_failures",
    "Failed syncs of a source since its last success (0: healthy); drives its retry backoff.",
    METRIC_LABELS("source"));
static struct metric_family metric_rate_remaining = METRIC_GAUGE(
    "otad_github_rate_limit_remaining",
    "GitHub's x-ratelimit-remaining as last seen for a source's token.", METRIC_LABELS("source"));

void sources_metrics_register(void)
{
    metrics_register(&metric_polls);
    metrics_register(&metric_poll_errors);
    metrics_register(&metric_failures);
    metrics_register(&metric_rate_remaining);
}

/* The label of SRC: "owner/repo". */
static void source_label(const struct source *src, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", src->owner, src->repo);
}

static void count(struct metric_family *f, const struct source *src)
{
    char label[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2];
    source_label(src, label, sizeof(label));
    metric_inc(f, (const char *[]){label});
}

/* The gauges after a sync: its failures, and the rate limit left when GitHub said. */
static void gauges_update(const struct source *src, const struct source_state *st)
{
    char label[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2];
    source_label(src, label, sizeof(label));
    metric_set(&metric_failures, (const char *[]){label}, st->failures);
    if (st->rate_remaining >= 0)
        metric_set(&metric_rate_remaining, (const char *[]){label}, st->rate_remaining);
}

uint64_t sources_interval_s(const struct sources *s, const struct source *src)
{
    return src->poll_interval_s ? src->poll_interval_s : s->config.github_poll_interval_s;
}

/* Appends one clause to the result's message. */
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

/* No request with the source's credentials before NOT_BEFORE (ours and the siblings'). */
static void gate(struct sync *sy, int64_t not_before)
{
    if (not_before <= sy->st->not_before_ms)
        return;
    sy->st->not_before_ms = not_before;
    db_source_gate_siblings(sy->s->db, sy->src, not_before);
    char when[21];
    time_format_rfc3339(not_before, when);
    log_info(SRC_FMT ": rate limit: no request to %s before %s", SRC_ARGS(sy->src),
             sy->src->api_url, when);
}

/* MS as a short duration for people: "40 s", "4 min", "2 h". */
static void duration_text(int64_t ms, char out[24])
{
    int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;
    if (s < 90)
        snprintf(out, 24, "%lld s", (long long)s);
    else if (s < 90 * 60)
        snprintf(out, 24, "%lld min", (long long)((s + 30) / 60));
    else
        snprintf(out, 24, "%lld h", (long long)((s + 1800) / 3600));
}

/*
 * The sync failed: counts it, schedules the retry on the backoff, and says
 * so in the status. TAG ("" = none) is the release being retried, ATTEMPT
 * its failed attempts (0: not counted against it).
 */
static void sync_failed(struct sync *sy, const char *tag, int64_t attempt, const char *reason)
{
    struct source_state *st = sy->st;
    st->failures++;
    count(&metric_poll_errors, sy->src);
    st->last_error_ms = sy->now;
    st->next_poll_ms =
        github_retry_at_ms(sy->now, st->failures, sources_interval_s(sy->s, sy->src));
    int64_t next = st->next_poll_ms > st->not_before_ms ? st->next_poll_ms : st->not_before_ms;
    char in[24];
    duration_text(next - sy->now, in);
    if (tag[0] && attempt > 0)
        snprintf(st->last_error, sizeof(st->last_error),
                 "retrying tag %.128s (attempt %lld, next in %s): %s", tag, (long long)attempt, in,
                 reason);
    else if (tag[0])
        snprintf(st->last_error, sizeof(st->last_error), "retrying tag %.128s (next in %s): %s",
                 tag, in, reason);
    else
        snprintf(st->last_error, sizeof(st->last_error), "%s (next try in %s)", reason, in);
    github_ascii_safe(st->last_error);
    sy->res->failed = true;
    note(sy->res, "%s", st->last_error);
    log_warn(SRC_FMT ": %s", SRC_ARGS(sy->src), st->last_error);
}

static void sync_succeeded(struct sync *sy)
{
    sy->st->failures = 0;
    sy->st->next_poll_ms = sy->now + (int64_t)sources_interval_s(sy->s, sy->src) * 1000;
}

/* Notes a failure that needs the page read again; the first one is what the status says. */
static void retry_note(struct sync *sy, const char *tag, int64_t attempt, const char *reason)
{
    if (sy->retry_reason[0])
        return;
    str_copy(sy->retry_tag, sizeof(sy->retry_tag), tag);
    sy->retry_attempt = attempt;
    snprintf(sy->retry_reason, sizeof(sy->retry_reason), "%s", reason);
}

static void tag_record(struct sync *sy, const char *tag, enum source_tag_status status,
                       int64_t attempts, const char *version, const char *detail)
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
    db_source_tag_put(sy->s->db, sy->src->id, &t); /* a failure is logged there; retried */
}

/* PICK will never be ingested: recorded (the status shows it) and counted. */
static void refuse(struct sync *sy, const struct github_pick *pick, const char *detail)
{
    tag_record(sy, pick->tag, SOURCE_TAG_REFUSED, 0, "", detail);
    sy->res->refused++;
    note(sy->res, "refused %s: %s", pick->tag, detail);
    log_warn(SRC_FMT ": release \"%s\" refused: %s", SRC_ARGS(sy->src), pick->tag, detail);
}

/* The ATTEMPTS-th attempt at PICK failed: recorded, and retried with the source's backoff. */
static void attempt_failed(struct sync *sy, const struct github_pick *pick, int64_t attempts,
                           const char *reason)
{
    tag_record(sy, pick->tag, SOURCE_TAG_FAILED, attempts, "", reason);
    retry_note(sy, pick->tag, attempts, reason);
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

/*
 * The service's refusals of the release itself (service.h): not a valid
 * image, a conflicting version, a bad version or channel, too large. Those
 * will not change by trying again. A signing problem of the server (a key
 * missing or without its private half here: -ENOKEY, -EKEYREJECTED, as
 * sources never upload pre-signed images) is the operator's to fix, and
 * anything else our own failure: both are retried.
 */
/*
 * -EDQUOT: the release raises the product's anti-rollback secure_version. A
 * source never confirms that (docs/SECURITY.md, "Anti-rollback"): the tag is
 * refused with the figures, and an operator who means it publishes the same
 * asset with --allow-secure-version-bump.
 */
static bool publish_refusal(int r)
{
    /* -EDOM: the tag's version disagrees with the image's app descriptor (no force here). */
    return r == -EBADMSG || r == -EEXIST || r == -EINVAL || r == -EFBIG || r == -E2BIG ||
           r == -EDOM || r == -EDQUOT;
}

/*
 * Whether PICK is to be downloaded now. When not, it is settled (dealt with
 * before, refused, or waiting for its asset, which changes the page when it
 * comes) or a retry is noted. *RET_ATTEMPTS: its failed attempts so far.
 */
static bool pick_wanted(struct sync *sy, const struct github_pick *pick, int64_t *ret_attempts)
{
    struct source_tag known;
    *ret_attempts = 0;
    int r = db_source_tag_get(sy->s->db, sy->src->id, pick->tag, &known);
    if (r == 0 && known.status != SOURCE_TAG_FAILED)
        return false;
    if (r == 0)
        *ret_attempts = known.attempts;
    else if (r != -ENOENT) {
        retry_note(sy, "", 0, "cannot read the tags dealt with");
        return false;
    }
    switch (pick->status) {
    case GITHUB_PICK_NO_ASSET:
        sy->res->waiting++;
        note(sy->res, "%s: %s", pick->tag, pick->detail);
        log_info(SRC_FMT ": release \"%s\": %s", SRC_ARGS(sy->src), pick->tag, pick->detail);
        return false;
    case GITHUB_PICK_AMBIGUOUS:
    case GITHUB_PICK_BAD_TAG:
        refuse(sy, pick, pick->detail);
        return false;
    case GITHUB_PICK_READY:
        break;
    }
    if (pick->asset.size > sy->s->config.max_upload_bytes) {
        char detail[256];
        snprintf(detail, sizeof(detail),
                 "asset \"%.80s\" is %llu bytes, more than max_upload_bytes (%llu)",
                 pick->asset.name, (unsigned long long)pick->asset.size,
                 (unsigned long long)sy->s->config.max_upload_bytes);
        refuse(sy, pick, detail);
        return false;
    }
    if (sy->st->rate_remaining == 0) {
        retry_note(sy, pick->tag, 0, "no API request left for the download");
        return false;
    }
    return true;
}

/* Downloads PICK's asset into *FA (release it in every case). 0, -ECANCELED, or a failure noted. */
static int asset_download(struct sync *sy, const struct github_pick *pick, int64_t attempts,
                          struct fetch_asset *fa)
{
    const struct source *src = sy->src;
    char url[LIMIT_GITHUB_API_URL_BYTES + LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 64];
    snprintf(url, sizeof(url), "%s/repos/%s/%s/releases/assets/%lld", src->api_url, src->owner,
             src->repo, (long long)pick->asset.id);
    struct reason why = {""};
    int r = fetch_asset_get(url, sy->token, pick->asset.size, github_url_is_http(src->api_url),
                            &sy->s->cancel, fa, &why);
    sy->st->api_calls += fa->api_calls;
    sy->res->api_calls += fa->api_calls;
    rate_apply(sy->st, &fa->rate);
    if (r == -EBUSY)
        gate(sy, github_not_before_ms(fa->api_status, &fa->rate, sy->now, sy->st->failures + 1));
    if (r < 0 && r != -ECANCELED)
        attempt_failed(sy, pick, attempts + 1, why.text);
    return r;
}

/* Publishes the downloaded FA as PICK's release: ingested, refused, or a failure noted. */
static void asset_publish(struct sync *sy, const struct github_pick *pick, int64_t attempts,
                          const struct fetch_asset *fa)
{
    char *notes;
    if (notes_copy(pick->notes, &notes) < 0) {
        retry_note(sy, pick->tag, 0, "out of memory");
        return;
    }
    struct publish_request req = {
        .product = sy->src->product,
        .version = pick->version,
        .channel = pick->channel,
        .mode = FW_MODE_SKETCH,
        .image = fa->image.data,
        .image_len = fa->image.len,
        .source = "github",
        .notes = notes,
        .tag = pick->tag,
        .source_id = sy->src->id,
    };
    /* The source publishes as "github"; its repository and tag say which release it was. */
    struct actor actor = {.via = sy->via, .name = "github"};
    snprintf(actor.address, sizeof(actor.address), "%.31s/%.31s", sy->src->owner, sy->src->repo);
    req.actor = &actor;
    struct secure_version_bump bump;
    req.ret_bump = &bump;
    struct release rel;
    bool created = false;
    struct reason why = {""};
    int r = service_publish(sy->s->svc, &req, &rel, &created, &why);
    json_t *params =
        json_pack("{s:s,s:I,s:o,s:I}", "tag", pick->tag, "source_id", (json_int_t)sy->src->id,
                  "channel", pick->channel ? json_string(pick->channel) : json_null(), "bytes",
                  (json_int_t)fa->image.len);
    if (r == 0) {
        json_object_set_new(params, "sha256", json_string(rel.sha256));
        json_object_set_new(params, "created", json_boolean(created));
    }
    if (bump.raised)
        json_object_set_new(params, "secure_version_bump", present_secure_version_bump(&bump));
    struct audit_note audit = {.actor = &actor,
                               .action = "release.publish",
                               .product = sy->src->product,
                               .object = pick->version,
                               .params = params,
                               .result = r,
                               .reason = why.text};
    service_audit_record(sy->s->svc, &audit); /* logs its own failure */
    json_decref(params);
    free(notes);
    if (publish_refusal(r)) {
        refuse(sy, pick, why.text);
        return;
    }
    if (r < 0) { /* our failure (the disk, memory, a key): the bytes were fine, try again */
        attempt_failed(sy, pick, attempts + 1, why.text);
        return;
    }
    free(rel.notes);
    tag_record(sy, pick->tag, SOURCE_TAG_INGESTED, 0, rel.version,
               created ? "" : "already published with the same bytes");
    if (!created) {
        note(sy->res, "%s was already published", pick->tag);
        return;
    }
    sy->res->ingested++;
    sy->st->last_change_ms = sy->now;
    str_copy(sy->st->last_tag, sizeof(sy->st->last_tag), pick->tag);
    note(sy->res, "ingested %s as %s (channel %s)", pick->tag, rel.version, rel.channel);
    log_info(SRC_FMT ": ingested release \"%s\" as %s %s (channel %s, %llu bytes)",
             SRC_ARGS(sy->src), pick->tag, sy->src->product, rel.version, rel.channel,
             (unsigned long long)rel.size);
}

/* Deals with one picked release. Returns -ECANCELED when stopping, else 0. */
static int ingest_pick(struct sync *sy, const struct github_pick *pick)
{
    int64_t attempts;
    if (!pick_wanted(sy, pick, &attempts))
        return 0;
    struct fetch_asset fa;
    int r = asset_download(sy, pick, attempts, &fa);
    if (r == 0)
        asset_publish(sy, pick, attempts, &fa);
    fetch_asset_release(&fa);
    return r == -ECANCELED ? r : 0;
}

/* The product and the token the sync needs. Returns 0, or -errno with the failure recorded. */
static int sync_prepare(struct sync *sy, struct product *ret_product)
{
    const struct source *src = sy->src;
    struct reason why = {""};
    int r = service_product_get(sy->s->svc, src->product, ret_product, &why);
    if (r == 0 && (src->token_file[0] || src->token_env[0])) /* else: ask anonymously */
        r = sources_secret_read(&sy->s->config, src->token_file, src->token_env, true, sy->token,
                                sizeof(sy->token), "token", &why);
    if (r < 0) {
        sync_failed(sy, "", 0, why.text);
        return r;
    }
    return 0;
}

/* GETs the page of releases into *RESP. Returns 0, -ECANCELED, or -errno with the failure recorded.
 */
static int page_fetch(struct sync *sy, struct fetch_response *resp)
{
    const struct source *src = sy->src;
    char url[LIMIT_GITHUB_API_URL_BYTES + LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 64];
    if (!src->prerelease_channel[0])
        snprintf(url, sizeof(url), "%s/repos/%s/%s/releases/latest", src->api_url, src->owner,
                 src->repo);
    else
        snprintf(url, sizeof(url), "%s/repos/%s/%s/releases?per_page=%u", src->api_url, src->owner,
                 src->repo, LIMIT_GITHUB_RELEASES_PER_PAGE);
    struct fetch_request req = {.url = url,
                                .token = sy->token,
                                .if_none_match = sy->st->etag,
                                .max_body = LIMIT_GITHUB_API_BODY_BYTES,
                                .cancel = &sy->s->cancel};
    struct reason why = {""};
    int r = fetch_api_get(&req, resp, &why);
    sy->st->last_poll_ms = sy->now;
    sy->st->api_calls++;
    sy->res->api_calls++;
    count(&metric_polls, sy->src);
    if (r < 0 && r != -ECANCELED)
        sync_failed(sy, "", 0, why.text);
    return r;
}

enum page_outcome {
    PAGE_READ,    /* a 200: the page is to be read */
    PAGE_SETTLED, /* nothing to read, nothing failed: 304, or no release yet */
    PAGE_FAILED,  /* recorded as a failure */
};

/* What RESP's status means for the sync; applies its rate-limit headers. */
static enum page_outcome page_answered(struct sync *sy, const struct fetch_response *resp)
{
    rate_apply(sy->st, &resp->rate);
    int64_t not_before =
        github_not_before_ms(resp->status, &resp->rate, sy->now, sy->st->failures + 1);
    if (not_before > sy->now)
        gate(sy, not_before);
    if (resp->status == 304) {
        sy->res->not_modified = true;
        note(sy->res, "unchanged");
        log_debug(SRC_FMT ": unchanged (304)", SRC_ARGS(sy->src));
        sync_succeeded(sy);
        return PAGE_SETTLED;
    }
    if (resp->status == 404 && !sy->src->prerelease_channel[0]) { /* releases/latest */
        note(sy->res, "no release yet");
        sy->st->etag[0] = 0;
        sync_succeeded(sy);
        return PAGE_SETTLED;
    }
    if (resp->status == 200)
        return PAGE_READ;
    /* The status only: GitHub's message is upstream text, not ours to show. */
    char text[96];
    if (github_rate_limited(resp->status, &resp->rate))
        snprintf(text, sizeof(text), "rate limited: the GitHub API answered %ld", resp->status);
    else if (resp->status >= 500)
        snprintf(text, sizeof(text), "the GitHub API failed: HTTP %ld", resp->status);
    else
        snprintf(text, sizeof(text), "the GitHub API refused the request: HTTP %ld", resp->status);
    sync_failed(sy, "", 0, text);
    return PAGE_FAILED;
}

/* For a webhook's AWAITED tag: dealt with, or not worth waiting for any longer. */
static bool awaited_settled(struct sync *sy, const json_t *root, const struct github_pick *picks,
                            size_t pick_count, const char *awaited)
{
    struct source_tag t;
    if (db_source_tag_get(sy->s->db, sy->src->id, awaited, &t) == 0 &&
        t.status != SOURCE_TAG_FAILED)
        return true;
    bool waiting = false;
    for (size_t i = 0; i < pick_count; i++)
        waiting = waiting ||
                  (picks[i].status == GITHUB_PICK_NO_ASSET && strcmp(picks[i].tag, awaited) == 0);
    return root && github_page_has_tag(root, awaited) && !waiting && !sy->res->failed;
}

/*
 * Tells the notification layer when the source's health changed in this
 * sync, FAILURES_BEFORE being its failure streak when the sync began:
 * source.failing once per streak, when it reaches notify_source_failures
 * consecutive failed syncs, and at once for each release refused for good
 * (a refusal does not mend by itself: someone must look); source.recovered
 * when a sync succeeds after a streak that was reported. Only queues.
 */
static void health_event(struct sync *sy, int64_t failures_before)
{
    int64_t threshold = (int64_t)sy->s->config.notify_source_failures;
    int64_t failures = sy->st->failures;
    bool failing = failures >= threshold && failures_before < threshold;
    bool refused = sy->res->refused > 0;
    bool recovered = failures == 0 && failures_before >= threshold;
    if (!failing && !refused && !recovered)
        return;
    char repository[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2];
    snprintf(repository, sizeof(repository), "%s/%s", sy->src->owner, sy->src->repo);
    enum event_kind kind = recovered && !refused ? EVENT_SOURCE_RECOVERED : EVENT_SOURCE_FAILING;
    json_t *data = json_pack("{s:I,s:s,s:I}", "source", (json_int_t)sy->src->id, "repository",
                             repository, "failures", (json_int_t)failures);
    if (data && kind == EVENT_SOURCE_RECOVERED) {
        json_object_set_new(data, "failures_before", json_integer((json_int_t)failures_before));
    } else if (data) {
        /* Our own words only (sync.c's rule): the status line or the sync's message. */
        json_object_set_new(data, "reason", json_string(refused ? "refused" : "failing"));
        json_object_set_new(data, "error",
                            json_string(refused ? sy->res->message : sy->st->last_error));
    }
    if (events_emit(service_events(sy->s->svc), kind, sy->src->product, data) < 0)
        log_warn(SRC_FMT ": the %s event was dropped (the event queue is full)", SRC_ARGS(sy->src),
                 event_kind_name(kind));
}

void sources_sync_one(struct sources *s, struct source_row *row, const char *awaited,
                      bool *ret_settled, struct sources_sync_result *res)
{
    struct sync sy = {.s = s,
                      .src = &row->source,
                      .st = &row->state,
                      .res = res,
                      .via = awaited ? ACTOR_VIA_WEBHOOK : ACTOR_VIA_GITHUB};
    struct fetch_response resp;
    bool have_resp = false;
    json_t *root = NULL;
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t pick_count = 0;
    struct product product;
    sy.now = time_now_ms();
    int64_t failures_before = sy.st->failures;
    memset(res, 0, sizeof(*res));
    res->source_id = sy.src->id;
    *ret_settled = false;

    if (sy.st->not_before_ms > sy.now) {
        char when[21];
        time_format_rfc3339(sy.st->not_before_ms, when);
        res->rate_limited = true;
        note(res, "rate limited: no request before %s", when);
        return;
    }
    if (sync_prepare(&sy, &product) < 0 || page_fetch(&sy, &resp) < 0)
        goto save;
    have_resp = true;
    enum page_outcome outcome = page_answered(&sy, &resp);
    if (outcome == PAGE_FAILED)
        goto save;
    if (outcome == PAGE_SETTLED)
        goto settled;
    root = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
    struct github_rules rules = {.asset_glob = sy.src->asset_glob,
                                 .default_channel = product.default_channel,
                                 .prerelease_channel = sy.src->prerelease_channel};
    struct reason why = {""};
    if (!root || github_plan(root, &rules, picks, &pick_count, &why) < 0) {
        sync_failed(&sy, "", 0, "the API's answer is not a release list");
        goto save;
    }
    for (size_t i = pick_count; i-- > 0;) /* oldest first: publish order is release order */
        if (ingest_pick(&sy, &picks[i]) == -ECANCELED)
            goto save;
    if (sy.retry_reason[0]) { /* the ETag stays old: the page is read again */
        sync_failed(&sy, sy.retry_tag, sy.retry_attempt, sy.retry_reason);
        goto settled;
    }
    str_copy(sy.st->etag, sizeof(sy.st->etag), resp.etag);
    sync_succeeded(&sy);
    if (!res->ingested && !res->refused && !res->waiting)
        note(res, "nothing new");
settled:
    if (awaited)
        *ret_settled = awaited_settled(&sy, root, picks, pick_count, awaited);
save:
    gauges_update(sy.src, sy.st);
    db_source_state_save(s->db, sy.src->id, sy.st); /* a failure is logged there */
    health_event(&sy, failures_before);
    explicit_bzero(sy.token, sizeof(sy.token));
    json_decref(root);
    if (have_resp)
        fetch_response_release(&resp);
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
        sources_sync_one(s, &rows[i], NULL, &settled, &results[i]);
    }
    free(rows);
    *ret_results = results;
    *ret_count = n;
    return 0;
}
