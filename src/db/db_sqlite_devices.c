/*
 * The device registry of db.h on SQLite (devices): one row per product and
 * STA MAC, written in batches by the registry flusher (service/registry.c)
 * on its own connection, and read by the API and the CLI. The batch's
 * common case, a known device, is one UPDATE (one B-tree search); only a
 * new device, when the caller admits it, costs the upsert. The same
 * statement learns the device's check-in interval (the silence deadline
 * of docs/FLEET.md): no statement of its own.
 */
#include "db/db.h"
#include "db/db_fleet.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

/*
 * The learned interval of a known device, from the gap between its last
 * check-in and this one (?14): gaps under 30 s (retries, a reboot, a clock
 * step back) are not intervals; the first gap stands as it is, then each
 * moves the mean a quarter of the way. Reads the row's old values: SQLite
 * evaluates every SET expression before it writes any. NEW is ?14 in the
 * update, excluded.last_seen_ms in the upsert.
 */
#define DEVICE_INTERVAL_SET(NEW)                                                                   \
    "interval_ms = CASE WHEN " NEW " - last_seen_ms < 30000 THEN interval_ms "                     \
    "WHEN intervals = 0 THEN " NEW " - last_seen_ms "                                              \
    "ELSE (3 * interval_ms + " NEW " - last_seen_ms) / 4 END, "                                    \
    "intervals = intervals + (" NEW " - last_seen_ms >= 30000), "

#define DEVICE_INTERVAL_UPDATE DEVICE_INTERVAL_SET("?14")
#define DEVICE_INTERVAL_UPSERT DEVICE_INTERVAL_SET("excluded.last_seen_ms")

/* Both take device_bind's parameters (?20 first_seen, unused by the update; ?21 check-ins). */
static const struct db_sqlite_query device_update = {
    DB_SLOT_DEVICE_UPDATE,
    "UPDATE devices SET " DEVICE_INTERVAL_UPDATE
    "ap_mac = ?3, chip_id = ?4, sdk_version = ?5, sketch_size = ?6, "
    "sketch_md5 = ?7, free_space = ?8, chip_size = ?9, version = ?10, mode = ?11, "
    "user_agent = ?12, remote_addr = ?13, last_seen_ms = ?14, last_status = ?15, "
    "last_offered = coalesce(?16, last_offered), last_key = coalesce(?17, last_key), "
    "core_version = ?18, delivery_issue = ?19, checkins = checkins + ?21 "
    "WHERE product_id = ?1 AND mac = ?2"};
static const struct db_sqlite_query device_upsert = {
    DB_SLOT_DEVICE_UPSERT,
    "INSERT INTO devices (product_id, mac, ap_mac, chip_id, sdk_version, sketch_size, "
    "sketch_md5, free_space, chip_size, version, mode, user_agent, remote_addr, "
    "first_seen_ms, last_seen_ms, last_status, last_offered, last_key, core_version, "
    "delivery_issue, checkins) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?20, ?14, ?15, ?16, ?17, "
    "?18, ?19, ?21) "
    "ON CONFLICT (product_id, mac) DO UPDATE SET " DEVICE_INTERVAL_UPSERT
    "ap_mac = excluded.ap_mac, "
    "chip_id = excluded.chip_id, sdk_version = excluded.sdk_version, "
    "sketch_size = excluded.sketch_size, sketch_md5 = excluded.sketch_md5, "
    "free_space = excluded.free_space, chip_size = excluded.chip_size, "
    "version = excluded.version, mode = excluded.mode, user_agent = excluded.user_agent, "
    "remote_addr = excluded.remote_addr, last_seen_ms = excluded.last_seen_ms, "
    "last_status = excluded.last_status, "
    "last_offered = coalesce(excluded.last_offered, last_offered), "
    "last_key = coalesce(excluded.last_key, last_key), core_version = excluded.core_version, "
    "delivery_issue = excluded.delivery_issue, checkins = checkins + excluded.checkins"};

/* What fill_device reads, in its order. */
#define DEVICE_COLUMNS                                                                             \
    "mac, ap_mac, chip_id, sdk_version, sketch_size, sketch_md5, free_space, chip_size, "          \
    "version, mode, user_agent, remote_addr, first_seen_ms, last_seen_ms, last_status, "           \
    "last_offered, checkins, last_key, core_version, delivery_issue"

static const struct db_sqlite_query device_list = {
    DB_SLOT_DEVICE_LIST, "SELECT " DEVICE_COLUMNS " FROM devices WHERE product_id = ?1 "
                         "ORDER BY mac LIMIT ?2 OFFSET ?3"};
static const struct db_sqlite_query device_get = {
    DB_SLOT_DEVICE_GET, "SELECT " DEVICE_COLUMNS ", interval_ms, intervals FROM devices "
                        "WHERE product_id = ?1 AND mac = ?2"};
