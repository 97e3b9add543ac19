/*
 * The admin JSON API under /api/v1 (docs/API.md): products, releases
 * (publishing included), devices. The route table (router.c) maps each path
 * and method here and has checked the bearer token's scope before a handler
 * runs; errors use the one table in errors.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/fleet_json.h"
#include "http/handlers.h"
#include "service/audit.h"
#include "service/present.h"

/*
 * PRODUCT as JSON with "delivery_warnings": its devices that could not be
 * updated safely, per reason, with the fix (docs/SIGNING.md). NULL when the
 * registry cannot be read (after logging).
 */
static json_t *product_json(const struct http_context *ctx, const struct product *product)
{
    uint64_t counts[DELIVERY_ISSUE_COUNT];
    if (service_product_delivery_issues(ctx->svc, product, counts) < 0)
        return NULL;
    json_t *obj = present_product(product);
    json_object_set_new(obj, "fleet", fleet_json_product_fleet(&product->fleet));
    json_object_set_new(obj, "delivery_warnings", present_delivery_issues(counts, product->name));
    return obj;
}

json_t *http_products_json(const struct http_context *ctx,
                           json_t *(*one)(const struct http_context *ctx,
                                          const struct product *product))
{
    struct product *list = NULL;
    size_t n = 0;
    if (service_product_list(ctx->svc, &list, &n) < 0)
        return NULL;
    json_t *arr = json_array();
    int r = arr ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        json_t *obj = one(ctx, &list[i]);
        r = obj ? json_array_append_new(arr, obj) : -EIO;
    }
    free(list);
    if (r < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

void http_api_products_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    json_t *arr = http_products_json(ctx, product_json);
    if (!arr) {
        http_reply_error(reply, -EIO, NULL);
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:o}", "products", arr));
}

void http_api_product_create(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb((const char *)req->body, req->body_len,
                                          JSON_REJECT_DUPLICATES, &jerr)
                             : NULL;
    const char *name = NULL, *platform = NULL, *channel = NULL;
    if (!body || json_unpack_ex(body, &jerr, 0, "{s:s,s:s,s?s}", "name", &name, "platform",
                                &platform, "default_channel", &channel) < 0) {
        json_decref(body);
        http_reply_error(reply, -EINVAL,
                         "body must be JSON {\"name\", \"platform\", \"default_channel\"?}");
        return;
    }
    static const char *const recorded[] = {"platform", "default_channel", NULL};
    http_audit_product(args, name);
    http_audit_params(args, body, recorded, NULL);
    enum platform p;
    struct reason why = {""};
    struct product prod;
    int r = platform_parse(platform, &p);
    if (r < 0)
        reason_set(&why, r, "platform must be esp8266 or esp32");
    else
        r = service_product_add(ctx->svc, name, p, channel, &prod, &why);
    json_decref(body);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *obj = product_json(ctx, &prod);
    if (!obj) {
        http_reply_error(reply, -EIO, NULL);
        return;
    }
    http_reply_json(reply, 201, json_pack("{s:o}", "product", obj));
}

/* The product, with every key it has signed with (key rotation, docs/SIGNING.md). */
void http_api_product_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    const char *name = args->product;
    struct product p;
    struct reason why = {""};
    struct product_key *keys = NULL;
    size_t nkeys = 0;
    int r = service_product_get(ctx->svc, name, &p, &why);
    if (r == 0)
        r = service_product_keys(ctx->svc, name, &keys, &nkeys, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *product = product_json(ctx, &p);
    if (!product) {
        free(keys);
        http_reply_error(reply, -EIO, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < nkeys; i++)
        json_array_append_new(arr, present_product_key(&keys[i], p.signing.key));
    free(keys);
    json_object_set_new(json_object_get(product, "signing"), "keys", arr);
    http_reply_json(reply, 200, json_pack("{s:o}", "product", product));
}

/*
 * The "fleet" object of a PATCH over F: {"channel_query", "group_query",
 * "max_downloads", "require_https"}, any subset. -EINVAL with WHY.
 */
static int fleet_patch(json_t *obj, struct product_fleet *f, struct reason *why)
{
    int channel_query = f->channel_query, group_query = f->group_query;
    int require_https = f->require_https;
    json_int_t max = f->max_downloads;
    json_error_t jerr;
    if (json_unpack_ex(obj, &jerr, JSON_STRICT, "{s?b,s?b,s?I,s?b}", "channel_query",
                       &channel_query, "group_query", &group_query, "max_downloads", &max,
                       "require_https", &require_https) < 0 ||
        max < 0 || max > UINT32_MAX)
        return reason_set(why, -EINVAL,
                          "fleet must be {\"channel_query\": bool, \"group_query\": bool, "
                          "\"max_downloads\": 0 or more (0: no cap), \"require_https\": bool}");
    f->channel_query = channel_query, f->group_query = group_query;
    f->max_downloads = (uint32_t)max;
    f->require_https = require_https;
    return 0;
}

/*
 * PATCH /products/{name} with {"signing": {"required", "key", "legacy", "gzip", "esp32_hash",
 * "core_min", "secure_boot_keys"}, "fleet": {"channel_query", "group_query", "max_downloads",
 * "require_https"}}, each part and each field optional; "core_min": null clears the
 * declaration, "secure_boot_keys": [] (or null) turns secure boot off. The signing part is
 * applied first.
 */
/* Joins the key names of LIST (a JSON array of strings, or null) into OUT as "k1,k2". */
static int secure_boot_keys_from_json(const json_t *list, char *out, size_t size,
                                      struct reason *why)
{
    size_t at = 0;
    out[0] = 0;
    if (json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) > SECURE_BOOT_KEYS_MAX)
        return reason_set(why, -EINVAL, "secure_boot_keys must be a list of 0 to %d key names",
                          SECURE_BOOT_KEYS_MAX);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *name = json_string_value(json_array_get(list, i));
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || strchr(name, ',') || at + len + 2 > size)
            return reason_set(why, -EINVAL, "secure_boot_keys must be a list of key names");
        if (at)
            out[at++] = ',';
        memcpy(out + at, name, len + 1);
        at += len;
    }
    return 0;
}

