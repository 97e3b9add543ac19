/*
 * What the dashboard reads and the tokens it manages (docs/API.md,
 * "Devices", "Version history", "Overview", "Tokens"): the device list by
 * keyset over the MAC with its filters (the older offset paging kept), a
 * product's devices per version per day, the one-call overview of every
 * product and source, and tokens listed, created and revoked through the
 * same service calls as `otad token`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/fleet_json.h"
#include "http/handlers.h"
#include "service/dashboard.h"
#include "service/present.h"
#include "service/service_fleet.h"
#include "sources/sources.h"

#define MAC_MAX 0xFFFFFFFFFFFFULL

/* --- the device list --- */

/* The older form: ?limit=&offset=, the exact total (docs/API.md). */
static void devices_by_offset(const struct http_context *ctx, const struct http_request *req,
                              const char *product, struct http_reply *reply)
{
    uint64_t limit = 100, offset = 0;
    const char *l = http_request_query(req, "limit"), *o = http_request_query(req, "offset");
    if ((l && parse_u64(l, LIMIT_API_PAGE_ROWS, &limit) < 0) ||
        (o && parse_u64(o, INT64_MAX, &offset) < 0)) {
        http_reply_error(reply, -EINVAL, "limit must be 0-1000 and offset a whole number");
        return;
    }
    struct device_record *list = NULL;
    size_t n = 0;
    uint64_t total = 0;
    struct reason why = {""};
    int r = service_device_list(ctx->svc, product, (size_t)limit, (size_t)offset, &list, &n, &total,
                                &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    int64_t now = time_now_ms();
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, present_device_listed(&list[i], now));
    free(list);
    http_reply_json(reply, 200, json_pack("{s:I,s:o}", "total", (json_int_t)total, "devices", arr));
}

/*
 * Q as a MAC prefix ("aabbcc", "AA:BB:CC", "aa-bb"): hex digits and the
 * separators only, 1 to 12 digits, into the inclusive range of the MACs
 * that start with it. False when Q is not one (then it is a version part):
 * fewer than 4 digits without a separator ("1", "100", "2-") read as a
 * version, which is what someone typing them means more often.
 */
static bool mac_prefix_range(const char *q, uint64_t *ret_min, uint64_t *ret_max)
{
    uint64_t prefix = 0;
    unsigned digits = 0;
    bool separated = false;
    for (const char *c = q; *c; c++) {
        int v = *c >= '0' && *c <= '9'   ? *c - '0'
                : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10
                : *c >= 'A' && *c <= 'F' ? *c - 'A' + 10
                                         : -1;
        if (v < 0 && (*c == ':' || *c == '-')) {
            separated = true;
            continue;
        }
        if (v < 0 || ++digits > 12)
            return false;
        prefix = prefix << 4 | (uint64_t)v;
    }
    if (digits == 0 || (digits < 4 && !separated))
        return false;
    unsigned free_bits = 4 * (12 - digits);
    *ret_min = prefix << free_bits;
    *ret_max = *ret_min | ((1ULL << free_bits) - 1);
    return true;
}

/* A text filter NAME of at most MAX bytes into *RET (NULL when absent); false with REPLY (400). */
static bool text_arg(const struct http_request *req, const char *name, size_t max, const char **ret,
                     struct http_reply *reply)
{
    const char *v = http_request_query(req, name);
    if (v && strlen(v) > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s is at most %zu bytes", name, max);
        http_reply_error(reply, -EINVAL, msg);
        return false;
    }
    *ret = v && v[0] ? v : NULL;
    return true;
}

