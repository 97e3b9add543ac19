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
 * check-in and this one (?14): gaps under ?24, the connection's
 * interval_min_gap_ms (30 s by default: retries, a reboot, a clock step
 * back), are not intervals; the first gap stands as it is, then each
 * moves the mean a quarter of the way. Reads the row's old values: SQLite
 * evaluates every SET expression before it writes any. NEW is ?14 in the
 * update, excluded.last_seen_ms in the upsert.
 */
#define DEVICE_INTERVAL_SET(NEW)                                                                   \
    "interval_ms = CASE WHEN " NEW " - last_seen_ms < ?24 THEN interval_ms "                       \
    "WHEN intervals = 0 THEN " NEW " - last_seen_ms "                                              \
    "ELSE (3 * interval_ms + " NEW " - last_seen_ms) / 4 END, "                                    \
    "intervals = intervals + (" NEW " - last_seen_ms >= ?24), "

#define DEVICE_INTERVAL_UPDATE DEVICE_INTERVAL_SET("?14")

/*
 * The anti-rollback counter (migration 011): REPORTED, the last value a
 * check-in carried (NULL: this one carried none, the row's stays), and
 * HIGHEST, the highest of the check-ins written: the row keeps the highest
 * ever. SQLite's two-argument max() is NULL when either is, hence the
 * coalesce on each side. The last SET: no comma after it.
 */
#define DEVICE_SECURE_VERSION_SET(REPORTED, HIGHEST)                                               \
    "secure_version = coalesce(" REPORTED ", secure_version), "                                    \
    "secure_version_max = max(coalesce(" HIGHEST ", secure_version_max), "                         \
    "coalesce(secure_version_max, " HIGHEST ")) "
#define DEVICE_INTERVAL_UPSERT DEVICE_INTERVAL_SET("excluded.last_seen_ms")

/*
 * Both take device_bind's parameters (?20 first_seen, unused by the update;
 * ?21 check-ins; ?22 channel and ?23 group, what targeting gave it; ?24
 * the shortest gap that is an interval; ?25 the secure_version reported,
 * ?26 the highest of the merged check-ins).
 */
static const struct db_sqlite_query device_update = {
    DB_SLOT_DEVICE_UPDATE,
    "UPDATE devices SET " DEVICE_INTERVAL_UPDATE
    "ap_mac = ?3, chip_id = ?4, sdk_version = ?5, sketch_size = ?6, "
    "sketch_md5 = ?7, free_space = ?8, chip_size = ?9, version = ?10, mode = ?11, "
    "user_agent = ?12, remote_addr = ?13, last_seen_ms = ?14, last_status = ?15, "
    "last_offered = coalesce(?16, last_offered), last_key = coalesce(?17, last_key), "
    "core_version = ?18, delivery_issue = ?19, checkins = checkins + ?21, channel = ?22, "
    "group_name = ?23, " DEVICE_SECURE_VERSION_SET("?25",
                                                   "?26") "WHERE product_id = ?1 AND mac = ?2"};
/*
 * The common case, a device whose version, answer, channel and group are
 * what its row says: device_update without the columns migration 009
 * indexes, so no index is rewritten (SQLite rewrites the index of every
 * column a SET names, changed or not: four more B-tree writes a device).
 * SECURE_VERSION_SET is DEVICE_SECURE_VERSION_SET after a comma, or nothing.
 */
#define DEVICE_UPDATE_SAME(SECURE_VERSION_SET)                                                     \
    "UPDATE devices SET " DEVICE_INTERVAL_UPDATE                                                   \
    "ap_mac = ?3, chip_id = ?4, sdk_version = ?5, sketch_size = ?6, "                              \
    "sketch_md5 = ?7, free_space = ?8, chip_size = ?9, mode = ?11, "                               \
    "user_agent = ?12, remote_addr = ?13, last_seen_ms = ?14, "                                    \
    "last_offered = coalesce(?16, last_offered), last_key = coalesce(?17, last_key), "             \
    "core_version = ?18, delivery_issue = ?19, checkins = checkins + ?21" SECURE_VERSION_SET       \
    " WHERE product_id = ?1 AND mac = ?2 AND version IS ?10 AND last_status = ?15 "                \
    "AND channel = ?22 AND group_name = ?23"
static const struct db_sqlite_query device_update_same = {
    DB_SLOT_DEVICE_UPDATE_SAME, DEVICE_UPDATE_SAME(", " DEVICE_SECURE_VERSION_SET("?25", "?26"))};
