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

/* --- db.h --- */

int db_pg_product_insert(struct db *db, struct product *p)
{
    (void)db;
    (void)p;
    return not_ported("product_insert");
}

int db_pg_product_get(struct db *db, const char *name, struct product *ret_product)
{
    (void)db;
    (void)name;
    (void)ret_product;
    return not_ported("product_get");
}

int db_pg_product_list(struct db *db, struct product **ret_products, size_t *ret_count)
{
    (void)db;
    (void)ret_products;
    (void)ret_count;
    return not_ported("product_list");
}

int db_pg_product_set_signing(struct db *db, int64_t product_id, const struct product_signing *s)
{
    (void)db;
    (void)product_id;
    (void)s;
    return not_ported("product_set_signing");
}

int db_pg_product_key_add(struct db *db, int64_t product_id, const char *name,
                          const char *fingerprint)
{
    (void)db;
    (void)product_id;
    (void)name;
    (void)fingerprint;
    return not_ported("product_key_add");
}

int db_pg_product_key_list(struct db *db, int64_t product_id, struct product_key **ret_keys,
                           size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret_keys;
    (void)ret_count;
    return not_ported("product_key_list");
}

int db_pg_release_insert(struct db *db, struct release *r, const char *const *digests,
                         size_t digest_count)
{
    (void)db;
    (void)r;
    (void)digests;
    (void)digest_count;
    return not_ported("release_insert");
}

int db_pg_release_add_variants(struct db *db, int64_t release_id, const struct variant *v,
                               unsigned count, const char *signed_by)
{
    (void)db;
    (void)release_id;
    (void)v;
    (void)count;
    (void)signed_by;
    return not_ported("release_add_variants");
}

int db_pg_release_get(struct db *db, int64_t product_id, enum fw_mode mode, const char *version,
                      struct release *ret_release)
{
    (void)db;
    (void)product_id;
    (void)mode;
    (void)version;
    (void)ret_release;
    return not_ported("release_get");
}

int db_pg_release_list(struct db *db, int64_t product_id, struct release **ret_releases,
                       size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret_releases;
    (void)ret_count;
    return not_ported("release_list");
}

int db_pg_digest_list(struct db *db, int64_t product_id, struct release_digest **ret_digests,
                      size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)ret_digests;
    (void)ret_count;
    return not_ported("digest_list");
}

int db_pg_token_insert(struct db *db, const char *name, enum token_scope scope,
                       const char *hash_hex, int64_t *ret_id)
{
    (void)db;
    (void)name;
    (void)scope;
    (void)hash_hex;
    (void)ret_id;
    return not_ported("token_insert");
}

int db_pg_token_find(struct db *db, const char *hash_hex, struct token *ret_token)
{
    (void)db;
    (void)hash_hex;
    (void)ret_token;
    return not_ported("token_find");
}

int db_pg_token_list(struct db *db, struct token **ret_tokens, size_t *ret_count)
{
    (void)db;
    (void)ret_tokens;
    (void)ret_count;
    return not_ported("token_list");
}

int db_pg_token_revoke(struct db *db, int64_t id)
{
    (void)db;
    (void)id;
    return not_ported("token_revoke");
}

int db_pg_session_insert(struct db *db, const struct session_record *rec, const char *hash_hex,
                         unsigned keep, int64_t *ret_id)
{
    (void)db;
    (void)rec;
    (void)hash_hex;
    (void)keep;
    (void)ret_id;
    return not_ported("session_insert");
}

int db_pg_session_find(struct db *db, const char *hash_hex, struct session_record *ret_session)
{
    (void)db;
    (void)hash_hex;
    (void)ret_session;
    return not_ported("session_find");
}

int db_pg_session_touch(struct db *db, int64_t id, int64_t now_ms)
{
    (void)db;
    (void)id;
    (void)now_ms;
    return not_ported("session_touch");
}

int db_pg_session_delete(struct db *db, int64_t id)
{
    (void)db;
    (void)id;
    return not_ported("session_delete");
}

int db_pg_session_prune(struct db *db, int64_t idle_before_ms, int64_t created_before_ms)
{
    (void)db;
    (void)idle_before_ms;
    (void)created_before_ms;
    return not_ported("session_prune");
}