void http_api_product_patch(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    const char *name = args->product;
    struct product p;
    struct reason why = {""};
    int r = service_product_get(ctx->svc, name, &p, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_error_t jerr;
    json_t *body = req->body ? json_loadb((const char *)req->body, req->body_len,
                                          JSON_REJECT_DUPLICATES, &jerr)
                             : NULL;
    struct product_signing s = p.signing;
    int required = s.required, legacy = s.legacy, gzip = s.gzip;
    const char *key = NULL, *hash = NULL;
    json_t *signing = NULL, *fleet = NULL, *core = NULL, *secure_boot = NULL;
    if (!body ||
        json_unpack_ex(body, &jerr, JSON_STRICT, "{s?o,s?o}", "signing", &signing, "fleet",
                       &fleet) < 0 ||
        (signing &&
         json_unpack_ex(signing, &jerr, JSON_STRICT, "{s?b,s?s,s?b,s?b,s?s,s?o,s?o}", "required",
                        &required, "key", &key, "legacy", &legacy, "gzip", &gzip, "esp32_hash",
                        &hash, "core_min", &core, "secure_boot_keys", &secure_boot) < 0) ||
        (core && !json_is_string(core) && !json_is_null(core))) {
        json_decref(body);
        http_reply_error(reply, -EINVAL,
                         "body must be {\"signing\": {\"required\", \"key\", \"legacy\", "
                         "\"gzip\", \"esp32_hash\", \"core_min\", \"secure_boot_keys\"}, "
                         "\"fleet\": {...}}");
        return;
    }
    /* Settings only: a key is named here, its material never travels in this body. */
    static const char *const recorded[] = {"signing", "fleet", NULL};
    http_audit_params(args, body, recorded, NULL);
    s.required = required, s.legacy = legacy, s.gzip = gzip;
    if ((key && str_copy(s.key, sizeof(s.key), key) < 0) ||
        (hash && str_copy(s.esp32_hash, sizeof(s.esp32_hash), hash) < 0) ||
        (core && str_copy(s.core_min, sizeof(s.core_min),
                          json_is_string(core) ? json_string_value(core) : "") < 0))
        r = reason_set(&why, -EINVAL, "key, esp32_hash or core_min too long");
    if (r == 0 && secure_boot)
        r = secure_boot_keys_from_json(secure_boot, s.secure_boot_keys, sizeof(s.secure_boot_keys),
                                       &why);
    struct product_fleet f = p.fleet;
    if (r == 0 && fleet)
        r = fleet_patch(fleet, &f, &why);
    json_decref(body);
    if (r == 0 && signing)
        r = service_product_set_signing(ctx->svc, name, &s, &why);
    if (r == 0 && fleet)
        r = service_product_set_fleet(ctx->svc, name, &f, &why);
    if (r == 0)
        r = service_product_get(ctx->svc, name, &p, &why);
    json_t *obj = r == 0 ? product_json(ctx, &p) : NULL;
    if (r == 0 && !obj)
        r = -EIO;
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:o}", "product", obj));
}

void http_api_releases_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    const char *product = args->product;
    struct release *list = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_release_list(ctx->svc, product, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, present_release(&list[i], product));
    release_list_free(list, n);
    http_reply_json(reply, 200, json_pack("{s:o}", "releases", arr));
}

