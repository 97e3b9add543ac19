/*
 * The audit log's table (docs/AUDIT.md) in the database's terms: append an
 * entry, read a page of entries newest first, and the retention pass's
 * bounded delete of old ones. There is no update, and no delete of a chosen
 * entry: nothing above this can change what was recorded. Conventions as
 * db.h.
 */
#ifndef OTAD_DB_DB_AUDIT_H
#define OTAD_DB_DB_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct db;

/*
 * Appends E (E->id is ignored) and writes the new entry's id to *RET_ID (may
 * be NULL). E->params, when set, is stored as it is (JSON text the caller
 * built). Returns 0 or -EIO.
 */
int db_audit_insert(struct db *db, const struct audit_entry *e, int64_t *ret_id);

/*
 * Up to LIMIT entries that pass FILTER, newest (highest id) first. The
 * caller frees *RET_ENTRIES with audit_entry_list_free. Returns 0, -ENOMEM
 * or -EIO.
 */
int db_audit_list(struct db *db, const struct audit_filter *filter, size_t limit,
                  struct audit_entry **ret_entries, size_t *ret_count);

/*
 * Deletes up to BATCH of the oldest entries recorded before CUTOFF_MS (one
 * short transaction, so a writer waits at most that long) and writes how
 * many went to *RET_DELETED. The retention pass calls it until fewer than
 * BATCH go. Returns 0 or -EIO.
 */
int db_audit_trim(struct db *db, int64_t cutoff_ms, size_t batch, size_t *ret_deleted);

#endif
