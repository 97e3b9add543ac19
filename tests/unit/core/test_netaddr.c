/* Unit tests for src/core/netaddr.c: addresses and prefixes, as text and as bits. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "core/netaddr.h"
#include "core/util.h"

/* TEXT parsed and written back; "" when it must be refused. */
struct addr_case {
    const char *text;
    const char *canonical;
};

static void test_addr_parse(void **state)
{
    static const struct addr_case cases[] = {
        {"203.0.113.9", "203.0.113.9"},
        {"0.0.0.0", "0.0.0.0"},
        {"255.255.255.255", "255.255.255.255"},
        {"::1", "::1"},
        {"2001:db8::1", "2001:db8::1"},
        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
        {"::ffff:192.0.2.1", "192.0.2.1"}, /* mapped: its IPv4 address */
        {"::", "::"},
        {"", ""},
        {"256.0.0.1", ""},
        {"1.2.3", ""},
        {"1.2.3.4.5", ""},
        {"01.2.3.4", ""}, /* leading zero: octal to some parsers, refused */
        {"1.2.3.4:80", ""},
        {"[::1]", ""},
        {"fe80::1%eth0", ""},
        {"unknown", ""},
        {"example.com", ""},
        {" 1.2.3.4", ""},
        {"1.2.3.4 ", ""},
        {"2001:db8::1::2", ""},
        {"0x7f.0.0.1", ""},
        {"1234:5678:9abc:def0:1234:5678:9abc:def0:1", ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct net_addr a = {.family = 99};
        int r = net_addr_parse(cases[i].text, strlen(cases[i].text), &a);
        if (!cases[i].canonical[0]) {
            if (r != -EINVAL || a.family != 99)
                fail_msg("\"%s\": accepted (%d), expected -EINVAL and nothing written",
                         cases[i].text, r);
            continue;
        }
        if (r != 0)
            fail_msg("\"%s\": refused (%d)", cases[i].text, r);
        char out[NET_ADDR_TEXT_BYTES];
        assert_int_equal(net_addr_format(&a, out, sizeof(out)), 0);
        if (strcmp(out, cases[i].canonical) != 0)
            fail_msg("\"%s\": written \"%s\", expected \"%s\"", cases[i].text, out,
                     cases[i].canonical);
    }
}

static void test_addr_parse_uses_len(void **state)
{
    struct net_addr a;
    /* Only the first LEN bytes count: an element inside a longer header. */
    assert_int_equal(net_addr_parse("10.0.0.1, 10.0.0.2", 8, &a), 0);
    char out[NET_ADDR_TEXT_BYTES];
    assert_int_equal(net_addr_format(&a, out, sizeof(out)), 0);
    assert_string_equal(out, "10.0.0.1");
    assert_int_equal(net_addr_parse("10.0.0.1", 7, &a), -EINVAL); /* "10.0.0." */
    assert_int_equal(net_addr_parse("1.2.3.4\0"
                                    "5",
                                    9, &a),
                     -EINVAL); /* a NUL inside */
}

struct contains_case {
    const char *prefix;
    const char *addr;
    bool inside;
};

static void test_prefix_contains(void **state)
{
    static const struct contains_case cases[] = {
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"10.0.0.5", "10.0.0.5", true},
        {"10.0.0.5", "10.0.0.6", false},
        {"10.0.0.5/32", "10.0.0.5", true},
        {"0.0.0.0/0", "198.51.100.1", true},
        {"0.0.0.0/0", "::1", false}, /* families never mix */
        {"::/0", "10.0.0.1", false},
        {"::/0", "2001:db8::1", true},
        {"192.168.1.128/25", "192.168.1.200", true},
        {"192.168.1.128/25", "192.168.1.127", false},
        {"172.16.0.0/12", "172.31.255.255", true},
        {"172.16.0.0/12", "172.32.0.0", false},
        {"fd00::/8", "fd12:3456::1", true},
        {"fd00::/8", "fe00::1", false},
        {"2001:db8:1::/48", "2001:db8:1:ffff::1", true},
        {"2001:db8:1::/48", "2001:db8:2::1", false},
        {"::1", "::1", true},
        {"::ffff:10.0.0.0/104", "10.1.2.3", true}, /* a mapped prefix is an IPv4 one */
        {"::ffff:10.0.0.0/104", "11.1.2.3", false},
        {"127.0.0.1", "::ffff:127.0.0.1", true}, /* a dual-stack listener's peer */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct net_prefix p;
        struct net_addr a;
        if (net_prefix_parse(cases[i].prefix, &p) != 0)
            fail_msg("prefix \"%s\" refused", cases[i].prefix);
        assert_int_equal(net_addr_parse(cases[i].addr, strlen(cases[i].addr), &a), 0);
        if (net_prefix_contains(&p, &a) != cases[i].inside)
            fail_msg("\"%s\" holds \"%s\": expected %s", cases[i].prefix, cases[i].addr,
                     cases[i].inside ? "yes" : "no");
    }
}

