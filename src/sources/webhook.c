/* The webhook signature and payload (webhook.h). */
#include "sources/webhook.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "core/digest.h"

#define SIGNATURE_PREFIX "sha256="

bool github_signature_valid(const uint8_t *secret, size_t secret_len, const uint8_t *body,
                            size_t body_len, const char *header)
{
    uint8_t claimed[DIGEST_SHA256_BYTES], actual[DIGEST_SHA256_BYTES];
    size_t plen = strlen(SIGNATURE_PREFIX);
    if (!header || strncmp(header, SIGNATURE_PREFIX, plen) != 0 ||
        hex_decode(header + plen, claimed, sizeof(claimed)) < 0)
        return false;
    digest_hmac_sha256(secret, secret_len, body, body_len, actual);
    return digest_equal(claimed, actual, sizeof(actual));
}

/* Decodes the `payload` field of a form-encoded BODY into OUT (capped by OUT's ceiling). */
static int form_payload(const uint8_t *body, size_t len, struct buf *out)
{
    const char *p = (const char *)body, *end = p + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *field_end = amp ? amp : end;
        if ((size_t)(field_end - p) >= 8 && memcmp(p, "payload=", 8) == 0) {
            for (const char *q = p + 8; q < field_end; q++) {
                char c = *q;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = q + 2 < field_end ? hex_digit_value(q[1]) : -1;
                    int lo = hi >= 0 ? hex_digit_value(q[2]) : -1;
                    if (lo < 0)
                        return -EBADMSG;
                    c = (char)(hi << 4 | lo);
                    q += 2;
                }
                int r = buf_append(out, &c, 1);
                if (r < 0)
                    return r;
            }
            return 0;
        }
        p = field_end + 1;
    }
    return -EBADMSG;
}

static int copy_field(char *out, size_t size, const json_t *value, const char *name,
                      struct reason *why)
{
    if (!json_is_string(value) || !*json_string_value(value))
        return reason_set(why, -EBADMSG, "payload has no %s", name);
    if (str_copy(out, size, json_string_value(value)) < 0)
        return reason_set(why, -EBADMSG, "payload %s is longer than %zu bytes", name, size - 1);
    return 0;
}

int github_event_parse(const uint8_t *body, size_t len, bool form_encoded,
                       struct github_event *ret_event, struct reason *why)
{
    struct buf decoded;
    buf_init(&decoded, len);
    json_t *root = NULL;
    int r;
    if (form_encoded) {
        if ((r = form_payload(body, len, &decoded)) < 0) {
            r = reason_set(why, -EBADMSG, "form body without a payload field");
            goto out;
        }
        body = decoded.data;
        len = decoded.len;
    }
    json_error_t err;
    root = json_loadb((const char *)body, len, 0, &err);
    if (!json_is_object(root)) {
        r = reason_set(why, -EBADMSG, "payload is not a JSON object");
        goto out;
    }
    struct github_event ev;
    memset(&ev, 0, sizeof(ev));
    const json_t *release = json_object_get(root, "release");
    if ((r = copy_field(ev.action, sizeof(ev.action), json_object_get(root, "action"), "action",
                        why)) < 0 ||
        (r = copy_field(ev.repository, sizeof(ev.repository),
                        json_object_get(json_object_get(root, "repository"), "full_name"),
                        "repository.full_name", why)) < 0 ||
        (r = copy_field(ev.tag, sizeof(ev.tag), json_object_get(release, "tag_name"),
                        "release.tag_name", why)) < 0)
        goto out;
    ev.draft = json_is_true(json_object_get(release, "draft"));
    ev.prerelease = json_is_true(json_object_get(release, "prerelease"));
    *ret_event = ev;
    r = 0;
out:
    json_decref(root);
    buf_release(&decoded);
    return r;
}

bool github_event_actionable(const struct github_event *event)
{
    static const char *const actions[] = {"published", "released", "prereleased"};
    if (event->draft)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (strcmp(event->action, actions[i]) == 0)
            return true;
    return false;
}
