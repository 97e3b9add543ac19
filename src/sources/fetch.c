/*
 * libcurl transfers for the GitHub sources (fetch.h). Each call uses its
 * own easy handle, so calls need no lock; the sources worker makes them one
 * at a time anyway (GitHub asks clients to send requests serially).
 */
#include "sources/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "sources/github.h"

#define USER_AGENT         "otad/" OTAD_VERSION
#define API_VERSION_HEADER "X-GitHub-Api-Version: 2022-11-28"

/* What the callbacks of one transfer share. */
struct transfer {
    struct buf *body;
    int body_error;     /* buf_append's error once the body overflowed */
    long status;        /* of the response being received (from its status line) */
    bool skip_3xx_body; /* a redirect's own body is not the asset */
    char *etag;         /* NULL: not wanted */
    size_t etag_size;
    struct github_rate *rate; /* NULL: not wanted */
    const atomic_bool *cancel;
};

int fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct transfer *t = user;
    size_t n = size * nmemb;
    if (t->skip_3xx_body && t->status >= 300 && t->status < 400)
        return n;
    int r = buf_append(t->body, data, n);
    if (r < 0) {
        t->body_error = r;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    struct transfer *t = user;
    size_t n = size * nitems;
    if (n > 9 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (a redirect hop, or 100 Continue): what we knew was about another. */
        const char *sp = memchr(line, ' ', n);
        t->status = sp && (size_t)(sp - line) + 4 <= n ? strtol(sp + 1, NULL, 10) : 0;
        if (t->etag)
            t->etag[0] = 0;
        if (t->rate)
            github_rate_init(t->rate);
        return n;
    }
    if (t->rate)
        github_rate_header(t->rate, line, n);
    const char *v;
    size_t vlen;
    if (t->etag && github_header_value(line, n, "etag", &v, &vlen)) {
        if (vlen < t->etag_size) {
            memcpy(t->etag, v, vlen);
            t->etag[vlen] = 0;
        } else {
            t->etag[0] = 0; /* too long to keep: the next poll goes unconditional */
        }
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = user;
    return t->cancel && atomic_load(t->cancel) ? 1 : 0;
}

/* A handle for URL with every bound set; REDIRECT_PROTOCOLS for handles that follow. */
static CURL *handle_new(const char *url, long timeout_s, struct transfer *t, char *errbuf,
                        const char *redirect_protocols)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, redirect_protocols);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never one from the environment */
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)LIMIT_GITHUB_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)LIMIT_GITHUB_LOW_SPEED_BYTES);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)LIMIT_GITHUB_LOW_SPEED_S);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    return h;
}

/*
 * Adds the API's headers (and TOKEN's Authorization) to *LIST. Returns 0 or
 * -ENOMEM. The copy of the token on our stack is wiped; libcurl keeps its own.
 */
static int api_headers(struct curl_slist **list, const char *accept, const char *token,
                       const char *if_none_match)
{
    char line[LIMIT_SOURCE_SECRET_BYTES + 64];
    struct curl_slist *l = *list, *n;
    int r = -ENOMEM;
    snprintf(line, sizeof(line), "Accept: %s", accept);
    if (!(n = curl_slist_append(l, line)))
        goto out;
    l = n;
    if (!(n = curl_slist_append(l, API_VERSION_HEADER)))
        goto out;
    l = n;
    if (token && *token) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
        n = curl_slist_append(l, line);
        explicit_bzero(line, sizeof(line));
        if (!n)
            goto out;
        l = n;
    }
    if (if_none_match && *if_none_match) {
        snprintf(line, sizeof(line), "If-None-Match: %s", if_none_match);
        if (!(n = curl_slist_append(l, line)))
            goto out;
        l = n;
    }
    r = 0;
out:
    *list = l;
    return r;
}

/* The host of URL, for messages (signed storage URLs carry credentials in the query). */
static void url_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/*
 * Maps a failed transfer to -errno with a reason in our words (libcurl's
 * fixed text for CODE). ERRBUF, libcurl's detail, may name hosts and
 * certificates the peer chose: it goes to the debug log only.
 */
static int transfer_error(CURLcode c, const struct transfer *t, const char *what,
                          const char *errbuf, struct reason *why)
{
    if (errbuf[0]) {
        char detail[CURL_ERROR_SIZE];
        snprintf(detail, sizeof(detail), "%s", errbuf);
        github_ascii_safe(detail);
        log_debug("%s: %s", what, detail);
    }
    const char *text = curl_easy_strerror(c);
    switch (c) {
    case CURLE_ABORTED_BY_CALLBACK:
        return reason_set(why, -ECANCELED, "%s: stopped", what);
    case CURLE_WRITE_ERROR:
        if (t->body_error == -ENOMEM)
            return reason_set(why, -ENOMEM, "%s: out of memory", what);
        return reason_set(why, -EFBIG, "%s: the body is larger than %zu bytes", what, t->body->max);
    case CURLE_FILESIZE_EXCEEDED:
        return reason_set(why, -EFBIG, "%s: the body is larger than %zu bytes", what, t->body->max);
    case CURLE_OPERATION_TIMEDOUT:
        return reason_set(why, -ETIMEDOUT, "%s: timed out", what);
    case CURLE_COULDNT_CONNECT:
        return reason_set(why, -ECONNREFUSED, "%s: %s", what, text);
    case CURLE_COULDNT_RESOLVE_HOST:
        return reason_set(why, -EHOSTUNREACH, "%s: %s", what, text);
    case CURLE_PARTIAL_FILE:
        return reason_set(why, -EBADMSG, "%s: the connection closed before the whole body", what);
    default:
        return reason_set(why, -EIO, "%s: %s", what, text);
    }
}

