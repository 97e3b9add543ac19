/*
 * The metrics registry and its text writer (metrics.h). Updates are atomics
 * on a family's fixed array of series; only registration and a scrape's walk
 * of the family list take the registry's lock, never an update.
 */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

enum { SERIES_FREE = 0, SERIES_CLAIMING = 1, SERIES_READY = 2 };

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family *registry_head, **registry_tail = &registry_head;

static struct metric_family series_dropped =
    METRIC_COUNTER("otad_metrics_series_dropped_total",
                   "Label sets not stored because their family holds LIMIT_METRICS_SERIES already.",
                   METRIC_NO_LABELS);

void metrics_register(struct metric_family *f)
{
    pthread_mutex_lock(&registry_lock);
    if (!atomic_load(&f->registered)) {
        f->next = NULL;
        *registry_tail = f;
        registry_tail = &f->next;
        atomic_store(&f->registered, true);
    }
    pthread_mutex_unlock(&registry_lock);
}

static unsigned label_count(const struct metric_family *f)
{
    unsigned n = 0;
    while (n < LIMIT_METRICS_LABELS && f->labels[n])
        n++;
    return n;
}

static bool labels_equal(const struct metric_series *s, unsigned n, const char *const *values)
{
    for (unsigned i = 0; i < n; i++)
        if (strncmp(s->labels[i], values[i] ? values[i] : "", LIMIT_METRICS_LABEL_BYTES) != 0)
            return false;
    return true;
}

/*
 * FNV-1a over the values as a series stores them (each cut at
 * LIMIT_METRICS_LABEL_BYTES, so two values equal once cut hash alike), a
 * separator after each: where a label set's probe starts.
 */
static uint32_t labels_hash(unsigned n, const char *const *values)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        for (size_t k = 0; k < LIMIT_METRICS_LABEL_BYTES && v[k]; k++)
            h = (h ^ (uint8_t)v[k]) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
    }
    return h;
}

/*
 * Open addressing: a label set's probe starts at its hash and walks the
 * slots in order, waiting out a slot being claimed. Slots are never freed,
 * so a set is either met before the first free slot of its walk or is new,
 * and two threads with the same new set meet at the same slot: a set is
 * never stored twice. A check-in's lookup is one or two comparisons
 * whatever the number of sets (a walk in claim order was up to 256).
 */
struct metric_series *metric_series(struct metric_family *f, const char *const *values)
{
    unsigned n = label_count(f);
    if (n == 0)
        values = NULL;
    uint32_t hash = n ? labels_hash(n, values) : 0;
    for (unsigned k = 0; k < LIMIT_METRICS_SERIES; k++) {
        struct metric_series *s = &f->series[(hash + k) % LIMIT_METRICS_SERIES];
        unsigned state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state == SERIES_FREE) {
            unsigned expected = SERIES_FREE;
            if (atomic_compare_exchange_strong_explicit(&s->state, &expected, SERIES_CLAIMING,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
                for (unsigned i = 0; i < n; i++)
                    str_copy(s->labels[i], sizeof(s->labels[i]), values[i] ? values[i] : "");
                s->hash = hash;
                atomic_store_explicit(&s->state, SERIES_READY, memory_order_release);
                return s;
            }
            state = expected;
        }
        while (state == SERIES_CLAIMING) /* a copy of a few bytes: never long */
            state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (n == 0 || (s->hash == hash && labels_equal(s, n, values)))
            return s;
    }
    atomic_fetch_add_explicit(&series_dropped.series[0].value, 1, memory_order_relaxed);
    atomic_store_explicit(&series_dropped.series[0].state, SERIES_READY, memory_order_release);
    return NULL;
}

void metric_add(struct metric_family *f, const char *const *values, uint64_t n)
{
    struct metric_series *s = metric_series(f, values);
    if (s)
        atomic_fetch_add_explicit(&s->value, (int_fast64_t)n, memory_order_relaxed);
}

