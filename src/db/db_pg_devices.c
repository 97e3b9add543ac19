/*
 * The device registry of db.h on PostgreSQL (devices, version_days): the
 * same operations as db_sqlite_devices.c, function for function, for
 * several otad nodes writing one database.
 *
 * Where it differs from SQLite, and why:
 *
 * - db_devices_record writes a batch with a constant number of statements,
 *   not one per device (every statement is a network round trip): one
 *   SELECT of which of the batch's devices have a row (only when there is
 *   an ADMIT callback to ask about the others), then ONE multi-row upsert
 *   of the batch through unnest() of array parameters, in (product, MAC)
 *   order. Its ON CONFLICT DO UPDATE is SQLite's device_upsert: fields
 *   replaced, last_offered and last_key only by non-empty values, checkins
 *   raised by the record's count, first_seen kept, the interval learned
 *   from the row's old values (PostgreSQL, like SQLite, evaluates every SET
 *   expression on the old row). device_update_same is not needed:
 *   PostgreSQL writes no index entry when no indexed column changed and
 *   the row's page has room (a HOT update).
 * - One statement cannot touch a row twice, so a batch that names a device
 *   more than once is written in rounds: round N holds each device's N-th
 *   record, in the batch's order, which is what SQLite's record-by-record
 *   loop does. The registry coalesces its batches by device: one round.
 * - SQLite asks ADMIT about every record whose UPDATE found no row, and
 *   skips a record of a missing product when its INSERT fails its foreign
 *   key. Here the SELECT says which devices are new, ADMIT is asked about
 *   those (in the batch's order, until one of a device's records is let
 *   in, as SQLite does), and the upsert keeps only rows whose product
 *   exists (a foreign key error would fail the whole statement).
 * - Concurrency: two nodes recording the same device at once both count
 *   (checkins is the sum): the upsert's DO UPDATE waits for the other
 *   node's row lock and then adds to the row as the other left it, and two
 *   inserts of one new device meet in ON CONFLICT. Batches lock their rows
 *   in key order (a later round only touches rows the first locked), so
 *   two nodes' batches do not deadlock; should one still fail with a
 *   serialization failure or a deadlock (-EAGAIN), the whole transaction is
 *   tried again, up to DB_PG_ATTEMPTS times, asking ADMIT only about
 *   records it has not judged yet (ADMIT counts what it lets in).
 * - db_version_day_put replaces a day's rows (DELETE, one INSERT from
 *   arrays, DELETE of old days): it first locks the product's row (FOR NO
 *   KEY UPDATE, which device inserts' foreign key checks do not wait for),
 *   so that two nodes replacing the same product's day one after the other
 *   leave one node's rows, not a mix or a unique violation; -EAGAIN is
 *   retried as above.
 * - The page queries drop SQLite's INDEXED BY (PostgreSQL chooses its
 *   index from its statistics); "?N IS NULL" takes a typed parameter
 *   ($5::text); instr() is strpos(); a comparison is a boolean, counted
 *   with count(*) FILTER or cast to int (PostgreSQL has no boolean to
 *   bigint cast). A limit past INT64_MAX (SQLite reads it as "no limit")
 *   is sent as NULL, PostgreSQL's "no limit"; an offset past it is
 *   INT64_MAX (SQLite reads a negative one as 0).
 * - db_version_day_list breaks ties between versions with as many devices
 *   by version: the order SQLite's walk of the primary key gives them in
 *   practice, written out because PostgreSQL's sort promises nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/db.h"
#include "db/db_fleet.h"
#include "db/pg_internal.h"

/*
 * The learned interval of a known device, from the gap between its last
 * check-in and this one (excluded.last_seen_ms): as in SQLite's
 * DEVICE_INTERVAL_SET, gaps under $24, the connection's interval_min_gap_ms
 * (30 s by default), are not intervals, the first gap stands as it is,
 * then each moves the mean a quarter of the way. "d" is the existing row.
 */
#define DEVICE_INTERVAL_UPSERT                                                                     \
    "interval_ms = CASE WHEN excluded.last_seen_ms - d.last_seen_ms < $24::bigint "                \
    "THEN d.interval_ms "                                                                          \
    "WHEN d.intervals = 0 THEN excluded.last_seen_ms - d.last_seen_ms "                            \
    "ELSE (3 * d.interval_ms + excluded.last_seen_ms - d.last_seen_ms) / 4 END, "                  \
    "intervals = d.intervals + (excluded.last_seen_ms - d.last_seen_ms >= $24::bigint)::int, "

/*
 * The batch's upsert: one array per column, numbered as SQLite's
 * device_bind numbers its parameters ($20 first seen, $21 check-ins, $22
 * channel, $23 group, $24 the shortest gap that is an interval; then $25
 * the secure_version reported and $26 the highest of the merged check-ins,
 * which GREATEST keeps against the row's, skipping a NULL). Rows of a
 * product that does not exist are left out, as SQLite skips them; the rest
 * go in key order.
 */
