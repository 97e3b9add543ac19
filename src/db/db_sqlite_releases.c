/*
 * The releases of db.h on SQLite: a release (releases) with its variants
 * (variants) and its installed digests (installed_digests), numbered from
 * its product's next_seq. A release is written whole in one transaction
 * that also bumps the generation: it appears whole or not at all.
 */
#include "db/db.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define RELEASE_COLUMNS                                                                            \
    "id, product_id, seq, version, channel, mode, size, md5, sha256, created_ms, source, notes, "  \
    "flash_size, signed_by, verifier_key, published_via, published_by, published_tag, "            \
    "published_source_id, " APP_COLUMNS
/* struct app_desc, columns 19-30 of RELEASE_COLUMNS and ?19-?30 of the insert. */
#define APP_COLUMNS                                                                                \
    "app_present, app_framework, app_project, app_version, app_idf_version, app_build_date, "      \
    "app_build_time, app_secure_version, app_elf_sha256, app_chip_id, app_min_chip_rev, "          \
    "app_max_chip_rev"

static const struct db_sqlite_query release_next_seq = {
    DB_SLOT_RELEASE_NEXT_SEQ, "SELECT next_seq FROM products WHERE id = ?1"};
static const struct db_sqlite_query release_bump_seq = {
    DB_SLOT_RELEASE_BUMP_SEQ, "UPDATE products SET next_seq = next_seq + 1 WHERE id = ?1"};
static const struct db_sqlite_query release_insert = {
    DB_SLOT_RELEASE_INSERT,
    "INSERT INTO releases (product_id, seq, version, channel, mode, size, md5, sha256, "
    "created_ms, source, notes, flash_size, signed_by, verifier_key, published_via, "
    "published_by, published_tag, published_source_id, " APP_COLUMNS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)"};
static const struct db_sqlite_query release_get = {
    DB_SLOT_RELEASE_GET, "SELECT " RELEASE_COLUMNS " FROM releases "
                         "WHERE product_id = ?1 AND mode = ?2 AND version = ?3"};
static const struct db_sqlite_query release_list = {
    DB_SLOT_RELEASE_LIST, "SELECT " RELEASE_COLUMNS " FROM releases WHERE product_id = ?1 "
                          "ORDER BY seq DESC"};
static const struct db_sqlite_query release_set_signed_by = {
    DB_SLOT_RELEASE_SET_SIGNED_BY, "UPDATE releases SET signed_by = ?2 WHERE id = ?1"};
static const struct db_sqlite_query variant_insert = {
    DB_SLOT_VARIANT_INSERT, "INSERT INTO variants (release_id, kind, sha256, md5, size) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)"};
static const struct db_sqlite_query variant_add = {
    DB_SLOT_VARIANT_ADD, "INSERT OR IGNORE INTO variants (release_id, kind, sha256, md5, size) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)"};
static const struct db_sqlite_query variant_list = {
    DB_SLOT_VARIANT_LIST, "SELECT kind, sha256, md5, size FROM variants WHERE release_id = ?1 "
                          "ORDER BY kind"};
static const struct db_sqlite_query digest_insert = {
    DB_SLOT_DIGEST_INSERT, "INSERT OR IGNORE INTO installed_digests (release_id, digest) "
                           "VALUES (?1, ?2)"};
static const struct db_sqlite_query digest_list = {
    DB_SLOT_DIGEST_LIST, "SELECT d.release_id, d.digest FROM installed_digests d "
                         "JOIN releases r ON r.id = d.release_id WHERE r.product_id = ?1"};

/* Runs variant query Q (variant_insert or variant_add) for V of RELEASE_ID. */
static int variant_write(struct db_sqlite *sq, const struct db_sqlite_query *q, int64_t release_id,
                         const struct variant *v, const char *what)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, q);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, release_id);
    sqlite3_bind_int(s, 2, (int)v->kind);
    sqlite3_bind_text(s, 3, v->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, v->md5, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)v->size);
    return db_sqlite_run(sq, s, what);
}

/* Takes the product's next sequence number into *RET_SEQ and moves it on. */
static int release_take_seq(struct db_sqlite *sq, int64_t product_id, int64_t *ret_seq)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &release_next_seq);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, product_id);
    int64_t seq = 0;
    int err = db_sqlite_get(sq, s, db_sqlite_fill_int64, &seq, "next sequence");
    if (err < 0)
        return err;

    if (!(s = db_sqlite_stmt(sq, &release_bump_seq)))
        return -EIO;
    sqlite3_bind_int64(s, 1, product_id);
    err = db_sqlite_run(sq, s, "bump sequence");
    if (err == 0)
        *ret_seq = seq;
    return err;
}