/*
 * device_update_same for a record that carries no secure_version (?25 and
 * ?26 NULL, every Arduino core's check-in): its SETs would leave both
 * columns as they are, at a max() and two coalesce() an update (about 370
 * instructions, callgrind), so this form names neither.
 */
static const struct db_sqlite_query device_update_same_plain = {DB_SLOT_DEVICE_UPDATE_SAME_PLAIN,
                                                                DEVICE_UPDATE_SAME("")};
static const struct db_sqlite_query device_upsert = {
    DB_SLOT_DEVICE_UPSERT,
    "INSERT INTO devices (product_id, mac, ap_mac, chip_id, sdk_version, sketch_size, "
    "sketch_md5, free_space, chip_size, version, mode, user_agent, remote_addr, "
    "first_seen_ms, last_seen_ms, last_status, last_offered, last_key, core_version, "
    "delivery_issue, checkins, channel, group_name, secure_version, secure_version_max) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?20, ?14, ?15, ?16, ?17, "
    "?18, ?19, ?21, ?22, ?23, ?25, ?26) "
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
    "delivery_issue = excluded.delivery_issue, checkins = checkins + excluded.checkins, "
    "channel = excluded.channel, group_name = excluded.group_name, " DEVICE_SECURE_VERSION_SET(
        "excluded.secure_version", "excluded.secure_version_max")};

/* What fill_device reads, in its order. */
#define DEVICE_COLUMNS                                                                             \
    "mac, ap_mac, chip_id, sdk_version, sketch_size, sketch_md5, free_space, chip_size, "          \
    "version, mode, user_agent, remote_addr, first_seen_ms, last_seen_ms, last_status, "           \
    "last_offered, checkins, last_key, core_version, delivery_issue, channel, group_name, "        \
    "interval_ms, secure_version, secure_version_max"

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
static const struct db_sqlite_query device_secure_version_max_query = {
    DB_SLOT_DEVICE_SECURE_VERSION_MAX,
    "SELECT max(secure_version_max) FROM devices WHERE product_id = ?1"};

static const char *report_mode_name(enum report_mode m)
{
    return m == REPORT_MODE_FS ? "spiffs" : m == REPORT_MODE_VERSION ? "version" : "sketch";
}

/* The highest secure_version of D's check-ins: its merged maximum, or its report's. */
static uint32_t device_secure_version_max(const struct device_record *d)
{
    uint32_t v = d->has_secure_version_max ? d->secure_version_max : 0;
    if (d->report.has_secure_version && d->report.secure_version > v)
        v = d->report.secure_version;
    return v;
}

/* Binds D to device_update or device_upsert, with MIN_GAP_MS the shortest interval. */
static void device_bind(sqlite3_stmt *s, const struct device_record *d, int64_t min_gap_ms)
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
    sqlite3_bind_text(s, 22, d->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 23, d->group, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 24, min_gap_ms);
    if (rep->has_secure_version)
        sqlite3_bind_int64(s, 25, rep->secure_version);
    if (d->has_secure_version_max || rep->has_secure_version)
        sqlite3_bind_int64(s, 26, device_secure_version_max(d));
}

/*
 * Writes D: an update of its row when it has one (the common case: one
 * B-tree search, and no index written when its indexed columns are as they
 * were), else a new row when ADMIT allows. Adds the rows written
 * to *ROWS.
 */
static int device_write_locked(struct db_sqlite *sq, const struct device_record *d,
                               db_device_admit_fn admit, void *ctx, size_t *rows)
{
    bool secure_version = d->report.has_secure_version || d->has_secure_version_max;
    const struct db_sqlite_query *const updates[] = {
        secure_version ? &device_update_same : &device_update_same_plain, &device_update};
    sqlite3_stmt *s;
    int rc;
    for (size_t i = 0; i < sizeof(updates) / sizeof(updates[0]); i++) {
        if (!(s = db_sqlite_stmt(sq, updates[i])))
            return -EIO;
        device_bind(s, d, sq->db.fleet_timing.interval_min_gap_ms);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_sqlite_fail(sq, "record device");
        if (sqlite3_changes(sq->conn) > 0) {
            (*rows)++;
            return 0;
        }
    }
    if (admit && !admit(ctx, d))
        return 0;
    /* An upsert, not an insert: another process may have added the row since. */
    if (!(s = db_sqlite_stmt(sq, &device_upsert)))
        return -EIO;
    device_bind(s, d, sq->db.fleet_timing.interval_min_gap_ms);
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

int db_sqlite_devices_record(struct db *db, const struct device_record *records, size_t count,
                             db_device_admit_fn admit, void *ctx, struct db_batch *batch,
                             size_t *ret_rows)
{
    (void)batch; /* in-process: a COMMIT's outcome is never unknown */
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
    db_sqlite_column_text(s, 20, d->channel, sizeof(d->channel));
    db_sqlite_column_text(s, 21, d->group, sizeof(d->group));
    d->interval_ms = sqlite3_column_int64(s, 22);
    if ((rep->has_secure_version = sqlite3_column_type(s, 23) != SQLITE_NULL))
        rep->secure_version = (uint32_t)sqlite3_column_int64(s, 23);
    if ((d->has_secure_version_max = sqlite3_column_type(s, 24) != SQLITE_NULL))
        d->secure_version_max = (uint32_t)sqlite3_column_int64(s, 24);
}

int db_sqlite_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                          struct device_record **ret_devices, size_t *ret_count,
                          uint64_t *ret_total)
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
    row->interval_ms = sqlite3_column_int64(s, 25);
    row->intervals = sqlite3_column_int64(s, 26);
}

