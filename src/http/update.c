/*
 * The device endpoints: the check-in (stock ESP8266httpUpdate / HTTPUpdate)
 * and the per-release image URL (ESP-IDF esp_https_ota). Wire rules follow
 * docs/reference/stock-clients.md: 304 for "current" and never an empty
 * 200 (§12.2); an exact Content-Length and a lowercase x-MD5 of exactly the
 * bytes sent (§4); refusals as 403/404 with a one-line reason (§3, §12.5);
 * Range with a clamped end (§9). The check-in answers the ESP-IDF check-in
 * (docs/PROTOCOL.md, "ESP-IDF check-in") as the image URL would: Range,
 * ETag and HEAD, or a 302 to the image URL on ?answer=redirect. The route
 * table (router.c) has checked the method.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/device_headers.h"
#include "http/handlers.h"
#include "http/manifest.h"
#include "http/range.h"
#include "model/fleet.h"
#include "service/service_fleet.h"

/*
 * Points REPLY's body at the whole blob of VARIANT. Returns false after
 * filling a 503 (a node fetching the blob again: the device retries) or a
 * 500 (the image is damaged or missing here: an operator must restore it).
 */
static bool reply_with_blob(const struct http_context *ctx, const struct variant *variant,
                            struct http_reply *reply)
{
    int fd;
    int r = service_blob_open(ctx->svc, variant, &fd);
    if (r == -EAGAIN) {
        http_reply_static(reply, 503, "image being fetched; retry later\n");
        http_reply_header(reply, "Retry-After", "10");
        return false;
    }
    if (r < 0) {
        http_reply_static(reply, 500, "stored image unavailable\n");
        return false;
    }
    reply->fd = fd;
    reply->fd_offset = 0;
    reply->fd_length = variant->size;
    return true;
}

/*
 * Whether REQ asks for the image's URL rather than its bytes (?answer=redirect,
 * docs/PROTOCOL.md, "ESP-IDF check-in"). -EINVAL for another ?answer=.
 */
static int wants_redirect(const struct http_request *req)
{
    const char *answer = http_request_query(req, "answer");
    if (!answer)
        return 0;
    if (strcmp(answer, "redirect") == 0)
        return 1;
    return -EINVAL;
}

/*
 * Whether an ESP-IDF check-in's REQ only repeats or continues a check-in
 * (service.h, checkin_context): a HEAD, or a GET whose Range starts past
 * byte 0, as esp_https_ota's partial download sends them. (An Arduino
 * updater sends neither; a HEAD of one stays a check-in, as before.)
 */
static bool is_continuation(const struct http_request *req)
{
    if (strcmp(req->method, "HEAD") == 0)
        return true;
    struct byte_range range;
    return range_parse(http_request_header(req, "Range"), UINT64_MAX, &range) == RANGE_PARTIAL &&
           range.first > 0;
}

/* Ends TICKET's slot at once: nothing of the image was sent, so no download to count. */
static void give_back_slot(const struct http_context *ctx, const struct delivery_ticket *ticket)
{
    struct delivery_ticket slot_only = *ticket;
    slot_only.rollout_id = 0;
    service_delivery_done(ctx->svc, &slot_only, false);
}

/*
 * 302 to the offered release's image URL, for an app that passes the URL on:
 * absolute, on the Host the device asked and the scheme it used. A Host that
 * is no name or address with a port (manifest_host_valid: a path, a '@', a
 * '#') would point the device at another server or path: 400, as the
 * manifests answer it.
 */
static void reply_redirect(const struct http_request *req, const struct http_route_args *args,
                           const struct decision *d, struct http_reply *reply)
{
    const char *host = http_request_header(req, "Host");
    char location[LIMIT_URL_BYTES + 1];
    int n = snprintf(location, sizeof(location), "%s://%s/images/%s/%s",
                     req->tls ? "https" : "http", host ? host : "", args->product, d->version);
    if (!host || !manifest_host_valid(host) || n < 0 || (size_t)n >= sizeof(location)) {
        http_reply_static(
            reply, 400,
            "?answer=redirect needs a Host header (a name or address, optional port)\n");
        return;
    }
    http_reply_empty(reply, 302);
    http_reply_header(reply, "Location", location);
    http_reply_header(reply, "x-version", d->version);
}

