/*
 * The products of db.h on SQLite: a product with its signing and fleet
 * settings (products; db_product_set_fleet of db_fleet.h), and the keys it
 * has signed with (product_keys). A change a
 * check-in must see bumps the generation in the same statement's call.
 * Releases and their sequence numbers are db_sqlite_releases.c's.
 */
#include "db/db.h"
#include "db/db_fleet.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "core/util.h"

#define PRODUCT_COLUMNS                                                                            \
    "id, name, platform, default_channel, created_ms, signing, signing_key, sign_legacy, gzip, "   \
    "esp32_hash, core_min, channel_query, group_query, max_downloads, require_https, "             \
    "secure_boot_keys"

static const struct db_sqlite_query product_insert = {
    DB_SLOT_PRODUCT_INSERT,
    "INSERT INTO products (name, platform, default_channel, created_ms, sign_legacy, "
    "channel_query, group_query, max_downloads, require_https) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
    "?7, ?8, ?9)"};
static const struct db_sqlite_query product_get = {
    DB_SLOT_PRODUCT_GET, "SELECT " PRODUCT_COLUMNS " FROM products WHERE name = ?1"};
static const struct db_sqlite_query product_list = {
    DB_SLOT_PRODUCT_LIST, "SELECT " PRODUCT_COLUMNS " FROM products ORDER BY name"};
static const struct db_sqlite_query product_set_signing = {
    DB_SLOT_PRODUCT_SET_SIGNING, "UPDATE products SET signing = ?2, signing_key = ?3, "
                                 "sign_legacy = ?4, gzip = ?5, esp32_hash = ?6, core_min = ?7, "
                                 "secure_boot_keys = ?8 WHERE id = ?1"};
static const struct db_sqlite_query product_set_fleet = {
    DB_SLOT_PRODUCT_SET_FLEET, "UPDATE products SET channel_query = ?2, group_query = ?3, "
                               "max_downloads = ?4, require_https = ?5 WHERE id = ?1"};
static const struct db_sqlite_query product_key_add = {
    DB_SLOT_PRODUCT_KEY_ADD, "INSERT OR IGNORE INTO product_keys (product_id, key_name, "
                             "fingerprint, added_ms) VALUES (?1, ?2, ?3, ?4)"};
static const struct db_sqlite_query product_key_list = {
    DB_SLOT_PRODUCT_KEY_LIST, "SELECT key_name, fingerprint, added_ms FROM product_keys "
                              "WHERE product_id = ?1 ORDER BY added_ms, key_name"};

int db_sqlite_product_insert(struct db *db, struct product *p)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &product_insert);
    if (s) {
        int64_t now = time_now_ms();
        sqlite3_bind_text(s, 1, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, (int)p->platform);
        sqlite3_bind_text(s, 3, p->default_channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int(s, 5, p->signing.legacy);
        sqlite3_bind_int(s, 6, p->fleet.channel_query);
        sqlite3_bind_int(s, 7, p->fleet.group_query);
        sqlite3_bind_int64(s, 8, p->fleet.max_downloads);
        sqlite3_bind_int(s, 9, p->fleet.require_https);
        r = db_sqlite_run(sq, s, "insert product");
        if (r == 0) {
            p->id = sqlite3_last_insert_rowid(sq->conn);
            p->created_ms = now;
            /* Readers (a running server, other nodes) rebuild their catalog on this. */
            r = db_sqlite_generation_bump(sq);
        }
    }
    db_sqlite_unlock(sq);
    return r;
}

static void fill_product(sqlite3_stmt *s, void *out)
{
    struct product *p = out;
    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, p->name, sizeof(p->name));
    p->platform = sqlite3_column_int(s, 2) == PLATFORM_ESP32 ? PLATFORM_ESP32 : PLATFORM_ESP8266;
    db_sqlite_column_text(s, 3, p->default_channel, sizeof(p->default_channel));
    p->created_ms = sqlite3_column_int64(s, 4);
    p->signing.required = sqlite3_column_int(s, 5) != 0;
    db_sqlite_column_text(s, 6, p->signing.key, sizeof(p->signing.key));
    p->signing.legacy = sqlite3_column_int(s, 7) != 0;
    p->signing.gzip = sqlite3_column_int(s, 8) != 0;
    db_sqlite_column_text(s, 9, p->signing.esp32_hash, sizeof(p->signing.esp32_hash));
    db_sqlite_column_text(s, 10, p->signing.core_min, sizeof(p->signing.core_min));
    p->fleet.channel_query = sqlite3_column_int(s, 11) != 0;
    p->fleet.group_query = sqlite3_column_int(s, 12) != 0;
    int64_t cap = sqlite3_column_int64(s, 13);
    p->fleet.max_downloads = cap > 0 && cap <= UINT32_MAX ? (uint32_t)cap : 0;
    p->fleet.require_https = sqlite3_column_int(s, 14) != 0;
    db_sqlite_column_text(s, 15, p->signing.secure_boot_keys, sizeof(p->signing.secure_boot_keys));
}

int db_sqlite_product_get(struct db *db, const char *name, struct product *ret_product)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &product_get);
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill_product, ret_product, "get product");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_product_list(struct db *db, struct product **ret_products, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &product_list, 0, sizeof(struct product), fill_product,
                           (void **)ret_products, ret_count);
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_product_set_signing(struct db *db, int64_t product_id,
                                  const struct product_signing *sg)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &product_set_signing);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int(s, 2, sg->required);
        db_sqlite_bind_text_or_null(s, 3, sg->key);
        sqlite3_bind_int(s, 4, sg->legacy);
        sqlite3_bind_int(s, 5, sg->gzip);
        sqlite3_bind_text(s, 6, sg->esp32_hash[0] ? sg->esp32_hash : "sha256", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, sg->core_min, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, sg->secure_boot_keys, -1, SQLITE_STATIC);
        r = db_sqlite_run_one(sq, s, "set product signing");
        if (r == 0)
            r = db_sqlite_generation_bump(sq);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_product_set_fleet(struct db *db, int64_t product_id, const struct product_fleet *f)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &product_set_fleet);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int(s, 2, f->channel_query);
        sqlite3_bind_int(s, 3, f->group_query);
        sqlite3_bind_int64(s, 4, f->max_downloads);
        sqlite3_bind_int(s, 5, f->require_https);
        r = db_sqlite_run_one(sq, s, "set product fleet");
        if (r == 0)
            r = db_sqlite_generation_bump(sq);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_product_key_add(struct db *db, int64_t product_id, const char *name,
                              const char *fingerprint)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &product_key_add);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, time_now_ms());
        r = db_sqlite_run(sq, s, "add product key");
    }
    db_sqlite_unlock(sq);
    return r;
}

static void fill_product_key(sqlite3_stmt *s, void *out)
{
    struct product_key *k = out;
    memset(k, 0, sizeof(*k));
    db_sqlite_column_text(s, 0, k->name, sizeof(k->name));
    db_sqlite_column_text(s, 1, k->fingerprint, sizeof(k->fingerprint));
    k->added_ms = sqlite3_column_int64(s, 2);
}

int db_sqlite_product_key_list(struct db *db, int64_t product_id, struct product_key **ret_keys,
                               size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &product_key_list, product_id, sizeof(struct product_key),
                           fill_product_key, (void **)ret_keys, ret_count);
    db_sqlite_unlock(sq);
    return r;
}
