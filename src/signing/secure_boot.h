/*
 * ESP32 Secure Boot v2 signatures (docs/SIGNING.md, "Secure Boot v2"): the
 * signature sector espsecure.py appends to an app image, made and checked
 * here byte-compatible with it, and the key digest a device burns into its
 * eFuse. A signed image is the image padded with 0xFF to a multiple of 4096
 * bytes, then one 4096-byte sector holding 1 to 3 signature blocks of 1216
 * bytes (one per key, for rotation) and 0xFF after them:
 *
 *   RSA-3072   E7 02 00 00 | SHA-256(padded image) | n | e | rinv | m' |
 *              RSA-PSS signature (SHA-256, MGF1-SHA-256, salt 32); numbers
 *              little-endian
 *   ECDSA      E7 03 H 00 | digest | curve | X | Y | r | s | zeros; H 0 with
 *              P-256 and SHA-256, H 1 with P-384 and SHA-384
 *   each       CRC-32 of its first 1196 bytes (LE) | 16 zero bytes
 *
 * This module does not decide which keys a product uses or which devices get
 * the form (the service does) and does not read files. Errors are -errno
 * with a one-line reason that never holds key material.
 */
#ifndef OTAD_SIGNING_SECURE_BOOT_H
#define OTAD_SIGNING_SECURE_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/reason.h"
#include "signing/signing.h"

#define SECURE_BOOT_SECTOR      4096u /* the padding unit and the signature sector's size */
#define SECURE_BOOT_BLOCK       1216u /* one signature block */
#define SECURE_BOOT_BLOCK_CRC   1196u /* the bytes its CRC-32 covers */
#define SECURE_BOOT_MAX_BLOCKS  3u    /* keys per image (devices hold up to 3 key digests) */
#define SECURE_BOOT_DIGEST_HEX  65u   /* a key digest as hex, and a NUL */
#define SECURE_BOOT_SCHEME_NAME 16u

/*
 * The Secure Boot v2 digest of KEY (public or private): SHA-256 of the
 * public-key part of the block it would sign (RSA: n, e, rinv, m'; ECDSA:
 * the curve id and the point), as lowercase hex into RET_HEX. It is the value
 * `espsecure.py digest_sbv2_public_key` writes and `espefuse.py summary`
 * shows in BLOCK_KEYn once burned. Returns 0, -ENOTSUP (a key Secure Boot
 * v2 cannot use: RSA other than 3072 bits; WHY says which) or -EIO.
 */
int secure_boot_key_digest(const struct signing_key *key, char ret_hex[SECURE_BOOT_DIGEST_HEX],
                           struct reason *why);

/*
 * True when KEY is a type Secure Boot v2 verifies: RSA-3072, ECDSA P-256 or
 * ECDSA P-384.
 */
bool secure_boot_key_usable(const struct signing_key *key);

/*
 * Signs IMAGE (LEN > 0 bytes, borrowed) with KEYS[0..COUNT-1] (1 to 3
 * private keys, borrowed) and appends the served file to OUT: IMAGE padded
 * with 0xFF to a multiple of SECURE_BOOT_SECTOR, then the signature sector
 * with one block per key in the order given. RSA-PSS and ECDSA signatures
 * are randomised, so two calls differ only in the signature fields.
 * Returns 0; -EINVAL (no key or more than 3, a public-only key, an empty
 * image); -ENOTSUP (a key type Secure Boot v2 cannot use); -E2BIG (the file
 * would pass OUT's ceiling; OUT unchanged); -EIO; or -ENOMEM.
 */
int secure_boot_sign(const struct signing_key *const *keys, size_t count, const void *image,
                     size_t len, struct buf *out, struct reason *why);

/* One signature block as secure_boot_verify read it. */
struct secure_boot_block {
    char scheme[SECURE_BOOT_SCHEME_NAME];    /* "rsa-3072", "ecdsa-p256", "ecdsa-p384" */
    char key_digest[SECURE_BOOT_DIGEST_HEX]; /* of the key the block carries (lowercase hex) */
};

/* What a signed image holds. */
struct secure_boot_verdict {
    size_t signed_len; /* bytes the blocks sign: the padded image, before the sector */
    unsigned block_count;
    struct secure_boot_block blocks[SECURE_BOOT_MAX_BLOCKS];
};

/*
 * Checks that DATA (LEN bytes, borrowed) is a Secure Boot v2 signed image:
 * LEN a multiple of 4096 with at least one sector before the signature
 * sector; 1 to 3 blocks from the sector's start, each with magic 0xE7, a
 * known version and curve, its CRC-32, 16 zero bytes after it, zeros in its
 * reserved bytes, the digest of everything before the sector, and a
 * signature that verifies with the public key the block carries (for RSA
 * also rinv and m' consistent with n); 0xFF from the last block to the
 * sector's end. It does not say whether a device trusts the keys: compare
 * VERDICT's key digests with the trusted ones. VERDICT (not NULL) is filled
 * on success; on failure its blocks up to the bad one.
 * Returns 0, or -EBADMSG (WHY says which block and what) or -EIO.
 */
int secure_boot_verify(const void *data, size_t len, struct secure_boot_verdict *verdict,
                       struct reason *why);

/*
 * Where an image's Secure Boot v2 sector would start: IMAGE_END (the end of
 * the app image itself: segments, checksum and appended SHA-256) rounded up
 * to a multiple of 4096.
 */
size_t secure_boot_sector_offset(size_t image_end);

#endif