/*
 * The offered image: whole (200), or for an ESP-IDF check-in (IDF) the range
 * asked (206, 416) with the headers the image URL sends (docs/PROTOCOL.md,
 * "ESP-IDF check-in"); the Arduino updaters' 200 stays as "The 200" draws
 * it. A HEAD gets the same head without a body. The ticket goes with a GET's
 * body.
 */
static void reply_update(const struct http_context *ctx, const struct http_request *req, bool idf,
                         struct decision *d, struct http_reply *reply)
{
    const struct variant *v = &d->variant;
    struct byte_range range;
    enum range_result rr =
        idf ? range_parse(http_request_header(req, "Range"), v->size, &range) : RANGE_NONE;
    char etag[SHA256_HEX_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", v->sha256);
    if (rr == RANGE_UNSATISFIABLE) {
        char cr[48];
        give_back_slot(ctx, &d->ticket);
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, v->size);
        http_reply_static(reply, 416, "range not satisfiable\n");
        http_reply_header(reply, "Content-Range", cr);
        http_reply_header(reply, "ETag", etag);
        return;
    }
    /*
     * How the body ends is the rollout's "served" or "interrupted", and
     * frees its download slot: only a GET's image carries it to the end;
     * anything else ended here, sending nothing.
     */
    if (!reply_with_blob(ctx, v, reply)) {
        service_delivery_done(ctx->svc, &d->ticket, false);
        return;
    }
    reply->content_type = "application/octet-stream";
    if (idf) {
        http_reply_header(reply, "Accept-Ranges", "bytes");
        http_reply_header(reply, "ETag", etag);
    }
    if (rr == RANGE_PARTIAL) {
        char cr[80];
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first, range.last,
                 v->size);
        reply->status = 206;
        reply->fd_offset = range.first;
        reply->fd_length = range.last - range.first + 1;
        http_reply_header(reply, "Content-Range", cr);
        service_delivery_range(&d->ticket, reply->fd_length, range.last + 1 == v->size);
    } else {
        reply->status = 200;
        http_reply_header(reply, "x-MD5", v->md5);
    }
    http_reply_header(reply, "x-version", d->version);
    if (strcmp(req->method, "GET") == 0) {
        reply->has_ticket = true;
        reply->ticket = d->ticket;
    } else { /* HEAD: the head alone; no body, no download to count */
        give_back_slot(ctx, &d->ticket);
    }
}

void http_handle_update(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply)
{
    struct device_report report;
    struct reason why = {""};
    if (device_report_parse(req, &report, &why) < 0) {
        service_checkin_malformed(ctx->svc, args->product);
        http_reply_text(reply, 400, why.text);
        return;
    }
    /* ?answer= is the ESP-IDF check-in's; an Arduino updater's URL keeps meaning what it did. */
    int redirect = report.idf ? wants_redirect(req) : 0;
    if (redirect < 0) {
        service_checkin_malformed(ctx->svc, args->product);
        http_reply_static(reply, 400, "?answer= must be redirect, or absent for the image\n");
        return;
    }
    struct checkin_context cctx = {.remote_addr = req->remote_addr,
                                   .legacy_alias = args->legacy_alias,
                                   .tls = req->tls,
                                   .continuation = report.idf && is_continuation(req)};
    struct decision d;
    service_checkin(ctx->svc, args->product, &report, &cctx, &d);

    switch (d.kind) {
    case DECISION_CURRENT:
        http_reply_empty(reply, 304);
        return;
    case DECISION_UPDATE:
        if (redirect) {
            /* The offer stands; the image URL's download is not the rollout's to count. */
            give_back_slot(ctx, &d.ticket);
            reply_redirect(req, args, &d, reply);
            return;
        }
        reply_update(ctx, req, report.idf, &d, reply);
        return;
    case DECISION_VERSION:
        /* getAvailableVersion(): 200 + x-version, no body (§3). */
        http_reply_empty(reply, 200);
        http_reply_header(reply, "x-version", d.version);
        if (d.variant.md5[0]) /* none when no form may be served: an empty x-MD5 fails (-105) */
            http_reply_header(reply, "x-MD5", d.variant.md5);
        return;
    case DECISION_LATEST_TEXT:
        /* The EmonESP web page shows this body as "latest version" (§10.3). */
        reply->status = 200;
        reply->content_type = "text/plain";
        buf_reset(&reply->body);
        if (buf_append_str(&reply->body, d.version) < 0)
            http_reply_static(reply, 500, "internal error\n");
        return;
    case DECISION_REFUSED:
        http_reply_text(reply, 403, d.reason);
        return;
    case DECISION_UNKNOWN:
        http_reply_text(reply, 404, d.reason);
        return;
    }
}

