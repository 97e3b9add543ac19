/*
 * The dashboard's files, embedded in the binary at build time: web/ becomes
 * a table of struct ui_asset in a generated C file (src/http/embed_web.py),
 * served by ui.c. No file is read from disk at run time, so the binary and
 * its dashboard cannot drift apart.
 */
#ifndef OTAD_HTTP_UI_H
#define OTAD_HTTP_UI_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One file of web/. Every string and byte array is static. NAME is the
 * file's name ("app.js"); HASHED_NAME the same with the first 12 hex digits
 * of the SHA-256 of its bytes ("app.3f2a9c01d4e5.js"), the name index.html
 * uses, NULL for index.html itself. ETAG is that hash quoted (a strong
 * validator); GZIP_DATA its gzip form, with GZIP_ETAG, when that is
 * smaller (NULL and 0 otherwise).
 */
struct ui_asset {
    const char *name;
    const char *hashed_name;
    const char *content_type;
    const unsigned char *data;
    size_t size;
    const char *etag;
    const unsigned char *gzip_data;
    size_t gzip_size;
    const char *gzip_etag;
};

/* The generated table (embed_web.py), index.html among them. */
extern const struct ui_asset ui_assets[];
extern const size_t ui_asset_count;

/*
 * The asset named NAME, by its hashed name or its plain one; *RET_HASHED
 * (may be NULL) says which matched: a hashed name never changes its bytes,
 * so it may be cached for good. NULL for an unknown name, and for
 * "index.html", which is served only as the pages' answer.
 */
const struct ui_asset *ui_asset_find(const char *name, bool *ret_hashed);

#endif
