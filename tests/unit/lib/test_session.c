/*
 * Unit tests for lib/session.c: a check-in without I/O over the in-memory
 * port (memport.h), the answer fed as bytes in every kind of split. Every
 * outcome of session.h (current, staged, refused, failed for each reason,
 * cut), the order of calls it allows, and esp_https_ota's resume: a cut at
 * every 256 KiB boundary of a 1 MiB image, the exact Range request, a 206
 * with the rest, staged with the right MD5; then each way a resumed answer
 * can fail to continue the same image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/reason.h"
#include "otac/session.h"
#include "signing/signing.h"
#include "../signing/support.h"
#include "memport.h"
#include "signed.h"

#define SLOT_SIZE  (2u * 1024u * 1024u)
#define IMAGE_SIZE (1024u * 1024u)
#define KIB        1024u

struct fixture {
    char *dir;
    struct signing_key *rsa;
    struct otac_pubkey rsa_pub;
    uint8_t *image; /* IMAGE_SIZE bytes, an ESP image for a 1 MB chip */
    char image_md5[33];

    struct memport *m;
    struct otac_slots slots;
    struct otac_identity id;
    struct otac_session_config cfg;
    struct otac_session s;
};

static const struct otac_slot_image factory = {
    1,
    "1.0.0",
    "00112233445566778899aabbccddeeff",
    300000,
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    if (signed_key_new(f->dir, "rsa", SIGNING_KEY_RSA_2048, &f->rsa, &f->rsa_pub) < 0)
        return -1;
    f->image = test_payload(IMAGE_SIZE, 1234);
    f->image[3] = 0x20; /* flash-size code 2: 1 MB */
    signed_md5_hex(f->image, IMAGE_SIZE, f->image_md5);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    signing_key_free(f->rsa);
    free(f->image);
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* A device on core 3.1 with 4 MB of flash, running the factory image; a check-in config. */
static int setup(void **state)
{
    struct fixture *f = *state;
    f->m = memport_new(SLOT_SIZE);
    if (otac_slots_load(&f->slots, &f->m->port, &factory) != OTAC_OK)
        return -1;
    memset(&f->id, 0, sizeof(f->id));
    f->id.client = OTAC_CLIENT_ESP8266_3_1;
    static const uint8_t sta[6] = {0x5C, 0xCF, 0x7F, 0x01, 0x02, 0x03};
    memcpy(f->id.sta_mac, sta, 6);
    memcpy(f->id.ap_mac, sta, 6);
    f->id.ap_mac[5] ^= 0x80;
    f->id.chip_id = 0x010203;
    f->id.free_space = SLOT_SIZE;
    f->id.chip_size = 4u * 1024u * 1024u;
    strcpy(f->id.sdk_version, "2.2.2-dev(38a443e)");
    otac_slots_identity(&f->slots, &f->id);
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.host = "127.0.0.1";
    f->cfg.port = 8080;
    f->cfg.target = "/update/door";
    f->cfg.mode = OTAC_MODE_SKETCH;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    memport_free(f->m);
    return 0;
}

/* Makes the device an ESP-IDF one asking for a stable image URL, with RESUMES Range requests. */
static void use_esp_idf(struct fixture *f, unsigned resumes)
{
    f->id.client = OTAC_CLIENT_ESP_IDF;
    f->cfg.target = "/images/door/1.1.0";
    f->cfg.max_resumes = resumes;
}

static void start(struct fixture *f)
{
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port), OTAC_OK);
    char req[OTAC_REQUEST_MAX];
    size_t len = 0;
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_OK);
    assert_true(len > 0);
}

/* Feeds LEN bytes in pieces of SPLIT (0: at once); the outcome after the last piece. */
static enum otac_outcome feed(struct otac_session *s, const void *data, size_t len, size_t split)
{
    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    const uint8_t *p = data;
    for (size_t at = 0; at < len;) {
        size_t n = split == 0 || split > len - at ? len - at : split;
        assert_int_equal(otac_session_receive(s, p + at, n, &outcome), OTAC_OK);
        at += n;
    }
    return outcome;
}

static enum otac_outcome feed_text(struct otac_session *s, const char *text)
{
    return feed(s, text, strlen(text), 0);
}

