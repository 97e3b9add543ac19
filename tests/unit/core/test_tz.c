/*
 * Unit tests for src/core/tz.c: offsets compared with glibc's localtime_r
 * (under setenv("TZ"), fine in this single-threaded test) for real zones and
 * for footer-only files, instant by instant and at every change found;
 * malformed files and footers; zone names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/limits.h"
#include "core/tz.h"
#include "core/util.h"

/* 1850-01-01 and 2450-01-01 UTC: well before the first transitions, well past 2037. */
#define T_1850      (-3786825600LL)
#define T_1971      31536000LL /* glibc applies a TZ string's rules from 1970 on only */
#define T_2040      2208988800LL
#define T_2450      15148742400LL
#define GREGORIAN_S (146097LL * 86400) /* 400 years */

static int32_t glibc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(localtime_r(&tt, &tm));
    return (int32_t)tm.tm_gmtoff;
}

static void glibc_zone(const char *tz)
{
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

static void expect_same(const struct tz *tz, int64_t t)
{
    int32_t want = glibc_offset(t), got = tz_offset_s(tz, t);
    if (want != got)
        fail_msg("%s at %lld: glibc %d, tz %d", tz_name(tz), (long long)t, want, got);
}

/*
 * Walks TZ from FROM to 2450 in steps of a day and a half (and some minutes,
 * so the time of day moves) comparing with glibc, set to GLIBC_TZ. Where
 * glibc's offset changes between two steps, finds the second it changes and
 * compares around it. Returns the changes found, counting those past 2040
 * (footer rules) in *RET_LATE.
 */
static int walk(const struct tz *tz, const char *glibc_tz, int64_t from, int *ret_late)
{
    glibc_zone(glibc_tz);
    const int64_t step = 86400 + 43200 + 7 * 60 + 13;
    int changes = 0, late = 0;
    int64_t prev = from;
    int32_t prev_off = glibc_offset(prev);
    expect_same(tz, prev);
    for (int64_t t = prev + step; t < T_2450; prev = t, t += step) {
        int32_t off = glibc_offset(t);
        expect_same(tz, t);
        if (off == prev_off)
            continue;
        /* glibc's offset is prev_off at lo and off at hi. */
        int64_t lo = prev, hi = t;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (glibc_offset(mid) == prev_off)
                lo = mid;
            else
                hi = mid;
        }
        for (int64_t e = hi - 3601; e <= hi + 3601; e += 3601)
            expect_same(tz, e);
        expect_same(tz, lo);
        expect_same(tz, hi);
        changes++;
        late += hi > T_2040;
        prev_off = off;
    }
    *ret_late = late;
    return changes;
}

static struct tz *load(const char *name)
{
    struct tz *tz = NULL;
    int r = tz_load(name, &tz);
    if (r != 0)
        fail_msg("tz_load(\"%s\"): %d (is tzdata installed?)", name, r);
    assert_string_equal(tz_name(tz), name);
    return tz;
}

static void check_zone(const char *name, int min_changes, int min_late)
{
    struct tz *tz = load(name);
    int late = 0;
    int changes = walk(tz, name, T_1850, &late);
    if (changes < min_changes || late < min_late)
        fail_msg("%s: %d changes, %d past 2040: the walk missed them", name, changes, late);
    tz_free(tz);
}

static void test_berlin(void **state)
{
    check_zone("Europe/Berlin", 800, 800);
}

static void test_new_york(void **state)
{
    check_zone("America/New_York", 800, 800);
}

static void test_lord_howe(void **state)
{
    /* DST of 30 minutes, in the southern summer. */
    check_zone("Australia/Lord_Howe", 800, 800);
}

static void test_kolkata(void **state)
{
    check_zone("Asia/Kolkata", 4, 0);
}

static void test_sao_paulo(void **state)
{
    /* DST until 2019, none since: the footer has no rule. */
    check_zone("America/Sao_Paulo", 80, 0);
}

static void test_chatham(void **state)
{
    /* +12:45 / +13:45, changes at 2:45 and 3:45 local. */
    check_zone("Pacific/Chatham", 800, 800);
}

