/*
 * The forms of a release (variants), made once at ingest: the plain image,
 * gzip for ESP8266 cores >= 2.7, and the signed forms each core verifies
 * (docs/SIGNING.md). Which form a device is served is compat.h's. Everything
 * here works on bytes in memory; storing them is the caller's job.
 */
#ifndef OTAD_SERVICE_VARIANTS_H
#define OTAD_SERVICE_VARIANTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/reason.h"
#include "service/image.h"
#include "model/model.h"
#include "signing/signing.h"

struct variant_bytes {
    enum variant_kind kind;
    struct buf bytes; /* owned */
};

/* What ingest made of one upload. */
struct variant_set {
    struct variant_bytes items[VARIANT_KIND_COUNT];
    unsigned count;
    struct buf payload;  /* the unsigned image (a copy of the upload, or its signed payload) */
    struct buf inflated; /* the payload inflated when it is gzip (info.gzip), else empty */
    /*
     * ESP32 sketches: the image padded to 4096 bytes with its Secure Boot v2
     * sector, as uploaded (verified) or as signed here for a product with
     * secure-boot keys; empty otherwise. When it is not empty, the payload is
     * the image without it, and it is what every ESP32 form carries.
     */
    struct buf secure_boot;
    struct image_info info;                  /* of the payload */
    char signed_by[KEY_FINGERPRINT_HEX + 1]; /* "" when nothing is signed */
};

/*
 * Makes the variants of UPLOAD (LEN bytes, borrowed) for PRODUCT.
 * - Unsigned product: PLAIN, plus GZIP (aligned, see below) when the product
 *   has gzip. A gzip upload is its GZIP form as uploaded, and PLAIN is made
 *   by inflating it: no device is refused merely for lack of gzip.
 * - Signing product, PRESIGNED false: KEY must hold the private half; the
 *   image (inflated, for a gzip upload) is signed as SIGNED (ESP8266 cores
 *   >= 2.6) and SIGNED_LEGACY (when the product signs for 2.5.x), or as
 *   SIGNED_ESP32; SIGNED_GZIP is the gzip upload, or the image compressed
 *   when the product has gzip, signed. No unsigned form is made.
 * - Signing product, PRESIGNED true: the upload must verify with KEY (public
 *   half suffices) in one of the platform's formats; it becomes the one
 *   variant of that format. Failing that: -EKEYREJECTED and WHY says why. A
 *   gzip image signed in the 2.5.x form is refused (-EBADMSG): 2.5.x cannot
 *   inflate it, and a later core without a key would stage its trailer.
 * gzip forms have a length that is a multiple of 4 (padding in the gzip
 * header's name field), which ESP8266 cores 3.1.0-3.1.2 need to verify a
 * signature (reference §7.4).
 * The payload is validated with image_inspect (-EBADMSG).
 * Returns 0 and fills *SET (release with variant_set_release), or -errno.
 */
int variants_make(const struct product *product, const struct signing_key *key, bool presigned,
                  enum fw_mode mode, const uint8_t *upload, size_t len, size_t max_size,
                  struct variant_set *set, struct reason *why);

/*
 * variants_make, with Secure Boot v2 (docs/SIGNING.md, "Secure Boot v2"):
 * SB_KEYS[0..SB_COUNT-1] (borrowed, 0 to 3) are PRODUCT's secure-boot keys,
 * in block order.
 * - An ESP32 sketch that carries a Secure Boot v2 sector after the image
 *   (from the next multiple of 4096) is verified block by block
 *   (-EKEYREJECTED when any block is not valid); with SB_COUNT > 0 one of
 *   its blocks must carry one of SB_KEYS' digests (-EKEYREJECTED). It is
 *   kept as signed, never signed again.
 * - Otherwise, with SB_COUNT > 0, an ESP32 sketch is signed with every key
 *   of SB_KEYS (private halves needed: -EKEYREJECTED) and the result
 *   verified.
 * With SB_COUNT > 0 the ESP32 sketch forms are SECURE_BOOT, plus
 * SIGNED_ESP32 made over it when the product signs; no PLAIN form. Without
 * secure-boot keys, an upload with a sector is stored as is (PLAIN, or
 * signed over as SIGNED_ESP32).
 */
int variants_make_secure(const struct product *product, const struct signing_key *key,
                         const struct signing_key *const *sb_keys, size_t sb_count, bool presigned,
                         enum fw_mode mode, const uint8_t *upload, size_t len, size_t max_size,
                         struct variant_set *set, struct reason *why);

/* Frees the bytes of SET. NULL-safe. */
void variant_set_release(struct variant_set *set);

/*
 * Pads the gzip member in OUT, in place, to a length that is a multiple of 4:
 * optional header fields (a file name, a comment, extra data, a header CRC)
 * are dropped, then FNAME is set with a 0-2 character name and its NUL as
 * the padding. The deflate data and trailer are unchanged. Returns 0,
 * -EINVAL (not a gzip member), or the error of buf_append.
 */
int gzip_align4(struct buf *gz);

#endif
