/* Unit tests for src/core/util.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"

static void test_parse_u64(void **state)
{
    static const struct {
        const char *in;
        uint64_t max;
        int r;
        uint64_t v;
    } cases[] = {
        {"0", 10, 0, 0},
        {"10", 10, 0, 10},
        {"11", 10, -ERANGE, 0},
        {"", 10, -EINVAL, 0},
        {"01", 10, -EINVAL, 0},
        {"-1", 10, -EINVAL, 0},
        {" 1", 10, -EINVAL, 0},
        {"1 ", 10, -EINVAL, 0},
        {"+1", 10, -EINVAL, 0},
        {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, -ERANGE, 0},
        {"4194304", UINT32_MAX, 0, 4194304},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t v = 12345;
        assert_int_equal(parse_u64(cases[i].in, cases[i].max, &v), cases[i].r);
        if (cases[i].r == 0)
            assert_true(v == cases[i].v);
        else
            assert_true(v == 12345); /* untouched on failure */
    }
}

static void test_hex(void **state)
{
    uint8_t in[] = {0x00, 0xab, 0xff, 0x10};
    char out[9];
    hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00abff10");
    uint8_t back[4];
    assert_int_equal(hex_decode("00ABff10", back, 4), 0);
    assert_memory_equal(in, back, 4);
    assert_int_equal(hex_decode("00abff1", back, 4), -EINVAL);
    assert_int_equal(hex_decode("00abff1g", back, 4), -EINVAL);
    assert_int_equal(hex_decode("00abff1000", back, 4), -EINVAL);
    assert_true(is_hex("abcDEF09", 8));
    assert_false(is_hex("abcDEF0", 8));
}

static void test_str_copy_and_case(void **state)
{
    char small[4];
    assert_int_equal(str_copy(small, sizeof(small), "abc"), 0);
    assert_string_equal(small, "abc");
    assert_int_equal(str_copy(small, sizeof(small), "abcd"), -ENAMETOOLONG);
    assert_string_equal(small, "");
    assert_true(str_eq_nocase("x-ESP8266-STA-MAC", "X-esp8266-sta-mac"));
    assert_false(str_eq_nocase("x-ESP8266-STA-MAC", "x-ESP8266-STA-MA"));
}

static void test_file_write_atomic(void **state)
{
    char dir[] = "/tmp/otad-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/sub/dir/file", dir);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/sub/dir", dir);
    assert_int_equal(dir_create_all(sub, 0700), 0);
    assert_int_equal(file_write_atomic(path, "hello", 5, 0600), 0);
    assert_int_equal(file_write_atomic(path, "world!", 6, 0600), 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(file_read_all(path, 100, &data, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal((char *)data, "world!");
    free(data);
    assert_int_equal(file_read_all(path, 5, &data, &len), -EFBIG);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_text_valid_utf8(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain notes\nline two\twith tab\r\n", true},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6", true}, /* é € 📦 */
        {"bad\xff"
         "byte",
         false},
        {"\xc3", false},             /* truncated */
        {"\xc0\xaf", false},         /* overlong */
        {"\xed\xa0\x80", false},     /* a surrogate */
        {"\xf4\x90\x80\x80", false}, /* past U+10FFFF */
        {"bell\x07", false},         /* control character */
        {"esc\x1b[31m", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (text_valid_utf8(cases[i].s) != cases[i].ok)
            fail_msg("case %zu: expected %d", i, cases[i].ok);
}

static void test_hash_mix64(void **state)
{
    /* The MurmurHash3 finalizer's known answers; 0 stays 0, so callers mix in a seed. */
    assert_true(hash_mix64(1) == 0xb456bcfc34c2cb2cULL);
    assert_true(hash_mix64(0x18FE34000000ULL) == 0x481d1ed27f417f2dULL);
    assert_true(hash_mix64(0) == 0);
}

/* Stored text a peer chose becomes printable UTF-8: each offending byte a '?'. */
static void test_str_printable(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"caf\xc3\xa9 \xf0\x9f\x93\xa6", "caf\xc3\xa9 \xf0\x9f\x93\xa6"},
        {"evil\xff\xfe", "evil??"},
        {"esc\x1b[31mred", "esc?[31mred"},
        {"tab\tnl\ndel\x7f", "tab?nl?del?"},
        {"cut \xe2\x82", "cut ??"},
        {"\xc0\xaf\xed\xa0\x80", "?????"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char s[64];
        snprintf(s, sizeof(s), "%s", cases[i].in);
        str_printable(s);
        assert_string_equal(s, cases[i].out);
        assert_true(text_valid_utf8(s));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),         cmocka_unit_test(test_hex),
        cmocka_unit_test(test_str_copy_and_case), cmocka_unit_test(test_file_write_atomic),
        cmocka_unit_test(test_text_valid_utf8),   cmocka_unit_test(test_str_printable),
        cmocka_unit_test(test_hash_mix64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