static void test_utc(void **state)
{
    check_zone("Etc/UTC", 0, 0);
    struct tz *tz = NULL;
    assert_int_equal(tz_load("UTC", &tz), 0);
    assert_string_equal(tz_name(tz), "UTC");
    assert_int_equal(tz_offset_s(tz, 0), 0);
    assert_int_equal(tz_offset_s(tz, INT64_MAX), 0);
    assert_int_equal(tz_offset_s(tz, INT64_MIN), 0);
    tz_free(tz);
    /* "" is UTC, the default, and needs no file either. */
    assert_int_equal(tz_load_from("/nonexistent", "", &tz), 0);
    assert_string_equal(tz_name(tz), "UTC");
    assert_int_equal(tz_offset_s(tz, 1700000000), 0);
    tz_free(tz);
    tz_free(NULL);
    assert_int_equal(tz_offset_s(NULL, 1700000000), 0);
}

static void test_local_minute(void **state)
{
    struct tz *tz = load("Europe/Berlin");
    /* 2024-03-31: 01:00 UTC is 03:00 CEST; a second earlier 01:59:59 CET. */
    const int64_t change = 1711846800LL;
    assert_int_equal(tz_local_minute(tz, change * 1000), 180);
    assert_int_equal(tz_local_minute(tz, change * 1000 - 1), 119);
    /* 2024-10-27 01:00 UTC: 03:00 CEST becomes 02:00 CET. */
    const int64_t back = 1729990800LL;
    assert_int_equal(tz_local_minute(tz, back * 1000 - 1), 179);
    assert_int_equal(tz_local_minute(tz, back * 1000), 120);
    /* 2100-07-01 12:00 UTC: the footer's summer time, 14:00. */
    assert_int_equal(tz_local_minute(tz, 4117953600LL * 1000), 14 * 60);
    tz_free(tz);
    /* UTC: before 1970 the day still runs 0..1439. */
    assert_int_equal(tz_local_minute(NULL, -1), 1439);
    assert_int_equal(tz_local_minute(NULL, -60000), 1439);
    assert_int_equal(tz_local_minute(NULL, -60001), 1438);
    assert_int_equal(tz_local_minute(NULL, 0), 0);
    assert_int_equal(tz_local_minute(NULL, 86399999), 1439);
    int m = tz_local_minute(NULL, INT64_MIN);
    assert_true(m >= 0 && m < 1440);
    m = tz_local_minute(NULL, INT64_MAX);
    assert_true(m >= 0 && m < 1440);
}

static void test_names(void **state)
{
    static const char *bad[] = {
        "../etc/passwd",     "/etc/passwd",   "Europe/../Berlin", "Europe//Berlin",
        "Europe/",           "Europe Berlin", "Europe/Berlin\n",  "Europe/Berl\x01n",
        "Europe/Berlin.tmp", "~root",         "Europe\\Berlin",   "/",
    };
    struct tz *tz = (struct tz *)(uintptr_t)1;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (tz_load(bad[i], &tz) != -EINVAL)
            fail_msg("\"%s\" was not refused", bad[i]);
        assert_ptr_equal(tz, (struct tz *)(uintptr_t)1);
    }
    char longname[LIMIT_TZ_NAME_BYTES + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(tz_load(longname, &tz), -EINVAL);
    assert_int_equal(tz_parse((const uint8_t *)"", 0, "a/../b", &tz), -EINVAL);
    /* Plausible but not there, a folder, and below a file. */
    assert_int_equal(tz_load("Nowhere/Atlantis", &tz), -ENOENT);
    assert_int_equal(tz_load("Europe", &tz), -ENOENT);
    assert_int_equal(tz_load("Etc/UTC/x", &tz), -ENOENT);
    assert_ptr_equal(tz, (struct tz *)(uintptr_t)1);
    /* The other characters IANA names use. */
    assert_int_equal(tz_load("Etc/GMT+5", &tz), 0);
    assert_int_equal(tz_offset_s(tz, 1700000000), -5 * 3600);
    tz_free(tz);
    assert_int_equal(tz_load("America/Port-au-Prince", &tz), 0);
    tz_free(tz);
}

/* ---- Files built here: a version 2+ file with the transitions and types given. ---- */

