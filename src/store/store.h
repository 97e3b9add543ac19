/*
 * The blob store: firmware images on disk, named by the SHA-256 of their
 * bytes, under DATA_DIR/blobs/ab/abcdef... A blob is written to
 * DATA_DIR/tmp/, fsynced and renamed into place, so a blob path either does
 * not exist or holds the whole image, also across kill -9 and power loss.
 * Blobs are immutable once stored; the database says which are in use. The
 * store knows nothing of releases.
 *
 * Integrity: a handle hashes a blob the first time it opens it, and again
 * whenever the file changed since (another inode, size or ctime), and
 * refuses one whose bytes do not hash to its name. Damage that leaves the
 * file's metadata alone (bit rot) is found by store_verify_all, the scrub.
 *
 * Thread-safety: every function may be called from several threads on one
 * handle, except store_free.
 */
#ifndef OTAD_STORE_STORE_H
#define OTAD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/*
 * Opens the store below DATA_DIR, creating blobs/ and tmp/ when missing and
 * removing temporary files a crash left in tmp/ (those older than an hour:
 * a younger one may be another process's write in progress; a leftover is
 * never served either way). Returns 0 and a new handle
 * (free with store_free), or -errno.
 */
int store_open(const char *data_dir, struct store **ret_store);

/*
 * Says whether the store is a cache of blobs the database holds (several
 * nodes on PostgreSQL): a damaged blob is then logged without the advice to
 * restore it from a backup, since the caller fetches it again. Call before
 * the handle is shared between threads.
 */
void store_set_cache(struct store *store, bool cache);

/* Frees the handle. NULL-safe. */
void store_free(struct store *store);

/*
 * Stores LEN bytes of DATA and writes their SHA-256 (lowercase hex) to
 * RET_SHA256. Storing bytes that are already there is a no-op. Safe to call
 * from several threads. Returns 0 or -errno (-ENOSPC, -EIO, ...).
 */
int store_put(struct store *store, const uint8_t *data, size_t len, char ret_sha256[65]);

/*
 * Opens the blob named SHA256 for reading, checking its bytes against its
 * name when this handle has not seen this file before (which reads the
 * whole blob once; one check runs at a time). Returns 0 with a new
 * descriptor (the caller closes it) and the blob's size, -ENOENT when there
 * is no such blob, -EINVAL when SHA256 is not 64 lowercase hex digits,
 * -EBADMSG when its bytes do not match its name (logged once per damaged
 * file, not per call), or -errno.
 */
int store_open_blob(struct store *store, const char *sha256, int *ret_fd, uint64_t *ret_size);

/*
 * Whether a blob named SHA256 is stored: 1, 0, -EINVAL for a name that is
 * no SHA-256, or -errno. A stat, not a check of its bytes (store_open_blob
 * checks them on first use).
 */
int store_has(const struct store *store, const char *sha256);

/* What store_verify_all found in one file under blobs/. */
struct store_blob_check {
    const char *name; /* the file's name (a blob's SHA-256 when valid); borrowed */
    uint64_t size;
    /*
     * 0: its bytes hash to its name; -EBADMSG: they do not; -EINVAL: not a
     * blob (a name that is no SHA-256, or in the wrong folder); -errno:
     * unreadable.
     */
    int result;
};

/*
 * Hashes every file under blobs/ and calls FN(CTX, check) for each, in name
 * order (CHECK is valid during the call only). Returns the number of files
 * whose result was not 0, or -errno when blobs/ cannot be read. Reads every
 * blob once; meant for `otad store verify`, not for a serving path.
 */
int store_verify_all(struct store *store,
                     void (*fn)(void *ctx, const struct store_blob_check *check), void *ctx);

/*
 * For a store that caches blobs the database holds (several nodes on
 * PostgreSQL), where a damaged file is dropped and fetched again rather than
 * restored by hand. Removes the file of blob SHA256 when it is damaged: its
 * size is not SIZE, or, with CHECK_BYTES, its bytes do not hash to its name
 * (hashed when this handle has not seen this very file before, as
 * store_open_blob does). A file replaced meanwhile by an intact one (another
 * inode) is checked afresh, never removed unchecked. Returns 1 when it was
 * removed, 0 when it is intact as far as checked, -ENOENT when there is no
 * such file, -EINVAL for a name that is no SHA-256, or -errno.
 */
int store_drop_damaged(struct store *store, const char *sha256, uint64_t size, bool check_bytes);

/*
 * For a cache (as store_drop_damaged): removes every blob file USED(CTX,
 * sha256) says no release needs, when it was last written more than
 * MIN_AGE_S seconds ago (a younger one may be a publish in flight, stored
 * before its release). Files that are not blobs are left alone (`otad store
 * verify` reports them). Writes how many files were removed to
 * *RET_REMOVED. Returns 0, or -errno when blobs/ cannot be read (a file that
 * cannot be removed is logged and skipped).
 */
int store_remove_unused(struct store *store, bool (*used)(void *ctx, const char *sha256), void *ctx,
                        int64_t min_age_s, size_t *ret_removed);

/*
 * Reads the whole blob SHA256 into a new allocation (caller frees), at most
 * MAX bytes. Returns 0, -ENOENT, -EFBIG, or -errno.
 */
int store_read_blob(struct store *store, const char *sha256, size_t max, uint8_t **ret_data,
                    size_t *ret_len);

/*
 * Copies blob SHA256 from the store below FROM_DATA_DIR (another data
 * folder, or a backup of one: read only, nothing is created there) into
 * STORE, checked on the way: the bytes read are hashed and must match the
 * name before they are written, fsynced and renamed into place as
 * store_put does. Writes the blob's size to *RET_SIZE. Returns 0, -ENOENT
 * (no such blob there), -EBADMSG (its bytes do not match its name: nothing
 * is written), -EINVAL (SHA256 is no SHA-256), -EFBIG, or -errno.
 */
int store_import(struct store *store, const char *from_data_dir, const char *sha256,
                 uint64_t *ret_size);

/*
 * store_import for every blob below FROM_DATA_DIR/blobs/, in name order;
 * files that are not blobs are skipped. Adds to *RET_COUNT and *RET_BYTES.
 * On the first blob that fails writes its name to RET_FAILED and returns
 * its error (-EBADMSG: damaged); returns 0 when every blob was imported,
 * or -errno when the folder cannot be read (RET_FAILED then "").
 */
int store_import_all(struct store *store, const char *from_data_dir, uint64_t *ret_count,
                     uint64_t *ret_bytes, char ret_failed[65]);

#endif