static const struct db_sqlite_query device_count = {
    DB_SLOT_DEVICE_COUNT, "SELECT count(*) FROM devices WHERE product_id = ?1"};
static const struct db_sqlite_query device_issues = {
    DB_SLOT_DEVICE_ISSUES, "SELECT delivery_issue, count(*) FROM devices "
                           "WHERE product_id = ?1 AND delivery_issue != 0 "
                           "GROUP BY delivery_issue ORDER BY delivery_issue"};

static const char *report_mode_name(enum report_mode m)
{
    return m == REPORT_MODE_FS ? "spiffs" : m == REPORT_MODE_VERSION ? "version" : "sketch";
}

/* Binds D to device_update or device_upsert. */
static void device_bind(sqlite3_stmt *s, const struct device_record *d)
{
    const struct device_report *rep = &d->report;
    sqlite3_bind_int64(s, 1, d->product_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)mac_to_u64(rep->sta_mac));
    if (rep->has_ap_mac)
        sqlite3_bind_int64(s, 3, (sqlite3_int64)mac_to_u64(rep->ap_mac));
    if (rep->has_chip_id)
        sqlite3_bind_int64(s, 4, (sqlite3_int64)rep->chip_id);
    db_sqlite_bind_text_or_null(s, 5, rep->sdk_version);
    if (rep->has_sketch_size)
        sqlite3_bind_int64(s, 6, (sqlite3_int64)rep->sketch_size);
    db_sqlite_bind_text_or_null(s, 7, rep->sketch_md5);
    if (rep->has_free_space)
        sqlite3_bind_int64(s, 8, (sqlite3_int64)rep->free_space);
    if (rep->has_chip_size)
        sqlite3_bind_int64(s, 9, (sqlite3_int64)rep->chip_size);
    db_sqlite_bind_text_or_null(s, 10, rep->version);
    sqlite3_bind_text(s, 11, report_mode_name(rep->mode), -1, SQLITE_STATIC);
    db_sqlite_bind_text_or_null(s, 12, rep->user_agent);
    db_sqlite_bind_text_or_null(s, 13, d->remote_addr);
    sqlite3_bind_int64(s, 14, d->last_seen_ms);
    sqlite3_bind_int(s, 15, d->last_status);
    db_sqlite_bind_text_or_null(s, 16, d->last_offered);
    db_sqlite_bind_text_or_null(s, 17, d->last_key);
    db_sqlite_bind_text_or_null(s, 18, rep->core_version);
    sqlite3_bind_int(s, 19, (int)d->issue);
    sqlite3_bind_int64(s, 20, d->first_seen_ms ? d->first_seen_ms : d->last_seen_ms);
    sqlite3_bind_int64(s, 21, d->checkins > 1 ? d->checkins : 1);
}

/*
 * Writes D: an update of its row when it has one (the common case: one
 * B-tree search), else a new row when ADMIT allows. Adds the rows written
 * to *ROWS.
 */
static int device_write_locked(struct db_sqlite *sq, const struct device_record *d,
                               db_device_admit_fn admit, void *ctx, size_t *rows)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_update);
    if (!s)
        return -EIO;
    device_bind(s, d);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_sqlite_fail(sq, "record device");
    if (sqlite3_changes(sq->conn) > 0) {
        (*rows)++;
        return 0;
    }
    if (admit && !admit(ctx, d))
        return 0;
    /* An upsert, not an insert: another process may have added the row since. */
    if (!(s = db_sqlite_stmt(sq, &device_upsert)))
        return -EIO;
    device_bind(s, d);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        (*rows)++;
        return 0;
    }
    if (rc == SQLITE_CONSTRAINT) /* the product was never stored: skip the record */
        return 0;
    return db_sqlite_fail(sq, "record device");
}

int db_devices_record(struct db *db, const struct device_record *records, size_t count,
                      db_device_admit_fn admit, void *ctx, size_t *ret_rows)
{
    size_t rows = 0;
    struct db_sqlite *sq = db_sqlite_lock(db);
    int err = db_sqlite_begin(sq);
    if (err == 0) {
        for (size_t i = 0; err == 0 && i < count; i++)
            if (records[i].report.has_sta_mac)
                err = device_write_locked(sq, &records[i], admit, ctx, &rows);
        err = db_sqlite_finish(sq, err);
    }
    db_sqlite_unlock(sq);
    if (err == 0 && ret_rows)
        *ret_rows = rows;
    return err;
}

