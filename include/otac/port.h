/*
 * The port: every call the otac device library makes outside its own memory.
 * The library never calls the OS, never allocates and never blocks except
 * through these functions, so it runs wherever a port can be written: the
 * ESP8266 Arduino core, ESP-IDF, a bare-metal SDK, a Linux gateway. A POSIX
 * port ships with it (otac/port_posix.h); the fleet simulator has its own.
 *
 * A port is a table of function pointers and one context pointer, filled by
 * the caller and borrowed by the library for as long as a call that takes it
 * runs. Every function gets CTX first. Which functions a call needs is said
 * on each declaration that takes a port; the others may be NULL.
 *
 * Errors are enum otac_error values (otac/error.h): a port returns OTAC_OK or
 * a negative code, and the library passes it on unchanged, so a port may use
 * the codes that fit (OTAC_E_IO, OTAC_E_TIMEOUT, OTAC_E_FLASH, ...).
 */
#ifndef OTAC_PORT_H
#define OTAC_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "otac/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The two application slots of an A/B layout (ESP-IDF's ota_0 / ota_1). */
#define OTAC_SLOTS 2u

struct otac_port {
    void *ctx;

    /*
     * Network (otac/client.h only). connect opens a byte stream to HOST:PORT,
     * over TLS when TLS is nonzero (the port owns certificates and trust), and
     * sets *RET_CONN to the port's handle. send writes up to LEN bytes and
     * returns how many (> 0); recv reads up to LEN bytes and returns how many,
     * 0 when the peer ended the stream. Both wait at most TIMEOUT_MS and then
     * return OTAC_E_TIMEOUT; any other failure is OTAC_E_IO. close releases
     * the handle (also after a failure) and never fails.
     */
    int (*connect)(void *ctx, const char *host, uint16_t port, int tls, void **ret_conn);
    long (*send)(void *ctx, void *conn, const void *data, size_t len, uint32_t timeout_ms);
    long (*recv)(void *ctx, void *conn, void *buf, size_t len, uint32_t timeout_ms);
    void (*close)(void *ctx, void *conn);

    /* Milliseconds since any fixed start; never goes back (otac/client.h). */
    uint64_t (*now_ms)(void *ctx);

    /*
     * Flash (otac/image.h). flash_begin prepares SLOT to receive SIZE bytes
     * (erases what it must) and returns OTAC_E_NO_SPACE when the slot is
     * smaller. flash_write stores LEN bytes at OFFSET of SLOT; the library
     * writes each byte once, in order, except the first 16 bytes of an image,
     * which it writes last (so a torn write never leaves a bootable header).
     */
    int (*flash_begin)(void *ctx, unsigned slot, uint64_t size);
    int (*flash_write)(void *ctx, unsigned slot, uint64_t offset, const void *data, size_t len);

    /*
     * The slot state record (otac/slots.h): a few hundred bytes that must
     * survive a reset. state_store replaces the stored record atomically: a
     * reset during the call leaves the old record or the new one, whole.
     * state_load copies the stored record into BUF (CAP bytes) and sets
     * *RET_LEN; *RET_LEN = 0 when nothing was ever stored.
     */
    int (*state_load)(void *ctx, void *buf, size_t cap, size_t *ret_len);
    int (*state_store)(void *ctx, const void *buf, size_t len);

    /* LEN random bytes (check-in jitter; need not be cryptographic). */
    int (*random)(void *ctx, void *buf, size_t len);
};

#ifdef __cplusplus
}
#endif

#endif
