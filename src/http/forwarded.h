/*
 * The client's address behind trusted proxies: which address a request
 * stands for when its peer is a load balancer that appends the address it
 * saw to X-Forwarded-For (docs/OPERATIONS.md, "The devices' addresses behind
 * the balancer"). Pure: the caller (server.c) hands in the peer, the
 * trusted prefixes and the header's values, and decides what to log.
 *
 * The rule: only a trusted peer's header is read, and it is read from the
 * right, where each proxy appended the address it was connected from. Trusted
 * entries are skipped; the first untrusted one is the client. Whatever lies
 * to its left was written by the client (or by proxies we do not know) and
 * is never looked at, so garbage or a spoofed address there changes
 * nothing. Only X-Forwarded-For is read, not RFC 7239 Forwarded (HAProxy 2.6
 * does not write it, and reading two headers would let a client set the one
 * the balancer leaves alone).
 */
#ifndef OTAD_HTTP_FORWARDED_H
#define OTAD_HTTP_FORWARDED_H

#include <stddef.h>

#include "core/netaddr.h"

enum forwarded_result {
    FORWARDED_PEER = 0, /* use the peer: not trusted, or no X-Forwarded-For to read */
    FORWARDED_CLIENT,   /* *ret_client is the client */
    FORWARDED_MALFORMED /* the trusted peer's header is not a list of addresses: use the peer */
};

/*
 * The client of a request from PEER carrying the COUNT values of its
 * X-Forwarded-For header lines, in the order received (several lines are one
 * comma-separated list). TRUSTED holds TRUSTED_COUNT prefixes (NULL when 0).
 * All borrowed.
 *
 * FORWARDED_PEER when PEER is not in TRUSTED or no value holds an element.
 * Otherwise the elements are walked from the right: an element is an IPv4
 * or IPv6 address with optional spaces or tabs around it (empty elements
 * are skipped, RFC 9110 5.6.1); a trusted one is passed over; the first
 * untrusted one is the client, FORWARDED_CLIENT. When every element is
 * trusted, the left-most is the client (the request began inside the
 * trusted network). FORWARDED_MALFORMED when an element reached before the
 * client is not an address (a port, brackets, "unknown", a host name), or
 * when more than LIMIT_FORWARDED_HOPS trusted elements come first.
 * *RET_CLIENT is written only with FORWARDED_CLIENT.
 */
enum forwarded_result forwarded_client(const struct net_addr *peer,
                                       const struct net_prefix *trusted, size_t trusted_count,
                                       const char *const *values, size_t count,
                                       struct net_addr *ret_client);

#endif
