/*
 * One firmware image into a flash slot as it streams in, with the stock
 * updaters' checks (include/otac/image.h, docs/PROTOCOL.md "The device
 * library"): the size against the free space before a byte comes, the magic
 * and the flash-size code on the first four bytes, the MD5 and the signature
 * at the end. The first 16 bytes are kept in the struct and written last, so
 * a slot whose image failed or was cut never holds a bootable header.
 *
 * The module owns the order of flash writes and the checks; it does not own
 * the flash (the port), the signature check (lib/verify.c) or what happens
 * to a finished image (lib/slots.c stages it).
 */
#include "otac/image.h"

#include <string.h>

/* Values of struct otac_image.state; anything else means "not begun". */
#define IMAGE_WRITING 0x696d6721u
#define IMAGE_FAILED  0x6661696cu
#define IMAGE_DONE    0x646f6e65u

#define SECTOR_BYTES     4096u /* the erase unit the free space is counted in */
#define MAGIC_BYTES      4u    /* the bytes the header checks look at */
#define MAGIC_APP        0xE9u /* an ESP application image */
#define MAGIC_GZIP       0x1Fu /* a gzip stream (ESP8266 cores >= 2.7: takes_gzip) */
#define MD5_BYTES        16u
#define MD5_HEX          32u
#define FLASH_CODE_SHIFT 4u /* byte 3's high nibble */

static const char hex_digits[] = "0123456789abcdef";

static int is_esp8266(enum otac_client client)
{
    return client == OTAC_CLIENT_ESP8266_2_4 || client == OTAC_CLIENT_ESP8266_2_7 ||
           client == OTAC_CLIENT_ESP8266_3_1;
}

/* Cores 2.7 and later inflate a gzip image as it streams; 2.4 / 2.5 refuse its first byte. */
static int takes_gzip(enum otac_client client)
{
    return client == OTAC_CLIENT_ESP8266_2_7 || client == OTAC_CLIENT_ESP8266_3_1;
}

static int client_known(enum otac_client client)
{
    return is_esp8266(client) || client == OTAC_CLIENT_ESP32 || client == OTAC_CLIENT_ESP_IDF;
}

/* The lowercase form of a hex digit, or 0 when C is not one. */
static char hex_lower(char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
        return c;
    if (c >= 'A' && c <= 'F')
        return (char)(c - 'A' + 'a');
    return 0;
}

/* Copies 32 hex digits of TEXT, lowercased, into OUT (33 bytes); -1 when it is not that. */
static int md5_text_normalise(const char *text, char out[MD5_HEX + 1])
{
    for (size_t i = 0; i < MD5_HEX; i++) {
        char c = hex_lower(text[i]);
        if (!c)
            return -1;
        out[i] = c;
    }
    if (text[MD5_HEX] != '\0')
        return -1;
    out[MD5_HEX] = '\0';
    return 0;
}

static void hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

/*
 * The flash size an ESP8266 image's byte-3 code asks for (reference §4
 * check 3, per ESP.magicFlashChipSize), or 0 for a code that does not
 * constrain (5, 6: the 1 MB / 2 MB "c1" maps) or is unknown.
 */
static uint64_t esp8266_flash_size_of_code(unsigned code)
{
    static const uint64_t kib = 1024u;
    switch (code) {
    case 0:
        return 512u * kib;
    case 1:
        return 256u * kib;
    case 2:
        return 1024u * kib;
    case 3:
        return 2048u * kib;
    case 4:
        return 4096u * kib;
    case 8:
        return 8192u * kib;
    case 9:
        return 16384u * kib;
    default:
        return 0;
    }
}

static uint64_t round_up_sector(uint64_t size)
{
    uint64_t rest = size % SECTOR_BYTES;
    return rest ? size + (SECTOR_BYTES - rest) : size;
}

int otac_image_begin(struct otac_image *img, const struct otac_port *port, unsigned slot,
                     const struct otac_image_options *opt)
{
    if (!img)
        return OTAC_E_INVAL;
    img->state = 0;
    if (!port || !opt || !port->flash_begin || !port->flash_write || slot >= OTAC_SLOTS ||
        !client_known(opt->client) || (opt->mode != OTAC_MODE_SKETCH && opt->mode != OTAC_MODE_FS))
        return OTAC_E_INVAL;

    /* The stock order (reference §4): the size, the free space, then x-MD5's form. */
    if (opt->size == 0)
        return OTAC_E_NO_SIZE;
    /* Free space is the sketch's even in filesystem mode, so only a sketch is held to it. */
    if (opt->mode == OTAC_MODE_SKETCH && opt->free_space != 0 &&
        (opt->size > UINT64_MAX - SECTOR_BYTES || round_up_sector(opt->size) > opt->free_space))
        return OTAC_E_NO_SPACE;
    img->md5_expected[0] = '\0';
    if (opt->md5 && md5_text_normalise(opt->md5, img->md5_expected) < 0)
        return OTAC_E_MD5;

    img->payload_end = opt->size;
    if (opt->key) {
        int r = otac_verify_init(&img->verify, opt->key, opt->format, opt->hash);
        if (r != OTAC_OK)
            return r;
        /* The trailer's size is fixed by key and format; the verifier holds exactly it back. */
        img->payload_end = opt->size > img->verify.hold ? opt->size - img->verify.hold : 0;
    }

    int r = port->flash_begin(port->ctx, slot, opt->size);
    if (r < 0)
        return r;

    img->port = port;
    img->slot = slot;
    img->opt = *opt;
    img->opt.md5 = NULL; /* normalised into md5_expected; the caller's copy is not kept */
    img->written = 0;
    memset(img->head, 0, sizeof(img->head));
    memset(img->payload_md5, 0, sizeof(img->payload_md5));
    br_md5_init(&img->md5);
    img->state = IMAGE_WRITING;
    return OTAC_OK;
}

