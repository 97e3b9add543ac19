/*
 * libFuzzer target for src/http/wire.c: the request-head checks that run
 * before routing. The input is one candidate token and one query string,
 * split at the first newline. Besides memory errors it checks the rules
 * docs/PROTOCOL.md states: a token is non-empty and made of tchar only;
 * percent-decoding never grows the input, yields a NUL-terminated string of
 * the length it reports, refuses exactly when a "%00" would decode, and
 * decodes "%HH" the way a reference decoder written here does.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/wire.h"

#define FUZZ_MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex(unsigned char c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    size_t split = 0;
    while (split < size && data[split] != '\n')
        split++;
    const char *token = (const char *)data;
    bool expect = split > 0;
    for (size_t i = 0; i < split; i++)
        expect = expect && tchar(data[i]);
    if (wire_is_token(token, split) != expect)
        abort();

    size_t len = split < size ? size - split - 1 : 0;
    char *in = malloc(len + 1), *out = malloc(len + 1);
    if (!in || !out)
        abort();
    memcpy(in, data + size - len, len); /* exact size: reading past it is caught */
    size_t out_len = (size_t)-1;
    bool ok = wire_percent_decode(in, len, out, &out_len);
    /* The reference: "%HH" decodes, anything else is copied. */
    bool ref_ok = true;
    size_t n = 0;
    char *ref = malloc(len + 1);
    if (!ref)
        abort();
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len && hex((unsigned char)in[i + 1]) >= 0 &&
            hex((unsigned char)in[i + 2]) >= 0) {
            int byte = hex((unsigned char)in[i + 1]) * 16 + hex((unsigned char)in[i + 2]);
            if (byte == 0)
                ref_ok = false;
            ref[n++] = (char)byte;
            i += 2;
        } else {
            ref[n++] = in[i];
        }
    }
    if (ok != ref_ok)
        abort();
    if (ok && (out_len != n || out_len > len || out[out_len] != 0 || memcmp(out, ref, n) != 0))
        abort();
    free(ref);
    free(in);
    free(out);
    return 0;
}
