/* Tokens and webhook secrets (secrets.h): reading one from where a source names it. */
#include "sources/secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/util.h"

int sources_secret_read(const struct config *config, const char *file, const char *env, bool token,
                        char *out, size_t size, const char *what, struct reason *why)
{
    uint8_t *data = NULL;
    size_t data_len = 0, len;
    const char *value;
    char where[LIMIT_SOURCE_PATH_BYTES + 32];
    if (file[0]) {
        snprintf(where, sizeof(where), "file \"%s\"", file);
        int r = file_read_all(file, LIMIT_SOURCE_SECRET_BYTES, &data, &data_len);
        if (r < 0)
            return reason_set(why, r, "cannot read the %s %s: %s", what, where,
                              r == -EFBIG ? "too large" : strerror(-r));
        value = (const char *)data;
        len = data_len;
    } else if (env[0]) {
        snprintf(where, sizeof(where), "variable %s", env);
        value = config_getenv(config, env);
        if (!value)
            return reason_set(why, -EINVAL, "the %s %s is not set", what, where);
        len = strlen(value);
    } else {
        return -ENOENT;
    }
    while (len > 0 && strchr(" \t\r\n", value[len - 1]))
        len--;
    int r = (int)len;
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        printable = printable && value[i] > 0x20 && value[i] < 0x7f;
    if (len == 0)
        r = reason_set(why, -EINVAL, "the %s in %s is empty", what, where);
    else if (len >= size)
        r = reason_set(why, -E2BIG, "the %s in %s is longer than %zu bytes", what, where, size - 1);
    else if (token && !printable)
        r = reason_set(why, -EINVAL, "the %s in %s has blanks or control characters", what, where);
    if (r >= 0) {
        memcpy(out, value, len);
        out[len] = 0;
    }
    if (data) {
        explicit_bzero(data, data_len);
        free(data);
    }
    return r;
}
