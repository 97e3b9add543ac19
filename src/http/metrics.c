/*
 * GET /metrics (docs/METRICS.md): every registered family in the Prometheus
 * text format (core/metrics.c), the HTTP requests server.c measures, and
 * the process figures, read from /proc at scrape time. Who may call it is
 * the route table's (metrics_token). Linux only, as the daemon is.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/util.h"
#include "http/handlers.h"
#include "service/events.h"
#include "service/service_fleet.h"

static const double request_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  10,    60};
static struct metric_family requests = METRIC_HISTOGRAM(
    "otad_http_request_duration_seconds",
    "HTTP requests by route family and status, from the head's arrival to the end of the "
    "response (an image body included).",
    request_bounds, METRIC_LABELS("route", "status"));

static struct metric_family forwarded_malformed = METRIC_COUNTER(
    "otad_http_forwarded_malformed_total",
    "Requests from a trusted proxy (trusted_proxies) whose X-Forwarded-For was not a list of "
    "addresses; each was served as coming from the proxy's own address.",
    METRIC_NO_LABELS);

void http_metrics_register(void)
{
    metrics_register(&requests);
    metrics_register(&forwarded_malformed);
}

void http_metrics_forwarded_malformed(void)
{
    metric_inc(&forwarded_malformed, NULL);
}

void http_metrics_request_done(const char *route, int status, double seconds)
{
    /* Three digits by hand: this runs once per request, check-ins included (no snprintf). */
    char text[8] = "none"; /* the client left before an answer was queued */
    if (status >= 100 && status <= 999) {
        text[0] = (char)('0' + status / 100);
        text[1] = (char)('0' + status / 10 % 10);
        text[2] = (char)('0' + status % 10);
        text[3] = 0;
    } else if (status > 0) {
        snprintf(text, sizeof(text), "%d", status % 10000);
    }
    metric_observe(&requests, (const char *[]){route, text}, seconds);
}

/* The fields of /proc/self/stat this needs: CPU time and the start, in clock ticks. */
struct proc_stat {
    unsigned long long utime, stime, starttime;
};

static bool proc_stat_read(struct proc_stat *ret)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    /* The command name is in parentheses and may hold spaces: the fields start after the last ')'.
     */
    const char *p = ok ? strrchr(line, ')') : NULL;
    /* After it: state (3) ... utime (14), stime (15) ... starttime (22). */
    return p && sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                       "%*d %*d %llu",
                       &ret->utime, &ret->stime, &ret->starttime) == 3;
}

static bool boot_time_read(unsigned long long *ret)
{
    char line[256];
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "btime %llu", ret) == 1;
    fclose(f);
    return found;
}

static bool resident_bytes_read(unsigned long long *ret)
{
    unsigned long long size, pages;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return false;
    bool ok = fscanf(f, "%llu %llu", &size, &pages) == 2;
    fclose(f);
    if (ok)
        *ret = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
    return ok;
}

static bool open_fds_count(unsigned long long *ret)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    unsigned long long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    *ret = n ? n - 1 : 0; /* not the descriptor opendir itself holds */
    return true;
}

/* One family of one unlabelled sample, VALUE already formatted. */
static int write_process(struct buf *out, const char *name, const char *type, const char *help,
                         const char *value)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type, name,
                      value);
}

/* The process figures Prometheus's client libraries export, under their usual names. */
static int write_process_figures(struct buf *out)
{
    char v[48];
    int r = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    struct proc_stat st;
    unsigned long long n, boot;
    bool have_stat = ticks > 0 && proc_stat_read(&st);
    if (have_stat) {
        snprintf(v, sizeof(v), "%.2f", (double)(st.utime + st.stime) / (double)ticks);
        r = write_process(out, "process_cpu_seconds_total", "counter",
                          "User and system CPU time spent in seconds.", v);
    }
    if (r == 0 && have_stat && boot_time_read(&boot)) {
        snprintf(v, sizeof(v), "%.2f", (double)boot + (double)st.starttime / (double)ticks);
        r = write_process(out, "process_start_time_seconds", "gauge",
                          "Start time of the process since unix epoch in seconds.", v);
    }
    if (r == 0 && resident_bytes_read(&n)) {
        snprintf(v, sizeof(v), "%llu", n);
        r = write_process(out, "process_resident_memory_bytes", "gauge",
                          "Resident memory size in bytes.", v);
    }
    if (r == 0 && open_fds_count(&n)) {
        snprintf(v, sizeof(v), "%llu", n);
        r = write_process(out, "process_open_fds", "gauge", "Number of open file descriptors.", v);
    }
    struct rlimit lim;
    if (r == 0 && getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)lim.rlim_cur);
        r = write_process(out, "process_max_fds", "gauge",
                          "Maximum number of open file descriptors.", v);
    }
    return r;
}

/* The states a rollout is active in: one otad_rollout_state sample each, 1 for its own. */
static const enum rollout_state active_states[] = {ROLLOUT_RUNNING, ROLLOUT_PAUSED, ROLLOUT_HALTED,
                                                   ROLLOUT_QUEUED};