static const char device_upsert[] =
    "INSERT INTO devices AS d (product_id, mac, ap_mac, chip_id, sdk_version, sketch_size, "
    "sketch_md5, free_space, chip_size, version, mode, user_agent, remote_addr, last_seen_ms, "
    "last_status, last_offered, last_key, core_version, delivery_issue, first_seen_ms, checkins, "
    "channel, group_name, secure_version, secure_version_max) "
    "SELECT r.* FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], "
    "$6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], "
    "$13::text[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], "
    "$19::bigint[], $20::bigint[], $21::bigint[], $22::text[], $23::text[], $25::bigint[], "
    "$26::bigint[]) "
    "AS r (product_id, mac, ap_mac, chip_id, sdk_version, sketch_size, sketch_md5, free_space, "
    "chip_size, version, mode, user_agent, remote_addr, last_seen_ms, last_status, last_offered, "
    "last_key, core_version, delivery_issue, first_seen_ms, checkins, channel, group_name, "
    "secure_version, secure_version_max) "
    "WHERE EXISTS (SELECT 1 FROM products p WHERE p.id = r.product_id) "
    "ORDER BY r.product_id, r.mac "
    "ON CONFLICT (product_id, mac) DO UPDATE SET " DEVICE_INTERVAL_UPSERT
    "ap_mac = excluded.ap_mac, chip_id = excluded.chip_id, sdk_version = excluded.sdk_version, "
    "sketch_size = excluded.sketch_size, sketch_md5 = excluded.sketch_md5, "
    "free_space = excluded.free_space, chip_size = excluded.chip_size, "
    "version = excluded.version, mode = excluded.mode, user_agent = excluded.user_agent, "
    "remote_addr = excluded.remote_addr, last_seen_ms = excluded.last_seen_ms, "
    "last_status = excluded.last_status, "
    "last_offered = COALESCE(excluded.last_offered, d.last_offered), "
    "last_key = COALESCE(excluded.last_key, d.last_key), core_version = excluded.core_version, "
    "delivery_issue = excluded.delivery_issue, checkins = d.checkins + excluded.checkins, "
    "channel = excluded.channel, group_name = excluded.group_name, "
    "secure_version = COALESCE(excluded.secure_version, d.secure_version), "
    "secure_version_max = GREATEST(d.secure_version_max, excluded.secure_version_max)";

/* Which of the batch's devices ($1 products, $2 MACs, distinct, in key order) have a row. */
static const char device_known[] =
    "SELECT d.product_id, d.mac FROM unnest($1::bigint[], $2::bigint[]) AS k (product_id, mac) "
    "JOIN devices d ON d.product_id = k.product_id AND d.mac = k.mac "
    "ORDER BY d.product_id, d.mac";

/* What fill_device reads, in its order. */
#define DEVICE_COLUMNS                                                                             \
    "mac, ap_mac, chip_id, sdk_version, sketch_size, sketch_md5, free_space, chip_size, "          \
    "version, mode, user_agent, remote_addr, first_seen_ms, last_seen_ms, last_status, "           \
    "last_offered, checkins, last_key, core_version, delivery_issue, channel, group_name, "        \
    "interval_ms, secure_version, secure_version_max"

static const char device_list[] = "SELECT " DEVICE_COLUMNS " FROM devices WHERE product_id = $1 "
                                  "ORDER BY mac LIMIT $2 OFFSET $3";
static const char device_get[] = "SELECT " DEVICE_COLUMNS ", interval_ms, intervals FROM devices "
                                 "WHERE product_id = $1 AND mac = $2";
static const char device_count[] = "SELECT count(*) FROM devices WHERE product_id = $1";
static const char device_issues[] = "SELECT delivery_issue, count(*) FROM devices "
                                    "WHERE product_id = $1 AND delivery_issue != 0 "
                                    "GROUP BY delivery_issue ORDER BY delivery_issue";
static const char device_secure_version_max[] =
    "SELECT max(secure_version_max) FROM devices WHERE product_id = $1";

static const char *report_mode_name(enum report_mode m)
{
    return m == REPORT_MODE_FS ? "spiffs" : m == REPORT_MODE_VERSION ? "version" : "sketch";
}

/* A LIMIT: SQLite reads a negative one as none; PostgreSQL refuses it and reads NULL as none. */
static void param_limit(struct db_pg_params *p, size_t limit)
{
    if ((uint64_t)limit > (uint64_t)INT64_MAX)
        db_pg_param_text(p, NULL);
    else
        db_pg_param_int(p, (int64_t)limit);
}

/* --- recording a batch --- */

/* The upsert's columns, $1 to $23, then $25 and $26 ($24 is the shortest interval). */
enum {
    COL_PRODUCT,
    COL_MAC,
    COL_AP_MAC,
    COL_CHIP_ID,
    COL_SDK_VERSION,
    COL_SKETCH_SIZE,
    COL_SKETCH_MD5,
    COL_FREE_SPACE,
    COL_CHIP_SIZE,
    COL_VERSION,
    COL_MODE,
    COL_USER_AGENT,
    COL_REMOTE_ADDR,
    COL_LAST_SEEN,
    COL_LAST_STATUS,
    COL_LAST_OFFERED,
    COL_LAST_KEY,
    COL_CORE_VERSION,
    COL_ISSUE,
    COL_FIRST_SEEN,
    COL_CHECKINS,
    COL_CHANNEL,
    COL_GROUP,
    COL_SECURE_VERSION, /* $25: after the scalar $24 */
    COL_SECURE_VERSION_MAX,
    COL_COUNT
};

