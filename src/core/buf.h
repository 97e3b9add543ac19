/*
 * struct buf: a growable byte buffer with a ceiling fixed at init.
 *
 * Invariants: data is NULL or points to cap bytes owned by the buffer;
 * len <= cap <= max (a cap may exceed max by the one byte kept for the
 * terminating NUL); data[len] == 0 whenever data != NULL, so text appended
 * with buf_append_str / buf_printf is always a C string.
 * Every byte a peer can make us hold goes through a buf with a ceiling: on
 * overflow the buffer frees its contents and every later append fails, so a
 * caller that ignores one error still cannot grow it past max.
 */
#ifndef OTAD_CORE_BUF_H
#define OTAD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/must_use.h"
#include <stdint.h>

struct buf {
    uint8_t *data; /* owned; NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    size_t max;    /* the ceiling on len */
    int failed;    /* set after an overflow or allocation failure */
};

/* Prepares B, empty, that will refuse to hold more than MAX bytes. */
void buf_init(struct buf *b, size_t max);

/* Frees the contents; B is empty and usable again (same ceiling). NULL-safe. */
void buf_release(struct buf *b);

/* Empties B without freeing its storage; clears a previous failure. */
void buf_reset(struct buf *b);

/*
 * Appends LEN bytes of DATA. Returns 0, -E2BIG when the result would exceed
 * the ceiling, or -ENOMEM; on either error B is released and stays failed.
 */
MUST_USE int buf_append(struct buf *b, const void *data, size_t len);
MUST_USE int buf_append_str(struct buf *b, const char *s);
MUST_USE int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Takes the contents out of B: returns the allocation (caller frees) and
 * stores its length in *ret_len (if not NULL). B is left empty. Returns NULL
 * for an empty buffer.
 */
uint8_t *buf_detach(struct buf *b, size_t *ret_len);

#endif
