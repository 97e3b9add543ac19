/*
 * IP addresses and address prefixes as plain values: parsing their textual
 * forms (a setting such as trusted_proxies, an X-Forwarded-For element),
 * testing whether a prefix holds an address, and writing an address back as
 * text. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address, so
 * a dual-stack listener's peers match IPv4 prefixes. No I/O, no allocation,
 * no name resolution: a host name is not an address here.
 */
#ifndef OTAD_CORE_NETADDR_H
#define OTAD_CORE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for the longest address net_addr_format writes, its NUL included (INET6_ADDRSTRLEN). */
#define NET_ADDR_TEXT_BYTES 46u

struct net_addr {
    uint8_t family;    /* 4 or 6 */
    uint8_t bytes[16]; /* network order; an IPv4 address uses the first 4 */
};

struct net_prefix {
    struct net_addr addr; /* every bit past BITS is zero */
    uint8_t bits;         /* 0..32 for IPv4, 0..128 for IPv6 */
};

/*
 * Parses TEXT[0..LEN) (not NUL-terminated; no spaces) as an IPv4 address in
 * dotted-decimal form (four parts, no leading zeros) or an IPv6 address
 * (RFC 4291 text forms, without a zone "%eth0" or brackets). Fills
 * *RET_ADDR only on success. Returns 0, or -EINVAL for anything else.
 */
int net_addr_parse(const char *text, size_t len, struct net_addr *ret_addr);

/*
 * Parses TEXT (NUL-terminated) as ADDRESS or ADDRESS/BITS, an address alone
 * being the prefix of its whole width. Bits set past the prefix are an
 * error ("10.0.0.1/8": the operator meant 10.0.0.0/8 or 10.0.0.1, not both).
 * A mapped IPv6 prefix (::ffff:10.0.0.0/104) becomes its IPv4 prefix.
 * Fills *RET_PREFIX only on success. Returns 0, or -EINVAL.
 */
int net_prefix_parse(const char *text, struct net_prefix *ret_prefix);

/* Whether PREFIX holds ADDR (both borrowed, non-NULL); families must match. */
bool net_prefix_contains(const struct net_prefix *prefix, const struct net_addr *addr);

/* Whether any of the COUNT prefixes in PREFIXES (NULL when COUNT is 0) holds ADDR. */
bool net_prefixes_contain(const struct net_prefix *prefixes, size_t count,
                          const struct net_addr *addr);

/*
 * Fills *RET_ADDR from a socket address SA (borrowed) of family AF_INET or
 * AF_INET6 (a mapped IPv6 address becomes IPv4). Returns 0, or -EAFNOSUPPORT
 * for another family (a UNIX socket).
 */
struct sockaddr;
int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *ret_addr);

/*
 * Writes ADDR as inet_ntop does (IPv6 in its shortest form) into OUT of SIZE
 * bytes (NET_ADDR_TEXT_BYTES is always enough). Returns 0, or -ENOSPC with
 * OUT set to "" when SIZE is too small.
 */
int net_addr_format(const struct net_addr *addr, char *out, size_t size);

#endif