/* One round's rows, a column per array. */
struct device_columns {
    struct db_pg_array col[COL_COUNT];
};

static void columns_init(struct device_columns *c)
{
    for (int i = 0; i < COL_COUNT; i++)
        db_pg_array_init(&c->col[i]);
}

static void columns_free(struct device_columns *c)
{
    for (int i = 0; i < COL_COUNT; i++)
        db_pg_array_free(&c->col[i]);
}

static void add_int_if(struct db_pg_array *a, bool has, uint64_t v)
{
    if (has)
        db_pg_array_add_int(a, (int64_t)v);
    else
        db_pg_array_add_text(a, NULL); /* NULL is NULL in an array of any type */
}

/* Adds text, or NULL when it is empty (SQLite's bind_text_or_null). */
static void add_text_or_null(struct db_pg_array *a, const char *text)
{
    db_pg_array_add_text(a, text[0] ? text : NULL);
}

/* Appends D as one row: SQLite's device_bind, column for column. */
static void columns_add(struct device_columns *c, const struct device_record *d)
{
    const struct device_report *rep = &d->report;
    db_pg_array_add_int(&c->col[COL_PRODUCT], d->product_id);
    db_pg_array_add_int(&c->col[COL_MAC], (int64_t)mac_to_u64(rep->sta_mac));
    add_int_if(&c->col[COL_AP_MAC], rep->has_ap_mac, rep->has_ap_mac ? mac_to_u64(rep->ap_mac) : 0);
    add_int_if(&c->col[COL_CHIP_ID], rep->has_chip_id, rep->chip_id);
    add_text_or_null(&c->col[COL_SDK_VERSION], rep->sdk_version);
    add_int_if(&c->col[COL_SKETCH_SIZE], rep->has_sketch_size, rep->sketch_size);
    add_text_or_null(&c->col[COL_SKETCH_MD5], rep->sketch_md5);
    add_int_if(&c->col[COL_FREE_SPACE], rep->has_free_space, rep->free_space);
    add_int_if(&c->col[COL_CHIP_SIZE], rep->has_chip_size, rep->chip_size);
    add_text_or_null(&c->col[COL_VERSION], rep->version);
    db_pg_array_add_text(&c->col[COL_MODE], report_mode_name(rep->mode));
    add_text_or_null(&c->col[COL_USER_AGENT], rep->user_agent);
    add_text_or_null(&c->col[COL_REMOTE_ADDR], d->remote_addr);
    db_pg_array_add_int(&c->col[COL_LAST_SEEN], d->last_seen_ms);
    db_pg_array_add_int(&c->col[COL_LAST_STATUS], d->last_status);
    add_text_or_null(&c->col[COL_LAST_OFFERED], d->last_offered);
    add_text_or_null(&c->col[COL_LAST_KEY], d->last_key);
    add_text_or_null(&c->col[COL_CORE_VERSION], rep->core_version);
    db_pg_array_add_int(&c->col[COL_ISSUE], (int64_t)d->issue);
    db_pg_array_add_int(&c->col[COL_FIRST_SEEN],
                        d->first_seen_ms ? d->first_seen_ms : d->last_seen_ms);
    db_pg_array_add_int(&c->col[COL_CHECKINS], d->checkins > 1 ? d->checkins : 1);
    db_pg_array_add_text(&c->col[COL_CHANNEL], d->channel);
    db_pg_array_add_text(&c->col[COL_GROUP], d->group);
    add_int_if(&c->col[COL_SECURE_VERSION], rep->has_secure_version, rep->secure_version);
    uint32_t highest = d->has_secure_version_max ? d->secure_version_max : 0;
    if (rep->has_secure_version && rep->secure_version > highest)
        highest = rep->secure_version;
    add_int_if(&c->col[COL_SECURE_VERSION_MAX],
               d->has_secure_version_max || rep->has_secure_version, highest);
}

/* What ADMIT said about one record, kept across the attempts of one call. */
enum verdict { VERDICT_UNASKED, VERDICT_ADMITTED, VERDICT_REFUSED };

/* One record of the batch that has an STA MAC. */
struct batch_entry {
    int64_t product_id, mac;
    size_t place;         /* in the caller's array */
    size_t rank;          /* among the entries, in the caller's order */
    size_t first;         /* the index of its device's first entry */
    enum verdict verdict; /* kept across attempts: ADMIT counts what it lets in */
    bool known;           /* on a device's first entry: it has a row (this attempt) */
    bool device_in;       /* on a device's first entry: its records are written from here on */
    unsigned round;       /* this attempt: 0 not written, else 1 + its device's earlier writes */
};

/* The batch of one db_pg_devices_record call. */
struct batch {
    const struct device_record *records; /* the caller's */
    struct batch_entry *entries;         /* sorted by device, then by place: key order */
    size_t *by_rank;                     /* the entries' indexes in the caller's order */
    size_t count;
};

/* Orders devices as the primary key (product_id, mac) does. */
static int device_compare(int64_t product_x, int64_t mac_x, int64_t product_y, int64_t mac_y)
{
    if (product_x != product_y)
        return product_x < product_y ? -1 : 1;
    return mac_x < mac_y ? -1 : mac_x > mac_y;
}

