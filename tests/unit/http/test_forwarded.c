/*
 * Unit tests for src/http/forwarded.c: which address a request stands for,
 * from its peer, the trusted prefixes and its X-Forwarded-For lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/limits.h"
#include "core/util.h"
#include "http/forwarded.h"

#define PEER      FORWARDED_PEER
#define CLIENT    FORWARDED_CLIENT
#define MALFORMED FORWARDED_MALFORMED

/* The balancers of every case: one address, one IPv4 network, one IPv6 network. */
static const char *const trusted_text[] = {"10.0.0.5", "192.168.0.0/16", "fd00::/64"};

struct forwarded_case {
    const char *peer;
    const char *values[3]; /* the header lines, NULL-terminated */
    enum forwarded_result result;
    const char *client; /* with CLIENT */
};

static void run_cases(const struct forwarded_case *cases, size_t count)
{
    struct net_prefix trusted[ARRAY_SIZE(trusted_text)];
    for (size_t i = 0; i < ARRAY_SIZE(trusted_text); i++)
        assert_int_equal(net_prefix_parse(trusted_text[i], &trusted[i]), 0);
    for (size_t i = 0; i < count; i++) {
        const struct forwarded_case *c = &cases[i];
        struct net_addr peer;
        assert_int_equal(net_addr_parse(c->peer, strlen(c->peer), &peer), 0);
        size_t n = 0;
        while (n < ARRAY_SIZE(c->values) && c->values[n])
            n++;
        struct net_addr client = {.family = 99};
        enum forwarded_result got =
            forwarded_client(&peer, trusted, ARRAY_SIZE(trusted), c->values, n, &client);
        if (got != c->result)
            fail_msg("case %zu (peer %s, \"%s\"): result %d, expected %d", i, c->peer,
                     n ? c->values[0] : "", got, c->result);
        if (got != CLIENT) {
            if (client.family != 99)
                fail_msg("case %zu: client written without FORWARDED_CLIENT", i);
            continue;
        }
        char text[NET_ADDR_TEXT_BYTES];
        assert_int_equal(net_addr_format(&client, text, sizeof(text)), 0);
        if (strcmp(text, c->client) != 0)
            fail_msg("case %zu (peer %s, \"%s\"): client %s, expected %s", i, c->peer, c->values[0],
                     text, c->client);
    }
}

