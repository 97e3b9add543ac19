/*
 * libcurl for the notification layer (send.h): one multi handle, one easy
 * handle per transfer, each with its own headers, freed as it ends.
 */
#include "notify/send.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

#define USER_AGENT "otad/" OTAD_VERSION

/* One transfer in flight. */
struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    void *tag;
    struct transfer *next;
};

struct notify_sender {
    CURLM *multi;
    struct transfer *transfers; /* in flight */
    size_t active;
};

int notify_send_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void notify_send_global_cleanup(void)
{
    curl_global_cleanup();
}

int notify_sender_new(struct notify_sender **ret_sender)
{
    struct notify_sender *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (!(s->multi = curl_multi_init())) {
        free(s);
        return -ENOMEM;
    }
    *ret_sender = s;
    return 0;
}

static void transfer_free(struct notify_sender *s, struct transfer *t)
{
    curl_multi_remove_handle(s->multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t);
}

void notify_sender_free(struct notify_sender *s)
{
    if (!s)
        return;
    while (s->transfers) {
        struct transfer *t = s->transfers;
        s->transfers = t->next;
        transfer_free(s, t);
    }
    curl_multi_cleanup(s->multi);
    free(s);
}

size_t notify_sender_active(const struct notify_sender *s)
{
    return s->active;
}

/* The receiver's answer is read for its status only: its body is dropped as it comes. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    return size * nmemb;
}

/* Appends "NAME: VALUE" to *LIST. 0 or -ENOMEM. */
static int header_add(struct curl_slist **list, const char *name, const char *value)
{
    char line[160];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return -ENOMEM;
    *list = n;
    return 0;
}

int notify_sender_start(struct notify_sender *s, const struct notify_post *p, void *tag)
{
    struct transfer *t = calloc(1, sizeof(*t));
    if (!t || !(t->easy = curl_easy_init())) {
        free(t);
        return -ENOMEM;
    }
    t->tag = tag;
    CURL *h = t->easy;
    /* "Expect:" empty: no 100-continue round trip before the body. */
    if (header_add(&t->headers, "Content-Type", "application/json") < 0 ||
        !(t->headers = curl_slist_append(t->headers, "Expect:")) ||
        header_add(&t->headers, "X-Otad-Event", p->event) < 0 ||
        header_add(&t->headers, "X-Otad-Delivery", p->delivery) < 0 ||
        (p->signature && header_add(&t->headers, "X-Otad-Signature-256", p->signature) < 0)) {
        curl_slist_free_all(t->headers);
        curl_easy_cleanup(h);
        free(t);
        return -ENOMEM;
    }
    curl_easy_setopt(h, CURLOPT_URL, p->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never one from the environment */
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(s->multi, h) != CURLM_OK) {
        curl_slist_free_all(t->headers);
        curl_easy_cleanup(h);
        free(t);
        return -EIO;
    }
    t->next = s->transfers;
    s->transfers = t;
    s->active++;
    return 0;
}

/* Maps a failed transfer to -errno with a reason in our words; ERRBUF goes to the debug log. */
static int send_error(CURLcode c, const char *errbuf, struct reason *why)
{
    if (errbuf[0])
        log_debug("notify: %s", errbuf);
    const char *text = curl_easy_strerror(c);
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
        return reason_set(why, -ETIMEDOUT, "timed out");
    case CURLE_COULDNT_CONNECT:
        return reason_set(why, -ECONNREFUSED, "%s", text);
    case CURLE_COULDNT_RESOLVE_HOST:
        return reason_set(why, -EHOSTUNREACH, "%s", text);
    default:
        return reason_set(why, -EIO, "%s", text);
    }
}

/* Unlinks T from the sender's list. */
static void transfer_unlink(struct notify_sender *s, struct transfer *t)
{
    for (struct transfer **p = &s->transfers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            s->active--;
            return;
        }
    }
}

size_t notify_sender_run(struct notify_sender *s, int wait_ms, struct notify_sent *ret, size_t max)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    if (s->active && wait_ms > 0) {
        curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(s->multi, &running);
    }
    size_t n = 0;
    CURLMsg *msg;
    int left;
    while (n < max && (msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        struct notify_sent *out = &ret[n++];
        out->tag = t->tag;
        out->status = 0;
        out->why.text[0] = 0;
        out->err = 0;
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &out->status);
        else
            out->err = send_error(msg->data.result, t->errbuf, &out->why);
        transfer_unlink(s, t);
        transfer_free(s, t);
    }
    return n;
}