static int entry_compare(const void *a, const void *b)
{
    const struct batch_entry *x = a, *y = b;
    int c = device_compare(x->product_id, x->mac, y->product_id, y->mac);
    if (c != 0)
        return c;
    return x->place < y->place ? -1 : x->place > y->place;
}

static void batch_free(struct batch *b)
{
    free(b->entries);
    free(b->by_rank);
}

/* Fills B from the COUNT RECORDS that have an STA MAC, sorted. -ENOMEM. */
static int batch_init(struct batch *b, const struct device_record *records, size_t count)
{
    memset(b, 0, sizeof(*b));
    b->records = records;
    for (size_t i = 0; i < count; i++)
        b->count += records[i].report.has_sta_mac;
    if (b->count == 0)
        return 0;
    b->entries = calloc(b->count, sizeof(*b->entries));
    b->by_rank = calloc(b->count, sizeof(*b->by_rank));
    if (!b->entries || !b->by_rank) {
        batch_free(b);
        return -ENOMEM;
    }
    struct batch_entry *e = b->entries;
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (records[i].report.has_sta_mac) {
            e[n] = (struct batch_entry){.product_id = records[i].product_id,
                                        .mac = (int64_t)mac_to_u64(records[i].report.sta_mac),
                                        .place = i,
                                        .rank = n};
            n++;
        }
    qsort(e, n, sizeof(*e), entry_compare);
    for (size_t i = 0; i < n; i++) {
        b->by_rank[e[i].rank] = i;
        bool same = i > 0 && device_compare(e[i - 1].product_id, e[i - 1].mac, e[i].product_id,
                                            e[i].mac) == 0;
        e[i].first = same ? e[i - 1].first : i;
    }
    return 0;
}

/* Marks the known devices (one SELECT of the batch's distinct devices, merged in key order). */
static int find_known(struct db_pg *pg, struct batch *b)
{
    struct batch_entry *e = b->entries;
    struct db_pg_array products, macs;
    db_pg_array_init(&products);
    db_pg_array_init(&macs);
    for (size_t i = 0; i < b->count; i++) {
        e[i].known = false;
        if (e[i].first == i) {
            db_pg_array_add_int(&products, e[i].product_id);
            db_pg_array_add_int(&macs, e[i].mac);
        }
    }
    struct db_pg_params p;
    db_pg_params_init(&p);
    int r = db_pg_param_array(&p, &products);
    if (r == 0)
        r = db_pg_param_array(&p, &macs);
    PGresult *res = NULL;
    if (r == 0)
        r = db_pg_exec(pg, device_known, &p, "find known devices", &res);
    if (r == 0) {
        size_t i = 0;
        for (int row = 0; row < PQntuples(res); row++) {
            int64_t product_id = db_pg_int(res, row, 0), mac = db_pg_int(res, row, 1);
            while (i < b->count && device_compare(e[i].product_id, e[i].mac, product_id, mac) < 0)
                i++;
            if (i < b->count && device_compare(e[i].product_id, e[i].mac, product_id, mac) == 0)
                e[i].known = true; /* i is the device's first entry */
        }
        PQclear(res);
    }
    db_pg_array_free(&products);
    db_pg_array_free(&macs);
    return r;
}

/*
 * Decides which entries this attempt writes, as SQLite's loop would: every
 * record of a known device; of a new one, the first that ADMIT lets in and
 * every record after it. ADMIT is asked in the caller's order, each record
 * at most once per call. Then numbers each device's written records: its
 * N-th goes in round N. Returns the number of rounds.
 */
static unsigned plan_rounds(struct batch *b, db_device_admit_fn admit, void *ctx)
{
    struct batch_entry *e = b->entries;
    for (size_t i = 0; i < b->count; i++)
        if (e[i].first == i)
            e[i].device_in = !admit || e[i].known;
    for (size_t k = 0; k < b->count; k++) {
        struct batch_entry *x = &e[b->by_rank[k]], *first = &e[x->first];
        if (!first->device_in) {
            if (x->verdict == VERDICT_UNASKED)
                x->verdict = admit(ctx, &b->records[x->place]) ? VERDICT_ADMITTED : VERDICT_REFUSED;
            first->device_in = x->verdict == VERDICT_ADMITTED;
        }
        x->round = first->device_in; /* 1 when written: numbered below */
    }
    unsigned rounds = 0, round = 0;
    for (size_t i = 0; i < b->count; i++) {
        if (e[i].first == i)
            round = 0;
        if (e[i].round)
            e[i].round = ++round;
        if (round > rounds)
            rounds = round;
    }
    return rounds;
}

