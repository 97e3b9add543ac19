/*
 * The front of the database layer: db_open picks the backend from where
 * the database is (a file: SQLite; a postgresql:// URL: PostgreSQL, when
 * built with it), and every other db.h function forwards to the backend
 * the handle was opened with (backend.h's operations table). What needs
 * no database (freeing what a call returned) lives here too.
 */
#include "db/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

bool db_location_is_postgresql(const char *location)
{
    return strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0;
}

int db_location(const char *database, const char *data_dir, char *out, size_t size)
{
    int n = database && database[0] ? snprintf(out, size, "%s", database)
                                    : snprintf(out, size, "%s/" DB_FILE_NAME, data_dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool db_postgresql_built(void)
{
#ifdef OTAD_WITH_POSTGRESQL
    return true;
#else
    return false;
#endif
}

int db_open(const char *location, enum db_durability durability, struct db **ret_db)
{
    return db_open_timed(location, durability, 0, DB_TIMEOUT_STATEMENTS, ret_db);
}

/* The backend's open for LOCATION. */
static int backend_open(const char *location, enum db_durability durability, unsigned timeout_ms,
                        enum db_timeout_scope scope, struct db **ret_db)
{
    if (!db_location_is_postgresql(location))
        return db_sqlite_open(location, durability, ret_db);
#ifdef OTAD_WITH_POSTGRESQL
    return db_pg_open(location, durability, timeout_ms, scope, ret_db);
#else
    (void)timeout_ms;
    (void)scope;
    log_error("database: this otad was built without PostgreSQL (meson -Dpostgresql=enabled "
              "needs libpq-dev)");
    return -ENOTSUP;
#endif
}

int db_open_timed(const char *location, enum db_durability durability, unsigned timeout_ms,
                  enum db_timeout_scope scope, struct db **ret_db)
{
    struct db *db;
    int r = backend_open(location, durability, timeout_ms, scope, &db);
    if (r < 0)
        return r;
    db->fleet_timing = (struct db_fleet_timing){
        .deadline_margin_ms = DB_FLEET_DEADLINE_MARGIN_MS_DEFAULT,
        .interval_min_gap_ms = DB_FLEET_INTERVAL_MIN_GAP_MS_DEFAULT,
    };
    *ret_db = db;
    return 0;
}

void db_set_fleet_timing(struct db *db, const struct db_fleet_timing *timing)
{
    db->fleet_timing.deadline_margin_ms =
        timing->deadline_margin_ms > 0 ? timing->deadline_margin_ms : 0;
    /* At least 1 ms: a batch applied twice (a gap of 0) must never teach an interval. */
    db->fleet_timing.interval_min_gap_ms =
        timing->interval_min_gap_ms > 1 ? timing->interval_min_gap_ms : 1;
}

void db_close(struct db *db)
{
    if (db)
        db->ops->close(db);
}

bool db_is_postgresql(const struct db *db)
{
#ifdef OTAD_WITH_POSTGRESQL
    return db->ops == &db_pg_ops;
#else
    (void)db;
    return false;
#endif
}

#define DB_FORWARD(name, params, args)                                                             \
    int db_##name params                                                                           \
    {                                                                                              \
        return db->ops->name args;                                                                 \
    }
DB_OPERATIONS(DB_FORWARD)
#undef DB_FORWARD

void db_notify_deliveries_free(struct notify_delivery *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        free(d[i].body);
    free(d);
}
