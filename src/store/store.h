/*
 * The blob store: firmware images on disk, named by the SHA-256 of their
 * bytes, under DATA_DIR/blobs/ab/abcdef... A blob is written to
 * DATA_DIR/tmp/, fsynced and renamed into place, so a blob path either does
 * not exist or holds the whole image, also across kill -9 and power loss.
 * Blobs are immutable once stored; the database says which are in use. The
 * store knows nothing of releases.
 */
#ifndef OTAD_STORE_STORE_H
#define OTAD_STORE_STORE_H

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

/* Frees the handle. NULL-safe. */
void store_free(struct store *store);

/*
 * Stores LEN bytes of DATA and writes their SHA-256 (lowercase hex) to
 * RET_SHA256. Storing bytes that are already there is a no-op. Safe to call
 * from several threads. Returns 0 or -errno (-ENOSPC, -EIO, ...).
 */
int store_put(struct store *store, const uint8_t *data, size_t len, char ret_sha256[65]);

/*
 * Opens the blob named SHA256 for reading. Returns 0 with a new descriptor
 * (the caller closes it) and the blob's size, -ENOENT when there is no such
 * blob, -EINVAL when SHA256 is not 64 lowercase hex digits, or -errno.
 */
int store_open_blob(struct store *store, const char *sha256, int *ret_fd, uint64_t *ret_size);

/*
 * Reads the whole blob SHA256 into a new allocation (caller frees), at most
 * MAX bytes. Returns 0, -ENOENT, -EFBIG, or -errno.
 */
int store_read_blob(struct store *store, const char *sha256, size_t max, uint8_t **ret_data,
                    size_t *ret_len);

#endif
