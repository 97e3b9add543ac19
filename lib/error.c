/*
 * otac_strerror: the one table of messages for enum otac_error. The table is
 * indexed by the negated code, so it must list every code in order; a new
 * code gets a new line at the end, never a new place.
 */
#include "otac/error.h"

#include <stddef.h>

static const char *const messages[] = {
    [0] = "success",
    [-OTAC_E_INVAL] = "invalid argument",
    [-OTAC_E_STATE] = "call out of order",
    [-OTAC_E_KEY_PARSE] = "malformed public key",
    [-OTAC_E_KEY_UNSUPPORTED] = "unsupported key type, size or curve",
    [-OTAC_E_KEY_FORMAT] = "key type cannot verify this image format",
    [-OTAC_E_TRUNCATED] = "image too short for its signature",
    [-OTAC_E_SIG_LENGTH] = "signature length word does not match the key",
    [-OTAC_E_SIG_BLOCK] = "malformed signature block",
    [-OTAC_E_SIG_MISMATCH] = "signature does not match",
};

const char *otac_strerror(int err)
{
    const int count = (int)(sizeof(messages) / sizeof(messages[0]));
    if (err > 0 || err <= -count || !messages[-err])
        return "unknown error";
    return messages[-err];
}