int fetch_api_get(const struct fetch_request *req, struct fetch_response *ret_response,
                  struct reason *why)
{
    struct fetch_response *resp = ret_response;
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, req->max_body);
    github_rate_init(&resp->rate);
    struct transfer t = {.body = &resp->body,
                         .etag = resp->etag,
                         .etag_size = sizeof(resp->etag),
                         .rate = &resp->rate,
                         .cancel = req->cancel};
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    int r = -ENOMEM;
    CURL *h = handle_new(req->url, (long)LIMIT_GITHUB_API_TIMEOUT_S, &t, errbuf, "http,https");
    if (!h ||
        api_headers(&headers, "application/vnd.github+json", req->token, req->if_none_match) < 0) {
        reason_set(why, r, "out of memory");
        goto fail;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        r = transfer_error(c, &t, "GitHub API", errbuf, why);
        goto fail;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    r = 0;
    goto out;
fail:
    buf_release(&resp->body);
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return r;
}

void fetch_response_release(struct fetch_response *response)
{
    if (response)
        buf_release(&response->body);
}

/*
 * The storage hop: LOCATION without any credential; the body goes into
 * RET->image. Reasons say "storage", never the host: the redirect chose it.
 */
static int storage_get(const char *location, uint64_t size, bool allow_http,
                       const atomic_bool *cancel, struct fetch_asset *ret, struct reason *why)
{
    char host[128];
    url_host(location, host, sizeof(host));
    github_ascii_safe(host);
    bool https = strncmp(location, "https://", 8) == 0;
    if (!https && !(allow_http && strncmp(location, "http://", 7) == 0)) {
        log_debug("asset redirect to \"%s\" refused: not https", host);
        return reason_set(why, -EPROTO, "the asset redirect is not https");
    }
    struct transfer t = {.body = &ret->image, .skip_3xx_body = true, .cancel = cancel};
    char errbuf[CURL_ERROR_SIZE];
    CURL *h = handle_new(location, (long)LIMIT_GITHUB_ASSET_TIMEOUT_S, &t, errbuf,
                         allow_http ? "http,https" : "https");
    if (!h)
        return reason_set(why, -ENOMEM, "out of memory");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)LIMIT_GITHUB_STORAGE_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)size);
    int r = 0;
    CURLcode c = curl_easy_perform(h);
    long status = 0;
    if (c != CURLE_OK) {
        log_debug("asset download from \"%s\" failed", host);
        r = transfer_error(c, &t, "storage", errbuf, why);
    } else if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status), status != 200) {
        log_debug("asset download from \"%s\": status %ld", host, status);
        r = reason_set(why, -EPROTO, "storage answered %ld", status);
    }
    curl_easy_cleanup(h);
    return r;
}

int fetch_asset_get(const char *api_url, const char *token, uint64_t size, bool allow_http,
                    const atomic_bool *cancel, struct fetch_asset *ret, struct reason *why)
{
    memset(ret, 0, sizeof(*ret));
    buf_init(&ret->image, (size_t)size);
    github_rate_init(&ret->rate);
    struct transfer t = {
        .body = &ret->image, .skip_3xx_body = true, .rate = &ret->rate, .cancel = cancel};
    char errbuf[CURL_ERROR_SIZE];
    char location[LIMIT_GITHUB_URL_BYTES + 1] = "";
    struct curl_slist *headers = NULL;
    int r = -ENOMEM;
    CURL *h = handle_new(api_url, (long)LIMIT_GITHUB_ASSET_TIMEOUT_S, &t, errbuf, "http,https");
    if (!h || api_headers(&headers, "application/octet-stream", token, NULL) < 0) {
        reason_set(why, r, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)size);
    CURLcode c = curl_easy_perform(h);
    ret->api_calls = 1;
    if (c != CURLE_OK) {
        r = transfer_error(c, &t, "asset request to the GitHub API", errbuf, why);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->api_status);
    long status = ret->api_status;
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        char *loc = NULL;
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
        if (!loc || str_copy(location, sizeof(location), loc) < 0) {
            r = reason_set(why, -EPROTO, "the API's asset redirect has no usable Location");
            goto out;
        }
        /* The API's handle, with the token in its headers, is done before storage is asked. */
        curl_easy_cleanup(h);
        h = NULL;
        buf_reset(&ret->image);
        if ((r = storage_get(location, size, allow_http, cancel, ret, why)) < 0)
            goto out;
    } else if (status != 200) {
        if (github_rate_limited(status, &ret->rate))
            r = reason_set(why, -EBUSY, "the API refused the asset download: rate limit");
        else
            r = reason_set(why, -EPROTO, "the API answered %ld for the asset", status);
        goto out;
    }
    if (ret->image.len != size) {
        r = reason_set(why, -EBADMSG, "received %zu bytes of an asset the API says has %llu",
                       ret->image.len, (unsigned long long)size);
        goto out;
    }
    r = 0;
out:
    if (r < 0)
        buf_release(&ret->image);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    explicit_bzero(location, sizeof(location));
    return r;
}

void fetch_asset_release(struct fetch_asset *asset)
{
    if (asset)
        buf_release(&asset->image);
}

const char *fetch_curl_version(void)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info && info->version ? info->version : "unknown";
}
