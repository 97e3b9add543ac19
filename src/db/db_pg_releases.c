/*
 * The releases of db.h on PostgreSQL, mirroring db_sqlite_releases.c: a
 * release (releases) with its variants (variants) and its installed
 * digests (installed_digests), numbered from its product's next_seq. A
 * release is written whole in one transaction that also bumps the
 * generation: it appears whole or not at all, on every node.
 *
 * Where it differs from SQLite, and why:
 * - The sequence number. SQLite read next_seq and then moved it on, safe
 *   under BEGIN IMMEDIATE's one writer; here two nodes publishing to one
 *   product at once would read the same number. release_take_seq moves it
 *   on and reads it in one statement (UPDATE ... RETURNING), which locks
 *   the product's row until the transaction ends: a second publish to that
 *   product waits for the first to commit or roll back, then takes the next
 *   number (a rolled-back publish gives its number back, as in SQLite).
 *   Publishes to other products do not wait.
 * - Lock order: the product row (or, for added variants, the release row)
 *   first, meta's generation row last, in every transaction here and in
 *   db_pg_products.c, so two nodes cannot deadlock on them; a deadlock or
 *   serialization failure with anything else (-EAGAIN) is retried whole,
 *   up to DB_PG_ATTEMPTS times.
 * - Ids come from INSERT ... RETURNING; INSERT OR IGNORE is ON CONFLICT DO
 *   NOTHING (two nodes adding the same kind of variant at once: the first
 *   one stays, as in SQLite).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/pg_internal.h"

#define RELEASE_COLUMNS                                                                            \
    "id, product_id, seq, version, channel, mode, size, md5, sha256, created_ms, source, notes, "  \
    "flash_size, signed_by, verifier_key, published_via, published_by, published_tag, "            \
    "published_source_id, " APP_COLUMNS
/* struct app_desc, columns 19-30 of RELEASE_COLUMNS and $19-$30 of the insert. */
#define APP_COLUMNS                                                                                \
    "app_present, app_framework, app_project, app_version, app_idf_version, app_build_date, "      \
    "app_build_time, app_secure_version, app_elf_sha256, app_chip_id, app_min_chip_rev, "          \
    "app_max_chip_rev"

static const char release_take_seq_sql[] =
    "UPDATE products SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1";
static const char release_insert_sql[] =
    "INSERT INTO releases (product_id, seq, version, channel, mode, size, md5, sha256, "
    "created_ms, source, notes, flash_size, signed_by, verifier_key, published_via, "
    "published_by, published_tag, published_source_id, " APP_COLUMNS ") "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
    "$19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30) "
    "RETURNING id";
static const char release_get_sql[] = "SELECT " RELEASE_COLUMNS " FROM releases "
                                      "WHERE product_id = $1 AND mode = $2 AND version = $3";
static const char release_list_sql[] = "SELECT " RELEASE_COLUMNS " FROM releases "
                                       "WHERE product_id = $1 ORDER BY seq DESC";
static const char release_set_signed_by[] = "UPDATE releases SET signed_by = $2 WHERE id = $1";
static const char variant_insert[] = "INSERT INTO variants (release_id, kind, sha256, md5, size) "
                                     "VALUES ($1, $2, $3, $4, $5)";
static const char variant_add[] = "INSERT INTO variants (release_id, kind, sha256, md5, size) "
                                  "VALUES ($1, $2, $3, $4, $5) "
                                  "ON CONFLICT (release_id, kind) DO NOTHING";
static const char variant_list[] = "SELECT kind, sha256, md5, size FROM variants "
                                   "WHERE release_id = $1 ORDER BY kind";
static const char digest_insert[] = "INSERT INTO installed_digests (release_id, digest) "
                                    "VALUES ($1, $2) ON CONFLICT (release_id, digest) DO NOTHING";
static const char digest_list_sql[] = "SELECT d.release_id, d.digest FROM installed_digests d "
                                      "JOIN releases r ON r.id = d.release_id "
                                      "WHERE r.product_id = $1";

/* Runs variant statement SQL (variant_insert or variant_add) for V of RELEASE_ID. */
static int variant_write(struct db_pg *pg, const char *sql, int64_t release_id,
                         const struct variant *v, const char *what)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, release_id);
    db_pg_param_int(&p, (int)v->kind);
    db_pg_param_text(&p, v->sha256);
    db_pg_param_text(&p, v->md5);
    db_pg_param_int(&p, (int64_t)v->size);
    return db_pg_run(pg, sql, &p, what);
}

/*
 * Takes the product's next sequence number into *RET_SEQ and moves it on,
 * locking the product's row until the transaction ends. -ENOENT when there
 * is no such product.
 */
