/*
 * Error codes of the otac device library. Every otac_* function that can
 * fail returns OTAC_OK (0) or one of these negative values. The numbers are
 * part of the ABI: a value is never renumbered or reused, new codes are
 * appended with the next free number. otac_strerror() turns any of them into
 * a short, constant English sentence for a log line or a serial console.
 */
#ifndef OTAC_ERROR_H
#define OTAC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum otac_error {
    OTAC_OK = 0,
    OTAC_E_INVAL = -1,           /* a NULL pointer, an unknown enum value, a bad combination */
    OTAC_E_STATE = -2,           /* call out of order (update after finish, finish twice) */
    OTAC_E_KEY_PARSE = -3,       /* the key bytes are not a PEM or DER public key */
    OTAC_E_KEY_UNSUPPORTED = -4, /* a key type, size or curve this library does not take */
    OTAC_E_KEY_FORMAT = -5,      /* the key type cannot verify this image format */
    OTAC_E_TRUNCATED = -6,       /* the image is too short to hold its signature */
    OTAC_E_SIG_LENGTH = -7,      /* the ESP8266 length word differs from the key's size */
    OTAC_E_SIG_BLOCK = -8,       /* the signature block is malformed (DER, padding) */
    OTAC_E_SIG_MISMATCH = -9,    /* the signature does not match the image and key */
};

/*
 * Returns a constant, NUL-terminated description of ERR (an enum otac_error
 * value); unknown values give "unknown error". Never NULL.
 */
const char *otac_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