void metric_set(struct metric_family *f, const char *const *values, int64_t v)
{
    struct metric_series *s = metric_series(f, values);
    if (s)
        atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void metric_gauge_add(struct metric_family *f, const char *const *values, int64_t delta)
{
    struct metric_series *s = metric_series(f, values);
    if (s)
        atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void metric_observe(struct metric_family *f, const char *const *values, double v)
{
    struct metric_series *s = metric_series(f, values);
    if (!s)
        return;
    unsigned b = 0;
    while (b < f->bound_count && v > f->bounds[b])
        b++;
    if (b < f->bound_count)
        atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old,
                                                  double_bits(bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    /* The count last: a scrape may see a bucket ahead of the count, never the count ahead. */
    atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

int64_t metric_value(struct metric_family *f, const char *const *values)
{
    unsigned n = label_count(f);
    uint32_t hash = n ? labels_hash(n, values) : 0;
    for (unsigned k = 0; k < LIMIT_METRICS_SERIES; k++) {
        struct metric_series *s = &f->series[(hash + k) % LIMIT_METRICS_SERIES];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SERIES_READY)
            return 0;
        if (n == 0 || (s->hash == hash && labels_equal(s, n, values)))
            return atomic_load_explicit(&s->value, memory_order_relaxed);
    }
    return 0;
}

int64_t metric_total(struct metric_family *f)
{
    int64_t total = 0;
    for (unsigned k = 0; k < LIMIT_METRICS_SERIES; k++) {
        struct metric_series *s = &f->series[k];
        if (atomic_load_explicit(&s->state, memory_order_acquire) == SERIES_READY)
            total += atomic_load_explicit(&s->value, memory_order_relaxed);
    }
    return total;
}

/* --- the text format --- */

/* TEXT escaped for a HELP line (LABEL false: \ and newline) or a label value (also "). */
static int write_escaped(struct buf *out, const char *text, bool label)
{
    int r = 0;
    for (const char *p = text; *p && r == 0; p++) {
        if (*p == '\\')
            r = buf_append_str(out, "\\\\");
        else if (*p == '\n')
            r = buf_append_str(out, "\\n");
        else if (*p == '"' && label)
            r = buf_append_str(out, "\\\"");
        else
            r = buf_append(out, p, 1);
    }
    return r;
}

/* V in the fewest digits that read back as V ("0.1", not "0.10000000000000001"), or +Inf. */
static void format_double(double v, char *out, size_t size)
{
    if (isinf(v) || isnan(v)) {
        snprintf(out, size, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int write_double(struct buf *out, double v)
{
    char text[40];
    format_double(v, text, sizeof(text));
    return buf_append_str(out, text);
}

/* NAME{labels...[,le="LE"]} with SUFFIX after NAME; LE NULL for none. */
static int write_sample_name(struct buf *out, const struct metric_family *f,
                             const struct metric_series *s, unsigned n, const char *suffix,
                             const char *le)
{
    int r = buf_printf(out, "%s%s", f->name, suffix);
    if (r < 0 || (n == 0 && !le))
        return r;
    r = buf_append_str(out, "{");
    for (unsigned i = 0; r == 0 && i < n; i++) {
        r = buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (r == 0)
            r = write_escaped(out, s->labels[i], true);
        if (r == 0)
            r = buf_append_str(out, "\"");
    }
    if (r == 0 && le)
        r = buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
    return r < 0 ? r : buf_append_str(out, "}");
}

static int write_histogram_series(struct buf *out, const struct metric_family *f,
                                  struct metric_series *s, unsigned n)
{
    int r = 0;
    uint64_t cumulative = 0;
    for (unsigned b = 0; r == 0 && b <= f->bound_count; b++) {
        char le[32];
        if (b < f->bound_count) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            format_double(f->bounds[b], le, sizeof(le));
        } else {
            /* +Inf is the count: read after the buckets, it is never below them. */
            uint64_t count = (uint64_t)atomic_load_explicit(&s->value, memory_order_relaxed);
            cumulative = count > cumulative ? count : cumulative;
            snprintf(le, sizeof(le), "+Inf");
        }
        r = write_sample_name(out, f, s, n, "_bucket", le);
        if (r == 0)
            r = buf_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    if (r == 0)
        r = write_sample_name(out, f, s, n, "_sum", NULL);
    if (r == 0)
        r = buf_append_str(out, " ");
    if (r == 0)
        r = write_double(out,
                         bits_double(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
    if (r == 0)
        r = buf_append_str(out, "\n");
    if (r == 0)
        r = write_sample_name(out, f, s, n, "_count", NULL);
    if (r == 0)
        r = buf_printf(out, " %llu\n", (unsigned long long)cumulative);
    return r;
}

int metrics_write_family(struct metric_family *f, struct buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    unsigned n = label_count(f);
    int r = buf_printf(out, "# HELP %s ", f->name);
    if (r == 0)
        r = write_escaped(out, f->help, false);
    if (r == 0)
        r = buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
    if (r == 0 && n == 0) /* an unlabelled family always has its one series: 0 before any update */
        metric_series(f, NULL);
    for (unsigned i = 0; r == 0 && i < LIMIT_METRICS_SERIES; i++) {
        struct metric_series *s = &f->series[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SERIES_READY)
            continue; /* slots fill in hash order: a free one is not the end */
        if (f->type == METRIC_TYPE_HISTOGRAM) {
            r = write_histogram_series(out, f, s, n);
            continue;
        }
        r = write_sample_name(out, f, s, n, "", NULL);
        if (r == 0)
            r = buf_printf(out, " %lld\n",
                           (long long)atomic_load_explicit(&s->value, memory_order_relaxed));
    }
    return r;
}

int metrics_write(struct buf *out)
{
    int r = metrics_write_family(&series_dropped, out);
    pthread_mutex_lock(&registry_lock);
    for (struct metric_family *f = registry_head; f && r == 0; f = f->next)
        r = metrics_write_family(f, out);
    pthread_mutex_unlock(&registry_lock);
    return r;
}

int metrics_write_header(struct buf *out, const char *name, const char *type, const char *help)
{
    int r = buf_printf(out, "# HELP %s ", name);
    if (r == 0)
        r = write_escaped(out, help, false);
    return r < 0 ? r : buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

int metrics_write_sample(struct buf *out, const char *name, const char *const *labels,
                         const char *const *values, int64_t value)
{
    int r = buf_append_str(out, name);
    for (size_t i = 0; r == 0 && labels[i]; i++) {
        r = buf_printf(out, "%s%s=\"", i ? "," : "{", labels[i]);
        if (r == 0)
            r = write_escaped(out, values[i], true);
        if (r == 0)
            r = buf_append_str(out, "\"");
    }
    if (r == 0 && labels[0])
        r = buf_append_str(out, "}");
    return r < 0 ? r : buf_printf(out, " %lld\n", (long long)value);
}