/* The header checks on the first bytes (held in img->head): magic, then the flash-size code. */
static int image_check_head(const struct otac_image *img)
{
    if (img->opt.mode != OTAC_MODE_SKETCH)
        return OTAC_OK; /* a filesystem image has no header to boot */
    if (img->opt.size < MAGIC_BYTES)
        return OTAC_E_MAGIC; /* too short to be an image a boot loader starts */
    uint8_t magic = img->head[0];
    int gzip = magic == MAGIC_GZIP && takes_gzip(img->opt.client);
    if (magic != MAGIC_APP && !gzip)
        return OTAC_E_MAGIC;
    /* Only an ESP8266 plain image says its flash size; HTTPUpdate on ESP32 does not look. */
    if (is_esp8266(img->opt.client) && !gzip && img->opt.chip_size != 0) {
        uint64_t wants = esp8266_flash_size_of_code(img->head[3] >> FLASH_CODE_SHIFT);
        if (wants > img->opt.chip_size)
            return OTAC_E_FLASH_SIZE;
    }
    return OTAC_OK;
}

/* Hashes LEN bytes at stream offset AT, taking the payload's MD5 where the payload ends. */
static void image_hash(struct otac_image *img, uint64_t at, const uint8_t *data, size_t len)
{
    if (at < img->payload_end && at + len >= img->payload_end) {
        size_t before = (size_t)(img->payload_end - at);
        br_md5_update(&img->md5, data, before);
        br_md5_out(&img->md5, img->payload_md5); /* leaves the context running */
        br_md5_update(&img->md5, data + before, len - before);
        return;
    }
    br_md5_update(&img->md5, data, len);
}

static int image_fail(struct otac_image *img, int err)
{
    img->state = IMAGE_FAILED;
    return err;
}

int otac_image_write(struct otac_image *img, const void *data, size_t len)
{
    if (!img || img->state != IMAGE_WRITING)
        return OTAC_E_STATE;
    if (len == 0)
        return OTAC_OK;
    if (!data || len > img->opt.size - img->written)
        return image_fail(img, OTAC_E_INVAL);

    const uint8_t *bytes = data;
    uint64_t at = img->written;
    image_hash(img, at, bytes, len);
    if (img->opt.key)
        (void)otac_verify_update(&img->verify, bytes, len); /* cannot fail once begun */

    /* The head goes into the struct; the header checks run once the bytes they need came. */
    size_t held = 0;
    if (at < OTAC_IMAGE_HEAD_HELD) {
        held =
            (size_t)(OTAC_IMAGE_HEAD_HELD - at) < len ? (size_t)(OTAC_IMAGE_HEAD_HELD - at) : len;
        memcpy(img->head + at, bytes, held);
        uint64_t checked_at = img->opt.size < MAGIC_BYTES ? img->opt.size : MAGIC_BYTES;
        if (at < checked_at && at + held >= checked_at) {
            int r = image_check_head(img);
            if (r != OTAC_OK)
                return image_fail(img, r);
        }
    }
    if (held < len) {
        int r =
            img->port->flash_write(img->port->ctx, img->slot, at + held, bytes + held, len - held);
        if (r < 0)
            return image_fail(img, r);
    }
    img->written = at + len;
    return OTAC_OK;
}

uint64_t otac_image_written(const struct otac_image *img)
{
    return img && (img->state == IMAGE_WRITING || img->state == IMAGE_FAILED ||
                   img->state == IMAGE_DONE)
               ? img->written
               : 0;
}

int otac_image_finish(struct otac_image *img, char *ret_md5, uint64_t *ret_payload_len)
{
    if (!img || img->state != IMAGE_WRITING)
        return OTAC_E_STATE;
    if (img->written < img->opt.size)
        return image_fail(img, OTAC_E_CUT);

    if (img->md5_expected[0]) {
        uint8_t digest[MD5_BYTES];
        char hex[MD5_HEX + 1];
        br_md5_out(&img->md5, digest);
        hex_encode(digest, sizeof(digest), hex);
        if (memcmp(hex, img->md5_expected, MD5_HEX) != 0)
            return image_fail(img, OTAC_E_MD5);
    }
    uint64_t payload_len = img->opt.size;
    if (img->opt.key) {
        int r = otac_verify_finish(&img->verify, &payload_len);
        if (r != OTAC_OK)
            return image_fail(img, r);
    }

    /* Only now may the slot become bootable. */
    size_t head_len =
        img->opt.size < OTAC_IMAGE_HEAD_HELD ? (size_t)img->opt.size : OTAC_IMAGE_HEAD_HELD;
    int r = img->port->flash_write(img->port->ctx, img->slot, 0, img->head, head_len);
    if (r < 0)
        return image_fail(img, r);

    img->state = IMAGE_DONE;
    if (ret_md5)
        hex_encode(img->payload_md5, MD5_BYTES, ret_md5);
    if (ret_payload_len)
        *ret_payload_len = payload_len;
    return OTAC_OK;
}
