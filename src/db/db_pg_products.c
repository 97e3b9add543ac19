/*
 * The products of db.h on PostgreSQL, mirroring db_sqlite_products.c: a
 * product with its signing and fleet settings (products;
 * db_product_set_fleet of db_fleet.h), and the keys it has signed with
 * (product_keys). Releases and their sequence numbers are
 * db_pg_releases.c's.
 *
 * Where it differs from SQLite, and why:
 * - A write a check-in must see (insert, signing, fleet) runs in one
 *   transaction with its generation bump, so another node never sees the
 *   change without the bump (SQLite ran the two statements back to back
 *   under its one writer). Each is one statement on one row plus the bump:
 *   nothing is read and then written, so no row lock is needed; every such
 *   transaction locks its product row before meta's generation row, so two
 *   nodes cannot deadlock on them, and a deadlock or serialization failure
 *   with anything else (-EAGAIN) is retried whole (DB_PG_ATTEMPTS).
 * - The id comes from INSERT ... RETURNING, not last_insert_rowid.
 * - A key added twice is ON CONFLICT DO NOTHING (SQLite's INSERT OR IGNORE);
 *   two nodes adding the same key at once both succeed, the first
 *   fingerprint stays.
 * - Lists order text COLLATE "C": bytewise, as SQLite does, whatever the
 *   database's collation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "db/db.h"
#include "db/db_fleet.h"
#include "db/pg_internal.h"

#define PRODUCT_COLUMNS                                                                            \
    "id, name, platform, default_channel, created_ms, signing, signing_key, sign_legacy, gzip, "   \
    "esp32_hash, core_min, channel_query, group_query, max_downloads, require_https, "             \
    "secure_boot_keys"

static const char product_insert[] =
    "INSERT INTO products (name, platform, default_channel, created_ms, sign_legacy, "
    "channel_query, group_query, max_downloads, require_https) VALUES ($1, $2, $3, $4, $5, $6, "
    "$7, $8, $9) RETURNING id";
static const char product_get[] = "SELECT " PRODUCT_COLUMNS " FROM products WHERE name = $1";
static const char product_list[] =
    "SELECT " PRODUCT_COLUMNS " FROM products ORDER BY name COLLATE \"C\"";
static const char product_set_signing[] =
    "UPDATE products SET signing = $2, signing_key = $3, sign_legacy = $4, gzip = $5, "
    "esp32_hash = $6, core_min = $7, secure_boot_keys = $8 WHERE id = $1";
static const char product_set_fleet[] = "UPDATE products SET channel_query = $2, group_query = $3, "
                                        "max_downloads = $4, require_https = $5 WHERE id = $1";
static const char product_key_add[] =
    "INSERT INTO product_keys (product_id, key_name, fingerprint, added_ms) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (product_id, key_name) DO NOTHING";
static const char product_key_list[] = "SELECT key_name, fingerprint, added_ms FROM product_keys "
                                       "WHERE product_id = $1 ORDER BY added_ms, key_name COLLATE "
                                       "\"C\"";

/* One statement that writes a product (and must change a row), with its parameters. */
struct product_write {
    const char *sql;
    const struct db_pg_params *params;
    const char *what;
    int64_t *ret_id; /* NULL, or the statement returns one: its first column */
    int64_t id;
};

static int product_write_locked(struct db_pg *pg, void *arg)
{
    struct product_write *w = arg;
    if (w->ret_id)
        return db_pg_get(pg, w->sql, w->params, db_pg_fill_int64, &w->id, w->what);
    return db_pg_run_one(pg, w->sql, w->params, w->what);
}

/*
 * Runs the one-statement write SQL with P and bumps the generation (readers,
 * a running server and other nodes, rebuild their catalog on it), in one
 * transaction retried on -EAGAIN. The statement must change a row (-ENOENT
 * otherwise); with RET_ID (may be NULL) it returns one, its first column
 * written to *RET_ID once committed.
 */
static int write_and_bump(struct db *db, const char *sql, const struct db_pg_params *p,
                          int64_t *ret_id, const char *what)
{
    struct product_write w = {sql, p, what, ret_id, 0};
    int r = db_pg_transaction(db, product_write_locked, &w, true, what);
    if (r == 0 && ret_id)
        *ret_id = w.id;
    return r;
}

int db_pg_product_insert(struct db *db, struct product *p)
{
    int64_t now = time_now_ms();
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_text(&q, p->name);
    db_pg_param_int(&q, (int)p->platform);
    db_pg_param_text(&q, p->default_channel);
    db_pg_param_int(&q, now);
    db_pg_param_int(&q, p->signing.legacy);
    db_pg_param_int(&q, p->fleet.channel_query);
    db_pg_param_int(&q, p->fleet.group_query);
    db_pg_param_int(&q, p->fleet.max_downloads);
    db_pg_param_int(&q, p->fleet.require_https);
    int64_t id = 0;
    int r = write_and_bump(db, product_insert, &q, &id, "insert product");
    if (r == 0) {
        p->id = id;
        p->created_ms = now;
    }
    return r;
}