static int release_take_seq(struct db_pg *pg, int64_t product_id, int64_t *ret_seq)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    return db_pg_get(pg, release_take_seq_sql, &p, db_pg_fill_int64, ret_seq, "take sequence");
}

/* db_release_insert's inputs, for its transaction's body. */
struct release_insert {
    struct release *release;
    const char *const *digests;
    size_t digest_count;
};

static int release_insert_locked(struct db_pg *pg, void *arg)
{
    const struct release_insert *a = arg;
    struct release *r = a->release;
    const char *const *digests = a->digests;
    size_t digest_count = a->digest_count;
    int64_t seq = 0;
    int err = release_take_seq(pg, r->product_id, &seq);
    if (err < 0)
        return err;

    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, r->product_id);
    db_pg_param_int(&p, seq);
    db_pg_param_text(&p, r->version);
    db_pg_param_text(&p, r->channel);
    db_pg_param_int(&p, (int)r->mode);
    db_pg_param_int(&p, (int64_t)r->size);
    db_pg_param_text(&p, r->md5);
    db_pg_param_text(&p, r->sha256);
    db_pg_param_int(&p, r->created_ms);
    db_pg_param_text(&p, r->source);
    db_pg_param_text_or_null(&p, r->notes);
    db_pg_param_int(&p, (int64_t)r->flash_size);
    db_pg_param_text_or_null(&p, r->signed_by);
    db_pg_param_text(&p, r->verifier_key);
    db_pg_param_text_or_null(&p, r->published_via);
    db_pg_param_text_or_null(&p, r->published_by);
    db_pg_param_text_or_null(&p, r->published_tag);
    if (r->published_source_id)
        db_pg_param_int(&p, r->published_source_id);
    else
        db_pg_param_text(&p, NULL);
    const struct app_desc *app = &r->app;
    db_pg_param_int(&p, app->present);
    db_pg_param_int(&p, app->framework);
    db_pg_param_text(&p, app->project);
    db_pg_param_text(&p, app->version);
    db_pg_param_text(&p, app->idf_version);
    db_pg_param_text(&p, app->build_date);
    db_pg_param_text(&p, app->build_time);
    db_pg_param_int(&p, app->secure_version);
    db_pg_param_text(&p, app->elf_sha256);
    db_pg_param_int(&p, app->chip_id);
    db_pg_param_int(&p, app->min_chip_rev);
    db_pg_param_int(&p, app->max_chip_rev);
    int64_t id = 0;
    err = db_pg_get(pg, release_insert_sql, &p, db_pg_fill_int64, &id, "insert release");
    if (err < 0)
        return err;

    /* A taken (release, kind) or digest here is the caller's bug, not a taken version. */
    for (unsigned i = 0; i < r->variant_count; i++) {
        err = variant_write(pg, variant_insert, id, &r->variants[i], "insert variant");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    for (size_t i = 0; i < digest_count; i++) {
        db_pg_params_init(&p);
        db_pg_param_int(&p, id);
        db_pg_param_text(&p, digests[i]);
        err = db_pg_run(pg, digest_insert, &p, "insert digest");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    err = db_pg_generation_bump(pg);
    if (err < 0)
        return err;
    r->id = id;
    r->seq = seq;
    return 0;
}

int db_pg_release_insert(struct db *db, struct release *r, const char *const *digests,
                         size_t digest_count)
{
    struct release_insert a = {r, digests, digest_count};
    return db_pg_transaction(db, release_insert_locked, &a, false, "insert release");
}

/* db_release_add_variants' inputs, for its transaction's body. */
struct variants_add {
    int64_t release_id;
    const struct variant *variants;
    unsigned count;
    const char *signed_by;
};

static int release_add_variants_locked(struct db_pg *pg, void *arg)
{
    const struct variants_add *a = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, a->release_id);
    db_pg_param_text_or_null(&p, a->signed_by);
    /* Also locks the release's row: two nodes adding variants to it take turns. */
    int err = db_pg_run_one(pg, release_set_signed_by, &p, "set release signer");
    for (unsigned i = 0; err == 0 && i < a->count; i++)
        err = variant_write(pg, variant_add, a->release_id, &a->variants[i], "add variant");
    return err;
}

int db_pg_release_add_variants(struct db *db, int64_t release_id, const struct variant *v,
                               unsigned count, const char *signed_by)
{
    struct variants_add a = {release_id, v, count, signed_by};
    return db_pg_transaction(db, release_add_variants_locked, &a, true, "add variants");
}