static int release_insert_locked(struct db_sqlite *sq, struct release *r,
                                 const char *const *digests, size_t digest_count)
{
    int64_t seq = 0;
    int err = release_take_seq(sq, r->product_id, &seq);
    if (err < 0)
        return err;

    sqlite3_stmt *s = db_sqlite_stmt(sq, &release_insert);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->product_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_text(s, 3, r->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, (int)r->mode);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)r->size);
    sqlite3_bind_text(s, 7, r->md5, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, r->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, r->created_ms);
    sqlite3_bind_text(s, 10, r->source, -1, SQLITE_STATIC);
    db_sqlite_bind_text_or_null(s, 11, r->notes);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)r->flash_size);
    db_sqlite_bind_text_or_null(s, 13, r->signed_by);
    sqlite3_bind_text(s, 14, r->verifier_key, -1, SQLITE_STATIC);
    db_sqlite_bind_text_or_null(s, 15, r->published_via);
    db_sqlite_bind_text_or_null(s, 16, r->published_by);
    db_sqlite_bind_text_or_null(s, 17, r->published_tag);
    if (r->published_source_id)
        sqlite3_bind_int64(s, 18, r->published_source_id);
    const struct app_desc *app = &r->app;
    sqlite3_bind_int(s, 19, app->present);
    sqlite3_bind_int(s, 20, app->framework);
    sqlite3_bind_text(s, 21, app->project, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 22, app->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 23, app->idf_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 24, app->build_date, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 25, app->build_time, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 26, app->secure_version);
    sqlite3_bind_text(s, 27, app->elf_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 28, app->chip_id);
    sqlite3_bind_int(s, 29, app->min_chip_rev);
    sqlite3_bind_int(s, 30, app->max_chip_rev);
    err = db_sqlite_run(sq, s, "insert release");
    if (err < 0)
        return err;
    int64_t id = sqlite3_last_insert_rowid(sq->conn);

    /* A taken (release, kind) or digest here is the caller's bug, not a taken version. */
    for (unsigned i = 0; i < r->variant_count; i++) {
        err = variant_write(sq, &variant_insert, id, &r->variants[i], "insert variant");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    for (size_t i = 0; i < digest_count; i++) {
        if (!(s = db_sqlite_stmt(sq, &digest_insert)))
            return -EIO;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, digests[i], -1, SQLITE_STATIC);
        err = db_sqlite_run(sq, s, "insert digest");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    err = db_sqlite_generation_bump(sq);
    if (err < 0)
        return err;
    r->id = id;
    r->seq = seq;
    return 0;
}

int db_sqlite_release_insert(struct db *db, struct release *r, const char *const *digests,
                             size_t digest_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int err = db_sqlite_begin(sq);
    if (err == 0)
        err = db_sqlite_finish(sq, release_insert_locked(sq, r, digests, digest_count));
    db_sqlite_unlock(sq);
    return err;
}

static int release_add_variants_locked(struct db_sqlite *sq, int64_t release_id,
                                       const struct variant *v, unsigned count,
                                       const char *signed_by)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &release_set_signed_by);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, release_id);
    db_sqlite_bind_text_or_null(s, 2, signed_by);
    int err = db_sqlite_run_one(sq, s, "set release signer");
    for (unsigned i = 0; err == 0 && i < count; i++)
        err = variant_write(sq, &variant_add, release_id, &v[i], "add variant");
    return err == 0 ? db_sqlite_generation_bump(sq) : err;
}

int db_sqlite_release_add_variants(struct db *db, int64_t release_id, const struct variant *v,
                                   unsigned count, const char *signed_by)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int err = db_sqlite_begin(sq);
    if (err == 0)
        err =
            db_sqlite_finish(sq, release_add_variants_locked(sq, release_id, v, count, signed_by));
    db_sqlite_unlock(sq);
    return err;
}