struct built {
    uint8_t data[4096];
    size_t len;
    size_t v2_header; /* where the second header starts */
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_header(struct built *b, char version, uint32_t time, uint32_t type)
{
    uint8_t *h = b->data + b->len;
    memset(h, 0, 44);
    memcpy(h, "TZif", 4);
    h[4] = (uint8_t)version;
    put32(h + 32, time);
    put32(h + 36, type);
    put32(h + 40, 4); /* "ABC\0" */
    b->len += 44;
}

static void put_types(struct built *b, const int32_t *utoff, size_t ntypes)
{
    for (size_t i = 0; i < ntypes; i++) {
        put32(b->data + b->len, (uint32_t)utoff[i]);
        b->data[b->len + 4] = 0;
        b->data[b->len + 5] = 0;
        b->len += 6;
    }
    memcpy(b->data + b->len, "ABC", 4);
    b->len += 4;
}

/*
 * VERSION '2'..'4': a minimal version 1 block, then N 64-bit transitions to
 * IDX's types, then the footer. VERSION 0: the transitions as 32-bit times.
 */
static void build(struct built *b, char version, const int64_t *times, const uint8_t *idx, size_t n,
                  const int32_t *utoff, size_t ntypes, const char *footer)
{
    b->len = 0;
    size_t tb = 4;
    if (version != 0) {
        const int32_t zero = 0;
        put_header(b, version, 0, 1);
        put_types(b, &zero, 1);
        tb = 8;
    }
    b->v2_header = b->len;
    put_header(b, version, (uint32_t)n, (uint32_t)ntypes);
    for (size_t i = 0; i < n; i++) {
        if (tb == 8) {
            put32(b->data + b->len, (uint32_t)((uint64_t)times[i] >> 32));
            put32(b->data + b->len + 4, (uint32_t)times[i]);
        } else {
            put32(b->data + b->len, (uint32_t)times[i]);
        }
        b->len += tb;
    }
    if (n)
        memcpy(b->data + b->len, idx, n);
    b->len += n;
    put_types(b, utoff, ntypes);
    if (version != 0) {
        int k = snprintf((char *)b->data + b->len, sizeof(b->data) - b->len, "\n%s\n", footer);
        b->len += (size_t)k;
    }
}

static int parse(const struct built *b, struct tz **ret)
{
    /* An exact-size copy, so that reading past the end is caught under ASan. */
    uint8_t *copy = malloc(b->len ? b->len : 1);
    assert_non_null(copy);
    memcpy(copy, b->data, b->len);
    int r = tz_parse(copy, b->len, "Test/Zone", ret);
    free(copy);
    return r;
}

static const int64_t times3[] = {-1000000000LL, 0, 1000000000LL};
static const uint8_t idx3[] = {1, 2, 1};
static const int32_t types3[] = {1234, 3600, 7200};

static void test_built_file(void **state)
{
    struct built b;
    struct tz *tz = NULL;
    for (char v = '2'; v <= '4'; v++) {
        build(&b, v, times3, idx3, 3, types3, 3, "<+05>-5");
        assert_int_equal(parse(&b, &tz), 0);
        assert_string_equal(tz_name(tz), "Test/Zone");
        assert_int_equal(tz_offset_s(tz, INT64_MIN), 1234); /* type 0 before the first */
        assert_int_equal(tz_offset_s(tz, -1000000001LL), 1234);
        assert_int_equal(tz_offset_s(tz, -1000000000LL), 3600);
        assert_int_equal(tz_offset_s(tz, -1), 3600);
        assert_int_equal(tz_offset_s(tz, 0), 7200);
        assert_int_equal(tz_offset_s(tz, 1000000000LL), 3600);     /* the last: its type */
        assert_int_equal(tz_offset_s(tz, 1000000001LL), 5 * 3600); /* then the footer */
        assert_int_equal(tz_offset_s(tz, INT64_MAX), 5 * 3600);
        tz_free(tz);
    }
    /* An empty footer: the last type holds for ever. */
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    assert_int_equal(parse(&b, &tz), 0);
    assert_int_equal(tz_offset_s(tz, INT64_MAX), 3600);
    tz_free(tz);
    /* Version 1: 32-bit times, no footer. */
    build(&b, 0, times3, idx3, 3, types3, 3, NULL);
    assert_int_equal(parse(&b, &tz), 0);
    assert_int_equal(tz_offset_s(tz, -1000000001LL), 1234);
    assert_int_equal(tz_offset_s(tz, 0), 7200);
    assert_int_equal(tz_offset_s(tz, INT64_MAX), 3600);
    tz_free(tz);
}

static void expect_bad(const struct built *b, const char *what)
{
    struct tz *tz = (struct tz *)(uintptr_t)1;
    int r = parse(b, &tz);
    if (r != -EBADMSG)
        fail_msg("%s: %d, not -EBADMSG", what, r);
    assert_ptr_equal(tz, (struct tz *)(uintptr_t)1);
}

static void test_truncated(void **state)
{
    struct built b;
    build(&b, '2', times3, idx3, 3, types3, 3, "CET-1CEST,M3.5.0,M10.5.0/3");
    const size_t full = b.len;
    for (size_t len = 0; len < full; len++) {
        b.len = len;
        expect_bad(&b, "a truncated file");
    }
    build(&b, 0, times3, idx3, 3, types3, 3, NULL);
    for (size_t len = 0; len < b.len; len++) {
        struct built t = b;
        t.len = len;
        expect_bad(&t, "a truncated version 1 file");
    }
    /* Every prefix of a real zone file, and bytes after a version 1 file's data. */
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(TZ_DEFAULT_DIR "/Europe/Berlin", 1 << 20, &data, &len), 0);
    for (size_t l = 0; l < len; l++) {
        uint8_t *copy = malloc(l ? l : 1);
        memcpy(copy, data, l);
        struct tz *tz = NULL;
        assert_int_equal(tz_parse(copy, l, "Europe/Berlin", &tz), -EBADMSG);
        free(copy);
    }
    free(data);
    build(&b, 0, times3, idx3, 3, types3, 3, NULL);
    b.data[b.len++] = '\n';
    expect_bad(&b, "trailing bytes after a version 1 file");
}