/* REQ's keyset page and filters into *RET; false with REPLY filled (400). */
static bool page_request(const struct http_request *req, struct device_page_request *ret,
                         struct http_reply *reply)
{
    memset(ret, 0, sizeof(*ret));
    ret->filter.mac_max = MAC_MAX;
    uint64_t limit = 50;
    const char *l = http_request_query(req, "limit");
    if (l && (parse_u64(l, LIMIT_API_PAGE_ROWS, &limit) < 0 || limit == 0)) {
        http_reply_error(reply, -EINVAL, "limit must be 1-1000");
        return false;
    }
    ret->limit = (size_t)limit;
    const char *after = http_request_query(req, "after"),
               *before = http_request_query(req, "before");
    const char *last = http_request_query(req, "last");
    bool is_last = last && strcmp(last, "1") == 0;
    if (last && !is_last && strcmp(last, "0") != 0) {
        http_reply_error(reply, -EINVAL, "last must be 1 or 0");
        return false;
    }
    if ((after != NULL) + (before != NULL) + is_last > 1) {
        http_reply_error(reply, -EINVAL, "give one of after, before and last=1");
        return false;
    }
    const char *mac = after ? after : before;
    if (mac && mac_text_parse(mac, &ret->mac) < 0) {
        http_reply_error(reply, -EINVAL, "after and before take a MAC like 18:FE:34:00:00:01");
        return false;
    }
    ret->from = after     ? DEVICE_PAGE_AFTER
                : before  ? DEVICE_PAGE_BEFORE
                : is_last ? DEVICE_PAGE_LAST
                          : DEVICE_PAGE_FIRST;
    struct device_filter *f = &ret->filter;
    const char *q = NULL, *outcome = NULL;
    if (!text_arg(req, "q", LIMIT_DEVICE_VERSION_BYTES, &q, reply) ||
        !text_arg(req, "version", LIMIT_DEVICE_VERSION_BYTES, &f->version, reply) ||
        !text_arg(req, "channel", LIMIT_CHANNEL_NAME_BYTES, &f->channel, reply) ||
        !text_arg(req, "group", LIMIT_CHANNEL_NAME_BYTES, &f->group, reply) ||
        !text_arg(req, "outcome", 16, &outcome, reply))
        return false;
    if (q && !mac_prefix_range(q, &f->mac_min, &f->mac_max))
        f->version_part = q;
    if (outcome && (f->status = checkin_answer_parse(outcome)) < 0) {
        http_reply_error(reply, -EINVAL, "outcome is one of update, current, refused, not_found");
        return false;
    }
    const char *quiet = http_request_query(req, "quiet");
    if (quiet && strcmp(quiet, "1") != 0 && strcmp(quiet, "0") != 0) {
        http_reply_error(reply, -EINVAL, "quiet must be 1 or 0");
        return false;
    }
    f->quiet = quiet && strcmp(quiet, "1") == 0;
    return true;
}

void http_api_devices_list(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply)
{
    if (http_request_query(req, "offset")) {
        devices_by_offset(ctx, req, args->product, reply);
        return;
    }
    struct device_page_request pr;
    if (!page_request(req, &pr, reply))
        return;
    struct device_page page;
    struct reason why = {""};
    int r = service_device_page(ctx->svc, args->product, &pr, &page, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    int64_t now = time_now_ms();
    json_t *arr = json_array();
    for (size_t i = 0; i < page.count; i++)
        json_array_append_new(arr, present_device_listed(&page.devices[i], now));
    free(page.devices);
    char next[18], prev[18];
    mac_u64_format(page.next_after, next);
    mac_u64_format(page.prev_before, prev);
    http_reply_json(reply, 200,
                    json_pack("{s:o,s:b,s:b,s:o,s:o,s:o,s:b}", "devices", arr, "has_prev",
                              page.has_prev, "has_next", page.has_next, "next_after",
                              page.next_after ? json_string(next) : json_null(), "prev_before",
                              page.prev_before ? json_string(prev) : json_null(), "total",
                              page.has_total ? json_integer((json_int_t)page.total) : json_null(),
                              "total_estimated", page.total_estimated));
}

/* --- version history --- */

static json_t *day_json(int64_t day)
{
    char when[21];
    time_format_rfc3339(day * 86400000LL, when);
    when[10] = 0; /* YYYY-MM-DD */
    return json_string(when);
}

void http_api_version_history(const struct http_context *ctx, const struct http_request *req,
                              const struct http_route_args *args, struct http_reply *reply)
{
    uint64_t days = 30;
    const char *d = http_request_query(req, "days");
    if (d && (parse_u64(d, LIMIT_VERSION_HISTORY_DAYS, &days) < 0 || days == 0)) {
        http_reply_error(reply, -EINVAL, "days must be 1-366");
        return;
    }
    struct version_day *rows = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_version_history(ctx->svc, args->product, (unsigned)days, &rows, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    /* Every day of the span, oldest first, an empty list for a day nothing was recorded. */
    int64_t today = dashboard_day(time_now_ms());
    if (n > 0 && rows[n - 1].day > today)
        today = rows[n - 1].day; /* the service's clock, when a test moved it */
    json_t *out = json_array();
    size_t k = 0;
    for (int64_t day = today - (int64_t)days + 1; day <= today; day++) {
        json_t *versions = json_array();
        for (; k < n && rows[k].day <= day; k++)
            if (rows[k].day == day)
                json_array_append_new(versions, json_pack("{s:s,s:I}", "version", rows[k].version,
                                                          "devices", (json_int_t)rows[k].devices));
        json_array_append_new(out,
                              json_pack("{s:o,s:o}", "day", day_json(day), "versions", versions));
    }
    free(rows);
    http_reply_json(reply, 200, json_pack("{s:o}", "days", out));
}

/* --- overview --- */

static json_t *versions_json(const struct fleet_summary *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < s->version_count; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I}", "version", s->versions[i].version,
                                             "devices", (json_int_t)s->versions[i].devices));
    return arr;
}