static void fill_release(sqlite3_stmt *s, void *out)
{
    struct release *r = out;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->product_id = sqlite3_column_int64(s, 1);
    r->seq = sqlite3_column_int64(s, 2);
    db_sqlite_column_text(s, 3, r->version, sizeof(r->version));
    db_sqlite_column_text(s, 4, r->channel, sizeof(r->channel));
    r->mode = sqlite3_column_int(s, 5) == FW_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
    r->size = (uint64_t)sqlite3_column_int64(s, 6);
    db_sqlite_column_text(s, 7, r->md5, sizeof(r->md5));
    db_sqlite_column_text(s, 8, r->sha256, sizeof(r->sha256));
    r->created_ms = sqlite3_column_int64(s, 9);
    db_sqlite_column_text(s, 10, r->source, sizeof(r->source));
    const unsigned char *notes = sqlite3_column_text(s, 11);
    r->notes = notes ? strdup((const char *)notes) : NULL;
    r->flash_size = (uint64_t)sqlite3_column_int64(s, 12);
    db_sqlite_column_text(s, 13, r->signed_by, sizeof(r->signed_by));
    db_sqlite_column_text(s, 14, r->verifier_key, sizeof(r->verifier_key));
    /* NULL for a release stored before otad kept who published it: read as unknown. */
    db_sqlite_column_text(s, 15, r->published_via, sizeof(r->published_via));
    db_sqlite_column_text(s, 16, r->published_by, sizeof(r->published_by));
    db_sqlite_column_text(s, 17, r->published_tag, sizeof(r->published_tag));
    r->published_source_id = sqlite3_column_int64(s, 18);
    struct app_desc *app = &r->app;
    app->present = sqlite3_column_int(s, 19) != 0;
    app->framework = sqlite3_column_int(s, 20) != 0;
    db_sqlite_column_text(s, 21, app->project, sizeof(app->project));
    db_sqlite_column_text(s, 22, app->version, sizeof(app->version));
    db_sqlite_column_text(s, 23, app->idf_version, sizeof(app->idf_version));
    db_sqlite_column_text(s, 24, app->build_date, sizeof(app->build_date));
    db_sqlite_column_text(s, 25, app->build_time, sizeof(app->build_time));
    app->secure_version = (uint32_t)sqlite3_column_int64(s, 26);
    db_sqlite_column_text(s, 27, app->elf_sha256, sizeof(app->elf_sha256));
    app->chip_id = (uint16_t)sqlite3_column_int(s, 28);
    app->min_chip_rev = (uint16_t)sqlite3_column_int(s, 29);
    app->max_chip_rev = (uint16_t)sqlite3_column_int(s, 30);
}

static int variants_load_locked(struct db_sqlite *sq, struct release *r)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &variant_list);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->id);
    r->variant_count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && r->variant_count < VARIANT_KIND_COUNT) {
        struct variant *v = &r->variants[r->variant_count++];
        int kind = sqlite3_column_int(s, 0);
        v->kind = kind >= 0 && kind < VARIANT_KIND_COUNT ? (enum variant_kind)kind : VARIANT_PLAIN;
        db_sqlite_column_text(s, 1, v->sha256, sizeof(v->sha256));
        db_sqlite_column_text(s, 2, v->md5, sizeof(v->md5));
        v->size = (uint64_t)sqlite3_column_int64(s, 3);
    }
    int err = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_sqlite_fail(sq, "read variants");
    sqlite3_reset(s);
    return err;
}

int db_sqlite_release_get(struct db *db, int64_t product_id, enum fw_mode mode, const char *version,
                          struct release *ret_release)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    struct release rel;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &release_get);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int(s, 2, (int)mode);
        sqlite3_bind_text(s, 3, version, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill_release, &rel, "get release");
    }
    if (r == 0) {
        r = variants_load_locked(sq, &rel);
        if (r == 0)
            *ret_release = rel;
        else
            free(rel.notes);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_release_list(struct db *db, int64_t product_id, struct release **ret_releases,
                           size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    struct release *list = NULL;
    size_t count = 0;
    int r = db_sqlite_list(sq, &release_list, product_id, sizeof(struct release), fill_release,
                           (void **)&list, &count);
    for (size_t i = 0; r == 0 && i < count; i++)
        r = variants_load_locked(sq, &list[i]);
    db_sqlite_unlock(sq);
    if (r < 0) {
        release_list_free(list, count);
        return r;
    }
    *ret_releases = list;
    *ret_count = count;
    return 0;
}

static void fill_digest(sqlite3_stmt *s, void *out)
{
    struct release_digest *d = out;
    d->release_id = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, d->digest, sizeof(d->digest));
}

int db_sqlite_digest_list(struct db *db, int64_t product_id, struct release_digest **ret_digests,
                          size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &digest_list, product_id, sizeof(struct release_digest), fill_digest,
                           (void **)ret_digests, ret_count);
    db_sqlite_unlock(sq);
    return r;
}
