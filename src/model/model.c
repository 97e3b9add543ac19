/*
 * Names of the model's enumerations, as they appear in the API, the CLI and
 * the database, and the one-line text of an app descriptor for people.
 */
#include "model/model.h"
#include "model/notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *platform_name(enum platform p)
{
    return p == PLATFORM_ESP32 ? "esp32" : "esp8266";
}

int platform_parse(const char *s, enum platform *ret)
{
    if (strcmp(s, "esp8266") == 0)
        *ret = PLATFORM_ESP8266;
    else if (strcmp(s, "esp32") == 0)
        *ret = PLATFORM_ESP32;
    else
        return -EINVAL;
    return 0;
}

const char *fw_mode_name(enum fw_mode m)
{
    return m == FW_MODE_FS ? "fs" : "sketch";
}

int fw_mode_parse(const char *s, enum fw_mode *ret)
{
    if (strcmp(s, "sketch") == 0)
        *ret = FW_MODE_SKETCH;
    else if (strcmp(s, "fs") == 0 || strcmp(s, "spiffs") == 0)
        *ret = FW_MODE_FS;
    else
        return -EINVAL;
    return 0;
}

const char *variant_kind_name(enum variant_kind k)
{
    static const char *const names[VARIANT_KIND_COUNT] = {
        "plain", "gzip", "signed", "signed-legacy", "signed-gzip", "signed-esp32", "secure-boot",
    };
    return (unsigned)k < VARIANT_KIND_COUNT ? names[k] : "unknown";
}

/* esp_chip_id_t values esptool writes at offset 12 of an ESP32 image. */
static const struct {
    uint16_t id;
    const char *name;
} esp_chips[] = {
    {0, "ESP32"},     {2, "ESP32-S2"},  {5, "ESP32-C3"},  {9, "ESP32-S3"},  {12, "ESP32-C2"},
    {13, "ESP32-C6"}, {16, "ESP32-H2"}, {18, "ESP32-P4"}, {23, "ESP32-C5"},
};

const char *esp_chip_name(uint16_t id)
{
    for (size_t i = 0; i < sizeof(esp_chips) / sizeof(esp_chips[0]); i++)
        if (esp_chips[i].id == id)
            return esp_chips[i].name;
    return NULL;
}

/* Whether NAME spells CANONICAL ("ESP32-S3") with or without its dash, in any case. */
static bool chip_name_matches(const char *name, const char *canonical)
{
    for (;;) {
        if (*canonical == '-' && *name != '-')
            canonical++;
        char a = *name, b = *canonical;
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
        if (!a)
            return true;
        name++;
        canonical++;
    }
}

int esp_chip_parse(const char *name, uint16_t *ret_id)
{
    for (size_t i = 0; i < sizeof(esp_chips) / sizeof(esp_chips[0]); i++)
        if (chip_name_matches(name, esp_chips[i].name)) {
            *ret_id = esp_chips[i].id;
            return 0;
        }
    return -EINVAL;
}

void app_desc_summary(const struct app_desc *app, char *out, size_t size)
{
    if (!app->present) {
        snprintf(out, size, "-");
        return;
    }
    snprintf(out, size, "%sIDF %s sv %" PRIu32, app->framework ? "framework " : "",
             app->idf_version[0] ? app->idf_version : "?", app->secure_version);
}

/* REV (major * 100 + minor) as "v3.1" into OUT. */
static void chip_rev_format(uint16_t rev, char out[16])
{
    snprintf(out, 16, "v%u.%u", rev / 100u, rev % 100u);
}

void app_desc_format(const struct app_desc *app, char *out, size_t size)
{
    if (!app->present) {
        snprintf(out, size, "none");
        return;
    }
    const char *chip = esp_chip_name(app->chip_id);
    char min[16], max[16];
    chip_rev_format(app->min_chip_rev, min);
    chip_rev_format(app->max_chip_rev, max);
    snprintf(out, size,
             "project \"%s\"%s, version \"%s\", secure_version %" PRIu32
             ", IDF \"%s\", built \"%s %s\", chip %s rev %s to %s, elf_sha256 %s",
             app->project, app->framework ? " (arduino-esp32's framework)" : "", app->version,
             app->secure_version, app->idf_version, app->build_date, app->build_time,
             chip ? chip : "?", app->min_chip_rev ? min : "any", app->max_chip_rev ? max : "any",
             app->elf_sha256);
}

const char *token_scope_name(enum token_scope s)
{
    switch (s) {
    case TOKEN_SCOPE_ADMIN:
        return "admin";
    case TOKEN_SCOPE_PUBLISH:
        return "publish";
    default:
        return "read";
    }
}

int token_scope_parse(const char *s, enum token_scope *ret)
{
    if (strcmp(s, "read") == 0)
        *ret = TOKEN_SCOPE_READ;
    else if (strcmp(s, "publish") == 0)
        *ret = TOKEN_SCOPE_PUBLISH;
    else if (strcmp(s, "admin") == 0)
        *ret = TOKEN_SCOPE_ADMIN;
    else
        return -EINVAL;
    return 0;
}

void release_list_free(struct release *releases, size_t count)
{
    for (size_t i = 0; releases && i < count; i++)
        free(releases[i].notes);
    free(releases);
}

const char *actor_via_name(enum actor_via v)
{
    static const char *const names[] = {"api", "dashboard", "cli", "github", "webhook", "system"};
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}

void audit_entry_list_free(struct audit_entry *entries, size_t count)
{
    for (size_t i = 0; entries && i < count; i++)
        free(entries[i].params);
    free(entries);
}

const char *notify_format_name(enum notify_format f)
{
    switch (f) {
    case NOTIFY_FORMAT_JSON:
        return "json";
    case NOTIFY_FORMAT_SLACK:
        return "slack";
    }
    return "?";
}

const char *notify_state_name(enum notify_state s)
{
    switch (s) {
    case NOTIFY_PENDING:
        return "pending";
    case NOTIFY_DELIVERED:
        return "delivered";
    case NOTIFY_FAILED:
        return "failed";
    }
    return "?";
}

bool device_quiet(const struct device_record *d, int64_t now_ms)
{
    int64_t allowed = d->interval_ms > 0 ? QUIET_INTERVALS * d->interval_ms : QUIET_DEFAULT_MS;
    return now_ms - d->last_seen_ms > allowed;
}

static const struct {
    int status;
    const char *name;
} checkin_answers[] = {{200, "update"}, {304, "current"}, {403, "refused"}, {404, "not_found"}};

const char *checkin_answer_name(int status)
{
    for (size_t i = 0; i < sizeof(checkin_answers) / sizeof(checkin_answers[0]); i++)
        if (checkin_answers[i].status == status)
            return checkin_answers[i].name;
    return NULL;
}

int checkin_answer_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(checkin_answers) / sizeof(checkin_answers[0]); i++)
        if (strcmp(checkin_answers[i].name, name) == 0)
            return checkin_answers[i].status;
    return -EINVAL;
}