static void fill_product(const PGresult *res, int row, void *out)
{
    struct product *p = out;
    memset(p, 0, sizeof(*p));
    p->id = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, p->name, sizeof(p->name));
    p->platform = db_pg_int(res, row, 2) == PLATFORM_ESP32 ? PLATFORM_ESP32 : PLATFORM_ESP8266;
    db_pg_text(res, row, 3, p->default_channel, sizeof(p->default_channel));
    p->created_ms = db_pg_int(res, row, 4);
    p->signing.required = db_pg_int(res, row, 5) != 0;
    db_pg_text(res, row, 6, p->signing.key, sizeof(p->signing.key));
    p->signing.legacy = db_pg_int(res, row, 7) != 0;
    p->signing.gzip = db_pg_int(res, row, 8) != 0;
    db_pg_text(res, row, 9, p->signing.esp32_hash, sizeof(p->signing.esp32_hash));
    db_pg_text(res, row, 10, p->signing.core_min, sizeof(p->signing.core_min));
    p->fleet.channel_query = db_pg_int(res, row, 11) != 0;
    p->fleet.group_query = db_pg_int(res, row, 12) != 0;
    int64_t cap = db_pg_int(res, row, 13);
    p->fleet.max_downloads = cap > 0 && cap <= UINT32_MAX ? (uint32_t)cap : 0;
    p->fleet.require_https = db_pg_int(res, row, 14) != 0;
    db_pg_text(res, row, 15, p->signing.secure_boot_keys, sizeof(p->signing.secure_boot_keys));
}

int db_pg_product_get(struct db *db, const char *name, struct product *ret_product)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_text(&q, name);
    int r = db_pg_get(pg, product_get, &q, fill_product, ret_product, "get product");
    db_pg_unlock(pg);
    return r;
}

int db_pg_product_list(struct db *db, struct product **ret_products, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_list(pg, product_list, 0, sizeof(struct product), fill_product,
                       (void **)ret_products, ret_count, "list products");
    db_pg_unlock(pg);
    return r;
}

int db_pg_product_set_signing(struct db *db, int64_t product_id, const struct product_signing *sg)
{
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_int(&q, product_id);
    db_pg_param_int(&q, sg->required);
    db_pg_param_text_or_null(&q, sg->key);
    db_pg_param_int(&q, sg->legacy);
    db_pg_param_int(&q, sg->gzip);
    db_pg_param_text(&q, sg->esp32_hash[0] ? sg->esp32_hash : "sha256");
    db_pg_param_text(&q, sg->core_min);
    db_pg_param_text(&q, sg->secure_boot_keys);
    int r = write_and_bump(db, product_set_signing, &q, NULL, "set product signing");
    return r;
}

int db_pg_product_set_fleet(struct db *db, int64_t product_id, const struct product_fleet *f)
{
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_int(&q, product_id);
    db_pg_param_int(&q, f->channel_query);
    db_pg_param_int(&q, f->group_query);
    db_pg_param_int(&q, f->max_downloads);
    db_pg_param_int(&q, f->require_https);
    int r = write_and_bump(db, product_set_fleet, &q, NULL, "set product fleet");
    return r;
}

int db_pg_product_key_add(struct db *db, int64_t product_id, const char *name,
                          const char *fingerprint)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_int(&q, product_id);
    db_pg_param_text(&q, name);
    db_pg_param_text(&q, fingerprint);
    db_pg_param_int(&q, time_now_ms());
    int r = db_pg_run(pg, product_key_add, &q, "add product key");
    db_pg_unlock(pg);
    return r;
}

static void fill_product_key(const PGresult *res, int row, void *out)
{
    struct product_key *k = out;
    memset(k, 0, sizeof(*k));
    db_pg_text(res, row, 0, k->name, sizeof(k->name));
    db_pg_text(res, row, 1, k->fingerprint, sizeof(k->fingerprint));
    k->added_ms = db_pg_int(res, row, 2);
}

int db_pg_product_key_list(struct db *db, int64_t product_id, struct product_key **ret_keys,
                           size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params q;
    db_pg_params_init(&q);
    db_pg_param_int(&q, product_id);
    int r = db_pg_collect_rows(pg, product_key_list, &q, sizeof(struct product_key),
                               fill_product_key, (void **)ret_keys, ret_count, "list product keys");
    db_pg_unlock(pg);
    return r;
}
