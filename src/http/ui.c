/*
 * The dashboard's files (docs/DASHBOARD.md): index.html for "/" and every
 * page path under "/ui/" (the pages route in the browser, with the History
 * API), and the assets under "/ui/assets/". The bytes are the table that
 * embed_web.py generates from web/ at build time; nothing is read from disk.
 *
 * Caching: index.html is "no-cache" (revalidated with its ETag each time,
 * so a new binary's dashboard is seen at once); it names the assets by
 * their hashed names, which are immutable for a year: changed bytes get a
 * new name, so there is never a stale asset and no request to revalidate
 * one. An asset asked by its plain name (a bookmark, curl) is "no-cache"
 * with its ETag. A client that accepts gzip gets the form gzipped at build
 * time when it is smaller, with its own ETag and Vary: Accept-Encoding.
 *
 * It owns no state and no data: the pages fetch everything from /api/v1
 * with the session's cookie, so these routes need no token.
 */
#include "http/ui.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/handlers.h"

#define CACHE_IMMUTABLE  "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"

const struct ui_asset *ui_asset_find(const char *name, bool *ret_hashed)
{
    for (size_t i = 0; i < ui_asset_count; i++) {
        const struct ui_asset *a = &ui_assets[i];
        if (!a->hashed_name) /* index.html: the pages' answer only */
            continue;
        if (strcmp(name, a->hashed_name) == 0 || strcmp(name, a->name) == 0) {
            if (ret_hashed)
                *ret_hashed = strcmp(name, a->hashed_name) == 0;
            return a;
        }
    }
    return NULL;
}

static const struct ui_asset *ui_index(void)
{
    for (size_t i = 0; i < ui_asset_count; i++)
        if (strcmp(ui_assets[i].name, "index.html") == 0)
            return &ui_assets[i];
    return NULL;
}

/* The end of the list element at S (up to ',' or the end), with spaces trimmed off both ends. */
static const char *list_item(const char *s, const char **ret_start, size_t *ret_len)
{
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    const char *end = s + strcspn(s, ",");
    size_t len = (size_t)(end - s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *ret_start = s;
    *ret_len = len;
    return end;
}

/*
 * Whether ACCEPT (an Accept-Encoding value, may be NULL) takes gzip: a
 * "gzip" or "x-gzip" element, or "*", whose q is not zero.
 */
static bool accepts_gzip(const char *accept)
{
    if (!accept)
        return false;
    const char *s = accept;
    while (*s) {
        const char *item;
        size_t len;
        s = list_item(s, &item, &len);
        size_t coding = strcspn(item, "; \t");
        if (coding > len)
            coding = len;
        bool named = (coding == 4 && strncasecmp(item, "gzip", 4) == 0) ||
                     (coding == 6 && strncasecmp(item, "x-gzip", 6) == 0) ||
                     (coding == 1 && item[0] == '*');
        if (!named)
            continue;
        const char *q = memchr(item, ';', len);
        if (q) {
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=' && strtod(q + 2, NULL) <= 0.0)
                return false; /* "gzip;q=0": explicitly refused */
        }
        return true;
    }
    return false;
}

/*
 * Whether IF_NONE_MATCH (may be NULL) names ETAG or is "*". If-None-Match
 * compares weakly (RFC 9110 13.1.2): a "W/" prefix is ignored.
 */
static bool etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    size_t etag_len = strlen(etag);
    const char *s = if_none_match;
    while (*s) {
        const char *item;
        size_t len;
        s = list_item(s, &item, &len);
        if (len == 1 && item[0] == '*')
            return true;
        if (len >= 2 && item[0] == 'W' && item[1] == '/') {
            item += 2;
            len -= 2;
        }
        if (len == etag_len && memcmp(item, etag, len) == 0)
            return true;
    }
    return false;
}

/* Answers ASSET (its gzip form when REQ accepts it) with CACHE_CONTROL, or 304. */
static void serve_asset(const struct http_request *req, const struct ui_asset *asset,
                        const char *cache_control, struct http_reply *reply)
{
    bool gz = asset->gzip_data && accepts_gzip(http_request_header(req, "Accept-Encoding"));
    const char *etag = gz ? asset->gzip_etag : asset->etag;
    if (etag_matches(http_request_header(req, "If-None-Match"), etag)) {
        http_reply_empty(reply, 304);
    } else {
        reply->status = 200;
        reply->content_type = asset->content_type;
        reply->static_body = (const char *)(gz ? asset->gzip_data : asset->data);
        reply->static_len = gz ? asset->gzip_size : asset->size;
        if (gz)
            http_reply_header(reply, "Content-Encoding", "gzip");
    }
    http_reply_header(reply, "ETag", etag);
    http_reply_header(reply, "Cache-Control", cache_control);
    if (asset->gzip_data) /* the answer depends on Accept-Encoding: caches must know */
        http_reply_header(reply, "Vary", "Accept-Encoding");
}

void http_handle_ui_page(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    /* Under /ui/assets/ only assets: a missing one is a 404, never the page. */
    if (strncmp(req->path, "/ui/assets/", strlen("/ui/assets/")) == 0 ||
        strcmp(req->path, "/ui/assets") == 0) {
        http_reply_static(reply, 404, "no such asset\n");
        return;
    }
    const struct ui_asset *index = ui_index();
    if (!index) { /* the generator always embeds it: a build without web/index.html */
        http_reply_static(reply, 500, "the dashboard is not built in\n");
        return;
    }
    serve_asset(req, index, CACHE_REVALIDATE, reply);
}

void http_handle_ui_asset(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    bool hashed = false;
    const struct ui_asset *asset = ui_asset_find(args->name, &hashed);
    if (!asset) {
        http_reply_static(reply, 404, "no such asset\n");
        return;
    }
    serve_asset(req, asset, hashed ? CACHE_IMMUTABLE : CACHE_REVALIDATE, reply);
}
