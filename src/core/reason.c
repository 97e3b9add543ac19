/* Filling a struct reason. */
#include "core/reason.h"

#include <stdarg.h>

int reason_set(struct reason *why, int err, const char *fmt, ...)
{
    if (why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->text, sizeof(why->text), fmt, ap);
        va_end(ap);
    }
    return err;
}