int db_sqlite_device_get(struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret,
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

int db_sqlite_device_issue_counts(struct db *db, int64_t product_id,
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

int db_sqlite_device_secure_version_max(struct db *db, int64_t product_id, bool *ret_known,
                                        uint32_t *ret_max)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    bool known = false;
    uint32_t max = 0;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_secure_version_max_query);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && (known = sqlite3_column_type(s, 0) != SQLITE_NULL))
            max = (uint32_t)sqlite3_column_int64(s, 0);
        r = rc == SQLITE_ROW ? 0 : db_sqlite_fail(sq, "read the devices' highest secure_version");
        sqlite3_reset(s);
    }
    db_sqlite_unlock(sq);
    if (r == 0) {
        *ret_known = known;
        *ret_max = max;
    }
    return r;
}

/*
 * A page of the device list (docs/API.md, "Devices"): keyset paging by MAC.
 * Each query walks one index in MAC order from a bound and stops at its
 * LIMIT, so the last page costs what the first does: the primary key, or,
 * when the filter names one, the index of the version, the channel, the
 * group or the last answer (migration 009), each ending in the MAC. The
 * other filters are checked on the rows that walk meets: "(?N IS NULL OR
 * ...)" never chooses an index, and the filter's index is named (INDEXED
 * BY): without statistics the planner prefers the primary key's MAC range,
 * which would walk every device to find a version's. Parameters: ?1 product, ?2 and ?3 the MAC
 * range (inclusive), ?4 the limit, ?5 version, ?6 channel, ?7 group, ?8 last status, ?9 now
 * (quiet), ?10 a part of the version.
 */
#define PAGE_FILTERS                                                                               \
    " AND (?5 IS NULL OR version = ?5) AND (?6 IS NULL OR channel = ?6)"                           \
    " AND (?7 IS NULL OR group_name = ?7) AND (?8 IS NULL OR last_status = ?8)"                    \
    " AND (?9 IS NULL OR ?9 - last_seen_ms > CASE WHEN interval_ms > 0 THEN 3 * interval_ms"       \
    " ELSE 86400000 END) AND (?10 IS NULL OR instr(version, ?10) > 0)"
#define PAGE_WHERE(INDEX, DRIVE)                                                                   \
    " FROM devices" INDEX " WHERE product_id = ?1" DRIVE " AND mac BETWEEN ?2 AND ?3" PAGE_FILTERS

