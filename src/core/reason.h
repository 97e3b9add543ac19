/*
 * struct reason: the one-line, user-facing explanation that goes with a
 * negative errno. The module that refuses something fills it (lower-case,
 * user data quoted); the HTTP layer sends it to the client and the CLI
 * prints it. Functions that take a struct reason * accept NULL.
 */
#ifndef OTAD_CORE_REASON_H
#define OTAD_CORE_REASON_H

#include <stdio.h>

struct reason {
    char text[256];
};

/* Formats TEXT into WHY (if not NULL); returns ERR so callers can `return reason_set(...)`. */
int reason_set(struct reason *why, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
