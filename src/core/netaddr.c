/*
 * Addresses and prefixes (netaddr.h). Parsing is inet_pton's on a bounded
 * copy, which already refuses IPv4 parts with leading zeros, short forms
 * ("10.1") and IPv6 zones; this file adds the lengths, the prefix length
 * and the folding of IPv4-mapped addresses into IPv4.
 */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t mapped_lead[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d becomes a.b.c.d; anything else is left alone. */
static void unmap(struct net_addr *a)
{
    if (a->family == 6 && memcmp(a->bytes, mapped_lead, sizeof(mapped_lead)) == 0) {
        memmove(a->bytes, a->bytes + 12, 4);
        memset(a->bytes + 4, 0, 12);
        a->family = 4;
    }
}

int net_addr_parse(const char *text, size_t len, struct net_addr *ret_addr)
{
    char copy[NET_ADDR_TEXT_BYTES];
    if (!text || len == 0 || len >= sizeof(copy) || memchr(text, 0, len))
        return -EINVAL;
    memcpy(copy, text, len);
    copy[len] = 0;
    struct net_addr a = {0};
    if (memchr(copy, ':', len)) {
        if (inet_pton(AF_INET6, copy, a.bytes) != 1)
            return -EINVAL;
        a.family = 6;
        unmap(&a);
    } else {
        if (inet_pton(AF_INET, copy, a.bytes) != 1)
            return -EINVAL;
        a.family = 4;
    }
    *ret_addr = a;
    return 0;
}

static unsigned family_bits(uint8_t family)
{
    return family == 4 ? 32u : 128u;
}

int net_prefix_parse(const char *text, struct net_prefix *ret_prefix)
{
    if (!text)
        return -EINVAL;
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    struct net_addr a;
    if (net_addr_parse(text, addr_len, &a) < 0)
        return -EINVAL;
    /* The width the text was written in: a mapped prefix counts its 96 leading bits. */
    bool written_v6 = memchr(text, ':', addr_len) != NULL;
    unsigned width = written_v6 ? 128u : 32u;
    unsigned bits = width;
    if (slash) {
        const char *p = slash + 1;
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]))
            return -EINVAL;
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
            if (bits > width)
                return -EINVAL;
        }
    }
    if (written_v6 && a.family == 4) {
        /* ::ffff:0:0/96 and longer fold into IPv4; a shorter one would hold more than IPv4. */
        if (bits < 96)
            return -EINVAL;
        bits -= 96;
    }
    for (unsigned i = bits; i < family_bits(a.family); i++)
        if (a.bytes[i / 8] & (0x80u >> (i % 8)))
            return -EINVAL;
    *ret_prefix = (struct net_prefix){.addr = a, .bits = (uint8_t)bits};
    return 0;
}

bool net_prefix_contains(const struct net_prefix *prefix, const struct net_addr *addr)
{
    if (prefix->addr.family != addr->family)
        return false;
    unsigned whole = prefix->bits / 8u, rest = prefix->bits % 8u;
    if (memcmp(prefix->addr.bytes, addr->bytes, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8u - rest));
    return (prefix->addr.bytes[whole] & mask) == (addr->bytes[whole] & mask);
}

bool net_prefixes_contain(const struct net_prefix *prefixes, size_t count,
                          const struct net_addr *addr)
{
    for (size_t i = 0; i < count; i++)
        if (net_prefix_contains(&prefixes[i], addr))
            return true;
    return false;
}

int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *ret_addr)
{
    struct net_addr a = {0};
    if (sa->sa_family == AF_INET) {
        memcpy(a.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        a.family = 4;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        a.family = 6;
        unmap(&a);
    } else {
        return -EAFNOSUPPORT;
    }
    *ret_addr = a;
    return 0;
}

int net_addr_format(const struct net_addr *addr, char *out, size_t size)
{
    char text[NET_ADDR_TEXT_BYTES];
    if (!inet_ntop(addr->family == 4 ? AF_INET : AF_INET6, addr->bytes, text, sizeof(text)) ||
        strlen(text) >= size) {
        if (size)
            out[0] = 0;
        return -ENOSPC;
    }
    memcpy(out, text, strlen(text) + 1);
    return 0;
}
