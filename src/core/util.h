/*
 * Small helpers with no state: strict number parsing, hex, bounded string
 * copies, clocks, file writes that survive a crash. Nothing here allocates
 * except where a function says so.
 */
#ifndef OTAD_CORE_UTIL_H
#define OTAD_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parses S as a plain decimal unsigned integer: digits only, no sign, no
 * blanks, no leading zeros beyond "0", at most MAX. Returns 0 and writes
 * *ret_value, or -EINVAL (not a number) / -ERANGE (above MAX).
 */
int parse_u64(const char *s, uint64_t max, uint64_t *ret_value);

/* Writes 2*LEN lowercase hex digits and a NUL to OUT (2*LEN+1 bytes). */
void hex_encode(const uint8_t *data, size_t len, char *out);

/*
 * Decodes exactly 2*LEN hex digits (either case) from S into OUT.
 * Returns 0, or -EINVAL if S is not exactly that many hex digits.
 */
int hex_decode(const char *s, uint8_t *out, size_t len);

/* The value of hex digit C (either case), or -1. */
int hex_digit_value(char c);

/* True when S is exactly LEN hex digits (either case). */
bool is_hex(const char *s, size_t len);

/*
 * Copies SRC into DST of SIZE bytes, always NUL-terminated. Returns 0, or
 * -ENAMETOOLONG when SRC did not fit (DST then holds nothing: "").
 */
int str_copy(char *dst, size_t size, const char *src);

/* Formats a MAC address as "AA:BB:CC:DD:EE:FF" (uppercase, as the ESP cores send it). */
void mac_format(const uint8_t mac[6], char out[18]);

/*
 * True when S is well-formed UTF-8 (no overlong forms, no surrogates, at
 * most U+10FFFF) without C0 control characters other than tab, CR and LF.
 */
bool text_valid_utf8(const char *s);

/* ASCII case-insensitive equality. */
bool str_eq_nocase(const char *a, const char *b);

/* Milliseconds: wall clock since the epoch, and a monotonic clock. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);

/* Formats MS since the epoch as RFC 3339 UTC ("2026-11-24T04:07:00Z") into OUT[21]. */
void time_format_rfc3339(int64_t ms, char out[21]);

/*
 * Writes LEN bytes to PATH so that a crash leaves either the old file or the
 * whole new one: a temporary file beside it, fsync, rename, fsync of the
 * directory. MODE is the new file's permission bits. Returns 0 or -errno.
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/*
 * Reads the whole file at PATH into a new allocation (NUL-terminated; the
 * caller frees *ret_data). Files larger than MAX give -EFBIG. Returns 0 or -errno.
 */
int file_read_all(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);

/* fsyncs the folder PATH itself (making names created in it durable). Returns 0 or -errno. */
int dir_fsync(const char *path);

/* Creates PATH and any missing parents with MODE. Returns 0 or -errno. */
int dir_create_all(const char *path, unsigned mode);

/* Fills BUF with LEN bytes from the kernel's CSPRNG. Returns 0 or -errno. */
int random_bytes(void *buf, size_t len);

/*
 * Mixes X so that every input bit affects every output bit (the MurmurHash3
 * finalizer): a hash for open-addressing tables. Not keyed by itself: mix
 * in a random seed when peers choose the input.
 */
uint64_t hash_mix64(uint64_t x);

/*
 * Makes S, in place, printable text: valid UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF) without control characters;
 * every byte that breaks that becomes '?'. For text a peer chose that is
 * stored and shown later (an audit entry, a user agent): JSON refuses
 * invalid UTF-8, and a terminal obeys escape sequences.
 */
void str_printable(char *s);

#endif
