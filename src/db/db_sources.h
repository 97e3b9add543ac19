/*
 * The database side of release sources (src/sources/): each source's
 * settings, its poll state, the tags it has dealt with and the webhook
 * deliveries already seen. Like db.h it speaks in the model's plain structs
 * (model/source.h), never in SQL; db_sqlite_sources.c is the SQLite implementation, on the same
 * connection (struct db) as the rest.
 *
 * What is never stored: a token or a webhook secret. A source names the
 * file or the environment variable that holds one; src/sources/ reads it
 * when it needs it.
 *
 * Errors as in db.h: -ENOENT (no such row), -EEXIST (taken), -EIO (logged
 * here with SQLite's message), -ENOMEM.
 */
#ifndef OTAD_DB_DB_SOURCES_H
#define OTAD_DB_DB_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/source.h"

/*
 * Adds source S (S->product_id must name a product) with an empty state, in
 * one transaction; writes S->id and S->created_ms. -EEXIST when the product
 * already has a source for the same owner/repo (compared without case).
 */
int db_source_insert(struct db *db, struct source *s);

/* Deletes source ID with its state and tags. -ENOENT when there is none. */
int db_source_delete(struct db *db, int64_t id);

/* Source ID with its state. -ENOENT when there is none. */
int db_source_get(struct db *db, int64_t id, struct source_row *ret_row);

/* All sources with their state, by id; the caller frees *ret_rows with free(). */
int db_source_list(struct db *db, struct source_row **ret_rows, size_t *ret_count);

/* Replaces the state of source ID. -ENOENT when there is no such source. */
int db_source_state_save(struct db *db, int64_t id, const struct source_state *state);

/*
 * Moves not_before_ms of every source that shares S's credentials (same API
 * URL, same token file and variable) to at least NOT_BEFORE_MS: GitHub's
 * rate limit belongs to the token, or to our address when there is none.
 */
int db_source_gate_siblings(struct db *db, const struct source *s, int64_t not_before_ms);

/* The record of TAG for SOURCE_ID. -ENOENT when the tag was never dealt with. */
int db_source_tag_get(struct db *db, int64_t source_id, const char *tag,
                      struct source_tag *ret_tag);

/* Inserts or replaces the record of T->tag for SOURCE_ID. */
int db_source_tag_put(struct db *db, int64_t source_id, const struct source_tag *t);

/*
 * Remembers webhook delivery DELIVERY (an X-GitHub-Delivery GUID) received at
 * NOW_MS and forgets those older than KEEP_MS. Returns 0 for a new delivery,
 * -EEXIST for one already seen.
 */
int db_webhook_delivery_record(struct db *db, const char *delivery, int64_t now_ms,
                               int64_t keep_ms);

#endif