/* The head of a 200 of SIZE bytes; MD5, VERSION, ETAG NULL: left out. */
static const char *head_200(uint64_t size, const char *md5, const char *version, const char *etag)
{
    static char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                     "Content-Type: application/octet-stream\r\n");
    if (md5)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "x-MD5: %s\r\n", md5);
    if (version)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "x-version: %s\r\n", version);
    if (etag)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "ETag: %s\r\n", etag);
    snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %llu\r\n\r\n",
             (unsigned long long)size);
    return head;
}

/* The head of a 206 with Content-Range FIRST-LAST/TOTAL, and a Content-Length unless LENGTH < 0. */
static const char *head_206(uint64_t first, uint64_t last, uint64_t total, long long length,
                            const char *etag)
{
    static char head[1024];
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)first, (unsigned long long)last, (unsigned long long)total);
    if (etag)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "ETag: %s\r\n", etag);
    if (length >= 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", length);
    snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    return head;
}

static void assert_nothing_staged(const struct fixture *f)
{
    assert_int_equal(f->slots.pending, OTAC_SLOT_NONE);
    assert_false(f->slots.image[1].valid);
    for (unsigned i = 0; i < OTAC_IMAGE_HEAD_HELD; i++)
        assert_int_equal(f->m->flash[1][i], 0xff);
}

static void assert_staged(const struct fixture *f, const uint8_t *image, uint64_t size,
                          const char *md5, const char *version)
{
    assert_int_equal(f->slots.pending, 1);
    assert_true(f->slots.image[1].valid);
    assert_string_equal(f->slots.image[1].md5, md5);
    assert_string_equal(f->slots.image[1].version, version);
    assert_int_equal(f->slots.image[1].size, size);
    assert_memory_equal(f->m->flash[1], image, size);
    assert_int_equal(f->m->misordered, 0);
}

/* 304: nothing new, and nothing touched. */
static void test_current(void **state)
{
    struct fixture *f = *state;
    start(f);
    assert_int_equal(otac_session_outcome(&f->s), OTAC_OUTCOME_NONE);
    assert_int_equal(otac_session_status(&f->s), 0);
    assert_int_equal(feed(&f->s, "HTTP/1.0 304 Not Modified\r\n\r\n", 29, 1), OTAC_OUTCOME_CURRENT);
    assert_int_equal(otac_session_outcome(&f->s), OTAC_OUTCOME_CURRENT);
    assert_int_equal(otac_session_error(&f->s), OTAC_OK);
    assert_int_equal(otac_session_status(&f->s), 304);
    assert_int_equal(otac_session_size(&f->s), 0);
    assert_int_equal(otac_session_received(&f->s), 0);
    assert_int_equal(f->m->flash_writes, 0);
    assert_int_equal(f->m->stores, 1);
    /* The rest of the answer and the close change nothing. */
    enum otac_outcome outcome;
    assert_int_equal(otac_session_receive(&f->s, "junk", 4, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_CURRENT);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_CURRENT);
    char req[OTAC_REQUEST_MAX];
    size_t len;
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_E_STATE);
}

/* 200: the image in every split, staged with x-version, its MD5 and its length. */
static void test_staged(void **state)
{
    struct fixture *f = *state;
    static const size_t splits[] = {0, 1, 7, 1000, 65536};
    size_t size = 100000;
    char md5[33];
    signed_md5_hex(f->image, size, md5);
    const char *head = head_200(size, md5, "1.1.0", NULL);
    size_t head_len = strlen(head);
    uint8_t *answer = malloc(head_len + size + 10);
    memcpy(answer, head, head_len);
    memcpy(answer + head_len, f->image, size);
    memcpy(answer + head_len + size, "0123456789", 10); /* past Content-Length: ignored */

    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        teardown(state);
        setup(state);
        start(f);
        assert_int_equal(feed(&f->s, answer, head_len + size + 10, splits[i]), OTAC_OUTCOME_STAGED);
        assert_int_equal(otac_session_error(&f->s), OTAC_OK);
        assert_int_equal(otac_session_status(&f->s), 200);
        assert_string_equal(otac_session_version(&f->s), "1.1.0");
        assert_int_equal(otac_session_size(&f->s), size);
        assert_int_equal(otac_session_received(&f->s), size);
        assert_staged(f, f->image, size, md5, "1.1.0");
    }
    free(answer);

    /* The staged image is what the device reports after it boots it. */
    unsigned slot;
    assert_int_equal(otac_slots_boot(&f->slots, &f->m->port, &slot), OTAC_OK);
    struct otac_identity id;
    otac_slots_identity(&f->slots, &id);
    assert_string_equal(id.version, "1.1.0");
    assert_string_equal(id.sketch_md5, md5);
    assert_int_equal(id.sketch_size, size);
}