/* The three queries over one index: a page in MAC order, one backward, and the count. */
#define PAGE_QUERIES(SLOT, INDEX, DRIVE)                                                           \
    {                                                                                              \
        {DB_SLOT_DEVICE_PAGE_##SLOT,                                                               \
         "SELECT " DEVICE_COLUMNS PAGE_WHERE(INDEX, DRIVE) " ORDER BY mac LIMIT ?4"},              \
            {DB_SLOT_DEVICE_PAGE_##SLOT##_DESC,                                                    \
             "SELECT " DEVICE_COLUMNS PAGE_WHERE(INDEX, DRIVE) " ORDER BY mac DESC LIMIT ?4"},     \
            {DB_SLOT_DEVICE_COUNT_##SLOT, "SELECT count(*)" PAGE_WHERE(INDEX, DRIVE)},             \
    }

/* The index a page walks, the most selective the filter allows first. */
enum page_index { PAGE_BY_MAC, PAGE_BY_VERSION, PAGE_BY_GROUP, PAGE_BY_CHANNEL, PAGE_BY_STATUS };

static const struct {
    struct db_sqlite_query forward, backward, count;
} page_queries[] = {
    [PAGE_BY_MAC] = PAGE_QUERIES(MAC, "", ""),
    [PAGE_BY_VERSION] =
        PAGE_QUERIES(VERSION, " INDEXED BY devices_by_version", " AND version = ?5"),
    [PAGE_BY_GROUP] = PAGE_QUERIES(GROUP, " INDEXED BY devices_by_group", " AND group_name = ?7"),
    [PAGE_BY_CHANNEL] =
        PAGE_QUERIES(CHANNEL, " INDEXED BY devices_by_channel", " AND channel = ?6"),
    [PAGE_BY_STATUS] =
        PAGE_QUERIES(STATUS, " INDEXED BY devices_by_status", " AND last_status = ?8"),
};

static enum page_index page_index_for(const struct device_filter *f)
{
    if (f->version && f->version[0])
        return PAGE_BY_VERSION;
    if (f->group && f->group[0])
        return PAGE_BY_GROUP;
    if (f->channel && f->channel[0])
        return PAGE_BY_CHANNEL;
    if (f->status)
        return PAGE_BY_STATUS;
    return PAGE_BY_MAC;
}

static const struct db_sqlite_query *page_query(const struct device_filter *f, bool backward,
                                                bool count)
{
    enum page_index i = page_index_for(f);
    return count      ? &page_queries[i].count
           : backward ? &page_queries[i].backward
                      : &page_queries[i].forward;
}

const char *db_sqlite_device_page_sql(const struct device_filter *filter, bool backward, bool count)
{
    return page_query(filter, backward, count)->sql;
}

static void bind_text_if(sqlite3_stmt *s, int i, const char *text)
{
    if (text && text[0])
        sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* Binds F to S, one of the page queries. */
static void page_bind(sqlite3_stmt *s, int64_t product_id, const struct device_filter *f)
{
    sqlite3_bind_int64(s, 1, product_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)f->mac_min);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)f->mac_max);
    bind_text_if(s, 5, f->version);
    bind_text_if(s, 6, f->channel);
    bind_text_if(s, 7, f->group);
    if (f->status)
        sqlite3_bind_int(s, 8, f->status);
    if (f->quiet)
        sqlite3_bind_int64(s, 9, f->now_ms);
    bind_text_if(s, 10, f->version_part);
}

int db_sqlite_device_page(struct db *db, int64_t product_id, const struct device_filter *filter,
                          bool backward, size_t limit, struct device_record **ret_devices,
                          size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, page_query(filter, backward, false));
    if (s) {
        page_bind(s, product_id, filter);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)limit);
        r = db_sqlite_collect_rows(sq, s, sizeof(struct device_record), fill_device,
                                   (void **)ret_devices, ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}

static const struct db_sqlite_query device_nth_mac[2] = {
    {DB_SLOT_DEVICE_NTH_MAC,
     "SELECT mac FROM devices WHERE product_id = ?1 AND mac >= ?2 ORDER BY mac LIMIT 1 OFFSET ?3"},
    {DB_SLOT_DEVICE_NTH_MAC_DESC,
     "SELECT mac FROM devices WHERE product_id = ?1 AND mac <= ?2 ORDER BY mac DESC LIMIT 1 "
     "OFFSET ?3"},
};

int db_sqlite_device_nth_mac(struct db *db, int64_t product_id, uint64_t from, bool backward,
                             uint64_t n, uint64_t *ret_mac)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    int64_t mac = 0;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_nth_mac[backward]);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)from);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)n);
        r = db_sqlite_get(sq, s, db_sqlite_fill_int64, &mac, "find a device by its place");
    }
    db_sqlite_unlock(sq);
    if (r == 0)
        *ret_mac = (uint64_t)mac;
    return r;
}

int db_sqlite_device_count(struct db *db, int64_t product_id, const struct device_filter *filter,
                           uint64_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    int64_t n = 0;
    sqlite3_stmt *s = db_sqlite_stmt(sq, page_query(filter, false, true));
    if (s) {
        page_bind(s, product_id, filter);
        r = db_sqlite_get(sq, s, db_sqlite_fill_int64, &n, "count devices");
    }
    db_sqlite_unlock(sq);
    if (r == 0)
        *ret_count = (uint64_t)n;
    return r;
}

/*
 * The fleet's counts per version, one pass over the product's rows: ?2 the
 * start of the UTC day, ?3 24 hours ago, ?4 now (quiet, as PAGE_FILTERS).
 */
