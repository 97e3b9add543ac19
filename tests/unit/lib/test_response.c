/*
 * Unit tests for lib/response.c: answers as otad and other servers send them,
 * each also cut at every byte boundary and fed a byte at a time (the same
 * result every way), the headers kept and their malformed forms, and every
 * refusal include/otac/response.h lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "otac/response.h"

/* What feeding an answer gave: the return, the head's length, and the parsed head. */
struct result {
    int rc;
    size_t head; /* bytes of the answer that were the head (when complete) */
    struct otac_response r;
};

/* Feeds DATA in pieces that end at the offsets in CUTS (ascending), then the rest. */
static struct result feed_cut(const char *data, size_t n, const size_t *cuts, size_t ncuts)
{
    struct result res = {0};
    otac_response_init(&res.r);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        size_t used = 99999;
        res.rc = otac_response_feed(&res.r, data + at, end - at, &used);
        if (res.rc < 0)
            return res;
        assert_true(used <= end - at);
        if (res.r.complete) {
            res.head = at + used;
            return res;
        }
        assert_int_equal(used, end - at); /* all of it, until the head ends */
        at = end;
    }
    return res;
}

static struct result feed_whole(const char *data, size_t n)
{
    return feed_cut(data, n, NULL, 0);
}

static void assert_same(const struct result *a, const struct result *b)
{
    assert_int_equal(a->rc, b->rc);
    if (a->rc < 0)
        return;
    assert_int_equal(a->r.complete, b->r.complete);
    assert_int_equal(a->head, b->head);
    assert_int_equal(a->r.status, b->r.status);
    assert_int_equal(a->r.http_minor, b->r.http_minor);
    assert_int_equal(a->r.content_length, b->r.content_length);
    assert_int_equal(a->r.range_first, b->r.range_first);
    assert_int_equal(a->r.range_last, b->r.range_last);
    assert_int_equal(a->r.range_total, b->r.range_total);
    assert_int_equal(a->r.chunked, b->r.chunked);
    assert_int_equal(a->r.md5_present, b->r.md5_present);
    assert_string_equal(a->r.md5, b->r.md5);
    assert_string_equal(a->r.version, b->r.version);
    assert_string_equal(a->r.etag, b->r.etag);
    assert_string_equal(a->r.location, b->r.location);
    assert_int_equal(a->r.retry_after_s, b->r.retry_after_s);
    assert_int_equal(a->r.connection_close, b->r.connection_close);
}

/*
 * Parses DATA whole, then cut in two at every boundary (at every 61st past
 * 4 KiB, to keep the test quick), then a byte at a time: all the same.
 */
static struct result parse(const char *data, size_t n)
{
    struct result whole = feed_whole(data, n);
    for (size_t k = 0; k <= n; k += n <= 4096 ? 1 : 61) {
        struct result cut = feed_cut(data, n, &k, 1);
        assert_same(&whole, &cut);
    }
    size_t *every = malloc((n + 1) * sizeof(*every));
    assert_non_null(every);
    for (size_t k = 0; k < n; k++)
        every[k] = k + 1;
    struct result bytes = feed_cut(data, n, every, n);
    free(every);
    assert_same(&whole, &bytes);
    return whole;
}

static struct result parse_text(const char *text)
{
    return parse(text, strlen(text));
}

/* The head ends at its empty line; the bytes after it are the body's. */
static void test_otad_200(void **state)
{
    const char *answer = "HTTP/1.1 200 OK\r\n"
                         "Connection: close\r\n"
                         "Content-Type: application/octet-stream\r\n"
                         "x-MD5: 0123456789ABCDEF0123456789abcdef\r\n"
                         "x-version: 1.1.0\r\n"
                         "Content-Length: 120000\r\n"
                         "\r\n"
                         "\xe9\x04\x02\x40"
                         "body";
    struct result res = parse_text(answer);
    assert_int_equal(res.rc, OTAC_OK);
    assert_true(res.r.complete);
    assert_int_equal(res.head, strstr(answer, "\r\n\r\n") + 4 - answer);
    assert_int_equal(res.r.status, 200);
    assert_int_equal(res.r.http_minor, 1);
    assert_int_equal(res.r.content_length, 120000);
    assert_true(res.r.md5_present);
    assert_string_equal(res.r.md5, "0123456789abcdef0123456789abcdef");
    assert_string_equal(res.r.version, "1.1.0");
    assert_true(res.r.connection_close);
    assert_false(res.r.chunked);
    assert_int_equal(res.r.range_first, -1);
    assert_int_equal(res.r.range_last, -1);
    assert_int_equal(res.r.range_total, -1);
    assert_string_equal(res.r.etag, "");
    assert_string_equal(res.r.location, "");
    assert_int_equal(res.r.retry_after_s, 0);
}