static void test_prefix_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "10.0.0.1/8", /* bits set past the prefix */
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/08",
        "10.0.0.0/8/8",
        "10.0.0.0/ 8",
        "/8",
        "",
        "10.0.0.0/8 ",
        "::ffff:0:0/95", /* wider than IPv4 */
        "fd00::1/8",
        "localhost",
        "10.0.0.0/4294967304",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct net_prefix p = {.bits = 200};
        if (net_prefix_parse(bad[i], &p) != -EINVAL || p.bits != 200)
            fail_msg("prefix \"%s\" accepted", bad[i]);
    }
    struct net_prefix p;
    assert_int_equal(net_prefix_parse("0.0.0.0/0", &p), 0);
    assert_int_equal(p.bits, 0);
    assert_int_equal(net_prefix_parse("2001:db8::/32", &p), 0);
    assert_int_equal(p.bits, 32);
    assert_int_equal(p.addr.family, 6);
    assert_int_equal(net_prefix_parse("::ffff:10.0.0.0/104", &p), 0);
    assert_int_equal(p.bits, 8);
    assert_int_equal(p.addr.family, 4);
}

static void test_prefixes_contain(void **state)
{
    struct net_prefix list[2];
    struct net_addr a;
    assert_int_equal(net_prefix_parse("10.0.0.5", &list[0]), 0);
    assert_int_equal(net_prefix_parse("fd00::/64", &list[1]), 0);
    assert_int_equal(net_addr_parse("fd00::7", 7, &a), 0);
    assert_true(net_prefixes_contain(list, 2, &a));
    assert_false(net_prefixes_contain(list, 1, &a));
    assert_false(net_prefixes_contain(NULL, 0, &a));
}

static void test_from_sockaddr(void **state)
{
    struct sockaddr_in6 six = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, "::ffff:198.51.100.7", &six.sin6_addr), 1);
    struct net_addr a;
    assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&six, &a), 0);
    assert_int_equal(a.family, 4);
    char out[NET_ADDR_TEXT_BYTES];
    assert_int_equal(net_addr_format(&a, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.100.7");

    struct sockaddr_in four = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &four.sin_addr), 1);
    assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&four, &a), 0);
    assert_int_equal(net_addr_format(&a, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1");

    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&un, &a), -EAFNOSUPPORT);
}

static void test_format_too_small(void **state)
{
    struct net_addr a;
    assert_int_equal(net_addr_parse("203.0.113.9", 11, &a), 0);
    char out[11] = "xxxxxxxxxx";
    assert_int_equal(net_addr_format(&a, out, sizeof(out)), -ENOSPC);
    assert_string_equal(out, "");
    char fits[12];
    assert_int_equal(net_addr_format(&a, fits, sizeof(fits)), 0);
    assert_string_equal(fits, "203.0.113.9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),       cmocka_unit_test(test_addr_parse_uses_len),
        cmocka_unit_test(test_prefix_contains),  cmocka_unit_test(test_prefix_parse_refusals),
        cmocka_unit_test(test_prefixes_contain), cmocka_unit_test(test_from_sockaddr),
        cmocka_unit_test(test_format_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