static const struct db_sqlite_query device_version_counts = {
    DB_SLOT_DEVICE_VERSION_COUNTS,
    "SELECT coalesce(version, ''), count(*), sum(last_seen_ms >= ?2), sum(last_seen_ms >= ?3), "
    "sum(?4 - last_seen_ms > CASE WHEN interval_ms > 0 THEN 3 * interval_ms ELSE 86400000 END) "
    "FROM devices WHERE product_id = ?1 GROUP BY coalesce(version, '')"};

static void fill_version_count(sqlite3_stmt *s, void *out)
{
    struct version_count *v = out;
    db_sqlite_column_text(s, 0, v->version, sizeof(v->version));
    v->devices = (uint64_t)sqlite3_column_int64(s, 1);
    v->seen_day = (uint64_t)sqlite3_column_int64(s, 2);
    v->seen_24h = (uint64_t)sqlite3_column_int64(s, 3);
    v->quiet = (uint64_t)sqlite3_column_int64(s, 4);
}

int db_sqlite_device_version_counts(struct db *db, int64_t product_id, int64_t day_start_ms,
                                    int64_t now_ms, struct version_count **ret_counts,
                                    size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &device_version_counts);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int64(s, 2, day_start_ms);
        sqlite3_bind_int64(s, 3, now_ms - 24 * 3600 * 1000LL);
        sqlite3_bind_int64(s, 4, now_ms);
        r = db_sqlite_collect_rows(sq, s, sizeof(struct version_count), fill_version_count,
                                   (void **)ret_counts, ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}

static const struct db_sqlite_query version_days_delete = {
    DB_SLOT_VERSION_DAYS_DELETE, "DELETE FROM version_days WHERE product_id = ?1 AND day = ?2"};
static const struct db_sqlite_query version_days_insert = {
    DB_SLOT_VERSION_DAYS_INSERT,
    "INSERT INTO version_days (product_id, day, version, devices) VALUES (?1, ?2, ?3, ?4)"};
static const struct db_sqlite_query version_days_trim = {
    DB_SLOT_VERSION_DAYS_TRIM, "DELETE FROM version_days WHERE product_id = ?1 AND day < ?2"};
static const struct db_sqlite_query version_days_list = {
    DB_SLOT_VERSION_DAYS_LIST, "SELECT day, version, devices FROM version_days "
                               "WHERE product_id = ?1 AND day >= ?2 ORDER BY day, devices DESC"};

int db_sqlite_version_day_put(struct db *db, int64_t product_id, int64_t day,
                              const struct version_day *rows, size_t count, int64_t keep_from_day)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int err = db_sqlite_begin(sq);
    sqlite3_stmt *s;
    if (err == 0) {
        err = -EIO;
        if ((s = db_sqlite_stmt(sq, &version_days_delete))) {
            sqlite3_bind_int64(s, 1, product_id);
            sqlite3_bind_int64(s, 2, day);
            err = db_sqlite_run(sq, s, "replace a version day");
        }
        for (size_t i = 0; err == 0 && i < count; i++) {
            err = -EIO;
            if (!(s = db_sqlite_stmt(sq, &version_days_insert)))
                break;
            sqlite3_bind_int64(s, 1, product_id);
            sqlite3_bind_int64(s, 2, day);
            sqlite3_bind_text(s, 3, rows[i].version, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 4, (sqlite3_int64)rows[i].devices);
            err = db_sqlite_run(sq, s, "record a version day");
        }
        if (err == 0) {
            err = -EIO;
            if ((s = db_sqlite_stmt(sq, &version_days_trim))) {
                sqlite3_bind_int64(s, 1, product_id);
                sqlite3_bind_int64(s, 2, keep_from_day);
                err = db_sqlite_run(sq, s, "drop old version days");
            }
        }
        err = db_sqlite_finish(sq, err);
    }
    db_sqlite_unlock(sq);
    return err;
}

static void fill_version_day(sqlite3_stmt *s, void *out)
{
    struct version_day *v = out;
    v->day = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, v->version, sizeof(v->version));
    v->devices = (uint64_t)sqlite3_column_int64(s, 2);
}

int db_sqlite_version_day_list(struct db *db, int64_t product_id, int64_t from_day,
                               struct version_day **ret_rows, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &version_days_list);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int64(s, 2, from_day);
        r = db_sqlite_collect_rows(sq, s, sizeof(struct version_day), fill_version_day,
                                   (void **)ret_rows, ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}