static void test_304_with_nothing(void **state)
{
    struct result res = parse_text("HTTP/1.0 304 Not Modified\r\n\r\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_true(res.r.complete);
    assert_int_equal(res.r.status, 304);
    assert_int_equal(res.r.http_minor, 0);
    assert_int_equal(res.r.content_length, -1);
    assert_false(res.r.md5_present);
    assert_string_equal(res.r.md5, "");
    assert_string_equal(res.r.version, "");
    assert_true(res.r.connection_close); /* HTTP/1.0 without keep-alive */
}

static void test_206_of_the_image_url(void **state)
{
    struct result res = parse_text("HTTP/1.1 206 Partial Content\r\n"
                                   "Accept-Ranges: bytes\r\n"
                                   "ETag: \"9f86d081884c7d65\"\r\n"
                                   "Content-Range: bytes 100000-299999/300000\r\n"
                                   "Content-Length: 200000\r\n"
                                   "\r\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.status, 206);
    assert_int_equal(res.r.range_first, 100000);
    assert_int_equal(res.r.range_last, 299999);
    assert_int_equal(res.r.range_total, 300000);
    assert_string_equal(res.r.etag, "\"9f86d081884c7d65\"");
    assert_false(res.r.connection_close); /* HTTP/1.1 keeps the connection by default */
}

static void test_bare_lf_case_and_blanks(void **state)
{
    struct result res = parse_text("HTTP/1.1 200\n"
                                   "content-length:   42 \t\n"
                                   "X-md5:\t00000000000000000000000000000000\r\n"
                                   "X-VERSION: \t 2.0.0-rc1   \n"
                                   "   LOCATION:  /there  \n"
                                   "cOnNeCtIoN: Keep-Alive\n"
                                   "\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.status, 200);
    assert_int_equal(res.r.content_length, 42);
    assert_string_equal(res.r.md5, "00000000000000000000000000000000");
    assert_string_equal(res.r.version, "2.0.0-rc1");
    assert_string_equal(res.r.location, "/there");
    assert_false(res.r.connection_close);

    /* A line of blanks ends the head, as the stock clients trim before they look (§4). */
    res = parse_text("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n \t\r\nx");
    assert_int_equal(res.rc, OTAC_OK);
    assert_true(res.r.complete);
    assert_int_equal(res.head, strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n \t\r\n"));
}

static void test_status_lines(void **state)
{
    static const struct {
        const char *line;
        int status, minor;
    } good[] = {
        {"HTTP/1.1 200 OK", 200, 1},
        {"HTTP/1.0 304 Not Modified", 304, 0},
        {"HTTP/1.1 100", 100, 1},
        {"HTTP/1.1 599 x", 599, 1},
        {"HTTP/1.9 404\tNot Found", 404, 9},
        {"HTTP/1.1 503  ", 503, 1},
        {"HTTP/1.1 403 a reason with: a colon", 403, 1},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char answer[128];
        strcpy(answer, good[i].line);
        strcat(answer, "\r\n\r\n");
        struct result res = parse_text(answer);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.status, good[i].status);
        assert_int_equal(res.r.http_minor, good[i].minor);
    }

    static const char *bad[] = {
        "",
        "\r",
        " HTTP/1.1 200 OK",
        "http/1.1 200 OK",
        "HTTP/2 200",
        "HTTP/2.0 200 OK",
        "HTTP/1. 200 OK",
        "HTTP/1.x 200 OK",
        "HTTP/1.1",
        "HTTP/1.1 ",
        "HTTP/1.1 20",
        "HTTP/1.1 2000",
        "HTTP/1.1 200OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1 600 High",
        "HTTP/1.1 000",
        "HTTP/1.1 -20",
        "HTTP/1.1 +20",
        "ICY 200 OK",
        "SSH-2.0-OpenSSH_9.2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char answer[128];
        strcpy(answer, bad[i]);
        strcat(answer, "\r\n\r\n");
        struct result res = parse_text(answer);
        assert_int_equal(res.rc, OTAC_E_HTTP);
    }
}

/* A status line longer than the line buffer: only its start matters. */
static void test_long_reason(void **state)
{
    char answer[4096] = "HTTP/1.1 404 ";
    memset(answer + strlen(answer), 'r', 3000);
    strcat(answer, "\r\n\r\n");
    struct result res = parse_text(answer);
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.status, 404);
}

/*
 * A line without a colon (a folded continuation, garbage) is no header: the
 * updaters skip it, and the headers around it still count.
 */
static void test_line_without_colon(void **state)
{
    static const char *skipped[] = {
        "HTTP/1.1 200 OK\r\nContent-Length 9\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nx\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n \tfolded\r\n\r\n",
        "HTTP/1.1 200 OK\nabc\nContent-Length: 5\n\n",
    };
    for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        struct result res = parse_text(skipped[i]);
        assert_int_equal(res.rc, OTAC_OK);
        assert_true(res.r.complete);
        assert_int_equal(res.r.content_length, 5);
    }

    /* A name too long for any kept header, without its colon, is skipped the same way. */
    char answer[8192] = "HTTP/1.1 200 OK\r\n";
    memset(answer + strlen(answer), 'N', 4000);
    strcat(answer, "\r\nContent-Length: 5\r\n\r\n");
    struct result res = parse_text(answer);
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.content_length, 5);
}

