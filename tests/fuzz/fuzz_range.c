/*
 * libFuzzer target for src/http/range.c. The first 8 input bytes are the body
 * size (little-endian; short inputs give small sizes), the rest the Range
 * header. Checks that a partial range always lies within the body and that
 * nothing is written unless the answer is RANGE_PARTIAL.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    uint64_t body = 0;
    size_t n = size < 8 ? size : 8;
    for (size_t i = 0; i < n; i++)
        body |= (uint64_t)data[i] << (8 * i);
    /* Small sizes are the interesting ones; keep most of them small. */
    if (n && !(data[0] & 0x80))
        body &= 0xFFFF;

    char *header = malloc(size - n + 1);
    if (!header)
        abort();
    memcpy(header, data + n, size - n);
    header[size - n] = 0;

    struct byte_range r = {12345, 54321};
    enum range_result res = range_parse(header, body, &r);
    switch (res) {
    case RANGE_PARTIAL:
        if (body == 0 || r.first > r.last || r.last >= body)
            abort();
        break;
    case RANGE_NONE:
    case RANGE_UNSATISFIABLE:
        if (r.first != 12345 || r.last != 54321)
            abort();
        break;
    default:
        abort();
    }
    free(header);
    return 0;
}
