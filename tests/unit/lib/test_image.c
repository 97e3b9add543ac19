/*
 * Unit tests for lib/image.c: an image streams into a slot of the in-memory
 * port (memport.h) in chunks of any size, the head last; then each stock
 * check on its own (size, free space, x-MD5's form, magic, flash-size code,
 * MD5, signature), and a tampered byte anywhere (header, middle, last byte,
 * signature trailer) refused with the slot left unbootable. Signed images
 * are made by otad's signer (src/signing), as test_verify.c makes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/reason.h"
#include "otac/image.h"
#include "signing/signing.h"
#include "../signing/support.h"
#include "memport.h"
#include "signed.h"

#define SLOT_SIZE (2u * 1024u * 1024u)

enum { K_RSA, K_EC, K_COUNT };

struct fixture {
    char *dir;
    struct signing_key *priv[K_COUNT];
    struct otac_pubkey pub[K_COUNT];
    struct memport *m;
};

static int group_setup(void **state)
{
    static const char *const names[K_COUNT] = {"rsa", "ec"};
    static const enum signing_key_type types[K_COUNT] = {SIGNING_KEY_RSA_2048,
                                                         SIGNING_KEY_ECDSA_P256};
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    for (int k = 0; k < K_COUNT; k++)
        if (signed_key_new(f->dir, names[k], types[k], &f->priv[k], &f->pub[k]) < 0)
            return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < K_COUNT; k++)
        signing_key_free(f->priv[k]);
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = *state;
    f->m = memport_new(SLOT_SIZE);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    memport_free(f->m);
    f->m = NULL;
    return 0;
}

/* LEN bytes that start as an image: MAGIC, then byte 3 with flash-size CODE in its high nibble. */
static uint8_t *image_new(size_t len, uint32_t seed, uint8_t magic, unsigned code)
{
    uint8_t *p = test_payload(len, seed);
    if (len > 0)
        p[0] = magic;
    if (len > 3)
        p[3] = (uint8_t)(code << 4 | (p[3] & 15));
    return p;
}

static struct otac_image_options options(enum otac_client client, uint64_t size)
{
    struct otac_image_options o = {
        .client = client,
        .mode = OTAC_MODE_SKETCH,
        .size = size,
        .free_space = 0,
        .chip_size = 0,
        .md5 = NULL,
        .key = NULL,
        .format = OTAC_FORMAT_ESP8266,
        .hash = OTAC_HASH_SHA256,
    };
    return o;
}

/* Begins, writes DATA in chunks of CHUNK (0: at once) and finishes; the first error. */
static int stream(struct memport *m, unsigned slot, const struct otac_image_options *opt,
                  const uint8_t *data, size_t len, size_t chunk, char *ret_md5,
                  uint64_t *ret_payload_len)
{
    struct otac_image img;
    int r = otac_image_begin(&img, &m->port, slot, opt);
    if (r != OTAC_OK)
        return r;
    for (size_t at = 0; at < len;) {
        size_t n = chunk == 0 || chunk > len - at ? len - at : chunk;
        r = otac_image_write(&img, data + at, n);
        if (r != OTAC_OK)
            return r;
        at += n;
        assert_int_equal(otac_image_written(&img), at);
    }
    return otac_image_finish(&img, ret_md5, ret_payload_len);
}

static int slot_unbootable(const struct memport *m, unsigned slot)
{
    for (unsigned i = 0; i < OTAC_IMAGE_HEAD_HELD; i++)
        if (m->flash[slot][i] != 0xff)
            return 0;
    return 1;
}

/* A plain image in chunks of every awkward size: the slot holds it, written as port.h says. */
static void test_streams_into_slot(void **state)
{
    struct fixture *f = *state;
    static const size_t sizes[] = {4, 15, 16, 17, 4096, 100003};
    static const size_t chunks[] = {0, 1, 3, 15, 16, 17, 1000, 4096};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint8_t *data = image_new(sizes[s], (uint32_t)s, 0xE9, 2);
        char expected[33];
        signed_md5_hex(data, sizes[s], expected);
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
            struct otac_image_options opt = options(OTAC_CLIENT_ESP8266_3_1, sizes[s]);
            opt.md5 = expected;
            char md5[33] = "";
            uint64_t payload_len = 0;
            unsigned slot = (unsigned)(c & 1);
            assert_int_equal(stream(f->m, slot, &opt, data, sizes[s], chunks[c], md5, &payload_len),
                             OTAC_OK);
            assert_string_equal(md5, expected);
            assert_int_equal(payload_len, sizes[s]);
            assert_memory_equal(f->m->flash[slot], data, sizes[s]);
            assert_int_equal(f->m->bytes_written[slot], sizes[s]);
            assert_true(f->m->head_written[slot]);
            assert_int_equal(f->m->misordered, 0);
        }
        free(data);
    }
}