/* An empty x-MD5 is none, as the updaters act on it only when it has a length; two are not. */
static void test_empty_md5_is_none(void **state)
{
    struct result res = parse_text("HTTP/1.1 200 OK\r\nx-MD5:\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_false(res.r.md5_present);
    res = parse_text("HTTP/1.1 200 OK\r\nx-MD5: \r\n"
                     "x-MD5: 0123456789abcdef0123456789abcdef\r\n\r\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_true(res.r.md5_present);
    assert_string_equal(res.r.md5, "");
}

/* Unknown headers are skipped whatever their length; kept ones around them still count. */
static void test_long_unknown_headers_are_skipped(void **state)
{
    size_t cookie = 12000;
    char *answer = malloc(cookie + 256);
    assert_non_null(answer);
    strcpy(answer, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nSet-Cookie: ");
    memset(answer + strlen(answer), 'c', cookie);
    strcpy(answer + strlen("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nSet-Cookie: ") + cookie,
           "\r\nx-version: 3\r\nX-Content-Length-Not: 9\r\nContent-Lengthy: 9\r\n\r\n");
    struct result res = parse_text(answer);
    free(answer);
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.content_length, 7);
    assert_string_equal(res.r.version, "3");

    /* A long unknown name, and an empty one, are skipped too. */
    char long_name[2048] = "HTTP/1.1 200 OK\r\n";
    memset(long_name + strlen(long_name), 'X', 1500);
    strcat(long_name, ": v\r\n: empty name\r\nContent-Length: 3\r\n\r\n");
    res = parse_text(long_name);
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.content_length, 3);
}

static void test_content_length(void **state)
{
    static const struct {
        const char *value;
        int64_t length;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"000120000", 120000},
        {"9223372036854775807", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char answer[256];
        strcpy(answer, "HTTP/1.1 200 OK\r\nContent-Length: ");
        strcat(answer, good[i].value);
        strcat(answer, "\r\n\r\n");
        struct result res = parse_text(answer);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.content_length, good[i].length);
    }

    static const char *bad[] = {
        "",
        "-1",
        "+1",
        "1.0",
        "0x10",
        "1 2",
        "12a",
        "a12",
        "1,1",
        "9223372036854775808",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char answer[256];
        strcpy(answer, "HTTP/1.1 200 OK\r\nContent-Length: ");
        strcat(answer, bad[i]);
        strcat(answer, "\r\n\r\n");
        assert_int_equal(parse_text(answer).rc, OTAC_E_HTTP);
    }

    /* Longer than the line buffer: not a number this parser can hold. */
    char answer[2048] = "HTTP/1.1 200 OK\r\nContent-Length: ";
    memset(answer + strlen(answer), '0', 1000);
    strcat(answer, "1\r\n\r\n");
    assert_int_equal(parse_text(answer).rc, OTAC_E_HTTP);

    /* Twice: equal values are one, different ones are an error. */
    struct result res =
        parse_text("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\n");
    assert_int_equal(res.rc, OTAC_OK);
    assert_int_equal(res.r.content_length, 5);
    assert_int_equal(
        parse_text("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").rc,
        OTAC_E_HTTP);
    assert_int_equal(
        parse_text("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 6\r\n\r\n").rc,
        OTAC_E_HTTP);
}