/* A signed image: staged with the payload's length and MD5, not the trailer's. */
static void test_staged_signed(void **state)
{
    struct fixture *f = *state;
    size_t size = 50000;
    struct buf image =
        signed_image(f->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, f->image, size);
    f->cfg.key = &f->rsa_pub;
    f->cfg.format = OTAC_FORMAT_ESP8266;
    f->cfg.hash = OTAC_HASH_SHA256;
    char image_md5[33], payload_md5[33];
    signed_md5_hex(image.data, image.len, image_md5);
    signed_md5_hex(f->image, size, payload_md5);
    start(f);
    assert_int_equal(feed_text(&f->s, head_200(image.len, image_md5, "2.0.0", NULL)),
                     OTAC_OUTCOME_NONE);
    assert_int_equal(feed(&f->s, image.data, image.len, 4096), OTAC_OUTCOME_STAGED);
    assert_int_equal(f->slots.image[1].size, size);
    assert_string_equal(f->slots.image[1].md5, payload_md5);

    /* One changed byte of the trailer, with a matching x-MD5: refused on the signature. */
    teardown(state);
    setup(state);
    f->cfg.key = &f->rsa_pub;
    f->cfg.format = OTAC_FORMAT_ESP8266;
    f->cfg.hash = OTAC_HASH_SHA256;
    image.data[image.len - 10] ^= 1;
    signed_md5_hex(image.data, image.len, image_md5);
    start(f);
    assert_int_equal(feed_text(&f->s, head_200(image.len, image_md5, "2.0.0", NULL)),
                     OTAC_OUTCOME_NONE);
    assert_int_equal(feed(&f->s, image.data, image.len, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_SIG_MISMATCH);
    assert_nothing_staged(f);
    buf_release(&image);
}

/* Any status but 200 and 304 is refused, with its status and Retry-After kept. */
static void test_refused(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *answer;
        int status;
        uint32_t retry_after;
    } cases[] = {
        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\n\r\nimage does not fit\r\n", 403, 0},
        {"HTTP/1.1 404 Not Found\r\n\r\n", 404, 0},
        {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 500, 0},
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\n\r\n", 503, 10},
        {"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere/x\r\n\r\n", 301, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\n\r\n", 206, 0},
        {"HTTP/1.0 401 Unauthorized\n\n", 401, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        start(f);
        assert_int_equal(feed(&f->s, cases[i].answer, strlen(cases[i].answer), 3),
                         OTAC_OUTCOME_REFUSED);
        assert_int_equal(otac_session_error(&f->s), OTAC_OK);
        assert_int_equal(otac_session_status(&f->s), cases[i].status);
        assert_int_equal(otac_session_retry_after_s(&f->s), cases[i].retry_after);
        assert_int_equal(f->m->flash_writes, 0);
        assert_nothing_staged(f);
    }
}

/* FAILED, for each reason session.h and image.h name. */
static void test_failed(void **state)
{
    struct fixture *f = *state;
    char md5[33];
    size_t size = 10000;
    signed_md5_hex(f->image, size, md5);
    char wrong_md5[33];
    signed_md5_hex(f->image, size - 1, wrong_md5);

    /* The answer's framing. */
    static const char *const no_size[] = {
        "HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10000\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(no_size) / sizeof(no_size[0]); i++) {
        start(f);
        assert_int_equal(feed_text(&f->s, no_size[i]), OTAC_OUTCOME_FAILED);
        assert_int_equal(otac_session_error(&f->s), OTAC_E_NO_SIZE);
        assert_int_equal(otac_session_status(&f->s), 200);
    }
    static const char *const malformed[] = {
        "HELLO\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        start(f);
        assert_int_equal(feed_text(&f->s, malformed[i]), OTAC_OUTCOME_FAILED);
        assert_int_equal(otac_session_error(&f->s), OTAC_E_HTTP);
    }

    /* The stock checks, through the session. */
    static const struct {
        uint8_t byte0, byte3;
        uint64_t free_space, chip_size;
        int expect;
    } checks[] = {
        {0xE9, 0x20, SLOT_SIZE, 1024 * KIB, OTAC_OK},
        {0x00, 0x20, SLOT_SIZE, 0, OTAC_E_MAGIC},
        {0xE9, 0x40, SLOT_SIZE, 1024 * KIB, OTAC_E_FLASH_SIZE}, /* 4 MB code, 1 MB chip */
        {0xE9, 0x20, 8 * KIB, 0, OTAC_E_NO_SPACE},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        uint8_t *image = malloc(size);
        memcpy(image, f->image, size);
        image[0] = checks[i].byte0;
        image[3] = checks[i].byte3;
        char image_md5[33];
        signed_md5_hex(image, size, image_md5);
        teardown(state);
        setup(state);
        f->id.free_space = checks[i].free_space;
        f->id.chip_size = checks[i].chip_size;
        start(f);
        feed_text(&f->s, head_200(size, image_md5, "1.1.0", NULL));
        enum otac_outcome outcome = feed(&f->s, image, size, 1000);
        if (checks[i].expect == OTAC_OK) {
            assert_int_equal(outcome, OTAC_OUTCOME_STAGED);
        } else {
            assert_int_equal(outcome, OTAC_OUTCOME_FAILED);
            assert_int_equal(otac_session_error(&f->s), checks[i].expect);
            assert_nothing_staged(f);
        }
        free(image);
    }

    /* x-MD5: malformed before a byte is written; the wrong MD5 at the end. */
    teardown(state);
    setup(state);
    start(f);
    assert_int_equal(
        feed_text(&f->s, "HTTP/1.1 200 OK\r\nx-MD5: abc\r\nContent-Length: 100\r\n\r\n"),
        OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_MD5);
    assert_int_equal(f->m->flash_writes, 0);
    start(f);
    feed_text(&f->s, head_200(size, wrong_md5, "1.1.0", NULL));
    assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_MD5);
    assert_nothing_staged(f);
    assert_int_equal(otac_session_received(&f->s), size);

    /* The flash fails. */
    teardown(state);
    setup(state);
    f->m->fail_write_call = 2;
    start(f);
    feed_text(&f->s, head_200(size, md5, "1.1.0", NULL));
    assert_int_equal(feed(&f->s, f->image, size, 1000), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_FLASH);

    /* The state record cannot be stored: whole and verified, but not staged. */
    teardown(state);
    setup(state);
    f->m->fail_store_call = f->m->store_calls + 1;
    start(f);
    feed_text(&f->s, head_200(size, md5, "1.1.0", NULL));
    assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_FLASH);
    assert_int_equal(f->slots.pending, OTAC_SLOT_NONE);
    assert_false(f->slots.image[1].valid);

    /* On trial, a 200 would overwrite the fallback slot: refused before a byte is written. */
    teardown(state);
    setup(state);
    struct otac_slot_image staged = {1, "1.1.0", "", 5000};
    unsigned slot;
    assert_int_equal(otac_slots_stage(&f->slots, &f->m->port, &staged), OTAC_OK);
    assert_int_equal(otac_slots_boot(&f->slots, &f->m->port, &slot), OTAC_OK);
    assert_int_equal(otac_slots_target(&f->slots), 0);
    f->m->flash_writes = 0;
    start(f);
    assert_int_equal(feed_text(&f->s, head_200(size, md5, "1.2.0", NULL)), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_STATE);
    assert_int_equal(f->m->flash_writes, 0);
    assert_int_equal(f->m->begun[0], 0);
}