static void fill_device(sqlite3_stmt *s, void *out)
{
    struct device_record *d = out;
    memset(d, 0, sizeof(*d));
    struct device_report *rep = &d->report;
    rep->has_sta_mac = true;
    mac_from_u64((uint64_t)sqlite3_column_int64(s, 0), rep->sta_mac);
    if ((rep->has_ap_mac = sqlite3_column_type(s, 1) != SQLITE_NULL))
        mac_from_u64((uint64_t)sqlite3_column_int64(s, 1), rep->ap_mac);
    if ((rep->has_chip_id = sqlite3_column_type(s, 2) != SQLITE_NULL))
        rep->chip_id = (uint64_t)sqlite3_column_int64(s, 2);
    db_sqlite_column_text(s, 3, rep->sdk_version, sizeof(rep->sdk_version));
    if ((rep->has_sketch_size = sqlite3_column_type(s, 4) != SQLITE_NULL))
        rep->sketch_size = (uint64_t)sqlite3_column_int64(s, 4);
    db_sqlite_column_text(s, 5, rep->sketch_md5, sizeof(rep->sketch_md5));
    if ((rep->has_free_space = sqlite3_column_type(s, 6) != SQLITE_NULL))
        rep->free_space = (uint64_t)sqlite3_column_int64(s, 6);
    if ((rep->has_chip_size = sqlite3_column_type(s, 7) != SQLITE_NULL))
        rep->chip_size = (uint64_t)sqlite3_column_int64(s, 7);
    db_sqlite_column_text(s, 8, rep->version, sizeof(rep->version));
    char mode[16];
    db_sqlite_column_text(s, 9, mode, sizeof(mode));
    rep->mode = strcmp(mode, "spiffs") == 0    ? REPORT_MODE_FS
                : strcmp(mode, "version") == 0 ? REPORT_MODE_VERSION
                                               : REPORT_MODE_SKETCH;
    db_sqlite_column_text(s, 10, rep->user_agent, sizeof(rep->user_agent));
    db_sqlite_column_text(s, 11, d->remote_addr, sizeof(d->remote_addr));
    d->first_seen_ms = sqlite3_column_int64(s, 12);
    d->last_seen_ms = sqlite3_column_int64(s, 13);
    d->last_status = sqlite3_column_int(s, 14);
    db_sqlite_column_text(s, 15, d->last_offered, sizeof(d->last_offered));
    d->checkins = sqlite3_column_int64(s, 16);
    db_sqlite_column_text(s, 17, d->last_key, sizeof(d->last_key));
    db_sqlite_column_text(s, 18, rep->core_version, sizeof(rep->core_version));
    int issue = sqlite3_column_int(s, 19);
    d->issue = issue > 0 && issue < DELIVERY_ISSUE_COUNT ? (enum delivery_issue)issue : DELIVERY_OK;
}

int db_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                   struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    int64_t total = 0;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_count);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        r = db_sqlite_get(sq, s, db_sqlite_fill_int64, &total, "count devices");
    }
    if (r == 0) {
        s = db_sqlite_stmt(sq, &device_list);
        r = -EIO;
        if (s) {
            sqlite3_bind_int64(s, 1, product_id);
            sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
            sqlite3_bind_int64(s, 3, (sqlite3_int64)offset);
            r = db_sqlite_collect_rows(sq, s, sizeof(struct device_record), fill_device,
                                       (void **)ret_devices, ret_count);
        }
    }
    if (r == 0)
        *ret_total = (uint64_t)total;
    db_sqlite_unlock(sq);
    return r;
}

/* A device's row and its learned interval (device_get's last two columns). */
struct device_row {
    struct device_record record;
    int64_t interval_ms, intervals;
};

static void fill_device_row(sqlite3_stmt *s, void *out)
{
    struct device_row *row = out;
    fill_device(s, &row->record);
    row->interval_ms = sqlite3_column_int64(s, 20);
    row->intervals = sqlite3_column_int64(s, 21);
}

int db_device_get(struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret,
                  int64_t *ret_interval_ms, int64_t *ret_intervals)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    struct device_row row;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_get);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)mac);
        r = db_sqlite_get(sq, s, fill_device_row, &row, "get device");
    }
    db_sqlite_unlock(sq);
    if (r < 0)
        return r;
    row.record.product_id = product_id;
    *ret = row.record;
    if (ret_interval_ms)
        *ret_interval_ms = row.interval_ms;
    if (ret_intervals)
        *ret_intervals = row.intervals;
    return 0;
}

int db_device_issue_counts(struct db *db, int64_t product_id,
                           uint64_t ret_counts[DELIVERY_ISSUE_COUNT])
{
    uint64_t counts[DELIVERY_ISSUE_COUNT] = {0};
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_issues);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int issue = sqlite3_column_int(s, 0);
            if (issue > 0 && issue < DELIVERY_ISSUE_COUNT)
                counts[issue] = (uint64_t)sqlite3_column_int64(s, 1);
        }
        r = rc == SQLITE_DONE ? 0 : db_sqlite_fail(sq, "count devices by delivery issue");
        sqlite3_reset(s);
    }
    db_sqlite_unlock(sq);
    if (r == 0)
        memcpy(ret_counts, counts, sizeof(counts));
    return r;
}