/* The overview's short form of a rollout: what a progress bar needs, from its full shape. */
static json_t *rollout_brief(const struct rollout_status *s)
{
    json_t *full = fleet_json_rollout(s);
    if (!full)
        return NULL;
    json_t *brief = json_object();
    static const char *const keys[] = {"id",    "channel",     "version",  "state",
                                       "stage", "stage_count", "counters", "admitted_percent",
                                       "next"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(full, keys[i]);
        if (v)
            json_object_set(brief, keys[i], v);
    }
    json_t *stages = json_object_get(full, "per_stage");
    json_object_set(brief, "stages", stages ? stages : json_array());
    json_decref(full);
    return brief;
}

static json_t *product_overview(const struct http_context *ctx, const struct product *p)
{
    struct fleet_summary *s = malloc(sizeof(*s));
    if (!s || service_fleet_summary(ctx->svc, p, s) < 0) {
        free(s);
        return NULL;
    }
    struct rollout_status *ro = NULL;
    size_t nro = 0;
    struct reason why = {""};
    json_t *rollouts = json_array();
    if (service_rollout_list(ctx->svc, p->name, true, &ro, &nro, &why) == 0)
        for (size_t i = 0; i < nro; i++) {
            json_t *b = rollout_brief(&ro[i]);
            if (b)
                json_array_append_new(rollouts, b);
        }
    free(ro);
    char counted[21];
    time_format_rfc3339(s->computed_ms, counted);
    json_t *obj = json_pack("{s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:s}", "name", p->name, "platform",
                            platform_name(p->platform), "devices", (json_int_t)s->devices,
                            "seen_24h", (json_int_t)s->seen_24h, "quiet", (json_int_t)s->quiet,
                            "versions", versions_json(s), "rollouts", rollouts, "counted", counted);
    free(s);
    return obj;
}

static json_t *source_overview(const struct sources *sources, const struct source_row *row)
{
    json_t *full = sources_present(sources, row);
    if (!full)
        return NULL;
    json_t *status = json_object_get(full, "status");
    json_t *rate = json_object_get(status, "rate_limit");
    json_t *failures = json_object_get(status, "failures");
    bool failing = json_integer_value(failures) > 0;
    json_t *last_poll = json_object_get(status, "last_poll");
    json_t *left = json_object_get(rate, "remaining");
    json_t *obj = json_pack(
        "{s:O,s:O,s:O,s:s,s:O,s:O,s:O}", "id", json_object_get(full, "id"), "repo",
        json_object_get(full, "repository"), "product", json_object_get(full, "product"), "status",
        failing                                 ? "failing"
        : last_poll && !json_is_null(last_poll) ? "ok"
                                                : "pending",
        "last_poll", last_poll ? last_poll : json_null(), "rate_limit_left",
        left ? left : json_null(), "last_error",
        json_object_get(status, "last_error") ? json_object_get(status, "last_error")
                                              : json_null());
    json_decref(full);
    return obj;
}