/* The connection ends early: in the head (FAILED), in the body (CUT); stock clients never resume.
 */
static void test_cut(void **state)
{
    struct fixture *f = *state;
    enum otac_outcome outcome;
    size_t size = 10000;

    /* Nothing came at all. */
    start(f);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_HTTP);

    /* Part of the head. */
    start(f);
    assert_int_equal(feed_text(&f->s, "HTTP/1.1 200 OK\r\nContent-Len"), OTAC_OUTCOME_NONE);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_HTTP);

    /* Part of the image, on an Arduino client even with resumes configured: CUT. */
    f->cfg.max_resumes = 3;
    static const size_t cut_at[] = {0, 3, 16, 5000, 9999};
    for (size_t i = 0; i < sizeof(cut_at) / sizeof(cut_at[0]); i++) {
        start(f);
        feed_text(&f->s, head_200(size, NULL, "1.1.0", NULL));
        assert_int_equal(feed(&f->s, f->image, cut_at[i], 100), OTAC_OUTCOME_NONE);
        assert_int_equal(otac_session_received(&f->s), cut_at[i]);
        assert_int_equal(otac_session_size(&f->s), size);
        assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
        assert_int_equal(outcome, OTAC_OUTCOME_CUT);
        assert_int_equal(otac_session_outcome(&f->s), OTAC_OUTCOME_CUT);
        assert_int_equal(otac_session_error(&f->s), OTAC_E_CUT);
        assert_nothing_staged(f);
    }
}

