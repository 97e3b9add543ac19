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
    OTAC_E_BUFFER = -10,         /* the caller's buffer is too small for the result */
    OTAC_E_HTTP = -11,           /* the server's answer is not well-formed HTTP/1.x */
    OTAC_E_STATUS = -12,         /* the server answered a status the client does not act on */
    OTAC_E_NO_SIZE = -13,        /* a 200 without a usable Content-Length (stock: -101) */
    OTAC_E_NO_SPACE = -14,       /* the image does not fit the free space (stock: -100) */
    OTAC_E_MAGIC = -15,      /* the image does not start as one the device boots (stock: -106) */
    OTAC_E_FLASH_SIZE = -16, /* the image's flash-size code exceeds the chip (stock: -107) */
    OTAC_E_MD5 = -17,        /* x-MD5 malformed (stock: -105) or not the MD5 of the body */
    OTAC_E_RESUME = -18,     /* a resumed answer does not continue the same image */
    OTAC_E_CUT = -19,        /* the connection ended before the whole image came */
    OTAC_E_IO = -20,         /* the port's network call failed (connect, send, receive) */
    OTAC_E_TIMEOUT = -21,    /* the port's network call timed out */
    OTAC_E_FLASH = -22,      /* the port's flash call failed */
    OTAC_E_RECORD = -23,     /* the stored slot state is damaged (bad magic or checksum) */
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