static void test_untrusted_peer_is_the_client(void **state)
{
    static const struct forwarded_case cases[] = {
        {"203.0.113.9", {"198.51.100.1", NULL}, PEER, NULL},
        {"10.0.0.6", {"198.51.100.1", NULL}, PEER, NULL}, /* next to the balancer */
        {"fd00:0:0:1::1", {"198.51.100.1", NULL}, PEER, NULL},
        {"203.0.113.9", {"not an address", NULL}, PEER, NULL}, /* never read: not malformed */
        {"203.0.113.9", {NULL}, PEER, NULL},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_trusted_peer(void **state)
{
    static const struct forwarded_case cases[] = {
        {"10.0.0.5", {"198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"  198.51.100.1\t", NULL}, CLIENT, "198.51.100.1"},
        {"192.168.3.4", {"2001:db8::7", NULL}, CLIENT, "2001:db8::7"},
        {"fd00::1", {"198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"::ffff:198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        /* No header, or no element in it: a health check from the balancer itself. */
        {"10.0.0.5", {NULL}, PEER, NULL},
        {"10.0.0.5", {"", NULL}, PEER, NULL},
        {"10.0.0.5", {" , ,", NULL}, PEER, NULL},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_right_most_untrusted(void **state)
{
    static const struct forwarded_case cases[] = {
        /* The client's own header, then what the balancer appended: the right-most counts. */
        {"10.0.0.5", {"203.0.113.9, 198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"203.0.113.9,198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        /* HAProxy appends its own line: lines read as one list, in order. */
        {"10.0.0.5", {"203.0.113.9", "198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"203.0.113.9, 1.1.1.1", "198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        /* Two balancers in a row: both skipped. */
        {"10.0.0.5", {"203.0.113.9, 198.51.100.1, 192.168.1.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"198.51.100.1, 192.168.1.1", "fd00::2", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"198.51.100.1", "192.168.1.1, ", NULL}, CLIENT, "198.51.100.1"},
        /* Empty elements (list syntax) are skipped. */
        {"10.0.0.5", {",198.51.100.1,,", NULL}, CLIENT, "198.51.100.1"},
        /* Every element trusted: the left-most, where the request began. */
        {"10.0.0.5", {"192.168.7.7, 10.0.0.5", NULL}, CLIENT, "192.168.7.7"},
        {"10.0.0.5", {"10.0.0.5", NULL}, CLIENT, "10.0.0.5"},
        /* An IPv6 client through an IPv4 balancer. */
        {"10.0.0.5", {"2001:db8:1::abcd", NULL}, CLIENT, "2001:db8:1::abcd"},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_garbage_left_of_the_client_is_never_read(void **state)
{
    static const struct forwarded_case cases[] = {
        {"10.0.0.5", {"garbage, 198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"unknown", "198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"1.2.3.4:80, [::1], 198.51.100.1", NULL}, CLIENT, "198.51.100.1"},
        {"10.0.0.5", {"\x01\xff\"", "198.51.100.1, 192.168.0.9", NULL}, CLIENT, "198.51.100.1"},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_malformed(void **state)
{
    static const struct forwarded_case cases[] = {
        {"10.0.0.5", {"unknown", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"198.51.100.1:4711", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"[2001:db8::1]", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"example.com", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"198.51.100.1 198.51.100.2", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"198.51.100.1;", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"for=198.51.100.1", NULL}, MALFORMED, NULL}, /* a Forwarded: element */
        {"10.0.0.5", {"198.51.100.1", "junk", NULL}, MALFORMED, NULL},
        /* Behind a trusted hop, garbage is still before the client: malformed. */
        {"10.0.0.5", {"junk, 192.168.0.1", NULL}, MALFORMED, NULL},
        {"10.0.0.5", {"fe80::1%eth0", NULL}, MALFORMED, NULL},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_hop_limit(void **state)
{
    struct net_prefix trusted;
    assert_int_equal(net_prefix_parse("10.0.0.0/8", &trusted), 0);
    struct net_addr peer, client;
    assert_int_equal(net_addr_parse("10.0.0.1", 8, &peer), 0);
    /* LIMIT_FORWARDED_HOPS trusted elements, then the client: found. */
    char header[1024] = "198.51.100.1";
    for (unsigned i = 0; i < LIMIT_FORWARDED_HOPS; i++)
        strcat(header, ", 10.1.1.1");
    const char *values[] = {header};
    assert_int_equal(forwarded_client(&peer, &trusted, 1, values, 1, &client), CLIENT);
    char text[NET_ADDR_TEXT_BYTES];
    assert_int_equal(net_addr_format(&client, text, sizeof(text)), 0);
    assert_string_equal(text, "198.51.100.1");
    /* One trusted element more: malformed, never an endless walk. */
    strcat(header, ", 10.1.1.1");
    assert_int_equal(forwarded_client(&peer, &trusted, 1, values, 1, &client), MALFORMED);
}

static void test_nobody_trusted(void **state)
{
    struct net_addr peer, client;
    assert_int_equal(net_addr_parse("127.0.0.1", 9, &peer), 0);
    const char *values[] = {"203.0.113.9"};
    assert_int_equal(forwarded_client(&peer, NULL, 0, values, 1, &client), PEER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_is_the_client),
        cmocka_unit_test(test_trusted_peer),
        cmocka_unit_test(test_right_most_untrusted),
        cmocka_unit_test(test_garbage_left_of_the_client_is_never_read),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hop_limit),
        cmocka_unit_test(test_nobody_trusted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
