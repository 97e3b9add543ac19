/*
 * Whole files and folders copied, removed and inspected, durably: what
 * `otad backup` and `otad restore` need for the parts of a data folder that
 * are plain files (keys/, tls/, the database's copy). A copy keeps each
 * file's and folder's permission bits and, where the process may (root),
 * its owner and group; every file and folder written is fsynced. Blobs are
 * the store's (store/store.h), never copied here: they are checked against
 * their names on the way.
 */
#ifndef OTAD_CORE_FILES_H
#define OTAD_CORE_FILES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes all LEN bytes of DATA to FD, again after a short write or EINTR.
 * Returns 0 or -errno.
 */
int files_write_all(int fd, const uint8_t *data, size_t len);

/*
 * Copies the regular file FROM to TO, which must not exist: bytes, mode,
 * and owner and group when the process may set them (a process that may
 * not keeps its own and says nothing: copying its own files is the common
 * case). TO is fsynced; its folder is not (the caller syncs the folders it
 * filled, files_sync_dir). Adds the bytes copied to *BYTES when BYTES is
 * not NULL. Returns 0, -EEXIST, -EISDIR (FROM is not a regular file) or
 * -errno.
 */
int files_copy(const char *from, const char *to, uint64_t *bytes);

/*
 * Copies the folder FROM and everything below it to TO, which must not
 * exist: folders with their modes, regular files as files_copy. A symbolic
 * link is copied as the file it points to; other kinds of files (sockets,
 * devices) are skipped. Every folder written is fsynced. Adds to *FILES and
 * *BYTES (either may be NULL). Returns 0 or -errno (what was copied before
 * the failure stays; the caller removes TO).
 */
int files_copy_tree(const char *from, const char *to, uint64_t *files, uint64_t *bytes);

/*
 * Removes PATH and everything below it (symbolic links are removed, never
 * followed). A missing PATH is no error. Returns 0 or -errno.
 */
int files_remove_tree(const char *path);

/*
 * Sets the owner and group of PATH and everything below it to UID and GID
 * (links not followed). Returns 0 or -errno (-EPERM for a process that may
 * not).
 */
int files_chown_tree(const char *path, unsigned uid, unsigned gid);

/* fsyncs the folder that holds PATH (making PATH's name durable). Returns 0 or -errno. */
int files_sync_parent(const char *path);

/* Whether PATH is a folder with nothing in it: 1, 0 (other entries, or not a folder), or -errno. */
int files_dir_is_empty(const char *path);

#endif