/* Until finish, the first 16 bytes are not in the slot; a cut leaves it unbootable. */
static void test_head_written_last(void **state)
{
    struct fixture *f = *state;
    size_t len = 5000;
    uint8_t *data = image_new(len, 9, 0xE9, 0);
    struct otac_image_options opt = options(OTAC_CLIENT_ESP32, len);
    struct otac_image img;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 1, &opt), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, len), OTAC_OK);
    assert_true(slot_unbootable(f->m, 1));
    assert_memory_equal(f->m->flash[1] + 16, data + 16, len - 16);
    assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_OK);
    assert_memory_equal(f->m->flash[1], data, len);

    /* Cut: fewer bytes than the size is OTAC_E_CUT, and the head never comes. */
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, len - 1), OTAC_OK);
    assert_int_equal(otac_image_written(&img), len - 1);
    assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_E_CUT);
    assert_true(slot_unbootable(f->m, 0));
    /* Ended: every later call is out of order. */
    assert_int_equal(otac_image_write(&img, data, 1), OTAC_E_STATE);
    assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_E_STATE);
    free(data);
}

/* Checks that need no byte: size 0, free space in sectors, x-MD5's form, the slot's size. */
static void test_begin_checks(void **state)
{
    struct fixture *f = *state;
    struct otac_image img;
    struct otac_image_options opt = options(OTAC_CLIENT_ESP8266_2_7, 0);
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_E_NO_SIZE);

    /* Sketch mode: roundup4096(size) <= free space. */
    static const struct {
        uint64_t size, free_space;
        int expect;
    } fit[] = {
        {8192, 8192, OTAC_OK}, {8193, 8192, OTAC_E_NO_SPACE},
        {4097, 8192, OTAC_OK}, {4097, 8191, OTAC_E_NO_SPACE},
        {1, 4096, OTAC_OK},    {1, 4095, OTAC_E_NO_SPACE},
        {100000, 0, OTAC_OK}, /* 0: not checked */
    };
    for (size_t i = 0; i < sizeof(fit) / sizeof(fit[0]); i++) {
        opt = options(OTAC_CLIENT_ESP8266_2_7, fit[i].size);
        opt.free_space = fit[i].free_space;
        assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), fit[i].expect);
        /* The filesystem image is not held to the sketch's free space. */
        opt.mode = OTAC_MODE_FS;
        assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
    }

    /* The slot itself too small: the port's OTAC_E_NO_SPACE. */
    opt = options(OTAC_CLIENT_ESP32, SLOT_SIZE + 1);
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_E_NO_SPACE);

    /* x-MD5 must be 32 hex digits (either case); anything else is -105 before a byte. */
    static const struct {
        const char *md5;
        int expect;
    } md5s[] = {
        {"0123456789abcdef0123456789abcdef", OTAC_OK},
        {"0123456789ABCDEF0123456789ABCDEF", OTAC_OK},
        {"", OTAC_E_MD5},
        {"0123456789abcdef0123456789abcde", OTAC_E_MD5},
        {"0123456789abcdef0123456789abcdef0", OTAC_E_MD5},
        {"0123456789abcdef0123456789abcdeg", OTAC_E_MD5},
        {"0123456789abcdef,123456789abcdef", OTAC_E_MD5},
    };
    for (size_t i = 0; i < sizeof(md5s) / sizeof(md5s[0]); i++) {
        opt = options(OTAC_CLIENT_ESP8266_3_1, 100);
        opt.md5 = md5s[i].md5;
        assert_int_equal(otac_image_begin(&img, &f->m->port, 1, &opt), md5s[i].expect);
    }

    /* The port's own failure is passed on. */
    f->m->fail_begin = OTAC_E_FLASH;
    opt = options(OTAC_CLIENT_ESP32, 100);
    assert_int_equal(otac_image_begin(&img, &f->m->port, 1, &opt), OTAC_E_FLASH);
    f->m->fail_begin = 0;

    /* Misuse. */
    assert_int_equal(otac_image_begin(NULL, &f->m->port, 0, &opt), OTAC_E_INVAL);
    assert_int_equal(otac_image_begin(&img, NULL, 0, &opt), OTAC_E_INVAL);
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, NULL), OTAC_E_INVAL);
    assert_int_equal(otac_image_begin(&img, &f->m->port, OTAC_SLOTS, &opt), OTAC_E_INVAL);
    opt.client = (enum otac_client)0;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_E_INVAL);
    opt = options(OTAC_CLIENT_ESP32, 100);
    opt.mode = (enum otac_mode)3;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_E_INVAL);
    struct otac_port no_write = f->m->port;
    no_write.flash_write = NULL;
    opt = options(OTAC_CLIENT_ESP32, 100);
    assert_int_equal(otac_image_begin(&img, &no_write, 0, &opt), OTAC_E_INVAL);
    /* A key the format cannot use: otac_verify_init's error. */
    opt.key = &f->pub[K_EC];
    opt.format = OTAC_FORMAT_ESP8266;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_E_KEY_FORMAT);
}