/* Writes the entries of ROUND, in key order, with one upsert; adds its rows to *ROWS. */
static int write_round(struct db_pg *pg, const struct batch *b, unsigned round, size_t *rows)
{
    struct device_columns c;
    columns_init(&c);
    for (size_t i = 0; i < b->count; i++)
        if (b->entries[i].round == round)
            columns_add(&c, &b->records[b->entries[i].place]);
    struct db_pg_params p;
    db_pg_params_init(&p);
    int r = 0;
    for (int i = 0; r == 0 && i < COL_SECURE_VERSION; i++)
        r = db_pg_param_array(&p, &c.col[i]);
    if (r == 0)
        db_pg_param_int(&p, pg->db.fleet_timing.interval_min_gap_ms);
    for (int i = COL_SECURE_VERSION; r == 0 && i < COL_COUNT; i++)
        r = db_pg_param_array(&p, &c.col[i]);
    PGresult *res = NULL;
    if (r == 0)
        r = db_pg_exec(pg, device_upsert, &p, "record devices", &res);
    if (r == 0) {
        *rows += (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    columns_free(&c);
    return r;
}

/* One attempt at the whole batch, in the caller's transaction. */
static int record_batch(struct db_pg *pg, struct batch *b, db_device_admit_fn admit, void *ctx,
                        size_t *rows)
{
    int r = 0;
    if (admit && b->count > 0)
        r = find_known(pg, b);
    unsigned rounds = r == 0 ? plan_rounds(b, admit, ctx) : 0;
    for (unsigned round = 1; r == 0 && round <= rounds; round++)
        r = write_round(pg, b, round, rows);
    return r;
}

/* One db_pg_devices_record call: its batch (ADMIT's verdicts outlive an attempt), its rows. */
struct record {
    struct batch *batch;
    db_device_admit_fn admit;
    void *ctx;
    struct db_batch *mark; /* NULL: unmarked */
    size_t rows;           /* by the last attempt */
};

static int record_locked(struct db_pg *pg, void *arg)
{
    struct record *a = arg;
    a->rows = 0; /* an attempt that did not commit wrote nothing */
    /* First: a batch that committed before is found before ADMIT is asked anything. */
    int r = a->mark ? db_pg_batch_mark(pg, a->mark) : 0;
    return r < 0 ? r : record_batch(pg, a->batch, a->admit, a->ctx, &a->rows);
}

int db_pg_devices_record(struct db *db, const struct device_record *records, size_t count,
                         db_device_admit_fn admit, void *ctx, struct db_batch *batch,
                         size_t *ret_rows)
{
    struct batch b;
    int err = batch_init(&b, records, count);
    if (err < 0)
        return err;
    struct record a = {&b, admit, ctx, batch, 0};
    err = db_pg_transaction(db, record_locked, &a, false, "record devices");
    batch_free(&b);
    if (err == -ENOMEM) /* an array past LIMIT_PG_ARRAY_BYTES, or out of memory */
        log_error("database: record devices: a batch of %zu records does not fit in memory", count);
    if (err == 0 && ret_rows)
        *ret_rows = a.rows;
    return err;
}

/* --- reading --- */

static void fill_device(const PGresult *res, int row, void *out)
{
    struct device_record *d = out;
    memset(d, 0, sizeof(*d));
    struct device_report *rep = &d->report;
    rep->has_sta_mac = true;
    mac_from_u64((uint64_t)db_pg_int(res, row, 0), rep->sta_mac);
    if ((rep->has_ap_mac = !db_pg_is_null(res, row, 1)))
        mac_from_u64((uint64_t)db_pg_int(res, row, 1), rep->ap_mac);
    if ((rep->has_chip_id = !db_pg_is_null(res, row, 2)))
        rep->chip_id = (uint64_t)db_pg_int(res, row, 2);
    db_pg_text(res, row, 3, rep->sdk_version, sizeof(rep->sdk_version));
    if ((rep->has_sketch_size = !db_pg_is_null(res, row, 4)))
        rep->sketch_size = (uint64_t)db_pg_int(res, row, 4);
    db_pg_text(res, row, 5, rep->sketch_md5, sizeof(rep->sketch_md5));
    if ((rep->has_free_space = !db_pg_is_null(res, row, 6)))
        rep->free_space = (uint64_t)db_pg_int(res, row, 6);
    if ((rep->has_chip_size = !db_pg_is_null(res, row, 7)))
        rep->chip_size = (uint64_t)db_pg_int(res, row, 7);
    db_pg_text(res, row, 8, rep->version, sizeof(rep->version));
    char mode[16];
    db_pg_text(res, row, 9, mode, sizeof(mode));
    rep->mode = strcmp(mode, "spiffs") == 0    ? REPORT_MODE_FS
                : strcmp(mode, "version") == 0 ? REPORT_MODE_VERSION
                                               : REPORT_MODE_SKETCH;
    db_pg_text(res, row, 10, rep->user_agent, sizeof(rep->user_agent));
    db_pg_text(res, row, 11, d->remote_addr, sizeof(d->remote_addr));
    d->first_seen_ms = db_pg_int(res, row, 12);
    d->last_seen_ms = db_pg_int(res, row, 13);
    d->last_status = (int)db_pg_int(res, row, 14);
    db_pg_text(res, row, 15, d->last_offered, sizeof(d->last_offered));
    d->checkins = db_pg_int(res, row, 16);
    db_pg_text(res, row, 17, d->last_key, sizeof(d->last_key));
    db_pg_text(res, row, 18, rep->core_version, sizeof(rep->core_version));
    int64_t issue = db_pg_int(res, row, 19);
    d->issue = issue > 0 && issue < DELIVERY_ISSUE_COUNT ? (enum delivery_issue)issue : DELIVERY_OK;
    db_pg_text(res, row, 20, d->channel, sizeof(d->channel));
    db_pg_text(res, row, 21, d->group, sizeof(d->group));
    d->interval_ms = db_pg_int(res, row, 22);
    if ((rep->has_secure_version = !db_pg_is_null(res, row, 23)))
        rep->secure_version = (uint32_t)db_pg_int(res, row, 23);
    if ((d->has_secure_version_max = !db_pg_is_null(res, row, 24)))
        d->secure_version_max = (uint32_t)db_pg_int(res, row, 24);
}

int db_pg_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                      struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    int64_t total = 0;
    int r = db_pg_get(pg, device_count, &p, db_pg_fill_int64, &total, "count devices");
    if (r == 0) {
        param_limit(&p, limit);
        db_pg_param_int(&p, offset > (size_t)INT64_MAX ? INT64_MAX : (int64_t)offset);
        r = db_pg_collect_rows(pg, device_list, &p, sizeof(struct device_record), fill_device,
                               (void **)ret_devices, ret_count, "list devices");
    }
    if (r == 0)
        *ret_total = (uint64_t)total;
    db_pg_unlock(pg);
    return r;
}

/* A device's row and its learned interval (device_get's last two columns). */
struct device_row {
    struct device_record record;
    int64_t interval_ms, intervals;
};

static void fill_device_row(const PGresult *res, int row, void *out)
{
    struct device_row *d = out;
    fill_device(res, row, &d->record);
    d->interval_ms = db_pg_int(res, row, 25);
    d->intervals = db_pg_int(res, row, 26);
}

int db_pg_device_get(struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret,
                     int64_t *ret_interval_ms, int64_t *ret_intervals)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int64_t)mac);
    struct device_row row;
    int r = db_pg_get(pg, device_get, &p, fill_device_row, &row, "get device");
    db_pg_unlock(pg);
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