/* Calls out of order, and misuse. */
static void test_call_order(void **state)
{
    struct fixture *f = *state;
    enum otac_outcome outcome;
    char req[OTAC_REQUEST_MAX];
    size_t len;
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port), OTAC_OK);
    assert_int_equal(otac_session_receive(&f->s, "HTTP/1.1", 8, &outcome), OTAC_E_STATE);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_E_STATE);
    assert_int_equal(otac_session_request(&f->s, req, 10, &len), OTAC_E_BUFFER);
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_OK);
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_E_STATE);
    assert_int_equal(otac_session_receive(&f->s, NULL, 1, &outcome), OTAC_E_INVAL);
    assert_int_equal(otac_session_receive(&f->s, "x", 1, NULL), OTAC_E_INVAL);
    assert_int_equal(otac_session_receive(&f->s, NULL, 0, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_NONE);

    /* The check-in is the request builder's, byte for byte. */
    char expect[OTAC_REQUEST_MAX];
    size_t expect_len;
    assert_int_equal(otac_request_checkin(expect, sizeof(expect), &expect_len, &f->id,
                                          OTAC_MODE_SKETCH, "127.0.0.1", 8080, "/update/door",
                                          NULL),
                     OTAC_OK);
    assert_int_equal(len, expect_len);
    assert_memory_equal(req, expect, len);

    assert_int_equal(otac_session_init(NULL, &f->cfg, &f->id, &f->slots, &f->m->port),
                     OTAC_E_INVAL);
    assert_int_equal(otac_session_init(&f->s, NULL, &f->id, &f->slots, &f->m->port), OTAC_E_INVAL);
    assert_int_equal(otac_session_init(&f->s, &f->cfg, NULL, &f->slots, &f->m->port), OTAC_E_INVAL);
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, NULL, &f->m->port), OTAC_E_INVAL);
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, NULL), OTAC_E_INVAL);
    f->cfg.mode = (enum otac_mode)0;
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port),
                     OTAC_E_INVAL);
    f->cfg.mode = OTAC_MODE_SKETCH;
    f->cfg.host = NULL;
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port),
                     OTAC_E_INVAL);
    f->cfg.host = "127.0.0.1";
    f->id.client = (enum otac_client)9;
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port),
                     OTAC_E_INVAL);
    /* A CR in the identity: the builder refuses it when the request is made. */
    f->id.client = OTAC_CLIENT_ESP8266_3_1;
    strcpy(f->id.version, "1.0\r\nX-Evil: 1");
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port), OTAC_OK);
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_E_INVAL);
    assert_int_equal(otac_session_outcome(NULL), OTAC_OUTCOME_NONE);
}

/* Feeds the 200 for the 1 MiB image up to CUT bytes of body, then closes: a resume is left. */
static void first_answer_cut(struct fixture *f, size_t cut, const char *etag)
{
    enum otac_outcome outcome;
    start(f);
    feed_text(&f->s, head_200(IMAGE_SIZE, f->image_md5, "1.1.0", etag));
    assert_int_equal(feed(&f->s, f->image, cut, 8192), OTAC_OUTCOME_NONE);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_NONE);
    assert_int_equal(otac_session_received(&f->s), cut);
}

/* The resume request must be exactly esp_https_ota's: HTTP/1.1, User-Agent, Host, Range. */
static void assert_range_request(struct fixture *f, size_t from)
{
    char req[OTAC_REQUEST_MAX + 1];
    size_t len = 0;
    assert_int_equal(otac_session_request(&f->s, req, OTAC_REQUEST_MAX, &len), OTAC_OK);
    req[len] = '\0';
    char expect[256];
    snprintf(expect, sizeof(expect),
             "GET /images/door/1.1.0 HTTP/1.1\r\n"
             "User-Agent: ESP32 HTTP Client/1.0\r\n"
             "Host: 127.0.0.1:8080\r\n"
             "Range: bytes=%zu-\r\n"
             "%s%s%s"
             "\r\n",
             from, f->cfg.authorization ? "Authorization: " : "",
             f->cfg.authorization ? f->cfg.authorization : "", f->cfg.authorization ? "\r\n" : "");
    assert_string_equal(req, expect);
}