/* The samples of one active rollout S of PRODUCT, family by family (FAMILY: which). */
static int write_rollout(struct buf *out, unsigned family, const char *product,
                         const struct rollout_status *s)
{
    static const char *const id_labels[] = {"product", "channel", "rollout", NULL};
    static const char *const state_labels[] = {"product", "channel", "rollout",
                                               "version", "state",   NULL};
    static const char *const stage_labels[] = {"product", "channel", "rollout", "stage", NULL};
    static const char *const outcome_labels[] = {"product", "channel", "rollout",
                                                 "stage",   "outcome", NULL};
    const struct rollout *r = &s->rollout;
    char id[24], stage[16];
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    int err = 0;
    switch (family) {
    case 0:
        for (size_t i = 0; err == 0 && i < ARRAY_SIZE(active_states); i++)
            err = metrics_write_sample(out, "otad_rollout_state", state_labels,
                                       (const char *[]){product, r->channel, id, r->version,
                                                        rollout_state_name(active_states[i])},
                                       r->state == active_states[i]);
        return err;
    case 1:
        return metrics_write_sample(out, "otad_rollout_stage", id_labels,
                                    (const char *[]){product, r->channel, id}, r->stage + 1);
    case 2:
    case 3:
        for (unsigned st = 0; err == 0 && st <= r->stage && st < r->plan.stage_count; st++) {
            const struct rollout_counts *c = &s->stages[st];
            snprintf(stage, sizeof(stage), "%u", st + 1);
            if (family == 3) {
                err = metrics_write_sample(out, "otad_rollout_interruptions_total", stage_labels,
                                           (const char *[]){product, r->channel, id, stage},
                                           (int64_t)c->interruptions);
                continue;
            }
            for (unsigned o = 0; err == 0 && o < OUTCOME_COUNT; o++)
                err = metrics_write_sample(
                    out, "otad_rollout_devices", outcome_labels,
                    (const char *[]){product, r->channel, id, stage,
                                     device_outcome_name((enum device_outcome)o)},
                    (int64_t)c->by_outcome[o]);
        }
        return err;
    }
    return 0;
}

/*
 * The active rollouts (running, paused, halted, queued), read from the
 * service at scrape time: their state, stage and each stage's devices by
 * outcome (docs/METRICS.md). A rollout that ended leaves the exposition.
 */
static int write_rollouts(struct service *svc, struct buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"otad_rollout_state", "gauge",
         "1 for the state an active rollout is in (running, paused, halted, queued), 0 for the "
         "others."},
        {"otad_rollout_stage", "gauge", "The stage an active rollout is at, from 1."},
        {"otad_rollout_devices", "gauge",
         "Devices of an active rollout's stage (the stage of their first offer) by outcome."},
        {"otad_rollout_interruptions_total", "counter",
         "Image bodies of an active rollout's stage cut off before their end, every attempt."},
    };
    struct product *products = NULL;
    size_t product_count = 0;
    if (service_product_list(svc, &products, &product_count) < 0)
        return 0; /* the database is away: the rest of the exposition still goes out */
    struct rollout_status **lists = calloc(product_count ? product_count : 1, sizeof(*lists));
    size_t *counts = calloc(product_count ? product_count : 1, sizeof(*counts));
    int r = lists && counts ? 0 : -ENOMEM;
    for (size_t p = 0; r == 0 && p < product_count; p++) {
        struct reason why;
        if (service_rollout_list(svc, products[p].name, true, &lists[p], &counts[p], &why) < 0)
            counts[p] = 0;
    }
    for (unsigned f = 0; r == 0 && f < ARRAY_SIZE(families); f++) {
        r = metrics_write_header(out, families[f].name, families[f].type, families[f].help);
        for (size_t p = 0; r == 0 && p < product_count; p++)
            for (size_t i = 0; r == 0 && i < counts[p]; i++)
                r = write_rollout(out, f, products[p].name, &lists[p][i]);
    }
    for (size_t p = 0; lists && p < product_count; p++)
        free(lists[p]);
    free(lists);
    free(counts);
    free(products);
    return r;
}

/*
 * The outgoing event queue notifications read (service/events.c): events
 * refused because it was full, and those waiting now. Read at scrape time
 * from its own counters, which it keeps under its lock.
 */
static int write_events(struct service *svc, struct buf *out)
{
    static const char *const none[] = {NULL};
    struct events_stats st = {0};
    events_stats(service_events(svc), &st);
    int r = metrics_write_header(out, "otad_notify_events_dropped_total", "counter",
                                 "Events (rollout halted, release published, ...) not queued for "
                                 "notification because the queue was full or the event too large.");
    if (r == 0)
        r = metrics_write_sample(out, "otad_notify_events_dropped_total", none, NULL,
                                 (int64_t)st.dropped);
    if (r == 0)
        r = metrics_write_header(out, "otad_notify_events_queued", "gauge",
                                 "Events waiting for the notification thread.");
    if (r == 0)
        r = metrics_write_sample(out, "otad_notify_events_queued", none, NULL, (int64_t)st.queued);
    return r;
}

void http_handle_metrics(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    buf_release(&reply->body);
    buf_init(&reply->body, LIMIT_METRICS_TEXT_BYTES);
    int r = metrics_write(&reply->body);
    if (r == 0)
        r = write_rollouts(ctx->svc, &reply->body);
    if (r == 0)
        r = write_events(ctx->svc, &reply->body);
    if (r == 0)
        r = write_process_figures(&reply->body);
    if (r < 0) {
        http_reply_static(reply, 500, "metrics unavailable\n");
        return;
    }
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