void http_api_overview(const struct http_context *ctx, const struct http_request *req,
                       const struct http_route_args *args, struct http_reply *reply)
{
    json_t *products = http_products_json(ctx, product_overview);
    int r = products ? 0 : -EIO;
    json_t *sources = json_array();
    struct source_row *rows = NULL;
    size_t nrows = 0;
    if (r == 0 && ctx->sources && (r = sources_list(ctx->sources, &rows, &nrows)) == 0) {
        for (size_t i = 0; i < nrows; i++) {
            json_t *obj = source_overview(ctx->sources, &rows[i]);
            if (obj)
                json_array_append_new(sources, obj);
        }
        free(rows);
    }
    if (r < 0) {
        json_decref(products);
        json_decref(sources);
        http_reply_error(reply, -EIO, NULL);
        return;
    }
    char now[21];
    time_format_rfc3339(time_now_ms(), now);
    http_reply_json(
        reply, 200,
        json_pack("{s:o,s:o,s:s}", "products", products, "sources", sources, "generated", now));
}

/* --- tokens --- */

void http_api_tokens_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    struct token *list = NULL;
    size_t n = 0;
    int r = service_token_list(ctx->svc, &list, &n);
    if (r < 0) {
        http_reply_error(reply, r, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, present_token(&list[i]));
    free(list);
    http_reply_json(reply, 200, json_pack("{s:o}", "tokens", arr));
}

/* Token ID as it stands now, or NULL (after an error reply) when it cannot be read. */
static json_t *token_json(const struct http_context *ctx, int64_t id, struct http_reply *reply)
{
    struct token *list = NULL;
    size_t n = 0;
    json_t *obj = NULL;
    int r = service_token_list(ctx->svc, &list, &n);
    for (size_t i = 0; r == 0 && i < n && !obj; i++)
        if (list[i].id == id)
            obj = present_token(&list[i]);
    free(list);
    if (!obj)
        http_reply_error(reply, r < 0 ? r : -EIO, NULL);
    return obj;
}

void http_api_token_create(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply)
{
    json_error_t jerr;
    json_t *body = req->body && req->body_len ? json_loadb((const char *)req->body, req->body_len,
                                                           JSON_REJECT_DUPLICATES, &jerr)
                                              : NULL;
    const char *name = NULL, *scope_name = NULL;
    if (!json_is_object(body) || json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s:s}", "name",
                                                &name, "scope", &scope_name) < 0) {
        json_decref(body);
        http_reply_error(
            reply, -EINVAL,
            "the body is {\"name\": \"ci\", \"scope\": \"read\"|\"publish\"|\"admin\"}");
        return;
    }
    enum token_scope scope;
    if (token_scope_parse(scope_name, &scope) < 0) {
        json_decref(body);
        http_reply_error(reply, -EINVAL, "scope is read, publish or admin");
        return;
    }
    char secret[SERVICE_TOKEN_LEN + 1];
    int64_t id = 0;
    struct reason why = {""};
    int r = service_token_create(ctx->svc, name, scope, secret, &id, &why);
    http_audit_params(args, body, (const char *const[]){"name", "scope", NULL}, NULL);
    json_decref(body);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_audit_object(args, "%lld", (long long)id); /* never the secret */
    json_t *obj = token_json(ctx, id, reply);
    if (obj)
        http_reply_json(reply, 201, json_pack("{s:o,s:s}", "token", obj, "secret", secret));
    explicit_bzero(secret, sizeof(secret));
}

void http_api_token_revoke(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply)
{
    struct reason why = {""};
    int r = service_token_revoke(ctx->svc, args->id, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text[0] ? why.text : "no such token, or revoked already");
        return;
    }
    json_t *obj = token_json(ctx, args->id, reply);
    if (obj)
        http_reply_json(reply, 200, json_pack("{s:o}", "token", obj));
}