static void fill_release(const PGresult *res, int row, void *out)
{
    struct release *r = out;
    memset(r, 0, sizeof(*r));
    r->id = db_pg_int(res, row, 0);
    r->product_id = db_pg_int(res, row, 1);
    r->seq = db_pg_int(res, row, 2);
    db_pg_text(res, row, 3, r->version, sizeof(r->version));
    db_pg_text(res, row, 4, r->channel, sizeof(r->channel));
    r->mode = db_pg_int(res, row, 5) == FW_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
    r->size = (uint64_t)db_pg_int(res, row, 6);
    db_pg_text(res, row, 7, r->md5, sizeof(r->md5));
    db_pg_text(res, row, 8, r->sha256, sizeof(r->sha256));
    r->created_ms = db_pg_int(res, row, 9);
    db_pg_text(res, row, 10, r->source, sizeof(r->source));
    r->notes = db_pg_is_null(res, row, 11) ? NULL : strdup(PQgetvalue(res, row, 11));
    r->flash_size = (uint64_t)db_pg_int(res, row, 12);
    db_pg_text(res, row, 13, r->signed_by, sizeof(r->signed_by));
    db_pg_text(res, row, 14, r->verifier_key, sizeof(r->verifier_key));
    /* NULL for a release stored before otad kept who published it: read as unknown. */
    db_pg_text(res, row, 15, r->published_via, sizeof(r->published_via));
    db_pg_text(res, row, 16, r->published_by, sizeof(r->published_by));
    db_pg_text(res, row, 17, r->published_tag, sizeof(r->published_tag));
    r->published_source_id = db_pg_int(res, row, 18);
    struct app_desc *app = &r->app;
    app->present = db_pg_int(res, row, 19) != 0;
    app->framework = db_pg_int(res, row, 20) != 0;
    db_pg_text(res, row, 21, app->project, sizeof(app->project));
    db_pg_text(res, row, 22, app->version, sizeof(app->version));
    db_pg_text(res, row, 23, app->idf_version, sizeof(app->idf_version));
    db_pg_text(res, row, 24, app->build_date, sizeof(app->build_date));
    db_pg_text(res, row, 25, app->build_time, sizeof(app->build_time));
    app->secure_version = (uint32_t)db_pg_int(res, row, 26);
    db_pg_text(res, row, 27, app->elf_sha256, sizeof(app->elf_sha256));
    app->chip_id = (uint16_t)db_pg_int(res, row, 28);
    app->min_chip_rev = (uint16_t)db_pg_int(res, row, 29);
    app->max_chip_rev = (uint16_t)db_pg_int(res, row, 30);
}

static int variants_load_locked(struct db_pg *pg, struct release *r)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, r->id);
    PGresult *res;
    int err = db_pg_exec(pg, variant_list, &p, "read variants", &res);
    if (err < 0)
        return err;
    int rows = PQntuples(res);
    r->variant_count = 0;
    for (int row = 0; row < rows && r->variant_count < VARIANT_KIND_COUNT; row++) {
        struct variant *v = &r->variants[r->variant_count++];
        int64_t kind = db_pg_int(res, row, 0);
        v->kind = kind >= 0 && kind < VARIANT_KIND_COUNT ? (enum variant_kind)kind : VARIANT_PLAIN;
        db_pg_text(res, row, 1, v->sha256, sizeof(v->sha256));
        db_pg_text(res, row, 2, v->md5, sizeof(v->md5));
        v->size = (uint64_t)db_pg_int(res, row, 3);
    }
    PQclear(res);
    return 0;
}

int db_pg_release_get(struct db *db, int64_t product_id, enum fw_mode mode, const char *version,
                      struct release *ret_release)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct release rel;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int)mode);
    db_pg_param_text(&p, version);
    int r = db_pg_get(pg, release_get_sql, &p, fill_release, &rel, "get release");
    if (r == 0) {
        r = variants_load_locked(pg, &rel);
        if (r == 0)
            *ret_release = rel;
        else
            free(rel.notes);
    }
    db_pg_unlock(pg);
    return r;
}

int db_pg_release_list(struct db *db, int64_t product_id, struct release **ret_releases,
                       size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct release *list = NULL;
    size_t count = 0;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    int r = db_pg_collect_rows(pg, release_list_sql, &p, sizeof(struct release), fill_release,
                               (void **)&list, &count, "list releases");
    for (size_t i = 0; r == 0 && i < count; i++)
        r = variants_load_locked(pg, &list[i]);
    db_pg_unlock(pg);
    if (r < 0) {
        release_list_free(list, count);
        return r;
    }
    *ret_releases = list;
    *ret_count = count;
    return 0;
}

static void fill_digest(const PGresult *res, int row, void *out)
{
    struct release_digest *d = out;
    d->release_id = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, d->digest, sizeof(d->digest));
}

int db_pg_digest_list(struct db *db, int64_t product_id, struct release_digest **ret_digests,
                      size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    int r = db_pg_collect_rows(pg, digest_list_sql, &p, sizeof(struct release_digest), fill_digest,
                               (void **)ret_digests, ret_count, "list digests");
    db_pg_unlock(pg);
    return r;
}