/*
 * The magic byte: 0xE9 everywhere, gzip on ESP8266 cores 2.7 and later only
 * (reference §3: core 2.4 / 2.5 refuse 0x1F with -106), anything in
 * filesystem mode.
 */
static void test_magic(void **state)
{
    struct fixture *f = *state;
    static const enum otac_client clients[] = {
        OTAC_CLIENT_ESP8266_2_4, OTAC_CLIENT_ESP8266_2_7, OTAC_CLIENT_ESP8266_3_1,
        OTAC_CLIENT_ESP32,       OTAC_CLIENT_ESP_IDF,
    };
    static const uint8_t magics[] = {0xE9, 0x1F, 0x00, 0xEA, 0xFF};
    size_t len = 300;
    for (size_t c = 0; c < sizeof(clients) / sizeof(clients[0]); c++) {
        int gzip = clients[c] == OTAC_CLIENT_ESP8266_2_7 || clients[c] == OTAC_CLIENT_ESP8266_3_1;
        for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
            uint8_t *data = image_new(len, 5, magics[i], 0);
            int good = magics[i] == 0xE9 || (magics[i] == 0x1F && gzip);
            struct otac_image_options opt = options(clients[c], len);
            /* Fed a byte at a time: decided on the fourth, not before. */
            struct otac_image img;
            assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
            for (int b = 0; b < 3; b++)
                assert_int_equal(otac_image_write(&img, data + b, 1), OTAC_OK);
            assert_int_equal(otac_image_write(&img, data + 3, 1), good ? OTAC_OK : OTAC_E_MAGIC);
            if (!good) {
                assert_int_equal(otac_image_write(&img, data + 4, 1), OTAC_E_STATE);
                assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_E_STATE);
            }
            /* A filesystem image has no header to check. */
            opt.mode = OTAC_MODE_FS;
            assert_int_equal(stream(f->m, 1, &opt, data, len, 7, NULL, NULL), OTAC_OK);
            free(data);
        }
    }
    /* A sketch shorter than four bytes cannot be an image. */
    uint8_t tiny[3] = {0xE9, 0, 0};
    struct otac_image_options opt = options(OTAC_CLIENT_ESP32, 3);
    assert_int_equal(stream(f->m, 0, &opt, tiny, 3, 1, NULL, NULL), OTAC_E_MAGIC);
    opt.mode = OTAC_MODE_FS;
    assert_int_equal(stream(f->m, 0, &opt, tiny, 3, 1, NULL, NULL), OTAC_OK);
}