/*
 * An image URL that needs Authorization: esp_http_client adds it to every
 * request it prepares, the resume's too (tests/e2e/devices.py esp_idf), so
 * the Range request carries it after Range, or the server refuses the rest.
 */
static void test_resume_authorized(void **state)
{
    struct fixture *f = *state;
    use_esp_idf(f, 1);
    f->cfg.authorization = "Basic ZGV2aWNlOnNlY3JldA==";
    first_answer_cut(f, 256 * KIB, NULL);
    assert_range_request(f, 256 * KIB);
    feed_text(&f->s, head_206(256 * KIB, IMAGE_SIZE - 1, IMAGE_SIZE, 768 * KIB, NULL));
    assert_int_equal(feed(&f->s, f->image + 256 * KIB, 768 * KIB, 0), OTAC_OUTCOME_STAGED);
}

/*
 * A cut at every 256 KiB boundary of a 1 MiB image (and one byte after the
 * head): the Range request, a 206 with the rest, staged, the MD5 right.
 */
static void test_resume_every_boundary(void **state)
{
    struct fixture *f = *state;
    static const size_t cuts[] = {0, 1, 256 * KIB, 512 * KIB, 768 * KIB, IMAGE_SIZE - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        teardown(state);
        setup(state);
        use_esp_idf(f, 1);
        size_t cut = cuts[i];
        first_answer_cut(f, cut, "\"abc123\"");
        assert_range_request(f, cut);
        size_t rest = IMAGE_SIZE - cut;
        assert_int_equal(feed_text(&f->s, head_206(cut, IMAGE_SIZE - 1, IMAGE_SIZE, (long long)rest,
                                                   "\"abc123\"")),
                         rest ? OTAC_OUTCOME_NONE : OTAC_OUTCOME_STAGED);
        assert_int_equal(feed(&f->s, f->image + cut, rest, 10000), OTAC_OUTCOME_STAGED);
        assert_int_equal(otac_session_error(&f->s), OTAC_OK);
        assert_int_equal(otac_session_status(&f->s), 200); /* the first answer's */
        assert_string_equal(otac_session_version(&f->s), "1.1.0");
        assert_int_equal(otac_session_received(&f->s), IMAGE_SIZE);
        assert_staged(f, f->image, IMAGE_SIZE, f->image_md5, "1.1.0");
    }

    /* Cut at each boundary of one download in turn, with three resumes. */
    teardown(state);
    setup(state);
    use_esp_idf(f, 3);
    first_answer_cut(f, 256 * KIB, NULL);
    for (size_t from = 256 * KIB; from < IMAGE_SIZE; from += 256 * KIB) {
        assert_range_request(f, from);
        /* The server sends no ETag, nor a Content-Length: the Content-Range says it. */
        feed_text(&f->s, head_206(from, IMAGE_SIZE - 1, IMAGE_SIZE, -1, NULL));
        enum otac_outcome outcome = feed(&f->s, f->image + from, 256 * KIB, 4096);
        if (from + 256 * KIB < IMAGE_SIZE) {
            assert_int_equal(outcome, OTAC_OUTCOME_NONE);
            assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
            assert_int_equal(outcome, OTAC_OUTCOME_NONE);
        } else {
            assert_int_equal(outcome, OTAC_OUTCOME_STAGED);
        }
    }
    assert_staged(f, f->image, IMAGE_SIZE, f->image_md5, "1.1.0");
}