/*
 * The three-transition file with NSTD isstd and NUT isut indicators (BYTES,
 * isstd first) before its empty footer.
 */
static void build_indicators(struct built *b, const uint8_t *bytes, uint32_t nstd, uint32_t nut)
{
    build(b, '2', times3, idx3, 3, types3, 3, "");
    size_t at = b->len - 2, n = nstd + nut;
    memmove(b->data + at + n, b->data + at, 2);
    memcpy(b->data + at, bytes, n);
    b->len += n;
    put32(b->data + b->v2_header + 20, nut);
    put32(b->data + b->v2_header + 24, nstd);
}

static void test_bad_counts(void **state)
{
    struct built b;
    const size_t counts[] = {20, 24, 28, 32, 36, 40}; /* isut isstd leap time type char */
    for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
        /* Past the file's end, then past any limit (before anything is allocated). */
        const uint32_t values[] = {3 + 50, 0x7fffffffu, 0xffffffffu, LIMIT_TZ_TRANSITIONS + 1};
        for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
            build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
            put32(b.data + b.v2_header + counts[i], values[v]);
            expect_bad(&b, "a count past the end");
            /* The same in the version 1 header, which is skipped by its counts. */
            build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
            put32(b.data + counts[i], values[v]);
            expect_bad(&b, "a version 1 count past the end");
        }
    }
    /* Zero types. */
    build(&b, '2', NULL, NULL, 0, NULL, 0, "");
    expect_bad(&b, "no types");
    /* isstd and isut: 0 or one per type, each 0 or 1, and UT only with standard. */
    struct tz *tz = NULL;
    const uint8_t ok[] = {1, 0, 0, 1, 0, 0}, one[] = {0}, isut_alone[] = {0, 0, 0, 1, 0, 0};
    const uint8_t two[] = {2, 0, 0, 0, 0, 0};
    build_indicators(&b, ok, 3, 3);
    assert_int_equal(parse(&b, &tz), 0);
    tz_free(tz);
    build_indicators(&b, one, 1, 0);
    expect_bad(&b, "one isstd for three types");
    build_indicators(&b, one, 0, 1);
    expect_bad(&b, "one isut for three types");
    build_indicators(&b, isut_alone, 3, 3);
    expect_bad(&b, "UT without standard");
    build_indicators(&b, two, 3, 3);
    expect_bad(&b, "an indicator of 2");
}

