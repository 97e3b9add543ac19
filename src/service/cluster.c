/*
 * One node among several on a PostgreSQL database (docs/OPERATIONS.md,
 * "Several nodes"). Its thread, otad-cluster, keeps a connection of its
 * own for three things, each second:
 * - the leader's lock (db_leader_hold): the node holding it runs the jobs
 *   that must run once (the rollout controller's tick: promotions, halts,
 *   silence deadlines; the audit retention; the GitHub poller and webhook
 *   syncs, which ask service_is_leader). A leader that dies loses the lock
 *   with its connection and another node takes it at its next try, within
 *   CLUSTER_BEAT_MS;
 * - its heartbeat in table nodes (db_node_beat), which also counts the live
 *   nodes: the download caps are the cluster's, each node enforcing its
 *   share (service_download_share);
 * - catalog changes other nodes NOTIFY (db_wait_catalog): the refresher is
 *   woken at once, so a publish on one node is offered by all within a
 *   second; the refresher's own poll of the generation stays the fallback;
 * - the devices' standings in rollouts that any node changed
 *   (db_rollout_device_changes): a device offered by one node, served by a
 *   second and back on a third is judged by the third as the first would
 *   (tracker.h), so outcomes do not depend on where check-ins land. The
 *   registry writes a node's own changes within its flush interval; the
 *   others read them at their next beat, each change once, in the order
 *   of the transactions that committed them however late that is.
 * On SQLite there is one node: it leads, and no thread runs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mono.h"
#include "core/util.h"
#include "db/db.h"
#include "db/db_fleet.h"
#include "service/service_internal.h"
#include "service/tracker.h"

/* How often the node beats, tries the leader's lock and at most waits for a notification. */
#define CLUSTER_BEAT_MS 1000
/* A node not seen for this long no longer counts among the live ones (its share goes back). */
#define CLUSTER_LIVE_MS 10000
/*
 * Rollout changes read per query, and queries per beat at most: a long
 * read (a node's first, of every open standing) goes on at the next beat,
 * so the heartbeat and the leader's lock keep their pace.
 */
#define CLUSTER_CHANGES_PAGE           10000
#define CLUSTER_CHANGES_PAGES_PER_BEAT 5

struct cluster {
    struct service *svc;
    struct db *db; /* this thread's alone: it holds the lock and listens */
    struct node_status me;
    pthread_t thread;
    atomic_bool stopping;
    bool listening;
    struct rollout_changes_cursor changes; /* how far the others' changes are read */
    unsigned long changes_untracked;       /* not kept: the tracker was full */
};

bool service_is_leader(struct service *svc)
{
    return atomic_load_explicit(&svc->leader, memory_order_relaxed);
}

unsigned service_download_share(struct service *svc, unsigned cap)
{
    unsigned nodes = atomic_load_explicit(&svc->live_nodes, memory_order_relaxed);
    if (!cap || nodes <= 1)
        return cap;
    unsigned share = cap / nodes;
    return share ? share : 1;
}

/* Wakes the refresher to rebuild the catalog now. */
static void refresh_soon(struct service *svc)
{
    pthread_mutex_lock(&svc->stop_lock);
    pthread_cond_signal(&svc->stop_cond);
    pthread_mutex_unlock(&svc->stop_lock);
}

static void set_leader(struct cluster *c, bool leader)
{
    if (leader == service_is_leader(c->svc))
        return;
    atomic_store(&c->svc->leader, leader);
    c->me.leader_since_ms = leader ? time_now_ms() : 0;
    if (leader)
        log_info("cluster: node %s leads (rollout controller, retention, release sources)",
                 c->me.name);
    else
        log_warn("cluster: node %s no longer leads", c->me.name);
}

/* Brings the tracker up to the rollout changes every node made since the last beat. */
static void follow_rollouts(struct cluster *c)
{
    struct tracker *tracker = c->svc->tracker;
    if (!tracker)
        return;
    size_t n = CLUSTER_CHANGES_PAGE;
    for (int page = 0; page < CLUSTER_CHANGES_PAGES_PER_BEAT && n == CLUSTER_CHANGES_PAGE &&
                       !atomic_load(&c->stopping);
         page++) {
        struct rollout_device_change *rows = NULL;
        if (db_rollout_device_changes(c->db, &c->changes, CLUSTER_CHANGES_PAGE, &rows, &n) < 0)
            return; /* logged; the next beat reads on from the same place */
        for (size_t i = 0; i < n; i++) {
            const struct rollout_device_change *ch = &rows[i];
            struct standing s = {
                .product_id = ch->device.product_id,
                .mac = ch->device.mac,
                .rollout_id = ch->device.rollout_id,
                .release_id = ch->release_id,
                .mode = ch->mode,
                .stage = ch->device.stage,
                .outcome = ch->device.outcome,
            };
            if (s.outcome == OUTCOME_SUCCEEDED || s.outcome == OUTCOME_FAILED)
                tracker_close(tracker, s.product_id, s.mac, s.mode, s.rollout_id);
            /* A failure is kept for good; any other standing replaces the device's open one. */
            if (s.outcome != OUTCOME_SUCCEEDED && tracker_put(tracker, &s) < 0 &&
                c->changes_untracked++ == 0)
                /* As for a new offer on the check-in path: past the bound, not tracked. */
                log_error("cluster: the tracker is full: other nodes' rollout changes are not "
                          "all followed (see LIMIT_TRACKER_ENTRIES)");
        }
        free(rows);
    }
}

