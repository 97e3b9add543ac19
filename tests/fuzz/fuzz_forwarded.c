/*
 * libFuzzer target for src/http/forwarded.c and the parsers of
 * src/core/netaddr.c under it. The first input byte picks the peer (bit 0:
 * a trusted one, 10.0.0.1, or an untrusted one, 198.51.100.1); the rest is
 * split at '\n' into X-Forwarded-For lines. Checks: an untrusted peer's
 * header is never read; a client found is an address that writes and
 * parses back to itself; nothing is written without FORWARDED_CLIENT. The
 * whole rest, as one string, also goes to net_prefix_parse: a prefix
 * accepted holds its own address and has no bits past its length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/netaddr.h"
#include "http/forwarded.h"

#define FUZZ_MAX_INPUT 4096
#define FUZZ_MAX_LINES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct net_prefix trusted[3];
static size_t trusted_count;

static void setup(void)
{
    static const char *const text[] = {"10.0.0.0/8", "fd00::/8", "127.0.0.1"};
    if (trusted_count)
        return;
    for (size_t i = 0; i < 3; i++)
        if (net_prefix_parse(text[i], &trusted[i]) != 0)
            abort();
    trusted_count = 3;
}

static void check_prefix(const char *text)
{
    struct net_prefix p;
    if (net_prefix_parse(text, &p) != 0)
        return;
    unsigned width = p.addr.family == 4 ? 32u : 128u;
    if ((p.addr.family != 4 && p.addr.family != 6) || p.bits > width ||
        !net_prefix_contains(&p, &p.addr))
        abort();
    if (p.addr.family == 4 && memcmp(p.addr.bytes + 4, (uint8_t[12]){0}, 12) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_MAX_INPUT)
        return 0;
    setup();
    struct net_addr peer;
    const char *peer_text = data[0] & 1 ? "10.0.0.1" : "198.51.100.1";
    if (net_addr_parse(peer_text, strlen(peer_text), &peer) != 0)
        abort();

    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    check_prefix(text);

    const char *lines[FUZZ_MAX_LINES];
    size_t count = 0;
    char *p = text;
    while (count < FUZZ_MAX_LINES) {
        lines[count++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }

    struct net_addr client = {.family = 99};
    enum forwarded_result r =
        forwarded_client(&peer, trusted, trusted_count, lines, count, &client);
    if (!(data[0] & 1) && r != FORWARDED_PEER)
        abort();
    if (r == FORWARDED_CLIENT) {
        char out[NET_ADDR_TEXT_BYTES];
        struct net_addr again;
        if (net_addr_format(&client, out, sizeof(out)) != 0 ||
            net_addr_parse(out, strlen(out), &again) != 0 || memcmp(&again, &client, sizeof(again)))
            abort();
    } else if (client.family != 99) {
        abort();
    }
    free(text);
    return 0;
}