void http_api_release_publish(const struct http_context *ctx, const struct http_request *req,
                              const struct http_route_args *args, struct http_reply *reply)
{
    const char *product = args->product;
    const char *mode_arg = http_request_param(req, "mode");
    struct publish_request pr = {
        .product = product,
        .version = http_request_param(req, "version"),
        .channel = http_request_param(req, "channel"),
        .mode = FW_MODE_SKETCH,
        .image = req->body,
        .image_len = req->body_len,
        .source = "upload",
        .notes = http_request_param(req, "notes"),
        .actor = &args->actor,
    };
    const char *signed_arg = http_request_param(req, "signed");
    pr.presigned = signed_arg && (strcmp(signed_arg, "1") == 0 || strcmp(signed_arg, "true") == 0);
    const char *force_arg = http_request_param(req, "force_version");
    pr.force_version = force_arg && (strcmp(force_arg, "1") == 0 || strcmp(force_arg, "true") == 0);
    /* docs/SECURITY.md, "Anti-rollback": only an explicit true confirms burning eFuse bits. */
    const char *bump_arg = http_request_param(req, "allow_secure_version_bump");
    pr.allow_secure_version_bump =
        bump_arg && (strcmp(bump_arg, "1") == 0 || strcmp(bump_arg, "true") == 0);
    struct secure_version_bump bump;
    pr.ret_bump = &bump;
    if (pr.channel && !*pr.channel)
        pr.channel = NULL;
    if (mode_arg && *mode_arg && fw_mode_parse(mode_arg, &pr.mode) < 0) {
        http_reply_error(reply, -EINVAL, "mode must be sketch or fs");
        return;
    }
    /* No version: the service takes the image's app descriptor's (docs/API.md). */
    if (pr.version && !*pr.version)
        pr.version = NULL;
    /* The form's fields, never the image; notes only by their length. */
    if (pr.version)
        http_audit_object(args, "%s", pr.version);
    http_audit_params(args, NULL, NULL,
                      json_pack("{s:o,s:s,s:b,s:I,s:I,s:b}", "channel",
                                pr.channel ? json_string(pr.channel) : json_null(), "mode",
                                fw_mode_name(pr.mode), "signed", pr.presigned, "bytes",
                                (json_int_t)req->body_len, "notes_bytes",
                                (json_int_t)(pr.notes ? strlen(pr.notes) : 0),
                                "allow_secure_version_bump", pr.allow_secure_version_bump));
    if (pr.force_version)
        http_audit_params(args, NULL, NULL, json_pack("{s:b}", "force_version", true));
    if (!req->body || req->body_len == 0) {
        http_reply_error(reply, -EINVAL, "the request has no image");
        return;
    }
    struct release rel;
    bool created = false;
    struct reason why = {""};
    int r = service_publish(ctx->svc, &pr, &rel, &created, &why);
    /* The budget's figures go to the audit entry whether the bump was refused or confirmed. */
    if (bump.raised)
        http_audit_params(
            args, NULL, NULL,
            json_pack("{s:o}", "secure_version_bump", present_secure_version_bump(&bump)));
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    if (!pr.version) /* the audit entry names the version the image gave */
        http_audit_object(args, "%s", rel.version);
    http_audit_params(args, NULL, NULL,
                      json_pack("{s:s,s:b}", "sha256", rel.sha256, "created", created));
    json_t *j = present_release(&rel, product);
    free(rel.notes);
    json_t *answer = json_pack("{s:o}", "release", j);
    if (answer && bump.raised)
        json_object_set_new(answer, "secure_version_bump", present_secure_version_bump(&bump));
    http_reply_json(reply, created ? 201 : 200, answer);
}

void http_api_audit_list(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    struct audit_filter filter = {0};
    struct reason why = {""};
    uint64_t limit = 100;
    int r = 0;
    for (unsigned i = 0; i < req->query_count && r == 0; i++) {
        const struct http_pair *q = &req->query[i];
        if (strcmp(q->name, "limit") == 0) {
            if (parse_u64(q->value, LIMIT_API_PAGE_ROWS, &limit) < 0 || limit == 0)
                r = reason_set(&why, -EINVAL, "limit takes 1 to %u", LIMIT_API_PAGE_ROWS);
        } else {
            r = service_audit_filter_set(&filter, q->name, q->value, &why);
        }
    }
    if (r == 0 && req->query_truncated)
        r = reason_set(&why, -EINVAL, "too many query arguments");
    struct audit_entry *list = NULL;
    size_t n = 0;
    if (r == 0)
        r = service_audit_list(ctx->svc, &filter, (size_t)limit, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, present_audit_entry(&list[i]));
    /* A full page may have more behind it; a short one is the end. */
    json_t *next = n == limit ? json_integer((json_int_t)list[n - 1].id) : json_null();
    audit_entry_list_free(list, n);
    http_reply_json(reply, 200, json_pack("{s:o,s:o}", "entries", arr, "next_before", next));
}
