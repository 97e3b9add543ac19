/*
 * Unit tests for src/http/wire.c. The head walk is fed raw requests parsed
 * the way libmicrohttpd 0.9.75 parses them (parse_like_mhd below follows its
 * connection.c: lines end at CRLF or LF and become NULs, the request line is
 * cut at its first and last space and at '?', arguments at '&' and '=' with
 * strchr, header names at strchr(':'), a line starting with a blank is
 * appended to the previous header's name in memory of its own). The e2e
 * tests (tests/e2e/test_wire.py) send the same heads to the real library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "http/wire.h"

#define MAX_PIECES 16

struct piece {
    const char *name, *value; /* value NULL: an argument without '=' */
    size_t name_len, value_len;
};

struct parsed {
    char *buf;        /* the head, parsed in place (exactly as long as the input) */
    size_t head_size; /* request line to blank line, inclusive */
    char fold[256];   /* where a folded header's name is rebuilt */
    const char *method, *target, *version;
    struct piece args[MAX_PIECES], fields[MAX_PIECES];
    unsigned arg_count, field_count;
};

/* The next line at *POS: its terminator (CRLF or LF) becomes NULs. */
static char *next_line(char *b, size_t len, size_t *pos, size_t *ret_len)
{
    for (size_t i = *pos; i < len; i++) {
        if (b[i] == '\n' || (b[i] == '\r' && i + 1 < len && b[i + 1] == '\n')) {
            char *line = b + *pos;
            size_t end = b[i] == '\r' ? i + 2 : i + 1;
            *ret_len = i - *pos;
            memset(b + i, 0, end - i);
            *pos = end;
            return line;
        }
    }
    return NULL;
}

static void add_argument(struct parsed *p, char *name, char *value)
{
    assert_true(p->arg_count < MAX_PIECES);
    p->args[p->arg_count++] = (struct piece){name, value, strlen(name), value ? strlen(value) : 0};
}

/* libmicrohttpd's MHD_parse_arguments_, without the unescaping (otad's keep_escaped). */
static void parse_arguments(struct parsed *p, char *args)
{
    while (args && *args) {
        char *equals = strchr(args, '='), *amper = strchr(args, '&');
        if (!amper) {
            if (equals)
                *equals++ = 0;
            add_argument(p, args, equals);
            return;
        }
        *amper++ = 0;
        if (!equals || equals >= amper) {
            add_argument(p, args, NULL);
        } else {
            *equals++ = 0;
            add_argument(p, args, equals);
        }
        args = amper;
    }
}

/* Parses the LEN bytes at RAW; false where libmicrohttpd itself refuses the head. */
static bool parse_like_mhd(struct parsed *p, const char *raw, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->buf = malloc(len); /* exact size: ASan sees any read past the head */
    assert_non_null(p->buf);
    memcpy(p->buf, raw, len);
    size_t pos = 0, line_len;
    char *line = next_line(p->buf, len, &pos, &line_len);
    if (!line)
        return false;
    char *uri = memchr(line, ' ', line_len);
    if (!uri)
        return false;
    *uri++ = 0;
    p->method = line;
    while (*uri == ' ')
        uri++;
    char *v = line + line_len - 1;
    while (*v == ' ' && v > uri)
        v--;
    while (*v != ' ' && v > uri)
        v--;
    if (v <= uri || line + line_len - (v + 1) != 8)
        return false; /* no "HTTP/d.d" at the end */
    *v = 0;
    p->version = v + 1;
    char *args = memchr(uri, '?', (size_t)(v - uri));
    if (args) {
        *args++ = 0;
        parse_arguments(p, args);
    }
    p->target = uri;
    char *name = NULL, *value = NULL;
    for (;;) {
        line = next_line(p->buf, len, &pos, &line_len);
        if (!line)
            return false;
        if (name && (line[0] == ' ' || line[0] == '\t')) {
            /* obs-fold: the name is copied, with the continuation, to memory of its own */
            char *t = line;
            while (*t == ' ' || *t == '\t')
                t++;
            snprintf(p->fold, sizeof(p->fold), "%s%s", name, t);
            name = p->fold;
            continue;
        }
        if (name) {
            assert_true(p->field_count < MAX_PIECES);
            p->fields[p->field_count++] = (struct piece){name, value, strlen(name), strlen(value)};
        }
        if (line[0] == 0)
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            return false;
        *colon++ = 0;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        name = line;
        value = colon;
    }
    p->head_size = pos;
    return true;
}