static void test_bad_data(void **state)
{
    struct built b;
    /* Bad magic; a version this reader does not know; versions that differ. */
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    b.data[0] = 'X';
    expect_bad(&b, "bad magic");
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    b.data[b.v2_header + 1] = 'X';
    expect_bad(&b, "bad second magic");
    build(&b, '5', times3, idx3, 3, types3, 3, "");
    expect_bad(&b, "version 5");
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    b.data[b.v2_header + 4] = '3';
    expect_bad(&b, "two versions");
    /* A type index past the types. */
    const uint8_t idx_bad[] = {1, 3, 1};
    build(&b, '2', times3, idx_bad, 3, types3, 3, "");
    expect_bad(&b, "type index");
    /* Times not strictly ascending. */
    const int64_t same[] = {0, 0, 5};
    build(&b, '2', same, idx3, 3, types3, 3, "");
    expect_bad(&b, "equal times");
    const int64_t down[] = {5, 0, 9};
    build(&b, '2', down, idx3, 3, types3, 3, "");
    expect_bad(&b, "descending times");
    /* Offsets out of range. */
    const int32_t far[] = {0, 93600, 0};
    build(&b, '2', times3, idx3, 3, far, 3, "");
    expect_bad(&b, "an offset of 26 h");
    const int32_t min[] = {INT32_MIN, 0, 0};
    build(&b, '2', times3, idx3, 3, min, 3, "");
    expect_bad(&b, "an offset of -2^31");
    /* isdst 2, an abbreviation index past the characters. */
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    size_t types_at = b.v2_header + 44 + 3 * 9; /* after 3 times and 3 indices */
    b.data[types_at + 4] = 2;
    expect_bad(&b, "isdst 2");
    build(&b, '2', times3, idx3, 3, types3, 3, "");
    b.data[types_at + 6 + 5] = 4;
    expect_bad(&b, "desigidx past the characters");
    /* The footer's framing. */
    build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
    b.data[b.len - 1] = 'x';
    expect_bad(&b, "no newline after the footer");
    build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
    b.data[b.len - 6] = ' ';
    expect_bad(&b, "no newline before the footer");
    build(&b, '2', times3, idx3, 3, types3, 3, "UTC0\nUTC0");
    expect_bad(&b, "two footers");
    build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
    b.data[b.len - 3] = 0;
    expect_bad(&b, "a NUL in the footer");
    char longf[LIMIT_TZ_FOOTER_BYTES + 8];
    memset(longf, 'A', sizeof(longf) - 2);
    longf[sizeof(longf) - 2] = '0';
    longf[sizeof(longf) - 1] = 0;
    build(&b, '2', times3, idx3, 3, types3, 3, longf);
    expect_bad(&b, "a footer past its limit");
    struct tz *tz = NULL;
    build(&b, '2', times3, idx3, 3, types3, 3, "UTC0");
    assert_int_equal(parse(&b, &tz), 0); /* the file the edits above broke */
    tz_free(tz);
}

static void test_bad_footers(void **state)
{
    static const char *bad[] = {
        "CET",                             /* no offset */
        "CE-1",                            /* a name of two letters */
        "CET-1CEST",                       /* DST without its dates */
        "CET-1CEST,M3.5.0",                /* one date */
        "CET-1CEST,M3.5.0,M10.5.0,",       /* a third */
        "CET-1CEST,M13.5.0,M10.5.0/3",     /* month 13 */
        "CET-1CEST,M3.6.0,M10.5.0/3",      /* week 6 */
        "CET-1CEST,M3.5.7,M10.5.0/3",      /* weekday 7 */
        "CET-1CEST,M3.5,M10.5.0/3",        /* no weekday */
        "CET-1CEST,J0,J365",               /* Julian day 0 */
        "CET-1CEST,J1,J366",               /* Julian day 366 */
        "CET-1CEST,0,366",                 /* day 366 */
        "CET-1CEST,M3.5.0/168,M10.5.0/3",  /* 168 hours */
        "CET-1CEST,M3.5.0/-168,M10.5.0/3", /* -168 hours */
        "CET-1CEST,M3.5.0/2:60,M10.5.0/3", /* minute 60 */
        "CET-25",                          /* an offset of 25 hours */
        "CET-1:60",                        /* minute 60 */
        "CET-1:00:60",                     /* second 60 */
        "CET-1 ",                          /* trailing bytes */
        "CET-1CEST-2",                     /* DST offset without dates */
        "<CE-1",                           /* unclosed */
        "<CE>-1",                          /* two characters */
        "<C T>-1",                         /* a space */
        "-1",                              /* no name */
        "CET+",                            /* a sign alone */
        "CET-99999999999999999999",        /* overflow */
    };
    struct built b;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        build(&b, '2', times3, idx3, 3, types3, 3, bad[i]);
        struct tz *tz = NULL;
        int r = parse(&b, &tz);
        if (r != -EBADMSG)
            fail_msg("footer \"%s\": %d, not -EBADMSG", bad[i], r);
    }
}