static struct result with_header(const char *line)
{
    char answer[2048];
    strcpy(answer, "HTTP/1.1 200 OK\r\n");
    strcat(answer, line);
    strcat(answer, "\r\n\r\n");
    return parse_text(answer);
}

static void test_md5(void **state)
{
    struct result res = with_header("x-MD5: AbCdEf0123456789abcdef0123456789");
    assert_true(res.r.md5_present);
    assert_string_equal(res.r.md5, "abcdef0123456789abcdef0123456789");

    static const char *malformed[] = {
        "x-MD5: abcdef0123456789abcdef012345678",   /* 31 */
        "x-MD5: abcdef0123456789abcdef01234567890", /* 33 */
        "x-MD5: \"abcdef0123456789abcdef0123456789\"", "x-MD5: abcdef0123456789abcdef012345678g",
        "x-MD5: abcdef0123456789 abcdef0123456789",    "x-MD5: q83vASNFZ4mrze8BI0VniQ==",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        res = with_header(malformed[i]);
        assert_int_equal(res.rc, OTAC_OK);
        assert_true(res.r.md5_present);
        assert_string_equal(res.r.md5, "");
    }

    /* Twice, even equal: the 3.x client joins them with a comma, which is no MD5 (§4). */
    static const char *twice[] = {
        "x-MD5: abcdef0123456789abcdef0123456789\r\nx-md5: abcdef0123456789abcdef0123456789",
        "x-MD5: abcdef0123456789abcdef0123456789\r\nx-MD5: 00000000000000000000000000000000",
        "x-MD5: bad\r\nx-MD5: abcdef0123456789abcdef0123456789",
        "x-MD5: abcdef0123456789abcdef0123456789\r\nx-MD5: ",
    };
    for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
        res = with_header(twice[i]);
        assert_int_equal(res.rc, OTAC_OK);
        assert_true(res.r.md5_present);
        assert_string_equal(res.r.md5, "");
    }

    /* Too long for the line buffer. */
    char line[1024] = "x-MD5: ";
    memset(line + strlen(line), 'a', 900);
    res = with_header(line);
    assert_true(res.r.md5_present);
    assert_string_equal(res.r.md5, "");
}

