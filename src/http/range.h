/*
 * The Range request header (RFC 9110 §14), single byte ranges only, as
 * ESP-IDF's esp_https_ota sends them: "bytes=0-0", "bytes=A-B", "bytes=A-",
 * "bytes=-N". The end is clamped to the last byte (esp_https_ota asks for
 * one past it); a start past the end is unsatisfiable. A header that does
 * not parse, or asks for several ranges, is ignored (the whole body is
 * sent), as RFC 9110 allows.
 */
#ifndef OTAD_HTTP_RANGE_H
#define OTAD_HTTP_RANGE_H

#include <stdint.h>

enum range_result {
    RANGE_NONE = 0,      /* no usable Range: answer 200 with the whole body */
    RANGE_PARTIAL,       /* answer 206 with bytes [first, last] */
    RANGE_UNSATISFIABLE, /* answer 416 with Content-Range: bytes STAR/size */
};

struct byte_range {
    uint64_t first;
    uint64_t last; /* inclusive */
};

/* Interprets HEADER (may be NULL) against a body of SIZE bytes; fills *ret_range on RANGE_PARTIAL.
 */
enum range_result range_parse(const char *header, uint64_t size, struct byte_range *ret_range);

#endif
