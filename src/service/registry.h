/*
 * The device registry's write path: check-ins are queued in memory and a
 * flusher thread commits them in one transaction every flush interval, on a
 * database connection of its own. A storm of check-ins costs one commit per
 * interval, not one fsync per request.
 *
 * What a crash can lose: check-ins queued since the last commit (at most one
 * flush interval, 250 ms by default); commits are crash-safe for otad
 * (WAL, synchronous=NORMAL) but the last commits before a power loss may be
 * lost. Releases and tokens are committed durably elsewhere.
 */
#ifndef OTAD_SERVICE_REGISTRY_H
#define OTAD_SERVICE_REGISTRY_H

#include <stdint.h>

#include "db/db.h"
#include "model/model.h"

struct registry;

/*
 * Starts a registry that commits to DB_PATH every FLUSH_MS milliseconds,
 * holding at most MAX_QUEUED check-ins between commits. Returns 0 with a new
 * registry, or -errno.
 */
int registry_start(const char *db_path, unsigned flush_ms, size_t max_queued,
                   struct registry **ret_registry);

/*
 * Queues one check-in (copied). Never blocks on the database; when the queue
 * is full it waits for the flusher for at most one flush interval, then
 * drops the record and counts it. Returns 0, or -ENOBUFS when dropped.
 */
int registry_record(struct registry *registry, const struct device_record *record);

/* Commits everything queued so far and waits until it is committed. Returns 0 or -errno. */
int registry_flush(struct registry *registry);

/* Counters since start. */
struct registry_stats {
    uint64_t recorded; /* committed */
    uint64_t dropped;  /* lost to a full queue */
    uint64_t failed;   /* lost to a database error */
    uint64_t commits;
};
void registry_stats(struct registry *registry, struct registry_stats *ret_stats);

/* Flushes what is queued, stops the thread and frees. NULL-safe. */
void registry_stop(struct registry *registry);

#endif