int db_pg_device_issue_counts(struct db *db, int64_t product_id,
                              uint64_t ret_counts[DELIVERY_ISSUE_COUNT])
{
    uint64_t counts[DELIVERY_ISSUE_COUNT] = {0};
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    PGresult *res;
    int r = db_pg_exec(pg, device_issues, &p, "count devices by delivery issue", &res);
    if (r == 0) {
        for (int row = 0; row < PQntuples(res); row++) {
            int64_t issue = db_pg_int(res, row, 0);
            if (issue > 0 && issue < DELIVERY_ISSUE_COUNT)
                counts[issue] = (uint64_t)db_pg_int(res, row, 1);
        }
        PQclear(res);
    }
    db_pg_unlock(pg);
    if (r == 0)
        memcpy(ret_counts, counts, sizeof(counts));
    return r;
}

/* A db_pg_fill_fn: OUT is a struct secure_version_max, from a maximum that may be NULL. */
struct secure_version_max {
    bool known;
    uint32_t max;
};

static void fill_secure_version_max(const PGresult *res, int row, void *out)
{
    struct secure_version_max *m = out;
    if ((m->known = !db_pg_is_null(res, row, 0)))
        m->max = (uint32_t)db_pg_int(res, row, 0);
}

int db_pg_device_secure_version_max(struct db *db, int64_t product_id, bool *ret_known,
                                    uint32_t *ret_max)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    struct secure_version_max m = {false, 0};
    int r = db_pg_get(pg, device_secure_version_max, &p, fill_secure_version_max, &m,
                      "read the devices' highest secure_version");
    db_pg_unlock(pg);
    if (r == 0) {
        *ret_known = m.known;
        *ret_max = m.max;
    }
    return r;
}

/*
 * A page of the device list (docs/API.md, "Devices"): keyset paging by MAC,
 * as in db_sqlite_devices.c. Each query walks one index in MAC order from a
 * bound and stops at its LIMIT: the primary key, or, when the filter names
 * one, the index of the version, the channel, the group or the last answer
 * (migration 009), each ending in the MAC. The filter's own equality is
 * written out ("DRIVE") so that the planner sees it beside the MAC range;
 * PostgreSQL has no INDEXED BY and chooses from its statistics. The other
 * filters are checked on the rows that walk meets; "$N::type IS NULL" types
 * a parameter that would otherwise only meet IS NULL. Parameters: $1
 * product, $2 and $3 the MAC range (inclusive), $4 the limit, $5 version,
 * $6 channel, $7 group, $8 last status, $9 now (quiet), $10 a part of the
 * version.
 */
#define PAGE_FILTERS                                                                               \
    " AND ($5::text IS NULL OR version = $5::text) AND ($6::text IS NULL OR channel = $6::text)"   \
    " AND ($7::text IS NULL OR group_name = $7::text)"                                             \
    " AND ($8::bigint IS NULL OR last_status = $8::bigint)"                                        \
    " AND ($9::bigint IS NULL OR $9::bigint - last_seen_ms > CASE WHEN interval_ms > 0"            \
    " THEN 3 * interval_ms ELSE 86400000 END)"                                                     \
    " AND ($10::text IS NULL OR strpos(version, $10::text) > 0)"
#define PAGE_WHERE(DRIVE)                                                                          \
    " FROM devices WHERE product_id = $1" DRIVE " AND mac BETWEEN $2 AND $3" PAGE_FILTERS