/*
 * Footer rules alone (a file without transitions uses its footer at every
 * instant) against glibc given the same TZ string.
 */
static void test_footer_rules(void **state)
{
    static const struct {
        const char *rule;
        int late; /* changes expected past 2040 */
    } rules[] = {
        {"CET-1CEST,M3.5.0,M10.5.0/3", 800},
        {"EST5EDT,M3.2.0,M11.1.0", 800},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 800},         /* Lord Howe */
        {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", 800}, /* Chatham */
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 800},              /* Nuuk: a negative time */
        {"IST-1GMT0,M10.5.0,M3.5.0/1", 800},                   /* Dublin: "DST" in winter */
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 800},
        {"XXX3:25:45YYY2:10,J60/1:30,J300/25", 800}, /* Julian days, seconds */
        {"XXX-3YYY,59/23:59:59,299/47", 800},        /* zero-based days, 47 h */
        {"AAA0BBB,J100/-100,J200/150", 800},         /* times past a day's ends */
        {"<+0530>-5:30", 0},
        {"UTC0", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        struct built b;
        const int32_t zero = 0;
        build(&b, '2', NULL, NULL, 0, &zero, 1, rules[i].rule);
        struct tz *tz = NULL;
        if (parse(&b, &tz) != 0)
            fail_msg("footer \"%s\" refused", rules[i].rule);
        int late = 0;
        walk(tz, rules[i].rule, T_1971, &late);
        if (late < rules[i].late)
            fail_msg("\"%s\": %d changes past 2040", rules[i].rule, late);
        tz_free(tz);
    }
}

static int64_t utc(int y, int mon, int d, int h, int min, int sec)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = min,
                    .tm_sec = sec};
    return (int64_t)timegm(&tm);
}

/*
 * Rule times that move a change into the next or the previous year. glibc
 * takes the changes of the instant's UTC year only, so it is not the
 * reference here: the changes are worked out by hand.
 */
