/*
 * TEMPORARY, while the PostgreSQL backend is being ported entity by entity:
 * every operation not yet written for PostgreSQL answers -ENOSYS here, so
 * the backend links and the ported ones can be tested. Each port deletes
 * its functions from this file; the port is finished when this file is
 * gone (it must not be in a release).
 */
#include <errno.h>

#include "core/log.h"
#include "db/pg_internal.h"

static int not_ported(const char *what)
{
    log_error("database: %s is not written for PostgreSQL yet", what);
    return -ENOSYS;
}

int db_pg_channel_put(struct db *db, struct channel *c)
{
    (void)db;
    (void)c;
    return not_ported("channel_put");
}

int db_pg_channel_get(struct db *db, int64_t product_id, const char *name, struct channel *ret)
{
    (void)db;
    (void)product_id;
    (void)name;
    (void)ret;
    return not_ported("channel_get");
}

int db_pg_channel_list(struct db *db, int64_t product_id, struct channel **ret, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret;
    (void)ret_count;
    return not_ported("channel_list");
}

int db_pg_channel_delete(struct db *db, int64_t product_id, const char *name)
{
    (void)db;
    (void)product_id;
    (void)name;
    return not_ported("channel_delete");
}

int db_pg_group_insert(struct db *db, struct group *g)
{
    (void)db;
    (void)g;
    return not_ported("group_insert");
}

int db_pg_group_update(struct db *db, const struct group *g)
{
    (void)db;
    (void)g;
    return not_ported("group_update");
}

int db_pg_group_delete(struct db *db, int64_t product_id, const char *name)
{
    (void)db;
    (void)product_id;
    (void)name;
    return not_ported("group_delete");
}

int db_pg_group_get(struct db *db, int64_t product_id, const char *name, struct group *ret)
{
    (void)db;
    (void)product_id;
    (void)name;
    (void)ret;
    return not_ported("group_get");
}

int db_pg_group_list(struct db *db, int64_t product_id, struct group **ret, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret;
    (void)ret_count;
    return not_ported("group_list");
}

int db_pg_group_macs_change(struct db *db, int64_t group_id, const uint64_t *macs, size_t count,
                            bool add)
{
    (void)db;
    (void)group_id;
    (void)macs;
    (void)count;
    (void)add;
    return not_ported("group_macs_change");
}

int db_pg_group_macs_list(struct db *db, int64_t group_id, uint64_t **ret_macs,
                          int64_t **ret_group_ids, size_t *ret_count)
{
    (void)db;
    (void)group_id;
    (void)ret_macs;
    (void)ret_group_ids;
    (void)ret_count;
    return not_ported("group_macs_list");
}

int db_pg_pin_put(struct db *db, struct pin *p)
{
    (void)db;
    (void)p;
    return not_ported("pin_put");
}

int db_pg_pin_delete(struct db *db, int64_t product_id, uint64_t mac)
{
    (void)db;
    (void)product_id;
    (void)mac;
    return not_ported("pin_delete");
}

int db_pg_pin_list(struct db *db, int64_t product_id, struct pin **ret, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret;
    (void)ret_count;
    return not_ported("pin_list");
}

int db_pg_deployment_set(struct db *db, int64_t product_id, const char *channel, enum fw_mode mode,
                         int64_t release_id)
{
    (void)db;
    (void)product_id;
    (void)channel;
    (void)mode;
    (void)release_id;
    return not_ported("deployment_set");
}

int db_pg_deployment_list(struct db *db, int64_t product_id, struct deployment **ret,
                          size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret;
    (void)ret_count;
    return not_ported("deployment_list");
}

int db_pg_release_withdraw(struct db *db, const int64_t *ids, size_t count, int64_t at_ms)
{
    (void)db;
    (void)ids;
    (void)count;
    (void)at_ms;
    return not_ported("release_withdraw");
}

int db_pg_withdrawn_list(struct db *db, int64_t product_id, int64_t **ret_ids, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret_ids;
    (void)ret_count;
    return not_ported("withdrawn_list");
}

int db_pg_rollout_insert(struct db *db, struct rollout *r, bool supersede)
{
    (void)db;
    (void)r;
    (void)supersede;
    return not_ported("rollout_insert");
}

int db_pg_rollout_update(struct db *db, const struct rollout *r)
{
    (void)db;
    (void)r;
    return not_ported("rollout_update");
}

int db_pg_rollout_get(struct db *db, int64_t id, struct rollout *ret)
{
    (void)db;
    (void)id;
    (void)ret;
    return not_ported("rollout_get");
}

int db_pg_rollout_list(struct db *db, int64_t product_id, bool active_only, struct rollout **ret,
                       size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)active_only;
    (void)ret;
    (void)ret_count;
    return not_ported("rollout_list");
}

int db_pg_rollout_counts(struct db *db, int64_t rollout_id, struct rollout_counts *ret_stages,
                         unsigned stage_count, struct rollout_counts *ret_total)
{
    (void)db;
    (void)rollout_id;
    (void)ret_stages;
    (void)stage_count;
    (void)ret_total;
    return not_ported("rollout_counts");
}

int db_pg_rollout_devices_open(struct db *db, struct rollout_device **ret, size_t *ret_count)
{
    (void)db;
    (void)ret;
    (void)ret_count;
    return not_ported("rollout_devices_open");
}

int db_pg_rollout_device_get(struct db *db, int64_t rollout_id, uint64_t mac,
                             struct rollout_device *ret)
{
    (void)db;
    (void)rollout_id;
    (void)mac;
    (void)ret;
    return not_ported("rollout_device_get");
}

int db_pg_rollout_device_last(struct db *db, int64_t product_id, uint64_t mac,
                              struct rollout_device *ret)
{
    (void)db;
    (void)product_id;
    (void)mac;
    (void)ret;
    return not_ported("rollout_device_last");
}

int db_pg_rollout_failed_macs(struct db *db, int64_t rollout_id, uint64_t **ret_macs,
                              size_t *ret_count)
{
    (void)db;
    (void)rollout_id;
    (void)ret_macs;
    (void)ret_count;
    return not_ported("rollout_failed_macs");
}

int db_pg_rollout_mark_silent(struct db *db, int64_t now_ms, struct rollout_device *ret, size_t max,
                              size_t *ret_count)
{
    (void)db;
    (void)now_ms;
    (void)ret;
    (void)max;
    (void)ret_count;
    return not_ported("rollout_mark_silent");
}

int db_pg_fleet_events_apply(struct db *db, const struct fleet_event *events, size_t count)
{
    (void)db;
    (void)events;
    (void)count;
    return not_ported("fleet_events_apply");
}

int db_pg_device_history(struct db *db, int64_t product_id, uint64_t mac, struct device_event *ret,
                         size_t max, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)mac;
    (void)ret;
    (void)max;
    (void)ret_count;
    return not_ported("device_history");
}