void http_handle_image(const struct http_context *ctx, const struct http_request *req,
                       const struct http_route_args *args, struct http_reply *reply)
{
    enum fw_mode mode = FW_MODE_SKETCH;
    const char *mode_arg = http_request_query(req, "mode");
    if (mode_arg && fw_mode_parse(mode_arg, &mode) < 0) {
        http_reply_static(reply, 400, "mode must be sketch or fs\n");
        return;
    }
    /* ?mac=: the device a manifest named this URL for (manifest.c), 12 hex digits. */
    uint64_t device_mac = 0;
    const char *mac_arg = http_request_query(req, "mac");
    if (mac_arg && (mac_text_parse(mac_arg, &device_mac) < 0 || device_mac == 0)) {
        http_reply_static(reply, 400, "?mac= must be a MAC address (12 hex digits)\n");
        return;
    }
    if (!req->tls && service_product_requires_https(ctx->svc, args->product)) {
        http_reply_static(reply, 403,
                          "this product requires HTTPS: fetch the image over https://\n");
        return;
    }
    struct variant v;
    if (service_image_find(ctx->svc, args->product, args->version, mode, &v) < 0) {
        http_reply_static(reply, 404, "no such release\n");
        return;
    }
    char etag[SHA256_HEX_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", v.sha256);
    struct byte_range range;
    enum range_result rr = range_parse(http_request_header(req, "Range"), v.size, &range);
    if (rr == RANGE_UNSATISFIABLE) {
        char cr[48];
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, v.size);
        http_reply_static(reply, 416, "range not satisfiable\n");
        http_reply_header(reply, "Content-Range", cr);
        return;
    }
    if (!reply_with_blob(ctx, &v, reply))
        return;
    reply->content_type = "application/octet-stream";
    http_reply_header(reply, "Accept-Ranges", "bytes");
    http_reply_header(reply, "ETag", etag);
    if (rr == RANGE_PARTIAL) {
        char cr[80];
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first, range.last,
                 v.size);
        reply->status = 206;
        reply->fd_offset = range.first;
        reply->fd_length = range.last - range.first + 1;
        http_reply_header(reply, "Content-Range", cr);
    } else {
        reply->status = 200;
        http_reply_header(reply, "x-MD5", v.md5);
    }
    /*
     * A GET's body is counted when it ends (server.c, service_delivery_done); a HEAD sends none.
     * A whole body fetched through a manifest's URL (?mac=) is the device's rollout download.
     */
    if (strcmp(req->method, "GET") == 0) {
        reply->has_ticket = true;
        if (reply->status == 200 && device_mac)
            service_image_ticket_device(ctx->svc, args->product, args->version, device_mac,
                                        reply->fd_length, &reply->ticket);
        else
            service_image_ticket(ctx->svc, args->product, reply->fd_length, reply->status == 200,
                                 &reply->ticket);
    }
}