/* x-version, ETag and Location: kept up to their size, "" when longer or repeated. */
static void test_text_headers(void **state)
{
    static const struct {
        const char *name;
        size_t max;
        size_t offset;
    } fields[] = {
        {"x-version", OTAC_VERSION_MAX, offsetof(struct otac_response, version)},
        {"ETag", OTAC_ETAG_MAX, offsetof(struct otac_response, etag)},
        {"Location", OTAC_LOCATION_MAX, offsetof(struct otac_response, location)},
    };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        char line[1024], value[1024];
        for (size_t n = fields[f].max - 2; n <= fields[f].max + 2; n++) {
            memset(value, 'v', n);
            value[n] = '\0';
            strcpy(line, fields[f].name);
            strcat(line, ":  ");
            strcat(line, value);
            strcat(line, "   ");
            struct result res = with_header(line);
            assert_int_equal(res.rc, OTAC_OK);
            const char *kept = (const char *)&res.r + fields[f].offset;
            assert_string_equal(kept, n <= fields[f].max ? value : "");
        }

        /* Repeated: absent, whichever comes first. */
        strcpy(line, fields[f].name);
        strcat(line, ": a\r\n");
        strcat(line, fields[f].name);
        strcat(line, ": b");
        struct result res = with_header(line);
        assert_int_equal(res.rc, OTAC_OK);
        assert_string_equal((const char *)&res.r + fields[f].offset, "");

        /* A NUL inside a value would cut it: the value is dropped. */
        char answer[256];
        size_t n = (size_t)sprintf(answer, "HTTP/1.1 200 OK\r\n%s: 1.0", fields[f].name);
        answer[n++] = '\0';
        n += (size_t)sprintf(answer + n, "evil\r\n\r\n");
        res = parse(answer, n);
        assert_int_equal(res.rc, OTAC_OK);
        assert_string_equal((const char *)&res.r + fields[f].offset, "");

        /*
         * A CR (or another control byte) inside a value is no text a device
         * may keep: x-version becomes the version it reports in its next
         * request's header, which would then break that line.
         */
        static const char *controlled[] = {"1.0\r2", "1.0\r\rx", "1\x01", "1\x7f"};
        for (size_t c = 0; c < sizeof(controlled) / sizeof(controlled[0]); c++) {
            n = (size_t)sprintf(answer, "HTTP/1.1 200 OK\r\n%s: %s\r\n\r\n", fields[f].name,
                                controlled[c]);
            res = parse(answer, n);
            assert_int_equal(res.rc, OTAC_OK);
            assert_string_equal((const char *)&res.r + fields[f].offset, "");
        }
        /* A tab inside is a blank a value may hold. */
        n = (size_t)sprintf(answer, "HTTP/1.1 200 OK\r\n%s: 1.0\tbeta\r\n\r\n", fields[f].name);
        res = parse(answer, n);
        assert_int_equal(res.rc, OTAC_OK);
        assert_string_equal((const char *)&res.r + fields[f].offset, "1.0\tbeta");
    }

    /* Empty values are absent. */
    struct result res = with_header("x-version:\r\nETag: \r\nLocation:\t");
    assert_int_equal(res.rc, OTAC_OK);
    assert_string_equal(res.r.version, "");
    assert_string_equal(res.r.etag, "");
    assert_string_equal(res.r.location, "");
}

static void test_content_range(void **state)
{
    static const struct {
        const char *value;
        int64_t first, last, total;
    } cases[] = {
        {"bytes 0-0/1", 0, 0, 1},
        {"bytes 49152-65535/65536", 49152, 65535, 65536},
        {"BYTES  7-8/9", 7, 8, 9},
        {"bytes */300000", -1, -1, 300000},
        {"bytes 0-9223372036854775806/9223372036854775807", 0, INT64_MAX - 1, INT64_MAX},
        /* malformed: all absent */
        {"bytes 5-4/10", -1, -1, -1},
        {"bytes 0-10/10", -1, -1, -1},
        {"bytes 0-9/*", -1, -1, -1},
        {"bytes 0-9", -1, -1, -1},
        {"bytes -9/10", -1, -1, -1},
        {"bytes 0-/10", -1, -1, -1},
        {"bytes 0 -9/10", -1, -1, -1},
        {"bytes=0-9/10", -1, -1, -1},
        {"bits 0-9/10", -1, -1, -1},
        {"bytes", -1, -1, -1},
        {"bytes ", -1, -1, -1},
        {"bytes */", -1, -1, -1},
        {"bytes **/10", -1, -1, -1},
        {"bytes 0-9/10, 20-29/30", -1, -1, -1},
        {"bytes 0-9/99999999999999999999", -1, -1, -1},
        {"", -1, -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[256] = "Content-Range: ";
        strcat(line, cases[i].value);
        struct result res = with_header(line);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.range_first, cases[i].first);
        assert_int_equal(res.r.range_last, cases[i].last);
        assert_int_equal(res.r.range_total, cases[i].total);
    }
    struct result res = with_header("Content-Range: bytes 0-9/10\r\nContent-Range: bytes 0-9/10");
    assert_int_equal(res.r.range_first, -1);
    assert_int_equal(res.r.range_total, -1);
}