/*
 * The three queries over one index: a page in MAC order, one backward, and
 * the count. The count takes the same parameters, so it counts at most $4
 * rows too (db_pg_device_count gives NULL: all): PostgreSQL, unlike SQLite,
 * refuses a parameter that no clause types.
 */
#define PAGE_QUERIES(DRIVE)                                                                        \
    {                                                                                              \
        "SELECT " DEVICE_COLUMNS PAGE_WHERE(DRIVE) " ORDER BY mac LIMIT $4",                       \
            "SELECT " DEVICE_COLUMNS PAGE_WHERE(DRIVE) " ORDER BY mac DESC LIMIT $4",              \
            "SELECT count(*) FROM (SELECT 1" PAGE_WHERE(DRIVE) " LIMIT $4) AS page",               \
    }

/* The index a page walks, the most selective the filter allows first. */
enum page_index { PAGE_BY_MAC, PAGE_BY_VERSION, PAGE_BY_GROUP, PAGE_BY_CHANNEL, PAGE_BY_STATUS };

static const struct {
    const char *forward, *backward, *count;
} page_queries[] = {
    [PAGE_BY_MAC] = PAGE_QUERIES(""),
    [PAGE_BY_VERSION] = PAGE_QUERIES(" AND version = $5::text"),
    [PAGE_BY_GROUP] = PAGE_QUERIES(" AND group_name = $7::text"),
    [PAGE_BY_CHANNEL] = PAGE_QUERIES(" AND channel = $6::text"),
    [PAGE_BY_STATUS] = PAGE_QUERIES(" AND last_status = $8::bigint"),
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

static const char *page_query(const struct device_filter *f, bool backward, bool count)
{
    enum page_index i = page_index_for(f);
    return count      ? page_queries[i].count
           : backward ? page_queries[i].backward
                      : page_queries[i].forward;
}

const char *db_pg_device_page_sql(const struct device_filter *filter, bool backward, bool count)
{
    return page_query(filter, backward, count);
}

/* Binds F, and LIMIT as $4, to one of the page queries. */
static void page_bind(struct db_pg_params *p, int64_t product_id, const struct device_filter *f,
                      size_t limit)
{
    db_pg_params_init(p);
    db_pg_param_int(p, product_id);
    db_pg_param_int(p, (int64_t)f->mac_min);
    db_pg_param_int(p, (int64_t)f->mac_max);
    param_limit(p, limit);
    db_pg_param_text_or_null(p, f->version);
    db_pg_param_text_or_null(p, f->channel);
    db_pg_param_text_or_null(p, f->group);
    if (f->status)
        db_pg_param_int(p, f->status);
    else
        db_pg_param_text(p, NULL);
    if (f->quiet)
        db_pg_param_int(p, f->now_ms);
    else
        db_pg_param_text(p, NULL);
    db_pg_param_text_or_null(p, f->version_part);
}

int db_pg_device_page(struct db *db, int64_t product_id, const struct device_filter *filter,
                      bool backward, size_t limit, struct device_record **ret_devices,
                      size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    page_bind(&p, product_id, filter, limit);
    int r = db_pg_collect_rows(pg, page_query(filter, backward, false), &p,
                               sizeof(struct device_record), fill_device, (void **)ret_devices,
                               ret_count, "list a page of devices");
    db_pg_unlock(pg);
    return r;
}

static const char *const device_nth_mac[2] = {
    "SELECT mac FROM devices WHERE product_id = $1 AND mac >= $2 ORDER BY mac LIMIT 1 OFFSET $3",
    "SELECT mac FROM devices WHERE product_id = $1 AND mac <= $2 ORDER BY mac DESC LIMIT 1 "
    "OFFSET $3",
};

int db_pg_device_nth_mac(struct db *db, int64_t product_id, uint64_t from, bool backward,
                         uint64_t n, uint64_t *ret_mac)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int64_t)from);
    db_pg_param_int(&p, n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n);
    int64_t mac = 0;
    int r = db_pg_get(pg, device_nth_mac[backward], &p, db_pg_fill_int64, &mac,
                      "find a device by its place");
    db_pg_unlock(pg);
    if (r == 0)
        *ret_mac = (uint64_t)mac;
    return r;
}

int db_pg_device_count(struct db *db, int64_t product_id, const struct device_filter *filter,
                       uint64_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    page_bind(&p, product_id, filter, SIZE_MAX);
    int64_t n = 0;
    int r =
        db_pg_get(pg, page_query(filter, false, true), &p, db_pg_fill_int64, &n, "count devices");
    db_pg_unlock(pg);
    if (r == 0)
        *ret_count = (uint64_t)n;
    return r;
}

/*
 * The fleet's counts per version, one pass over the product's rows: $2 the
 * start of the UTC day, $3 24 hours ago, $4 now (quiet, as PAGE_FILTERS).
 */
static const char device_version_counts[] =
    "SELECT COALESCE(version, ''), count(*), count(*) FILTER (WHERE last_seen_ms >= $2), "
    "count(*) FILTER (WHERE last_seen_ms >= $3), "
    "count(*) FILTER (WHERE $4 - last_seen_ms > CASE WHEN interval_ms > 0 THEN 3 * interval_ms "
    "ELSE 86400000 END) "
    "FROM devices WHERE product_id = $1 GROUP BY COALESCE(version, '')";

