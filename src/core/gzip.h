/*
 * gzip (RFC 1952) in memory, through zlib: what the ESP8266 bootloader
 * inflates since core 2.7. Sizes are capped by the caller.
 */
#ifndef OTAD_CORE_GZIP_H
#define OTAD_CORE_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* True when DATA starts with the gzip magic 1F 8B. */
bool gzip_is_gzip(const uint8_t *data, size_t len);

/*
 * Inflates one gzip member DATA into OUT (appended; OUT's ceiling bounds the
 * output). Returns 0, -EBADMSG for a corrupt or truncated stream (or bytes
 * after the member; empty input included), -E2BIG when the output exceeds
 * OUT's ceiling, -ENOMEM. After -EBADMSG, OUT may hold part of the output;
 * after -E2BIG / -ENOMEM it is released and failed, as buf.h says.
 */
int gzip_inflate(const uint8_t *data, size_t len, struct buf *out);

/*
 * Compresses DATA at the best level into a gzip member appended to OUT, with
 * a fixed header (mtime 0, OS 3) so the same input always gives the same
 * bytes. Returns 0, -E2BIG or -ENOMEM.
 */
int gzip_deflate(const uint8_t *data, size_t len, struct buf *out);

/* zlib's version as the loaded library reports it (zlibVersion), for `otad --version`. */
const char *gzip_zlib_version(void);

#endif