/* The walk as server.c runs it. */
static bool walk(const struct parsed *p)
{
    struct wire_head head;
    wire_head_begin(&head, p->method, p->target, p->head_size);
    for (unsigned i = 0; i < p->arg_count; i++)
        wire_head_argument(&head, p->args[i].name, p->args[i].name_len, p->args[i].value,
                           p->args[i].value_len);
    wire_head_version(&head, p->version);
    for (unsigned i = 0; i < p->field_count; i++)
        wire_head_field(&head, p->fields[i].name, p->fields[i].name_len, p->fields[i].value,
                        p->fields[i].value_len);
    return wire_head_intact(&head);
}

#define RAW(s) s, sizeof(s) - 1

static const struct {
    const char *what;
    const char *raw;
    size_t len;
    bool intact;
} heads[] = {
    {"the ESP8266 check-in",
     RAW("GET /update/door HTTP/1.0\r\nHost: 10.0.0.2:8080\r\n"
         "User-Agent: ESP8266-http-Update\r\nConnection: close\r\n"
         "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:01\r\n"
         "x-ESP8266-version: 1.0.0\r\nContent-Length: 0\r\n\r\n"),
     true},
    {"no headers", RAW("GET / HTTP/1.0\r\n\r\n"), true},
    {"bare LF line ends", RAW("GET /healthz HTTP/1.1\nHost: x\n\n"), true},
    {"a body after the head", RAW("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"),
     true},
    {"no leading slash", RAW("GET file.bin HTTP/1.0\r\n\r\n"), true},
    {"query arguments", RAW("GET /esp/firmware.php?tag=1.0.2&x&y=&=z&a+b=%31 HTTP/1.0\r\n\r\n"),
     true},
    {"an empty query", RAW("GET /healthz? HTTP/1.0\r\n\r\n"), true},
    {"a trailing '&'", RAW("GET /healthz?a=1& HTTP/1.0\r\n\r\n"), true},
    {"only '&'s", RAW("GET /healthz?&& HTTP/1.0\r\n\r\n"), true},
    /* Refused for its name (wire_is_token), not by the walk. */
    {"an empty header name", RAW("GET / HTTP/1.0\r\n: v\r\n\r\n"), true},
    {"empty values and blanks", RAW("GET / HTTP/1.0\r\nX:\r\nY: \t v w \r\nZ:v\r\n\r\n"), true},
    {"a NUL in a header value",
     RAW("GET / HTTP/1.0\r\nx-ESP8266-version: 1.0.0\0evil\r\nA: b\r\n\r\n"), false},
    {"a NUL in the last header value",
     RAW("GET / HTTP/1.0\r\nx-ESP8266-version: 1.0.0\0evil\r\n\r\n"), false},
    {"a NUL ending a value before CRLF", RAW("GET / HTTP/1.0\r\nA: b\0\r\nC: d\r\n\r\n"), false},
    {"a NUL ending the last value", RAW("GET / HTTP/1.0\r\nA: b\0\r\n\r\n"), false},
    /* The one blind spot (wire.h): a NUL then a bare LF reads as CRLF, and hides no byte. */
    {"a NUL before a bare LF", RAW("GET / HTTP/1.0\r\nA: b\0\nC: d\r\n\r\n"), true},
    {"a NUL in the method", RAW("G\0ET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), false},
    {"a NUL ending the method", RAW("GET\0 /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), false},
    {"two spaces after the method", RAW("GET  /healthz HTTP/1.0\r\n\r\n"), false},
    {"a method that is no token", RAW("GE(T /healthz HTTP/1.0\r\n\r\n"), false},
    {"a NUL in the path", RAW("GET /update/door\0evil HTTP/1.0\r\n\r\n"), false},
    {"a NUL then a version in the path", RAW("GET /door\0HTTP/1.0 HTTP/1.0\r\n\r\n"), false},
    {"a NUL in a query value", RAW("GET /u?tag=1.0\0x&b=2 HTTP/1.0\r\n\r\n"), false},
    {"a NUL in the last query value", RAW("GET /u?tag=1.0\0x HTTP/1.0\r\n\r\n"), false},
    {"a NUL in the path before a query", RAW("GET /u\0x?tag=1 HTTP/1.0\r\n\r\n"), false},
    {"a folded header (space)", RAW("GET / HTTP/1.0\r\nx-ESP8266-version:\r\n 1.0.0\r\n\r\n"),
     false},
    {"a folded header (tab)", RAW("GET / HTTP/1.0\r\nUser-Agent: a\r\n\tb\r\nHost: x\r\n\r\n"),
     false},
};

static void test_head_walk(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
        struct parsed p;
        bool parsed = parse_like_mhd(&p, heads[i].raw, heads[i].len);
        if (!parsed)
            fail_msg("%s: the parser refused it", heads[i].what);
        if (walk(&p) != heads[i].intact)
            fail_msg("%s: expected %s", heads[i].what, heads[i].intact ? "intact" : "broken");
        free(p.buf);
    }
}

static void test_head_walk_without_size(void **state)
{
    struct parsed p;
    assert_true(parse_like_mhd(&p, RAW("GET / HTTP/1.0\r\n\r\n")));
    p.head_size = 0; /* libmicrohttpd did not say how long the head is */
    assert_false(walk(&p));
    free(p.buf);
}

static void test_head_walk_arguments_as_handed_over(void **state)
{
    /* The walk sees what parse_like_mhd hands over: check the parse itself once. */
    struct parsed p;
    assert_true(parse_like_mhd(&p, RAW("GET /p?a=1&b&=c HTTP/1.1\r\nHost: h\r\n\r\n")));
    assert_string_equal(p.target, "/p");
    assert_int_equal(p.arg_count, 3);
    assert_string_equal(p.args[0].name, "a");
    assert_string_equal(p.args[0].value, "1");
    assert_null(p.args[1].value);
    assert_string_equal(p.args[2].name, "");
    assert_string_equal(p.args[2].value, "c");
    assert_int_equal(p.field_count, 1);
    assert_string_equal(p.fields[0].value, "h");
    assert_string_equal(p.version, "HTTP/1.1");
    free(p.buf);
}

static void test_is_token(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"GET", true},
        {"x-ESP8266-version", true},
        {"!#$%&'*+-.^_`|~09azAZ", true},
        {"", false},
        {"x-ESP8266-version ", false}, /* a space before the colon */
        {"X(bad)", false},
        {"X@y", false},
        {"a\tb", false},
        {"a/b", false},
        {"caf\xc3\xa9", false},
        {"a\"b", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (wire_is_token(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
            fail_msg("\"%s\": expected %d", cases[i].s, cases[i].ok);
    /* Every byte against RFC 9110's definition. */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool tchar = alnum || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        if (wire_is_token(&one, 1) != tchar)
            fail_msg("byte 0x%02x: expected %d", c, tchar);
    }
}

static void test_percent_decode(void **state)
{
    static const struct {
        const char *in, *out;
        size_t out_len;
        bool ok;
    } cases[] = {
        {"/update/door", "/update/door", 12, true},
        {"/a%20b", "/a b", 4, true},
        {"%2e%2E", "..", 2, true},
        {"%", "%", 1, true},
        {"%4", "%4", 2, true},
        {"%zz%4g", "%zz%4g", 6, true},
        {"100%", "100%", 4, true},
        {"+", "+", 1, true}, /* '+' is the query's business, not the decoder's */
        {"/update/door%00evil", "/update/door\0evil", 17, false},
        {"%00", "\0", 1, false},
        {"1.1.0%00.txt", "1.1.0\0.txt", 10, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char out[64];
        size_t n = 99;
        bool ok = wire_percent_decode(cases[i].in, strlen(cases[i].in), out, &n);
        if (ok != cases[i].ok || n != cases[i].out_len || memcmp(out, cases[i].out, n) != 0 ||
            out[n] != 0)
            fail_msg("\"%s\": got %d, %zu bytes", cases[i].in, ok, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_walk),
        cmocka_unit_test(test_head_walk_without_size),
        cmocka_unit_test(test_head_walk_arguments_as_handed_over),
        cmocka_unit_test(test_is_token),
        cmocka_unit_test(test_percent_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
