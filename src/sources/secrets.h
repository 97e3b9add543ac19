/*
 * The tokens and webhook secrets of the sources. A source names where one
 * is (a file, or an environment variable); this module reads it there and
 * nowhere else. Values are never stored in the database, never logged, and
 * never put into a reason (which says where, never what).
 */
#ifndef OTAD_SOURCES_SECRETS_H
#define OTAD_SOURCES_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"

/*
 * Reads a token (TOKEN true: printable ASCII only, it goes into a header)
 * or a webhook secret from FILE or, when FILE is "", the variable ENV (as
 * CONFIG's environment has it) into OUT (SIZE bytes, NUL-terminated),
 * trailing blanks and line ends removed. WHAT names it in reasons ("token").
 * Returns its length; -ENOENT when FILE and ENV are both "" (none
 * configured); -EINVAL (unset, empty, control characters in a token),
 * -E2BIG, or a file error, with WHY. Wipes every copy it made but OUT.
 */
int sources_secret_read(const struct config *config, const char *file, const char *env, bool token,
                        char *out, size_t size, const char *what, struct reason *why);

#endif