/* ESP8266's flash-size code (byte 3, high nibble) against the chip; ESP32 does not look. */
static void test_flash_size_code(void **state)
{
    struct fixture *f = *state;
    const uint64_t k = 1024;
    /* code -> bytes it asks for; 0: does not constrain */
    static const uint64_t wants[16] = {512, 256, 1024, 2048, 4096, 0, 0, 0, 8192, 16384};
    static const uint64_t chips[] = {256, 512, 1024, 2048, 4096, 8192, 16384};
    size_t len = 64;
    for (unsigned code = 0; code < 16; code++) {
        uint8_t *data = image_new(len, code, 0xE9, code);
        for (size_t c = 0; c < sizeof(chips) / sizeof(chips[0]); c++) {
            struct otac_image_options opt = options(OTAC_CLIENT_ESP8266_2_4, len);
            opt.chip_size = chips[c] * k;
            int expect = wants[code] * k > opt.chip_size ? OTAC_E_FLASH_SIZE : OTAC_OK;
            assert_int_equal(stream(f->m, 0, &opt, data, len, 2, NULL, NULL), expect);
            /* Unknown chip size, ESP32 and the filesystem image: not checked. */
            opt.chip_size = 0;
            assert_int_equal(stream(f->m, 0, &opt, data, len, 2, NULL, NULL), OTAC_OK);
            opt = options(OTAC_CLIENT_ESP32, len);
            opt.chip_size = chips[c] * k;
            assert_int_equal(stream(f->m, 0, &opt, data, len, 2, NULL, NULL), OTAC_OK);
            opt = options(OTAC_CLIENT_ESP8266_3_1, len);
            opt.chip_size = chips[c] * k;
            opt.mode = OTAC_MODE_FS;
            assert_int_equal(stream(f->m, 0, &opt, data, len, 2, NULL, NULL), OTAC_OK);
        }
        free(data);
    }
    /* A 16 MB code on a 1 MB chip, named: -107. A gzip stream has no such byte. */
    uint8_t *data = image_new(len, 1, 0xE9, 9);
    struct otac_image_options opt = options(OTAC_CLIENT_ESP8266_3_1, len);
    opt.chip_size = 1024 * k;
    assert_int_equal(stream(f->m, 0, &opt, data, len, 0, NULL, NULL), OTAC_E_FLASH_SIZE);
    data[0] = 0x1F;
    assert_int_equal(stream(f->m, 0, &opt, data, len, 0, NULL, NULL), OTAC_OK);
    free(data);
}

/* The MD5 covers every byte: a changed byte in the header, the middle or the last is refused. */
static void test_md5_catches_tampering(void **state)
{
    struct fixture *f = *state;
    size_t len = 70000;
    uint8_t *data = image_new(len, 21, 0xE9, 0);
    char md5[33];
    signed_md5_hex(data, len, md5);
    static const size_t at[] = {1, 5, 15, 16, 35000, 69999}; /* header, middle, last */
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, data, len);
        bad[at[i]] ^= 0x01;
        struct otac_image_options opt = options(OTAC_CLIENT_ESP32, len);
        opt.md5 = md5;
        assert_int_equal(stream(f->m, 1, &opt, bad, len, 4096, NULL, NULL), OTAC_E_MD5);
        assert_true(slot_unbootable(f->m, 1));
        free(bad);
    }
    /* Uppercase x-MD5 of the right bytes is taken; no x-MD5 checks nothing. */
    char upper[33];
    for (int i = 0; i < 33; i++)
        upper[i] = (char)(md5[i] >= 'a' && md5[i] <= 'f' ? md5[i] - 32 : md5[i]);
    struct otac_image_options opt = options(OTAC_CLIENT_ESP32, len);
    opt.md5 = upper;
    char got[33];
    assert_int_equal(stream(f->m, 1, &opt, data, len, 4096, got, NULL), OTAC_OK);
    assert_string_equal(got, md5);
    free(data);
}

/*
 * Signed images (ESP8266 RSA, ESP32 ECDSA): a byte changed in the header, the
 * middle, the last payload byte or the signature trailer is refused, even
 * when x-MD5 is the MD5 of the changed bytes (an attacker sends both).
 */
