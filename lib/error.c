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
    [-OTAC_E_BUFFER] = "buffer too small",
    [-OTAC_E_HTTP] = "malformed HTTP answer",
    [-OTAC_E_STATUS] = "server answered a status the client does not act on",
    [-OTAC_E_NO_SIZE] = "server did not report the image size",
    [-OTAC_E_NO_SPACE] = "image does not fit the free space",
    [-OTAC_E_MAGIC] = "image does not start as a bootable image",
    [-OTAC_E_FLASH_SIZE] = "image's flash size exceeds the chip",
    [-OTAC_E_MD5] = "x-MD5 malformed or not the MD5 of the image",
    [-OTAC_E_RESUME] = "resumed answer does not continue the same image",
    [-OTAC_E_CUT] = "connection ended before the whole image came",
    [-OTAC_E_IO] = "network call failed",
    [-OTAC_E_TIMEOUT] = "network call timed out",
    [-OTAC_E_FLASH] = "flash call failed",
    [-OTAC_E_RECORD] = "stored slot state is damaged",
};

const char *otac_strerror(int err)
{
    const int count = (int)(sizeof(messages) / sizeof(messages[0]));
    if (err > 0 || err <= -count || !messages[-err])
        return "unknown error";
    return messages[-err];
}
