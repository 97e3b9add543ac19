/*
 * The POSIX port (lib/port/posix.c): the otac port on a Linux or BSD host,
 * for a gateway that updates itself or for testing a device's logic on a
 * desktop. Not for the chip: it is the one part of the library that calls
 * the OS and allocates.
 *
 *   network  TCP through getaddrinfo and poll; TLS 1.2 through BearSSL,
 *            trusting the CA certificates of one PEM file
 *   clock    CLOCK_MONOTONIC
 *   flash    DIR/slot0.bin and DIR/slot1.bin, each at most SLOT_SIZE bytes
 *   state    DIR/state.bin, replaced by write, fsync and rename
 *   random   getrandom(2)
 */
#ifndef OTAC_PORT_POSIX_H
#define OTAC_PORT_POSIX_H

#include <stddef.h>
#include <stdint.h>

#include "otac/port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_POSIX_PATH_MAX 4096u

/* Caller-allocated; fields private. */
struct otac_posix {
    char dir[OTAC_POSIX_PATH_MAX];
    uint64_t slot_size;
    void *trust; /* the CA file's trust anchors; NULL: TLS refused */
    size_t trust_count;
};

/*
 * Makes P a port over the folder DIR (created if missing), with slots of
 * SLOT_SIZE bytes, trusting the certificates in CA_PEM_PATH for TLS (NULL:
 * connect with TLS fails with OTAC_E_INVAL), and fills *RET_PORT.
 * Returns OTAC_OK, OTAC_E_INVAL (NULL, a path too long), OTAC_E_IO (the
 * folder cannot be made) or OTAC_E_KEY_PARSE (no certificate in the CA file).
 */
int otac_posix_init(struct otac_posix *p, const char *dir, uint64_t slot_size,
                    const char *ca_pem_path, struct otac_port *ret_port);

/* Releases what otac_posix_init allocated; P may be zeroed or initialised. */
void otac_posix_free(struct otac_posix *p);

#ifdef __cplusplus
}
#endif

#endif