static void test_transfer_encoding(void **state)
{
    static const struct {
        const char *lines;
        int chunked;
    } cases[] = {
        {"Transfer-Encoding: chunked", 1},
        {"transfer-encoding: CHUNKED", 1},
        {"Transfer-Encoding: gzip, chunked", 1},
        {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", 1},
        {"Transfer-Encoding: gzip", 0},
        {"Transfer-Encoding: chunkedx", 0},
        {"Transfer-Encoding:", 0},
        {"X-Transfer-Encoding: chunked", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result res = with_header(cases[i].lines);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.chunked, cases[i].chunked);
    }
    /* A coding list too long to read is no raw body either. */
    char line[1024] = "Transfer-Encoding: ";
    memset(line + strlen(line), 'g', 800);
    assert_int_equal(with_header(line).r.chunked, 1);
}

static void test_retry_after(void **state)
{
    static const struct {
        const char *value;
        uint32_t seconds;
    } cases[] = {
        {"10", 10},
        {"0", 0},
        {"4294967295", UINT32_MAX},
        {"4294967296", UINT32_MAX},
        {"99999999999999999999999999", UINT32_MAX},
        {"Fri, 31 Dec 1999 23:59:59 GMT", 0},
        {"-5", 0},
        {"5s", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[256] = "Retry-After: ";
        strcat(line, cases[i].value);
        struct result res = with_header(line);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.retry_after_s, cases[i].seconds);
    }
    assert_int_equal(with_header("Retry-After: 10\r\nRetry-After: 10").r.retry_after_s, 0);
}

static void test_connection(void **state)
{
    static const struct {
        const char *answer;
        int close;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 1},
        {"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n\r\n", 1},
        {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\n\r\n", 1},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\nConnection: x\r\nConnection: Keep-Alive\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result res = parse_text(cases[i].answer);
        assert_int_equal(res.rc, OTAC_OK);
        assert_int_equal(res.r.connection_close, cases[i].close);
    }
}

/* The whole head may take OTAC_HEAD_MAX bytes, not one more. */
static void test_head_limit(void **state)
{
    /* Sizes known to the compiler: GCC 12 with the sanitizers saw a malloc'd copy overflow. */
    static const char start[] = "HTTP/1.1 200 OK\r\nX-Pad: ";
    static const char end[] = "\r\n\r\nBODY";
    static char answer[OTAC_HEAD_MAX + 64];
    for (size_t total = OTAC_HEAD_MAX - 1; total <= OTAC_HEAD_MAX + 1; total++) {
        size_t pad = total - (sizeof(start) - 1) - (sizeof("\r\n\r\n") - 1);
        assert_true(sizeof(start) - 1 + pad + sizeof(end) <= sizeof(answer));
        memcpy(answer, start, sizeof(start) - 1);
        memset(answer + sizeof(start) - 1, 'p', pad);
        memcpy(answer + sizeof(start) - 1 + pad, end, sizeof(end));
        struct result res = feed_whole(answer, total + 4);
        if (total <= OTAC_HEAD_MAX) {
            assert_int_equal(res.rc, OTAC_OK);
            assert_true(res.r.complete);
            assert_int_equal(res.head, total);
        } else {
            assert_int_equal(res.rc, OTAC_E_HTTP);
        }
    }
    /* Many short lines count the same as one long one. */
    size_t n = (size_t)sprintf(answer, "HTTP/1.1 200 OK\r\n");
    while (n < OTAC_HEAD_MAX)
        n += (size_t)sprintf(answer + n, "A: b\r\n");
    n += (size_t)sprintf(answer + n, "\r\n");
    assert_int_equal(feed_whole(answer, n).rc, OTAC_E_HTTP);
}

static void test_incomplete_head_wants_more(void **state)
{
    const char *answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n";
    struct otac_response r;
    size_t used = 0;
    otac_response_init(&r);
    assert_int_equal(otac_response_feed(&r, answer, strlen(answer), &used), OTAC_OK);
    assert_int_equal(used, strlen(answer));
    assert_false(r.complete);
    assert_int_equal(otac_response_feed(&r, "", 0, &used), OTAC_OK);
    assert_int_equal(used, 0);
    assert_int_equal(otac_response_feed(&r, NULL, 0, &used), OTAC_OK);
    assert_int_equal(otac_response_feed(&r, "\r\nab", 4, &used), OTAC_OK);
    assert_int_equal(used, 2);
    assert_true(r.complete);
    assert_int_equal(r.content_length, 5);

    /* A complete head consumes nothing more. */
    used = 7;
    assert_int_equal(otac_response_feed(&r, "HTTP/1.1 500 x\r\n\r\n", 18, &used), OTAC_OK);
    assert_int_equal(used, 0);
    assert_int_equal(r.status, 200);
}

static void test_after_an_error_nothing_is_read(void **state)
{
    struct otac_response r;
    size_t used = 0;
    otac_response_init(&r);
    assert_int_equal(otac_response_feed(&r, "HTTX", 4, &used), OTAC_E_HTTP);
    assert_int_equal(otac_response_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19, &used), OTAC_E_HTTP);
    assert_int_equal(used, 0);
    assert_false(r.complete);

    /* Initialised again, it is new. */
    otac_response_init(&r);
    assert_int_equal(otac_response_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19, &used), OTAC_OK);
    assert_true(r.complete);
}