/* Each way a resumed answer fails to continue the same image: FAILED with OTAC_E_RESUME. */
static void test_resume_refused(void **state)
{
    struct fixture *f = *state;
    const size_t cut = 512 * KIB, rest = IMAGE_SIZE - cut;
    static char answers[12][512];
    snprintf(answers[0], sizeof(answers[0]), "%s",
             head_200(IMAGE_SIZE, f->image_md5, "1.1.0", "\"abc123\"")); /* 200, not 206 */
    snprintf(answers[1], sizeof(answers[1]), "%s",
             head_206(cut, IMAGE_SIZE, IMAGE_SIZE + 1, (long long)rest + 1,
                      "\"abc123\"")); /* another total */
    snprintf(answers[2], sizeof(answers[2]), "%s",
             head_206(cut, IMAGE_SIZE - 1, IMAGE_SIZE, (long long)rest,
                      "\"def456\"")); /* another ETag */
    snprintf(answers[3], sizeof(answers[3]), "%s",
             head_206(cut, IMAGE_SIZE - 1, IMAGE_SIZE, (long long)rest, NULL)); /* ETag gone */
    snprintf(
        answers[4], sizeof(answers[4]), "%s",
        head_206(0, IMAGE_SIZE - 1, IMAGE_SIZE, IMAGE_SIZE, "\"abc123\"")); /* from the start */
    snprintf(answers[5], sizeof(answers[5]), "%s",
             head_206(cut, IMAGE_SIZE - 2, IMAGE_SIZE, -1, "\"abc123\"")); /* not to the end */
    snprintf(answers[6], sizeof(answers[6]), "%s",
             head_206(cut, IMAGE_SIZE - 1, IMAGE_SIZE, (long long)rest + 5,
                      "\"abc123\"")); /* Content-Length disagrees */
    snprintf(answers[7], sizeof(answers[7]), "%s",
             "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */1048576\r\n\r\n");
    snprintf(answers[8], sizeof(answers[8]), "%s",
             head_206(cut, IMAGE_SIZE - 1, 2 * IMAGE_SIZE, (long long)rest,
                      "\"abc123\"")); /* the bytes asked for, of another total */
    snprintf(answers[9], sizeof(answers[9]), "%s",
             head_206(cut - 1, IMAGE_SIZE - 1, IMAGE_SIZE, -1,
                      "\"abc123\"")); /* one byte early, no Content-Length */
    snprintf(answers[10], sizeof(answers[10]),
             "HTTP/1.1 200 OK\r\nContent-Range: bytes %zu-%u/%u\r\nETag: \"abc123\"\r\n"
             "Content-Length: %zu\r\n\r\n",
             cut, IMAGE_SIZE - 1, IMAGE_SIZE, rest); /* the right range, but not a 206 */
    snprintf(answers[11], sizeof(answers[11]),
             "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%u/%u\r\n"
             "ETag: \"abc123\"\r\nTransfer-Encoding: chunked\r\n\r\n",
             cut, IMAGE_SIZE - 1, IMAGE_SIZE); /* chunk framing would land in the image */
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        teardown(state);
        setup(state);
        use_esp_idf(f, 2);
        first_answer_cut(f, cut, "\"abc123\"");
        assert_range_request(f, cut);
        if (feed_text(&f->s, answers[i]) != OTAC_OUTCOME_FAILED)
            fail_msg("answer %zu was taken as the rest of the image", i);
        assert_int_equal(otac_session_error(&f->s), OTAC_E_RESUME);
        assert_int_equal(otac_session_status(&f->s), 200);
        assert_nothing_staged(f);
    }

    /* The first answer had no ETag: any ETag on the 206 is fine. */
    teardown(state);
    setup(state);
    use_esp_idf(f, 1);
    first_answer_cut(f, cut, NULL);
    assert_range_request(f, cut);
    feed_text(&f->s, head_206(cut, IMAGE_SIZE - 1, IMAGE_SIZE, (long long)rest, "\"new\""));
    assert_int_equal(feed(&f->s, f->image + cut, rest, 0), OTAC_OUTCOME_STAGED);
}

/* No resume left: the cut is final. Also a resumed answer cut in its head. */
static void test_resume_exhausted(void **state)
{
    struct fixture *f = *state;
    enum otac_outcome outcome;

    /* ESP-IDF without resumes configured: like the Arduino clients. */
    use_esp_idf(f, 0);
    start(f);
    feed_text(&f->s, head_200(IMAGE_SIZE, f->image_md5, "1.1.0", NULL));
    feed(&f->s, f->image, 256 * KIB, 0);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_CUT);

    /* One resume, cut again in its body. */
    teardown(state);
    setup(state);
    use_esp_idf(f, 1);
    first_answer_cut(f, 256 * KIB, "\"e\"");
    assert_range_request(f, 256 * KIB);
    feed_text(&f->s, head_206(256 * KIB, IMAGE_SIZE - 1, IMAGE_SIZE, 768 * KIB, "\"e\""));
    feed(&f->s, f->image + 256 * KIB, 256 * KIB, 0);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_CUT);
    assert_int_equal(otac_session_received(&f->s), 512 * KIB);
    char req[OTAC_REQUEST_MAX];
    size_t len;
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_E_STATE);
    assert_nothing_staged(f);

    /* A resumed answer cut in its head: another resume if one is left, else CUT. */
    teardown(state);
    setup(state);
    use_esp_idf(f, 2);
    first_answer_cut(f, 256 * KIB, NULL);
    assert_range_request(f, 256 * KIB);
    feed_text(&f->s, "HTTP/1.1 206 Partial");
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_NONE);
    assert_range_request(f, 256 * KIB);
    assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
    assert_int_equal(outcome, OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_CUT);
}

