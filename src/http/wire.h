/*
 * What the bytes of a request head may be, checked before anything is routed
 * (docs/PROTOCOL.md, "Request framing"): header names and methods are tokens,
 * percent-decoding never yields a NUL, and no byte of the head was dropped by
 * the parser on the way to us.
 *
 * The last one is the head walk. libmicrohttpd (0.9.7x) parses a head in
 * place: each separator it consumes (the spaces of the request line, '?',
 * each '&' and '=' of the query, each ':' and each line end) becomes a NUL
 * byte, and each piece it hands over (method, target, query arguments,
 * version, header names and values) points into that buffer and ends at the
 * first NUL. A NUL byte sent on the wire, or a folded (obs-fold) header line,
 * therefore makes it drop bytes silently: "x-ESP8266-version: 1.0.0\0evil"
 * arrives as "1.0.0". Walking the pieces in wire order and requiring each to
 * start where the previous one ended (plus its separator) finds every such
 * gap. One thing stays invisible: a NUL right before a bare LF reads like a
 * CR before an LF; it hides no byte.
 *
 * Nothing here allocates or knows libmicrohttpd's types; pointers are
 * borrowed and only compared or read inside the head they were given with.
 */
#ifndef OTAD_HTTP_WIRE_H
#define OTAD_HTTP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when S[0..LEN) is a non-empty RFC 9110 token: a method or a header name. */
bool wire_is_token(const char *s, size_t len);

/*
 * Percent-decodes IN[0..LEN) into OUT (room for LEN + 1 bytes; the result is
 * NUL-terminated and its length stored in *RET_LEN) as libmicrohttpd's own
 * unescaper does: "%HH" with two hex digits becomes that byte, anything else
 * is copied. Returns false when a decoded byte is NUL ("%00"): the caller
 * refuses the request rather than let a C string end early.
 */
bool wire_percent_decode(const char *in, size_t len, char *out, size_t *ret_len);

/*
 * The state of one head walk. Call, in wire order: wire_head_begin, then
 * wire_head_argument for each query argument, wire_head_version, then
 * wire_head_field for each header, and wire_head_intact for the verdict.
 */
struct wire_head {
    uintptr_t start; /* the method's first byte */
    uintptr_t end;   /* one past the blank line that ends the head */
    uintptr_t at;    /* one past the last piece walked */
    bool broken;     /* a piece was not where the wire puts it */
};

/*
 * Starts a walk over the HEAD_SIZE bytes of a head that begin at METHOD
 * (the request line's first byte); TARGET is the request-target as the parser
 * left it (not percent-decoded; its '?' already a NUL). Checks that the
 * method is a token followed by exactly one space.
 */
void wire_head_begin(struct wire_head *head, const char *method, const char *target,
                     size_t head_size);

/* The next query argument: NAME of NAME_LEN bytes, VALUE (NULL when it had no '=') of VALUE_LEN. */
void wire_head_argument(struct wire_head *head, const char *name, size_t name_len,
                        const char *value, size_t value_len);

/* The request line's version ("HTTP/1.1"), which ends the request-target. */
void wire_head_version(struct wire_head *head, const char *version);

/* The next header line: NAME of NAME_LEN bytes, VALUE of VALUE_LEN (leading blanks skipped). */
void wire_head_field(struct wire_head *head, const char *name, size_t name_len, const char *value,
                     size_t value_len);

/* True when the pieces walked, with their separators, make up the whole head. */
bool wire_head_intact(struct wire_head *head);

#endif
