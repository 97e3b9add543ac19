/*
 * libcurl for the notification layer (send.h). Each attempt uses its own
 * easy handle; the delivery thread makes them one at a time.
 */
#include "notify/send.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>

#include "core/log.h"

#define USER_AGENT "otad/" OTAD_VERSION

int notify_send_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void notify_send_global_cleanup(void)
{
    curl_global_cleanup();
}

/* The receiver's answer is read for its status only: its body is dropped as it comes. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    return size * nmemb;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const atomic_bool *cancel = user;
    return cancel && atomic_load(cancel) ? 1 : 0;
}

/* Maps a failed attempt to -errno with a reason in our words; ERRBUF goes to the debug log. */
static int send_error(CURLcode c, const char *errbuf, struct reason *why)
{
    if (errbuf[0])
        log_debug("notify: %s", errbuf);
    const char *text = curl_easy_strerror(c);
    switch (c) {
    case CURLE_ABORTED_BY_CALLBACK:
        return reason_set(why, -ECANCELED, "stopped");
    case CURLE_OPERATION_TIMEDOUT:
        return reason_set(why, -ETIMEDOUT, "timed out");
    case CURLE_COULDNT_CONNECT:
        return reason_set(why, -ECONNREFUSED, "%s", text);
    case CURLE_COULDNT_RESOLVE_HOST:
        return reason_set(why, -EHOSTUNREACH, "%s", text);
    case CURLE_OUT_OF_MEMORY:
        return reason_set(why, -ENOMEM, "out of memory");
    default:
        return reason_set(why, -EIO, "%s", text);
    }
}

int notify_send(const struct notify_post *p, long *ret_status, struct reason *why)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char line[128];
    struct curl_slist *headers = NULL, *n;
    int r = reason_set(why, -ENOMEM, "out of memory");
    CURL *h = curl_easy_init();
    if (!h)
        return r;
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Expect:"}; /* no 100-continue round trip */
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!(n = curl_slist_append(headers, fixed[i])))
            goto out;
        headers = n;
    }
    snprintf(line, sizeof(line), "X-Otad-Event: %s", p->event);
    if (!(n = curl_slist_append(headers, line)))
        goto out;
    headers = n;
    snprintf(line, sizeof(line), "X-Otad-Delivery: %s", p->delivery);
    if (!(n = curl_slist_append(headers, line)))
        goto out;
    headers = n;
    if (p->signature) {
        snprintf(line, sizeof(line), "X-Otad-Signature-256: %s", p->signature);
        if (!(n = curl_slist_append(headers, line)))
            goto out;
        headers = n;
    }
    curl_easy_setopt(h, CURLOPT_URL, p->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never one from the environment */
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)p->cancel);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        r = send_error(c, errbuf, why);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    *ret_status = status;
    r = 0;
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return r;
}