/* One beat: the lock, the heartbeat, listening. Errors leave the node a follower. */
static void beat(struct cluster *c)
{
    bool leader = false;
    int r = db_leader_hold(c->db, &leader);
    set_leader(c, r == 0 && leader);
    if (r < 0) {
        c->listening = false;
        return;
    }
    unsigned live = 1;
    if (db_node_beat(c->db, &c->me, CLUSTER_LIVE_MS, &live) == 0) {
        unsigned before = atomic_exchange(&c->svc->live_nodes, live);
        if (before != live)
            log_info("cluster: %u node%s live", live, live == 1 ? "" : "s");
    }
    if (!c->listening && db_listen_catalog(c->db) == 0) {
        c->listening = true;
        refresh_soon(c->svc); /* changes made while not listening */
    }
    follow_rollouts(c);
}

static void *cluster_main(void *arg)
{
    struct cluster *c = arg;
    while (!atomic_load(&c->stopping)) {
        int64_t next_beat = time_mono_ms() + CLUSTER_BEAT_MS;
        beat(c);
        /* Until the next beat, wait for notifications (or sleep when the database is away). */
        for (int64_t now = time_mono_ms(); now < next_beat && !atomic_load(&c->stopping);
             now = time_mono_ms()) {
            bool changed = false;
            unsigned left = (unsigned)(next_beat - now);
            if (!c->listening || db_wait_catalog(c->db, left < 200 ? left : 200, &changed) < 0) {
                c->listening = false;
                usleep((left < 200 ? left : 200) * 1000u);
                continue;
            }
            if (changed)
                refresh_soon(c->svc);
        }
    }
    return NULL;
}

/* This node's name: the setting, or HOSTNAME:PORT of the listener. */
static void node_name(const struct config *config, char *out, size_t size)
{
    if (config->node_name[0]) {
        snprintf(out, size, "%s", config->node_name);
        return;
    }
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    const char *listen = config->listen_tls[0] && strcmp(config->listen, "off") == 0
                             ? config->listen_tls
                             : config->listen;
    const char *port = strrchr(listen, ':');
    if (snprintf(out, size, "%s:%s", host, port ? port + 1 : listen) >= (int)size)
        out[size - 1] = 0; /* a name cut short is still this node's */
}

int service_cluster_start(struct service *svc)
{
    atomic_store(&svc->live_nodes, 1u);
    if (!db_is_postgresql(svc->db)) {
        atomic_store(&svc->leader, true);
        return 0;
    }
    atomic_store(&svc->leader, false);
    struct cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->svc = svc;
    node_name(&svc->config, c->me.name, sizeof(c->me.name));
    snprintf(c->me.version, sizeof(c->me.version), "%s", OTAD_VERSION);
    c->me.started_ms = time_now_ms();
    int r =
        db_open_timed(svc->db_path, DB_RELAXED, (unsigned)svc->config.database_statement_timeout_ms,
                      DB_TIMEOUT_STATEMENTS, &c->db);
    if (r < 0) {
        free(c);
        return r;
    }
    beat(c); /* lead at once when nobody does: a single node on PostgreSQL starts its jobs now */
    if ((r = -pthread_create(&c->thread, NULL, cluster_main, c)) < 0) {
        db_close(c->db);
        free(c);
        return r;
    }
    pthread_setname_np(c->thread, "otad-cluster");
    svc->cluster = c;
    log_info("cluster: node %s on PostgreSQL", c->me.name);
    return 0;
}

void service_cluster_stop(struct service *svc)
{
    struct cluster *c = svc->cluster;
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    pthread_join(c->thread, NULL);
    if (service_is_leader(svc))
        db_leader_release(c->db); /* the next leader need not wait for this connection to close */
    atomic_store(&svc->leader, false);
    db_close(c->db);
    free(c);
    svc->cluster = NULL;
}

int service_node_list(struct service *svc, struct node_status **ret_nodes, size_t *ret_count)
{
    return db_node_list(svc->db, ret_nodes, ret_count);
}
