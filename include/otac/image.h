/*
 * Writing one firmware image into a flash slot as it arrives, with the checks
 * the stock updaters make (docs/PROTOCOL.md):
 *
 *   before the first byte   the size fits the free space, rounded up to 4 KiB
 *                           sectors (sketch mode); x-MD5, when sent, is 32 hex
 *   first 4 bytes           magic 0xE9 (ESP8266 2.7 and 3.x also take 0x1F,
 *                           gzip; 2.4 does not); on ESP8266 the flash-size
 *                           code in byte 3 fits the chip
 *   every byte              into the MD5 (when x-MD5 came) and, when a key is
 *                           configured, into the signature check (otac/verify.h)
 *   at the end              the MD5 equals x-MD5, the signature verifies; only
 *                           then are the first 16 bytes written, so a slot
 *                           whose image failed or was cut never boots
 *
 * The byte count is the Content-Length; a resumed download continues the same
 * struct, so the hashes see every byte once, in order.
 */
#ifndef OTAC_IMAGE_H
#define OTAC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "otac/error.h"
#include "otac/port.h"
#include "otac/request.h"
#include "otac/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_IMAGE_HEAD_HELD 16u /* bytes written last */

/* What an image is checked against; every pointer is borrowed until finish. */
struct otac_image_options {
    enum otac_client client;       /* which device's checks (magic, flash-size code) */
    enum otac_mode mode;           /* the filesystem image skips the magic checks */
    uint64_t size;                 /* the Content-Length: bytes to come */
    uint64_t free_space;           /* the device's free sketch space; 0: not checked */
    uint64_t chip_size;            /* the flash chip; 0: not checked */
    const char *md5;               /* x-MD5 as received (32 hex), or NULL: none sent */
    const struct otac_pubkey *key; /* NULL: the device takes unsigned images */
    enum otac_format format;       /* with KEY: the signature's format */
    enum otac_hash hash;           /* with KEY: its hash */
};

/*
 * One image being written. Caller-allocated (about 1 KB with the verifier);
 * all fields private. Nothing to release: an abandoned image leaves a slot
 * that does not boot.
 */
struct otac_image {
    const struct otac_port *port;
    unsigned slot;
    struct otac_image_options opt;
    uint64_t written;
    uint8_t head[OTAC_IMAGE_HEAD_HELD];
    br_md5_context md5;
    struct otac_verify verify;
    uint32_t state;
    char md5_expected[33];
    uint64_t payload_end;    /* bytes before the signature trailer: what the device boots */
    uint8_t payload_md5[16]; /* the MD5 of those, taken as the stream passes them */
};

/*
 * Starts writing an image of OPT->size bytes into SLOT through PORT (uses
 * flash_begin and flash_write). Runs the checks that need no image byte.
 * Returns OTAC_OK, OTAC_E_NO_SIZE (size 0), OTAC_E_NO_SPACE (the free space
 * or the slot is too small), OTAC_E_MD5 (MD5 not 32 hex digits), an error of
 * otac_verify_init, the port's error, or OTAC_E_INVAL.
 */
int otac_image_begin(struct otac_image *img, const struct otac_port *port, unsigned slot,
                     const struct otac_image_options *opt);

/*
 * Writes the next LEN bytes (borrowed for the call). More than the declared
 * size is OTAC_E_INVAL. Returns OTAC_OK, OTAC_E_MAGIC or OTAC_E_FLASH_SIZE
 * (decided on the first 4 bytes), the port's error, or OTAC_E_STATE.
 * After an error the image is failed: every later call returns OTAC_E_STATE.
 */
int otac_image_write(struct otac_image *img, const void *data, size_t len);

/* Bytes written so far: where a resumed download continues. */
uint64_t otac_image_written(const struct otac_image *img);

/*
 * Ends the image once all of its bytes were written: checks the MD5 and the
 * signature, then writes the held-back head. On OTAC_OK *RET_PAYLOAD_LEN
 * (when not NULL) is the bytes the device boots (the image without its
 * signature trailer) and *RET_MD5 (when not NULL, 33 bytes) the lowercase
 * MD5 of those bytes: what the device reports as its sketch MD5 once it runs
 * the image (for an unsigned image, the MD5 of every byte written).
 * Errors: OTAC_E_CUT (fewer bytes than the size), OTAC_E_MD5, a verification
 * error (otac/verify.h), the port's error, OTAC_E_STATE. The image is ended
 * either way: a later call returns OTAC_E_STATE.
 */
int otac_image_finish(struct otac_image *img, char *ret_md5, uint64_t *ret_payload_len);

#ifdef __cplusplus
}
#endif

#endif