/*
 * An update was staged and the device checks in again before it reboots: a
 * second 200 overwrites the pending slot. Once its first byte may be written
 * the slot no longer holds the staged image, so a cut (or a failed check)
 * must leave nothing pending: the next boot stays on the running slot, with
 * the stored record saying so, never on a slot holding part of an image.
 */
static void test_overwrite_pending(void **state)
{
    struct fixture *f = *state;
    enum otac_outcome outcome;
    size_t size = 10000;
    char md5[33];
    signed_md5_hex(f->image, size, md5);

    for (int failed = 0; failed < 2; failed++) {
        teardown(state);
        setup(state);
        start(f);
        feed_text(&f->s, head_200(size, md5, "1.1.0", NULL));
        assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_STAGED);
        assert_int_equal(f->slots.pending, 1);

        start(f);
        if (failed) {
            /* Whole, but another image than x-MD5 says: FAILED. */
            feed_text(&f->s, head_200(size, f->image_md5, "1.2.0", NULL));
            assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_FAILED);
        } else {
            feed_text(&f->s, head_200(size, md5, "1.2.0", NULL));
            feed(&f->s, f->image, size / 2, 0);
            assert_int_equal(otac_session_closed(&f->s, &outcome), OTAC_OK);
            assert_int_equal(outcome, OTAC_OUTCOME_CUT);
        }
        assert_nothing_staged(f);

        /* What a reset now boots, from the stored record. */
        struct otac_slots reloaded;
        assert_int_equal(otac_slots_load(&reloaded, &f->m->port, &factory), OTAC_OK);
        assert_int_equal(reloaded.pending, OTAC_SLOT_NONE);
        assert_false(reloaded.image[1].valid);
        unsigned slot = 9;
        assert_int_equal(otac_slots_boot(&reloaded, &f->m->port, &slot), OTAC_OK);
        assert_int_equal(slot, 0);
        assert_false(reloaded.trial);
    }

    /* The release cannot be stored: the staged image stays, not a byte of it is touched. */
    teardown(state);
    setup(state);
    start(f);
    feed_text(&f->s, head_200(size, md5, "1.1.0", NULL));
    assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_STAGED);
    int writes = f->m->flash_writes;
    f->m->fail_store_call = f->m->store_calls + 1;
    start(f);
    assert_int_equal(feed_text(&f->s, head_200(size, md5, "1.2.0", NULL)), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_FLASH);
    assert_int_equal(f->m->flash_writes, writes);
    assert_staged(f, f->image, size, md5, "1.1.0");
}

/*
 * The x-version a 200 carries is what the device reports in every later
 * check-in's x-ESP8266-version header. A CR inside it (a proxy's or a hostile
 * server's) must not be staged: the request builder refuses a field that
 * breaks its line, and a device reporting it could never check in again.
 */
static void test_staged_version_keeps_checkins_working(void **state)
{
    struct fixture *f = *state;
    size_t size = 10000;
    char md5[33];
    signed_md5_hex(f->image, size, md5);
    static const char head[] =
        "HTTP/1.1 200 OK\r\nx-version: 2.0\r0\r\nContent-Length: 10000\r\n\r\n";
    start(f);
    feed_text(&f->s, head);
    assert_int_equal(feed(&f->s, f->image, size, 0), OTAC_OUTCOME_STAGED);
    unsigned slot;
    assert_int_equal(otac_slots_boot(&f->slots, &f->m->port, &slot), OTAC_OK);
    assert_int_equal(otac_slots_confirm(&f->slots, &f->m->port), OTAC_OK);
    otac_slots_identity(&f->slots, &f->id);
    assert_int_equal(otac_session_init(&f->s, &f->cfg, &f->id, &f->slots, &f->m->port), OTAC_OK);
    char req[OTAC_REQUEST_MAX];
    size_t len = 0;
    assert_int_equal(otac_session_request(&f->s, req, sizeof(req), &len), OTAC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged_version_keeps_checkins_working, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_every_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_authorized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_exhausted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