static void fill_version_count(const PGresult *res, int row, void *out)
{
    struct version_count *v = out;
    db_pg_text(res, row, 0, v->version, sizeof(v->version));
    v->devices = (uint64_t)db_pg_int(res, row, 1);
    v->seen_day = (uint64_t)db_pg_int(res, row, 2);
    v->seen_24h = (uint64_t)db_pg_int(res, row, 3);
    v->quiet = (uint64_t)db_pg_int(res, row, 4);
}

int db_pg_device_version_counts(struct db *db, int64_t product_id, int64_t day_start_ms,
                                int64_t now_ms, struct version_count **ret_counts,
                                size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, day_start_ms);
    db_pg_param_int(&p, now_ms - 24 * 3600 * 1000LL);
    db_pg_param_int(&p, now_ms);
    int r = db_pg_collect_rows(pg, device_version_counts, &p, sizeof(struct version_count),
                               fill_version_count, (void **)ret_counts, ret_count,
                               "count devices by version");
    db_pg_unlock(pg);
    return r;
}

/* --- the version history --- */

/* Serializes the writers of one product's history: see the head comment. */
static const char version_days_lock[] = "SELECT 1 FROM products WHERE id = $1 FOR NO KEY UPDATE";
static const char version_days_delete[] =
    "DELETE FROM version_days WHERE product_id = $1 AND day = $2";
/* The day's rows from arrays ($3 versions, $4 devices): one statement, not one per version. */
static const char version_days_insert[] =
    "INSERT INTO version_days (product_id, day, version, devices) "
    "SELECT $1, $2, v.version, v.devices FROM unnest($3::text[], $4::bigint[]) AS v (version, "
    "devices) ORDER BY v.version";
static const char version_days_trim[] =
    "DELETE FROM version_days WHERE product_id = $1 AND day < $2";
static const char version_days_list[] =
    "SELECT day, version, devices FROM version_days WHERE product_id = $1 AND day >= $2 "
    "ORDER BY day, devices DESC, version";

/* Starts P with $1 PRODUCT_ID and $2 DAY. */
static void day_params(struct db_pg_params *p, int64_t product_id, int64_t day)
{
    db_pg_params_init(p);
    db_pg_param_int(p, product_id);
    db_pg_param_int(p, day);
}

/* Inserts COUNT ROWS as PRODUCT_ID's history of DAY, in one statement. */
static int version_day_insert(struct db_pg *pg, int64_t product_id, int64_t day,
                              const struct version_day *rows, size_t count)
{
    struct db_pg_array versions, devices;
    db_pg_array_init(&versions);
    db_pg_array_init(&devices);
    for (size_t i = 0; i < count; i++) {
        db_pg_array_add_text(&versions, rows[i].version);
        db_pg_array_add_int(&devices, (int64_t)rows[i].devices);
    }
    struct db_pg_params p;
    day_params(&p, product_id, day);
    int r = db_pg_param_array(&p, &versions);
    if (r == 0)
        r = db_pg_param_array(&p, &devices);
    if (r == 0)
        r = db_pg_run(pg, version_days_insert, &p, "record a version day");
    db_pg_array_free(&versions);
    db_pg_array_free(&devices);
    return r;
}

/* db_pg_version_day_put's inputs, for its transaction's body. */
struct version_day_put {
    int64_t product_id, day;
    const struct version_day *rows;
    size_t count;
    int64_t keep_from_day;
};

/* One attempt at db_pg_version_day_put's writes, in the caller's transaction. */
static int version_day_write(struct db_pg *pg, void *arg)
{
    const struct version_day_put *a = arg;
    int64_t product_id = a->product_id, day = a->day;
    const struct version_day *rows = a->rows;
    size_t count = a->count;
    int64_t keep_from_day = a->keep_from_day;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    int r = db_pg_run(pg, version_days_lock, &p, "lock a product's version days");
    day_params(&p, product_id, day);
    if (r == 0)
        r = db_pg_run(pg, version_days_delete, &p, "replace a version day");
    if (r == 0 && count > 0)
        r = version_day_insert(pg, product_id, day, rows, count);
    day_params(&p, product_id, keep_from_day);
    if (r == 0)
        r = db_pg_run(pg, version_days_trim, &p, "drop old version days");
    return r;
}

int db_pg_version_day_put(struct db *db, int64_t product_id, int64_t day,
                          const struct version_day *rows, size_t count, int64_t keep_from_day)
{
    struct version_day_put a = {product_id, day, rows, count, keep_from_day};
    return db_pg_transaction(db, version_day_write, &a, false, "replace a version day");
}

static void fill_version_day(const PGresult *res, int row, void *out)
{
    struct version_day *v = out;
    v->day = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, v->version, sizeof(v->version));
    v->devices = (uint64_t)db_pg_int(res, row, 2);
}

int db_pg_version_day_list(struct db *db, int64_t product_id, int64_t from_day,
                           struct version_day **ret_rows, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, from_day);
    int r = db_pg_collect_rows(pg, version_days_list, &p, sizeof(struct version_day),
                               fill_version_day, (void **)ret_rows, ret_count, "list version days");
    db_pg_unlock(pg);
    return r;
}
