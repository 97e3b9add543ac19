/*
 * Process-wide metrics in the Prometheus model: counters, gauges and
 * histograms with fixed bucket bounds, in families with up to
 * LIMIT_METRICS_LABELS labels and at most LIMIT_METRICS_SERIES label sets
 * each, and the writer of the text exposition format 0.0.4. Pure: no I/O;
 * whoever serves the text (http/metrics.c) adds what it reads elsewhere.
 *
 * A family is a static object of the module that counts (METRIC_COUNTER,
 * METRIC_GAUGE, METRIC_HISTOGRAM below), registered once with
 * metrics_register so that a scrape shows it before anything happened.
 * Updating a series takes no lock: label sets are found and claimed in a
 * fixed array with atomics (open addressing from a hash of the values, so a
 * lookup costs the same with 3 sets or 250), values are atomics. A family's storage is its
 * own (no allocation), so an update never fails; past the cap, a new label
 * set is counted in otad_metrics_series_dropped_total and its update is
 * lost. Series are never removed: a label set seen once stays until exit.
 */
#ifndef OTAD_CORE_METRICS_H
#define OTAD_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/limits.h"

enum metric_type { METRIC_TYPE_COUNTER, METRIC_TYPE_GAUGE, METRIC_TYPE_HISTOGRAM };

/* One label set's values. STATE: 0 free, 1 being claimed, 2 ready (its labels are final). */
struct metric_series {
    atomic_uint state;
    uint32_t hash; /* of the labels (metrics.c), set before STATE is 2 */
    char labels[LIMIT_METRICS_LABELS][LIMIT_METRICS_LABEL_BYTES + 1];
    atomic_int_fast64_t value;                           /* counter, gauge; histogram: count */
    atomic_uint_fast64_t sum_bits;                       /* histogram: the sum, a double's bits */
    atomic_uint_fast64_t buckets[LIMIT_METRICS_BUCKETS]; /* histogram: per bound, not cumulative */
};

/*
 * A family. NAME is the whole metric name (a counter's ends in _total), HELP
 * one line; LABELS names its labels (NULL-terminated, at most
 * LIMIT_METRICS_LABELS); BOUNDS, for a histogram, its upper bounds in
 * increasing order (NULL-terminated by BOUND_COUNT). All of them static
 * strings, borrowed for the life of the process.
 */
struct metric_family {
    const char *name;
    const char *help;
    enum metric_type type;
    const char *labels[LIMIT_METRICS_LABELS + 1];
    const double *bounds;
    unsigned bound_count;
    struct metric_family *next; /* the registry's list */
    atomic_bool registered;
    struct metric_series series[LIMIT_METRICS_SERIES];
};

/*
 * Static initializers of a family: METRIC_COUNTER("otad_x_total", "help",
 * METRIC_LABELS("product", "status")), METRIC_NO_LABELS for none.
 */
#define METRIC_LABELS(...)                                                                         \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define METRIC_NO_LABELS                                                                           \
    {                                                                                              \
        NULL                                                                                       \
    }
#define METRIC_COUNTER(name_, help_, labels_)                                                      \
    {                                                                                              \
        .name = name_, .help = help_, .type = METRIC_TYPE_COUNTER, .labels = labels_               \
    }
#define METRIC_GAUGE(name_, help_, labels_)                                                        \
    {                                                                                              \
        .name = name_, .help = help_, .type = METRIC_TYPE_GAUGE, .labels = labels_                 \
    }
#define METRIC_HISTOGRAM(name_, help_, bounds_, labels_)                                           \
    {                                                                                              \
        .name = name_, .help = help_, .type = METRIC_TYPE_HISTOGRAM, .labels = labels_,            \
        .bounds = bounds_, .bound_count = sizeof(bounds_) / sizeof((bounds_)[0])                   \
    }

/*
 * Adds F to the families a scrape writes (in the order registered); a
 * second call for F does nothing. Thread-safe; not for the hot path (it
 * takes the registry's lock).
 */
void metrics_register(struct metric_family *f);

/*
 * The series of F for VALUES (one per label of F, in order; NULL or ignored
 * for a family without labels), claimed when new. NULL when F holds
 * LIMIT_METRICS_SERIES sets already (counted as dropped). Values longer than
 * LIMIT_METRICS_LABEL_BYTES are cut. Lock-free after its first call per set.
 */
struct metric_series *metric_series(struct metric_family *f, const char *const *values);

/* Counters: adds N to F's series for VALUES. */
void metric_add(struct metric_family *f, const char *const *values, uint64_t n);
static inline void metric_inc(struct metric_family *f, const char *const *values)
{
    metric_add(f, values, 1);
}

/* Gauges: sets, or adds DELTA (negative to lower it). */
void metric_set(struct metric_family *f, const char *const *values, int64_t v);
void metric_gauge_add(struct metric_family *f, const char *const *values, int64_t delta);

/* Histograms: counts one observation V (in the family's unit: seconds, bytes). */
void metric_observe(struct metric_family *f, const char *const *values, double v);

/* The current value of a counter's or gauge's series, 0 when it has none (tests, the writer). */
int64_t metric_value(struct metric_family *f, const char *const *values);

/* The sum of a counter's or gauge's every series (a rate over all labels: the status line). */
int64_t metric_total(struct metric_family *f);

/*
 * Appends F in the text exposition format 0.0.4 to OUT: # HELP, # TYPE, one
 * line per series (labels in F's order, values escaped), a histogram's
 * cumulative _bucket{le=...} lines with +Inf, _sum and _count. A family
 * without labels and no update yet shows 0. Returns 0 or buf's -E2BIG /
 * -ENOMEM.
 */
int metrics_write_family(struct metric_family *f, struct buf *out);

/* Appends every registered family (metrics_write_family), the dropped-series counter first. */
int metrics_write(struct buf *out);

/*
 * For a family whose samples are read at scrape time from elsewhere (the
 * rollouts in the database) rather than counted: its # HELP and # TYPE lines
 * (TYPE "counter" or "gauge")...
 */
int metrics_write_header(struct buf *out, const char *name, const char *type, const char *help);

/*
 * ...then one line per sample: NAME{LABELS[i]="VALUES[i]",...} VALUE, the
 * values escaped. LABELS is NULL-terminated, any number of them; VALUES has
 * one per label. Returns 0 or buf's -E2BIG / -ENOMEM.
 */
int metrics_write_sample(struct buf *out, const char *name, const char *const *labels,
                         const char *const *values, int64_t value);

#endif