static void test_signature_catches_tampering(void **state)
{
    struct fixture *f = *state;
    static const struct {
        int key;
        enum signing_format sformat;
        enum otac_format format;
        enum otac_client client;
        size_t trailer;
    } cases[] = {
        {K_RSA, SIGNING_FORMAT_ESP8266, OTAC_FORMAT_ESP8266, OTAC_CLIENT_ESP8266_3_1, 256 + 4},
        {K_EC, SIGNING_FORMAT_ESP32, OTAC_FORMAT_ESP32, OTAC_CLIENT_ESP32, 512},
    };
    size_t len = 20000;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint8_t *payload = image_new(len, 33, 0xE9, 0);
        struct buf image = signed_image(f->priv[cases[c].key], cases[c].sformat,
                                        SIGNING_HASH_SHA256, payload, len);
        assert_int_equal(image.len, len + cases[c].trailer);
        char payload_md5[33], image_md5[33];
        signed_md5_hex(payload, len, payload_md5);
        signed_md5_hex(image.data, image.len, image_md5);

        /* Untouched: staged length and MD5 are the payload's, what the device boots. */
        struct otac_image_options opt = options(cases[c].client, image.len);
        opt.key = &f->pub[cases[c].key];
        opt.format = cases[c].format;
        opt.md5 = image_md5;
        char md5[33];
        uint64_t payload_len = 0;
        assert_int_equal(stream(f->m, 0, &opt, image.data, image.len, 333, md5, &payload_len),
                         OTAC_OK);
        assert_int_equal(payload_len, len);
        assert_string_equal(md5, payload_md5);
        assert_memory_equal(f->m->flash[0], image.data, image.len);

        /* Without x-MD5 the same. */
        opt.md5 = NULL;
        assert_int_equal(stream(f->m, 0, &opt, image.data, image.len, 0, md5, &payload_len),
                         OTAC_OK);
        assert_string_equal(md5, payload_md5);

        const size_t at[] = {1, 7, len / 2, len - 1, len + 10, image.len - 1};
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            uint8_t *bad = malloc(image.len);
            memcpy(bad, image.data, image.len);
            bad[at[i]] ^= 0x10;
            char bad_md5[33];
            signed_md5_hex(bad, image.len, bad_md5);
            opt.md5 = bad_md5;
            int r = stream(f->m, 1, &opt, bad, image.len, 1000, NULL, NULL);
            if (r != OTAC_E_SIG_MISMATCH && r != OTAC_E_SIG_BLOCK && r != OTAC_E_SIG_LENGTH)
                fail_msg("case %zu, byte %zu changed: %s", c, at[i], otac_strerror(r));
            assert_true(slot_unbootable(f->m, 1));
            free(bad);
        }
        /* The right image, but with the MD5 of another: refused on the MD5. */
        opt.md5 = payload_md5;
        assert_int_equal(stream(f->m, 1, &opt, image.data, image.len, 0, NULL, NULL), OTAC_E_MD5);
        /* An unsigned image to a device that takes signed ones. */
        opt.md5 = NULL;
        opt.size = len;
        assert_int_not_equal(stream(f->m, 1, &opt, payload, len, 0, NULL, NULL), OTAC_OK);
        assert_true(slot_unbootable(f->m, 1));
        buf_release(&image);
        free(payload);
    }
}

/* Writing past the size, and the port's write failing, fail the image. */
static void test_write_errors(void **state)
{
    struct fixture *f = *state;
    size_t len = 100;
    uint8_t *data = image_new(len + 1, 3, 0xE9, 0);
    struct otac_image_options opt = options(OTAC_CLIENT_ESP32, len);
    struct otac_image img;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, 0), OTAC_OK);
    assert_int_equal(otac_image_write(&img, NULL, 0), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, len + 1), OTAC_E_INVAL);
    assert_int_equal(otac_image_write(&img, data, len), OTAC_E_STATE);

    f->m->flash_writes = 0;
    f->m->fail_write_call = 2; /* the second write past the head */
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, 50), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data + 50, 50), OTAC_E_FLASH);
    assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_E_STATE);

    /* The head's write failing at finish is the port's error too. */
    f->m->flash_writes = 0;
    f->m->fail_write_call = 2;
    assert_int_equal(otac_image_begin(&img, &f->m->port, 0, &opt), OTAC_OK);
    assert_int_equal(otac_image_write(&img, data, len), OTAC_OK);
    assert_int_equal(otac_image_finish(&img, NULL, NULL), OTAC_E_FLASH);
    f->m->fail_write_call = MEMPORT_NEVER;

    /* Never begun. */
    struct otac_image blank;
    memset(&blank, 0, sizeof(blank));
    assert_int_equal(otac_image_write(&blank, data, 1), OTAC_E_STATE);
    assert_int_equal(otac_image_finish(&blank, NULL, NULL), OTAC_E_STATE);
    assert_int_equal(otac_image_written(&blank), 0);
    assert_int_equal(otac_image_write(NULL, data, 1), OTAC_E_STATE);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams_into_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_written_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_size_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_md5_catches_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signature_catches_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