static void test_rules_across_years(void **state)
{
    struct built b;
    const int32_t zero = 0;
    struct tz *tz = NULL;
    /* DST from Dec 31 + 30 h (Jan 1, 06:00 UTC) to Jan 10 02:00 DST (01:00 UTC). */
    build(&b, '2', NULL, NULL, 0, &zero, 1, "AAA0BBB-1,J365/30,J10");
    assert_int_equal(parse(&b, &tz), 0);
    for (int y = 2030; y < 2040; y++) {
        assert_int_equal(tz_offset_s(tz, utc(y, 1, 1, 0, 0, 0)), 0);
        assert_int_equal(tz_offset_s(tz, utc(y, 1, 1, 5, 59, 59)), 0);
        assert_int_equal(tz_offset_s(tz, utc(y, 1, 1, 6, 0, 0)), 3600);
        assert_int_equal(tz_offset_s(tz, utc(y, 1, 10, 0, 59, 59)), 3600);
        assert_int_equal(tz_offset_s(tz, utc(y, 1, 10, 1, 0, 0)), 0);
        assert_int_equal(tz_offset_s(tz, utc(y, 12, 31, 23, 0, 0)), 0);
    }
    tz_free(tz);
    /* The first Sunday of January - 24 h: 2023-01-01 was a Sunday, so Dec 31, 2022. */
    build(&b, '2', NULL, NULL, 0, &zero, 1, "AAA0BBB-1,M1.1.0/-24,M2.1.0");
    assert_int_equal(parse(&b, &tz), 0);
    assert_int_equal(tz_offset_s(tz, utc(2022, 12, 30, 23, 59, 59)), 0);
    assert_int_equal(tz_offset_s(tz, utc(2022, 12, 31, 0, 0, 0)), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2023, 2, 5, 0, 59, 59)), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2023, 2, 5, 1, 0, 0)), 0);
    /* Far from the 400-year cycle's start, both ways. */
    assert_int_equal(tz_offset_s(tz, utc(2022, 12, 31, 0, 0, 0) + 1000 * GREGORIAN_S), 3600);
    assert_int_equal(tz_offset_s(tz, utc(2022, 12, 30, 23, 59, 59) - 5 * GREGORIAN_S), 0);
    int32_t o = tz_offset_s(tz, INT64_MIN);
    assert_true(o == 0 || o == 3600);
    o = tz_offset_s(tz, INT64_MAX);
    assert_true(o == 0 || o == 3600);
    tz_free(tz);
    /*
     * DST all year (RFC 8536, 3.3.1): from Jan 1 00:00 to Dec 31 24:00 + 1 h
     * DST, which is the next start. glibc has standard time in the hours
     * between the UTC and the local new year.
     */
    build(&b, '2', NULL, NULL, 0, &zero, 1, "EST5EDT,0/0,J365/25");
    assert_int_equal(parse(&b, &tz), 0);
    for (int64_t t = utc(1990, 12, 31, 0, 0, 0); t < utc(2600, 1, 1, 0, 0, 0);
         t += 86400 * 97 + 1799)
        assert_int_equal(tz_offset_s(tz, t), -4 * 3600);
    for (int y = 2000; y < 2500; y += 7)
        for (int h = 0; h < 8; h++)
            assert_int_equal(tz_offset_s(tz, utc(y, 1, 1, h, 0, 0) - 1), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, INT64_MAX), -4 * 3600);
    assert_int_equal(tz_offset_s(tz, INT64_MIN), -4 * 3600);
    tz_free(tz);
}

static void test_load_from(void **state)
{
    char dir[] = "/tmp/otad-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    struct tz *tz = NULL;
    /* Not a TZif file: -EBADMSG; a file past LIMIT_TZ_FILE_BYTES: -EBADMSG before reading. */
    snprintf(path, sizeof(path), "%s/Text", dir);
    assert_int_equal(file_write_atomic(path, "# leap seconds\n", 15, 0644), 0);
    assert_int_equal(tz_load_from(dir, "Text", &tz), -EBADMSG);
    snprintf(path, sizeof(path), "%s/Huge", dir);
    size_t huge_len = LIMIT_TZ_FILE_BYTES + 1;
    uint8_t *huge = calloc(1, huge_len);
    memcpy(huge, "TZif2", 5);
    assert_int_equal(file_write_atomic(path, huge, huge_len, 0644), 0);
    free(huge);
    assert_int_equal(tz_load_from(dir, "Huge", &tz), -EBADMSG);
    /* A file built here, under a folder. */
    struct built b;
    build(&b, '2', times3, idx3, 3, types3, 3, "<+05>-5");
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/Test", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof(path), "%s/Test/Zone", dir);
    assert_int_equal(file_write_atomic(path, b.data, b.len, 0644), 0);
    assert_int_equal(tz_load_from(dir, "Test/Zone", &tz), 0);
    assert_int_equal(tz_offset_s(tz, 0), 7200);
    tz_free(tz);
    assert_int_equal(tz_load_from(dir, "Test", &tz), -ENOENT);
    assert_int_equal(tz_load_from(dir, "Test/Zone/x", &tz), -ENOENT);
    assert_int_equal(tz_load_from(dir, "Test/Other", &tz), -ENOENT);
    unlink(path);
    rmdir(sub);
    snprintf(path, sizeof(path), "%s/Text", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Huge", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_berlin),       cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_lord_howe),    cmocka_unit_test(test_kolkata),
        cmocka_unit_test(test_sao_paulo),    cmocka_unit_test(test_chatham),
        cmocka_unit_test(test_utc),          cmocka_unit_test(test_local_minute),
        cmocka_unit_test(test_names),        cmocka_unit_test(test_built_file),
        cmocka_unit_test(test_truncated),    cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_bad_data),     cmocka_unit_test(test_bad_footers),
        cmocka_unit_test(test_footer_rules), cmocka_unit_test(test_rules_across_years),
        cmocka_unit_test(test_load_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
