/*
 * libFuzzer target for lib/session.c (with lib/response.c, lib/image.c and
 * lib/slots.c under it): a check-in over the in-memory port
 * (tests/unit/lib/memport.h) fed arbitrary answer bytes in arbitrary
 * splits, with the connection ending at arbitrary points. Input byte 0
 * picks the client, the mode and the resumes allowed; byte 1 seeds the
 * splits; the rest is what the server sends, across every connection, a
 * "~CUT~" in it ending one there (more end where the seed says).
 * Checks what session.h promises: every call returns OTAC_OK, the session
 * always ends in one of its outcomes, with an error exactly when the
 * outcome is FAILED or CUT, a staged image is whole and in the slot, and a
 * slot that was not staged never got its head.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otac/session.h"
#include "../unit/lib/memport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOT_SIZE (64u * 1024u)
#define CUT       "~CUT~" /* in the input: the connection ends here */
#define CUT_LEN   5u

static const struct otac_slot_image factory = {1, "1.0.0", "00112233445566778899aabbccddeeff",
                                               1000};

static void check(int ok)
{
    if (!ok)
        abort();
}

/* A small generator for the splits, seeded by the input so a crash replays. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* The connection ended: a resume means a new request, else the outcome is final. */
static enum otac_outcome close_connection(struct otac_session *s)
{
    enum otac_outcome outcome;
    check(otac_session_closed(s, &outcome) == OTAC_OK);
    if (outcome == OTAC_OUTCOME_NONE) {
        char req[OTAC_REQUEST_MAX];
        size_t len;
        check(otac_session_request(s, req, sizeof(req), &len) == OTAC_OK);
        check(len > 0 && len <= sizeof(req));
    }
    return outcome;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum otac_client clients[] = {
        OTAC_CLIENT_ESP8266_2_4, OTAC_CLIENT_ESP8266_2_7, OTAC_CLIENT_ESP8266_3_1,
        OTAC_CLIENT_ESP32,       OTAC_CLIENT_ESP_IDF,     OTAC_CLIENT_ESP_IDF,
        OTAC_CLIENT_ESP_IDF,     OTAC_CLIENT_ESP_IDF,
    };
    if (size < 2)
        return 0;
    uint8_t opts = data[0];
    uint32_t x = 0x9e3779b9u ^ ((uint32_t)data[1] << 8 | data[1]);
    data += 2;
    size -= 2;

    struct memport *m = memport_new(SLOT_SIZE);
    struct otac_slots slots;
    check(otac_slots_load(&slots, &m->port, &factory) == OTAC_OK);
    struct otac_identity id;
    memset(&id, 0, sizeof(id));
    id.client = clients[opts & 7];
    id.free_space = (opts & 0x80) ? 8192 : 0;
    id.chip_size = 1024u * 1024u;
    otac_slots_identity(&slots, &id);
    struct otac_session_config cfg = {
        .host = "127.0.0.1",
        .port = 8080,
        .target = "/update/fuzz",
        .mode = (opts & 8) ? OTAC_MODE_FS : OTAC_MODE_SKETCH,
        .max_resumes = (opts >> 4) & 7,
    };
    struct otac_session *s = malloc(sizeof(*s));
    check(otac_session_init(s, &cfg, &id, &slots, &m->port) == OTAC_OK);
    char req[OTAC_REQUEST_MAX];
    size_t req_len;
    check(otac_session_request(s, req, sizeof(req), &req_len) == OTAC_OK);

    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    size_t at = 0;
    while (at < size) {
        if (size - at >= CUT_LEN && memcmp(data + at, CUT, CUT_LEN) == 0) {
            at += CUT_LEN;
            if (outcome == OTAC_OUTCOME_NONE)
                outcome = close_connection(s);
            continue;
        }
        uint32_t r = next_rand(&x);
        size_t n = 1 + r % 97;
        if ((r >> 8) % 5 == 0)
            n = 1 + (r >> 12) % 8192;
        if (n > size - at)
            n = size - at;
        const uint8_t *cut = memchr(data + at + 1, CUT[0], n - 1);
        if (cut)
            n = (size_t)(cut - (data + at)); /* stop where a marker may start */
        enum otac_outcome got;
        check(otac_session_receive(s, data + at, n, &got) == OTAC_OK);
        at += n;
        if (got != OTAC_OUTCOME_NONE) {
            check(outcome == OTAC_OUTCOME_NONE || outcome == got); /* never changes once set */
            outcome = got;
        }
        /* Now and then the link breaks. */
        if (outcome == OTAC_OUTCOME_NONE && (r >> 24) % 23 == 0)
            outcome = close_connection(s);
    }
    /* The end of the input is the end of every connection there will be. */
    for (unsigned i = 0; outcome == OTAC_OUTCOME_NONE; i++) {
        check(i <= cfg.max_resumes + 1u);
        outcome = close_connection(s);
    }

    check(outcome == otac_session_outcome(s));
    int err = otac_session_error(s);
    switch (outcome) {
    case OTAC_OUTCOME_CURRENT:
    case OTAC_OUTCOME_REFUSED:
        check(err == OTAC_OK);
        check(slots.pending == OTAC_SLOT_NONE);
        break;
    case OTAC_OUTCOME_STAGED:
        check(err == OTAC_OK);
        check(otac_session_status(s) == 200);
        check(otac_session_size(s) > 0 && otac_session_received(s) == otac_session_size(s));
        check(slots.pending == 1 && slots.image[1].valid);
        check(m->head_written[1] && m->next_at[1] >= otac_session_size(s));
        break;
    case OTAC_OUTCOME_FAILED:
    case OTAC_OUTCOME_CUT:
        check(err < 0 && strcmp(otac_strerror(err), "unknown error") != 0);
        check(slots.pending == OTAC_SLOT_NONE);
        check(!m->head_written[1]);
        if (outcome == OTAC_OUTCOME_CUT)
            check(otac_session_received(s) < otac_session_size(s));
        break;
    default:
        abort();
    }
    check(m->misordered == 0);
    check(otac_session_received(s) <= otac_session_size(s));

    /* After the outcome, more bytes and another close change nothing. */
    enum otac_outcome again;
    check(otac_session_receive(s, "HTTP/1.1 200 OK\r\n", 17, &again) == OTAC_OK);
    check(again == outcome);
    check(otac_session_closed(s, &again) == OTAC_OK && again == outcome);
    check(otac_session_request(s, req, sizeof(req), &req_len) == OTAC_E_STATE);

    free(s);
    memport_free(m);
    return 0;
}