int db_pg_session_list(struct db *db, struct session_record **ret_sessions, size_t *ret_count)
{
    (void)db;
    (void)ret_sessions;
    (void)ret_count;
    return not_ported("session_list");
}

int db_pg_devices_record(struct db *db, const struct device_record *records, size_t count,
                         db_device_admit_fn admit, void *ctx, size_t *ret_rows)
{
    (void)db;
    (void)records;
    (void)count;
    (void)admit;
    (void)ctx;
    (void)ret_rows;
    return not_ported("devices_record");
}

int db_pg_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                      struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total)
{
    (void)db;
    (void)product_id;
    (void)limit;
    (void)offset;
    (void)ret_devices;
    (void)ret_count;
    (void)ret_total;
    return not_ported("device_list");
}

int db_pg_device_issue_counts(struct db *db, int64_t product_id,
                              uint64_t ret_counts[DELIVERY_ISSUE_COUNT])
{
    (void)db;
    (void)product_id;
    (void)ret_counts;
    return not_ported("device_issue_counts");
}

int db_pg_device_page(struct db *db, int64_t product_id, const struct device_filter *filter,
                      bool backward, size_t limit, struct device_record **ret_devices,
                      size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)filter;
    (void)backward;
    (void)limit;
    (void)ret_devices;
    (void)ret_count;
    return not_ported("device_page");
}

int db_pg_device_nth_mac(struct db *db, int64_t product_id, uint64_t from, bool backward,
                         uint64_t n, uint64_t *ret_mac)
{
    (void)db;
    (void)product_id;
    (void)from;
    (void)backward;
    (void)n;
    (void)ret_mac;
    return not_ported("device_nth_mac");
}

int db_pg_device_count(struct db *db, int64_t product_id, const struct device_filter *filter,
                       uint64_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)filter;
    (void)ret_count;
    return not_ported("device_count");
}

int db_pg_device_version_counts(struct db *db, int64_t product_id, int64_t day_start_ms,
                                int64_t now_ms, struct version_count **ret_counts,
                                size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)day_start_ms;
    (void)now_ms;
    (void)ret_counts;
    (void)ret_count;
    return not_ported("device_version_counts");
}

int db_pg_version_day_put(struct db *db, int64_t product_id, int64_t day,
                          const struct version_day *rows, size_t count, int64_t keep_from_day)
{
    (void)db;
    (void)product_id;
    (void)day;
    (void)rows;
    (void)count;
    (void)keep_from_day;
    return not_ported("version_day_put");
}

int db_pg_version_day_list(struct db *db, int64_t product_id, int64_t from_day,
                           struct version_day **ret_rows, size_t *ret_count)
{
    (void)db;
    (void)product_id;
    (void)from_day;
    (void)ret_rows;
    (void)ret_count;
    return not_ported("version_day_list");
}

/* --- db_audit.h --- */

int db_pg_audit_insert(struct db *db, const struct audit_entry *e, int64_t *ret_id)
{
    (void)db;
    (void)e;
    (void)ret_id;
    return not_ported("audit_insert");
}

int db_pg_audit_list(struct db *db, const struct audit_filter *filter, size_t limit,
                     struct audit_entry **ret_entries, size_t *ret_count)
{
    (void)db;
    (void)filter;
    (void)limit;
    (void)ret_entries;
    (void)ret_count;
    return not_ported("audit_list");
}

int db_pg_audit_trim(struct db *db, int64_t cutoff_ms, size_t batch, size_t *ret_deleted)
{
    (void)db;
    (void)cutoff_ms;
    (void)batch;
    (void)ret_deleted;
    return not_ported("audit_trim");
}

/* --- db_fleet.h --- */

int db_pg_product_set_fleet(struct db *db, int64_t product_id, const struct product_fleet *f)
{
    (void)db;
    (void)product_id;
    (void)f;
    return not_ported("product_set_fleet");
}

int db_pg_device_get(struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret,
                     int64_t *ret_interval_ms, int64_t *ret_intervals)
{
    (void)db;
    (void)product_id;
    (void)mac;
    (void)ret;
    (void)ret_interval_ms;
    (void)ret_intervals;
    return not_ported("device_get");
}
