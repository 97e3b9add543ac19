/*
 * The head of a server's answer, parsed as the bytes arrive, the way the stock
 * updaters read it: a status line that starts with "HTTP/1.", header lines
 * ended by CRLF or a bare LF, names matched without regard to case, blanks
 * around values trimmed. Only the headers an updater acts on are kept; any
 * other header is skipped whatever its length, so a long cookie cannot fail
 * an update. A kept header that comes twice leaves its field absent (the
 * arduino-esp32 3.x client joins repeated values with a comma, which none of
 * them survives), except Content-Length (equal values are one; different ones
 * are an error) and Connection and Transfer-Encoding, whose tokens are read
 * from every line. The parser never allocates: struct otac_response is the
 * whole state (about 1 KB), fed in chunks of any size.
 *
 * Typical use:
 *
 *   struct otac_response r;
 *   otac_response_init(&r);
 *   while (!r.complete) {
 *       n = recv(...);
 *       if (otac_response_feed(&r, buf, n, &used) < 0) ...   // malformed
 *   }
 *   // buf[used .. n) is the first part of the body
 */
#ifndef OTAC_RESPONSE_H
#define OTAC_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "otac/error.h"
#include "otac/request.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_HEAD_MAX     16384u /* bytes of a whole head; longer is OTAC_E_HTTP */
#define OTAC_LOCATION_MAX 512u   /* bytes of a Location value kept */
#define OTAC_ETAG_MAX     128u   /* bytes of an ETag value kept */

/*
 * A parsed head. The public fields are valid once COMPLETE is nonzero; a
 * header that did not come leaves its field at the "absent" value given.
 */
struct otac_response {
    int complete;           /* the empty line that ends the head was read */
    int status;             /* 200, 304, ... */
    int http_minor;         /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    int64_t content_length; /* -1: absent */
    int64_t range_first;    /* Content-Range "bytes A-B/T": A, B, T; -1: absent or
                               malformed; a 416's form, a star for A-B, sets T alone */
    int64_t range_last;
    int64_t range_total;
    int chunked;     /* Transfer-Encoding names chunked */
    int md5_present; /* an x-MD5 header came (even malformed or repeated; an empty one is none) */
    char md5[33];    /* x-MD5, lowercased, when it was exactly 32 hex digits; else "" */
    /* The three texts are "" also when their value holds a control byte but a tab. */
    char version[OTAC_VERSION_MAX + 1];   /* x-version; "" absent or too long */
    char etag[OTAC_ETAG_MAX + 1];         /* ETag as sent, quotes included; "" absent */
    char location[OTAC_LOCATION_MAX + 1]; /* Location; "" absent or too long */
    uint32_t retry_after_s;               /* Retry-After in seconds (delta form); 0 absent */
    int connection_close;                 /* Connection: close, or HTTP/1.0 without keep-alive */

    /* Private. */
    uint32_t head_bytes;
    uint8_t state;
    uint8_t header; /* which kept header the current line is */
    uint16_t len;   /* bytes in line */
    uint16_t seen;  /* kept headers already read (a repeat makes its field absent) */
    char line[OTAC_LOCATION_MAX + 64];
};

/* Makes R ready for a new answer. */
void otac_response_init(struct otac_response *r);

/*
 * Feeds LEN bytes (DATA borrowed for the call). Sets *RET_USED to the bytes
 * of DATA that belong to the head: all of them until the head ends; once
 * R->complete is set, the bytes after *RET_USED are the body's. Feeding a
 * complete R consumes nothing.
 * Returns OTAC_OK, OTAC_E_HTTP (no "HTTP/1." status line, a status outside
 * 100-599, a Content-Length that is not a decimal number or differs between two headers, a head
 * past OTAC_HEAD_MAX) or OTAC_E_INVAL (NULL). After an error R is unusable until initialised.
 */
int otac_response_feed(struct otac_response *r, const void *data, size_t len, size_t *ret_used);

#ifdef __cplusplus
}
#endif

#endif