static void test_refuses_null(void **state)
{
    struct otac_response r;
    size_t used;
    otac_response_init(&r);
    otac_response_init(NULL); /* does nothing */
    assert_int_equal(otac_response_feed(NULL, "H", 1, &used), OTAC_E_INVAL);
    assert_int_equal(otac_response_feed(&r, NULL, 1, &used), OTAC_E_INVAL);
    assert_int_equal(otac_response_feed(&r, "H", 1, NULL), OTAC_E_INVAL);
    /* Nothing was consumed: the answer still parses. */
    assert_int_equal(otac_response_feed(&r, "HTTP/1.1 204 x\r\n\r\n", 18, &used), OTAC_OK);
    assert_int_equal(r.status, 204);
}

/* Arbitrary bytes never read past the line buffer, and every cut agrees with the whole. */
static void test_random_answers(void **state)
{
    static const char *pieces[] = {
        "HTTP/1.1 200 OK",
        "HTTP/1.0 206 ",
        "\r\n",
        "\n",
        "\r",
        ":",
        " ",
        "\t",
        ",",
        "Content-Length",
        "content-range",
        "x-MD5",
        "x-version",
        "ETag",
        "Location",
        "Retry-After",
        "Connection",
        "Transfer-Encoding",
        "bytes 0-9/10",
        "close",
        "chunked",
        "0123456789abcdef0123456789abcdef",
        "12",
        "*",
        "/",
        "-",
        "\0",
        "\xff",
        "HTTP/1.",
    };
    char answer[512];
    srand(14);
    for (int round = 0; round < 200; round++) {
        size_t n = 0;
        if (rand() % 4)
            n += (size_t)sprintf(answer, "HTTP/1.%d %d x\r\n", rand() % 2, 100 + rand() % 500);
        while (n < sizeof(answer) - 40) {
            const char *p = pieces[rand() % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t len = p[0] ? strlen(p) : 1;
            memcpy(answer + n, p, len);
            n += len;
            if (rand() % 8 == 0)
                break;
        }
        parse(answer, n); /* asserts that every way of feeding it agrees */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otad_200),
        cmocka_unit_test(test_304_with_nothing),
        cmocka_unit_test(test_206_of_the_image_url),
        cmocka_unit_test(test_bare_lf_case_and_blanks),
        cmocka_unit_test(test_status_lines),
        cmocka_unit_test(test_long_reason),
        cmocka_unit_test(test_line_without_colon),
        cmocka_unit_test(test_empty_md5_is_none),
        cmocka_unit_test(test_long_unknown_headers_are_skipped),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_md5),
        cmocka_unit_test(test_text_headers),
        cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_connection),
        cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_incomplete_head_wants_more),
        cmocka_unit_test(test_after_an_error_nothing_is_read),
        cmocka_unit_test(test_refuses_null),
        cmocka_unit_test(test_random_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
