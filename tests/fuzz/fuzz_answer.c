/*
 * libFuzzer target for lib/response.c, the device library's reader of an
 * answer's head. The first 4 input bytes choose how the rest, the answer, is
 * cut into pieces; the answer is parsed whole, in those pieces and a byte at
 * a time, and the three must agree (return, where the head ended, every
 * field). Checks what the header promises of a parsed head: strings ended
 * inside their fields, an x-MD5 kept only as 32 lowercase hex digits, a
 * Content-Range kept only as first <= last < total, a status in 100-599, a
 * head no longer than OTAC_HEAD_MAX. The session that acts on a head is
 * another target's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otac/response.h"

#define FUZZ_MAX_INPUT (OTAC_HEAD_MAX + 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct parsed {
    int rc;
    size_t head; /* bytes of the answer that were the head, once complete */
    struct otac_response r;
};

/* Feeds ANSWER in pieces whose sizes come from the xorshift state SEED (0: whole; 1: bytes). */
static void parse(struct parsed *p, const uint8_t *answer, size_t n, uint32_t seed)
{
    otac_response_init(&p->r);
    p->rc = OTAC_OK;
    p->head = 0;
    size_t at = 0;
    do {
        size_t piece = n - at;
        if (seed == 1) {
            piece = piece ? 1 : 0;
        } else if (seed != 0) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            size_t most = (seed & 0x100) ? 7 : 600;
            if (piece > seed % most)
                piece = seed % most;
        }
        size_t used = (size_t)-1;
        p->rc = otac_response_feed(&p->r, answer + at, piece, &used);
        if (p->rc != OTAC_OK)
            return;
        if (used > piece)
            abort();
        if (p->r.complete) {
            p->head = at + used;
            return;
        }
        if (used != piece)
            abort(); /* all of it belongs to the head until the head ends */
        at += piece;
    } while (at < n);
}

static void check_text(const char *field, size_t size)
{
    if (!memchr(field, '\0', size))
        abort();
}

static void check(const struct parsed *p)
{
    const struct otac_response *r = &p->r;
    if (p->rc != OTAC_OK) {
        if (p->rc != OTAC_E_HTTP)
            abort();
        return;
    }
    check_text(r->md5, sizeof(r->md5));
    check_text(r->version, sizeof(r->version));
    check_text(r->etag, sizeof(r->etag));
    check_text(r->location, sizeof(r->location));
    if (!r->complete)
        return;
    if (p->head > OTAC_HEAD_MAX || r->status < 100 || r->status > 599)
        abort();
    if (r->http_minor < 0 || r->http_minor > 9 || r->content_length < -1)
        abort();
    size_t md5_len = strlen(r->md5);
    if (md5_len != 0 && (md5_len != 32 || !r->md5_present))
        abort();
    for (size_t i = 0; i < md5_len; i++) {
        char c = r->md5[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            abort();
    }
    if (r->range_first != -1 || r->range_last != -1) {
        if (r->range_first < 0 || r->range_first > r->range_last || r->range_last >= r->range_total)
            abort();
    } else if (r->range_total < -1) {
        abort();
    }
    if ((r->chunked != 0 && r->chunked != 1) ||
        (r->connection_close != 0 && r->connection_close != 1))
        abort();
}

static void same(const struct parsed *a, const struct parsed *b)
{
    if (a->rc != b->rc)
        abort();
    if (a->rc != OTAC_OK)
        return;
    const struct otac_response *x = &a->r, *y = &b->r;
    if (x->complete != y->complete || a->head != b->head || x->status != y->status ||
        x->http_minor != y->http_minor || x->content_length != y->content_length ||
        x->range_first != y->range_first || x->range_last != y->range_last ||
        x->range_total != y->range_total || x->chunked != y->chunked ||
        x->md5_present != y->md5_present || strcmp(x->md5, y->md5) != 0 ||
        strcmp(x->version, y->version) != 0 || strcmp(x->etag, y->etag) != 0 ||
        strcmp(x->location, y->location) != 0 || x->retry_after_s != y->retry_after_s ||
        x->connection_close != y->connection_close)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > FUZZ_MAX_INPUT)
        return 0;
    uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    const uint8_t *answer = data + 4;
    size_t n = size - 4;

    static struct parsed whole, cut, bytes;
    parse(&whole, answer, n, 0);
    parse(&cut, answer, n, seed | 2);
    parse(&bytes, answer, n, 1);
    check(&whole);
    same(&whole, &cut);
    same(&whole, &bytes);
    return 0;
}
