/*
 * Turning a check-in request into a struct device_report (device_headers.h).
 * This file owns the wire format of the identity headers both Arduino cores
 * send (x-ESP8266-* and x-ESP32-*, reference §1-2) and those an ESP-IDF app
 * sets for its esp_https_ota client (x-ESP-IDF-*, docs/PROTOCOL.md, "ESP-IDF
 * check-in"): which family is present,
 * how each value is spelled, and which of header / ?tag= / ?version= gives
 * the version. It decides nothing about updates. Values are read in place
 * from the borrowed request and copied into the report's fixed fields; there
 * is no allocation, since this runs on every check-in.
 */
#include "http/device_headers.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* The sizes the cores report fit in 32 bits; 2^32 itself is let through. */
#define DEVICE_SIZE_MAX (UINT64_C(1) << 32)

/* How much of a bad value a reason quotes. */
#define QUOTE_MAX_BYTES 40

/* Room for "x-ESP8266-" plus the longest suffix, "sketch-sha256" ("x-ESP-IDF-secure-version"). */
#define HEADER_NAME_BYTES 32

/* A value without its surrounding blanks; not NUL-terminated. */
struct slice {
    const char *p;
    size_t len;
};

struct family {
    const char *prefix;     /* as the cores spell it; matched case-insensitively */
    const char *user_agent; /* the updater's own User-Agent; NULL: an app's client, no telling */
    enum platform platform;
    bool idf; /* the ESP-IDF check-in's headers (docs/PROTOCOL.md, "ESP-IDF check-in") */
};

static const struct family families[] = {
    {"x-ESP8266-", "ESP8266-http-Update", PLATFORM_ESP8266, false},
    {"x-ESP32-", "ESP32-http-Update", PLATFORM_ESP32, false},
    {"x-ESP-IDF-", NULL, PLATFORM_ESP32, true},
};

/*
 * Every identity header suffix this parser reads (after the family prefix):
 * the Arduino families' first, then the ESP-IDF family's own ("version" and
 * "free-space" are shared). A suffix of the other families is indexed but
 * never read, as an unknown header is.
 */
static const char *const field_suffixes[] = {
    "STA-MAC",   "AP-MAC",     "BASE-MAC",      "Chip-ID",       "free-space",     "sketch-size",
    "chip-size", "sketch-md5", "sketch-sha256", "mode",          "sdk-version",    "version",
    "MAC",       "elf-sha256", "chip",          "chip-revision", "secure-version",
};
#define FIELD_COUNT (sizeof(field_suffixes) / sizeof(field_suffixes[0]))

struct parse_ctx {
    const struct http_request *req;
    const char *prefix; /* the family's header prefix */
    struct reason *why;
    /* One pass over the headers fills these: the first value and how often each appeared. */
    const char *values[FIELD_COUNT];
    unsigned counts[FIELD_COUNT];
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static struct slice trim(const char *s)
{
    size_t len = strlen(s);
    while (len > 0 && is_blank(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_blank(s[len - 1]))
        len--;
    return (struct slice){s, len};
}

static bool starts_with_nocase(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_printable(char c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Writes V into OUT as a reason may quote it: bounded, non-printable bytes as '?'. */
static void quote(struct slice v, char out[QUOTE_MAX_BYTES + 4])
{
    size_t n = v.len < QUOTE_MAX_BYTES ? v.len : QUOTE_MAX_BYTES;
    for (size_t i = 0; i < n; i++)
        out[i] = is_printable(v.p[i]) && v.p[i] != '"' ? v.p[i] : '?';
    if (n < v.len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

/* "AA:BB:CC:DD:EE:FF", either case. */
static bool parse_mac(struct slice v, uint8_t out[6])
{
    if (v.len != 17)
        return false;
    uint8_t mac[6];
    for (size_t i = 0; i < 6; i++) {
        const char *p = v.p + 3 * i;
        int hi = hex_digit_value(p[0]), lo = hex_digit_value(p[1]);
        if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
            return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, mac, 6);
    return true;
}

/* A decimal number as parse_u64 reads it. Returns 0, -EINVAL or -ERANGE. */
static int parse_decimal(struct slice v, uint64_t max, uint64_t *ret)
{
    char num[21]; /* UINT64_MAX has 20 digits */
    if (v.len >= sizeof(num)) {
        for (size_t i = 0; i < v.len; i++)
            if (v.p[i] < '0' || v.p[i] > '9')
                return -EINVAL;
        return -ERANGE;
    }
    memcpy(num, v.p, v.len);
    num[v.len] = 0;
    return parse_u64(num, max, ret);
}

/*
 * Indexes the request's headers of CTX's family in one pass (this runs on
 * every check-in: one scan, not one per field).
 */
static void index_fields(struct parse_ctx *ctx)
{
    size_t plen = strlen(ctx->prefix);
    for (unsigned i = 0; i < ctx->req->header_count; i++) {
        const char *name = ctx->req->headers[i].name;
        if (!starts_with_nocase(name, ctx->prefix))
            continue;
        for (size_t f = 0; f < FIELD_COUNT; f++) {
            if (str_eq_nocase(name + plen, field_suffixes[f])) {
                if (ctx->counts[f]++ == 0)
                    ctx->values[f] = ctx->req->headers[i].value;
                break;
            }
        }
    }
}

/*
 * Finds the header PREFIX+SUFFIX (SUFFIX one of field_suffixes). Writes its
 * full name to NAME (for reasons) and its trimmed value to *RET. Returns 1
 * when present, 0 when absent, or -EINVAL when it appears more than once.
 */
static int field(const struct parse_ctx *ctx, const char *suffix, char name[HEADER_NAME_BYTES],
                 struct slice *ret)
{
    size_t plen = strlen(ctx->prefix), slen = strlen(suffix);
    assert(plen + slen < HEADER_NAME_BYTES);
    memcpy(name, ctx->prefix, plen);
    memcpy(name + plen, suffix, slen + 1);
    size_t f = 0;
    while (f < FIELD_COUNT && strcmp(field_suffixes[f], suffix) != 0)
        f++;
    assert(f < FIELD_COUNT);
    if (ctx->counts[f] > 1)
        return reason_set(ctx->why, -EINVAL, "%s appears %u times; a device sends it once", name,
                          ctx->counts[f]);
    if (ctx->counts[f] == 0)
        return 0;
    *ret = trim(ctx->values[f]);
    return 1;
}

static int field_mac(const struct parse_ctx *ctx, const char *suffix, uint8_t out[6], bool *ret_has)
{
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4];
    struct slice v;
    int r = field(ctx, suffix, name, &v);
    if (r <= 0)
        return r;
    if (!parse_mac(v, out)) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL, "%s \"%s\" is not a MAC address (AA:BB:CC:DD:EE:FF)",
                          name, q);
    }
    *ret_has = true;
    return 0;
}

static int field_number(const struct parse_ctx *ctx, const char *suffix, uint64_t max,
                        uint64_t *out, bool *ret_has)
{
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4];
    struct slice v;
    int r = field(ctx, suffix, name, &v);
    if (r <= 0)
        return r;
    r = parse_decimal(v, max, out);
    if (r == -ERANGE) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL, "%s \"%s\" is above %" PRIu64, name, q, max);
    }
    if (r < 0) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL, "%s \"%s\" is not a decimal number", name, q);
    }
    *ret_has = true;
    return 0;
}

/* A digest of DIGITS hex digits, stored lowercase in OUT[DIGITS + 1]; "" when absent. */
static int field_hex(const struct parse_ctx *ctx, const char *suffix, size_t digits, char *out)
{
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4];
    struct slice v;
    int r = field(ctx, suffix, name, &v);
    if (r <= 0)
        return r;
    bool ok = v.len == digits;
    for (size_t i = 0; ok && i < digits; i++)
        ok = hex_digit_value(v.p[i]) >= 0;
    if (!ok) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL, "%s \"%s\" is not %zu hex digits", name, q, digits);
    }
    for (size_t i = 0; i < digits; i++)
        out[i] = (v.p[i] >= 'A' && v.p[i] <= 'F') ? (char)(v.p[i] - 'A' + 'a') : v.p[i];
    out[digits] = 0;
    return 0;
}

/*
 * x-ESP-IDF-elf-sha256: MIN_DIGITS to SHA256_HEX_LEN hex digits, a prefix of
 * the running app's ELF SHA-256 (esp_app_get_elf_sha256 writes
 * CONFIG_APP_RETRIEVE_LEN_ELF_SHA of them, 9 by default), stored lowercase.
 */
#define ELF_SHA256_MIN_DIGITS 8
static int field_elf_sha256(const struct parse_ctx *ctx, struct device_report *rep)
{
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4];
    struct slice v;
    int r = field(ctx, "elf-sha256", name, &v);
    if (r <= 0)
        return r;
    bool ok = v.len >= ELF_SHA256_MIN_DIGITS && v.len <= SHA256_HEX_LEN;
    for (size_t i = 0; ok && i < v.len; i++)
        ok = hex_digit_value(v.p[i]) >= 0;
    if (!ok) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL, "%s \"%s\" is not %d to %d hex digits", name, q,
                          ELF_SHA256_MIN_DIGITS, SHA256_HEX_LEN);
    }
    for (size_t i = 0; i < v.len; i++)
        rep->elf_sha256[i] = (char)tolower((unsigned char)v.p[i]);
    rep->elf_sha256[v.len] = 0;
    return 0;
}

/*
 * Copies V (named NAME in reasons) into OUT of SIZE bytes. The text must fit
 * and be printable ASCII: it ends up in the database, logs and JSON.
 */
static int copy_text(struct slice v, const char *name, char *out, size_t size, struct reason *why)
{
    if (v.len >= size)
        return reason_set(why, -EINVAL, "%s is %zu bytes; at most %zu are accepted", name, v.len,
                          size - 1);
    for (size_t i = 0; i < v.len; i++)
        if (!is_printable(v.p[i]))
            return reason_set(why, -EINVAL,
                              "%s has byte 0x%02x at %zu; only printable ASCII is "
                              "accepted",
                              name, (unsigned char)v.p[i], i);
    memcpy(out, v.p, v.len);
    out[v.len] = 0;
    return 0;
}

static int field_mode(const struct parse_ctx *ctx, struct device_report *rep)
{
    static const struct {
        const char *word;
        enum report_mode mode;
    } modes[] = {
        {"sketch", REPORT_MODE_SKETCH},
        {"spiffs", REPORT_MODE_FS}, /* sent for LittleFS too */
        {"version", REPORT_MODE_VERSION},
    };
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4];
    struct slice v;
    int r = field(ctx, "mode", name, &v);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        if (v.len == strlen(modes[i].word) && strncasecmp(v.p, modes[i].word, v.len) == 0) {
            rep->mode = modes[i].mode;
            rep->has_mode = true;
            return 0;
        }
    }
    quote(v, q);
    return reason_set(ctx->why, -EINVAL, "%s \"%s\" is not sketch, spiffs or version", name, q);
}

/* The version: the header, else ?tag=, else ?version=; empty values count as absent. */
static int field_version(const struct parse_ctx *ctx, struct device_report *rep)
{
    char name[HEADER_NAME_BYTES];
    struct slice v;
    int r = field(ctx, "version", name, &v);
    if (r < 0)
        return r;
    if (r > 0 && v.len > 0) {
        rep->version_source = VERSION_SOURCE_HEADER;
        return copy_text(v, name, rep->version, sizeof(rep->version), ctx->why);
    }
    static const struct {
        const char *arg;
        const char *label;
        enum version_source source;
    } queries[] = {
        {"tag", "?tag=", VERSION_SOURCE_TAG_QUERY},
        {"version", "?version=", VERSION_SOURCE_VERSION_QUERY},
    };
    for (size_t i = 0; i < ARRAY_SIZE(queries); i++) {
        const char *arg = http_request_query(ctx->req, queries[i].arg);
        if (!arg)
            continue;
        v = trim(arg);
        if (v.len == 0)
            continue; /* "?tag=" asks for the latest, as if no version were given */
        rep->version_source = queries[i].source;
        return copy_text(v, queries[i].label, rep->version, sizeof(rep->version), ctx->why);
    }
    return 0;
}

/*
 * ?core=: the Arduino core the firmware runs, as ESP.getCoreVersion() says
 * it ("3_1_2", or a git build's hex id), put in the update URL by the
 * firmware (docs/PROTOCOL.md, "What is read"). Advisory: a value that is
 * not 1-32 letters, digits, '.', '_' or '-' is ignored, never a reason to
 * refuse a check-in; what it means is the service's business.
 */
static void query_word(const struct http_request *req, const char *name, char *out, size_t size)
{
    const char *arg = http_request_query(req, name);
    size_t n = arg ? strlen(arg) : 0;
    if (n == 0 || n >= size)
        return;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)arg[i]) && arg[i] != '.' && arg[i] != '_' && arg[i] != '-')
            return;
    memcpy(out, arg, n + 1);
}

static void query_core(const struct http_request *req, struct device_report *rep)
{
    query_word(req, "core", rep->core_version, sizeof(rep->core_version));
}

/*
 * ?channel= and ?group=: the channel or the query group the sketch asks to
 * be in (docs/FLEET.md, precedence). Advisory like ?core=: read only when
 * the product allows it, and a malformed value is ignored.
 */
static void query_fleet(const struct http_request *req, struct device_report *rep)
{
    query_word(req, "channel", rep->query_channel, sizeof(rep->query_channel));
    query_word(req, "group", rep->query_group, sizeof(rep->query_group));
}

/* The identity headers of the family in CTX; absent ones leave their fields unset. */
static int parse_identity(const struct parse_ctx *ctx, struct device_report *rep)
{
    bool has_base_mac = false;
    uint8_t base_mac[6];
    char name[HEADER_NAME_BYTES];
    struct slice v;
    int r;

    if ((r = field_mac(ctx, "STA-MAC", rep->sta_mac, &rep->has_sta_mac)) < 0)
        return r;
    if ((r = field_mac(ctx, "AP-MAC", rep->ap_mac, &rep->has_ap_mac)) < 0)
        return r;
    if ((r = field_mac(ctx, "BASE-MAC", base_mac, &has_base_mac)) < 0)
        return r;
    /* arduino-esp32 3.x: the base MAC stands in when there is no STA MAC (no Wi-Fi). */
    if (!rep->has_sta_mac && has_base_mac) {
        memcpy(rep->sta_mac, base_mac, 6);
        rep->has_sta_mac = true;
    }
    if ((r = field_number(ctx, "Chip-ID", UINT64_MAX, &rep->chip_id, &rep->has_chip_id)) < 0)
        return r;
    if ((r = field_number(ctx, "free-space", DEVICE_SIZE_MAX, &rep->free_space,
                          &rep->has_free_space)) < 0)
        return r;
    if ((r = field_number(ctx, "sketch-size", DEVICE_SIZE_MAX, &rep->sketch_size,
                          &rep->has_sketch_size)) < 0)
        return r;
    if ((r = field_number(ctx, "chip-size", DEVICE_SIZE_MAX, &rep->chip_size,
                          &rep->has_chip_size)) < 0)
        return r;
    if ((r = field_hex(ctx, "sketch-md5", MD5_HEX_LEN, rep->sketch_md5)) < 0)
        return r;
    if ((r = field_hex(ctx, "sketch-sha256", SHA256_HEX_LEN, rep->sketch_sha256)) < 0)
        return r;
    if ((r = field_mode(ctx, rep)) < 0)
        return r;
    if ((r = field(ctx, "sdk-version", name, &v)) < 0)
        return r;
    if (r > 0)
        return copy_text(v, name, rep->sdk_version, sizeof(rep->sdk_version), ctx->why);
    return 0;
}

/* x-ESP-IDF-chip: a target name as CONFIG_IDF_TARGET spells it ("esp32s3"). */
static int field_chip(const struct parse_ctx *ctx, struct device_report *rep)
{
    char name[HEADER_NAME_BYTES], q[QUOTE_MAX_BYTES + 4], text[APP_DESC_STRING_BYTES + 1];
    struct slice v;
    int r = field(ctx, "chip", name, &v);
    if (r <= 0)
        return r;
    uint16_t id;
    bool known = v.len < sizeof(text);
    if (known) {
        memcpy(text, v.p, v.len);
        text[v.len] = 0;
        known = esp_chip_parse(text, &id) == 0;
    }
    if (!known) {
        quote(v, q);
        return reason_set(ctx->why, -EINVAL,
                          "%s \"%s\" is not a chip otad knows (esp32, esp32s2, esp32s3, esp32c2, "
                          "esp32c3, esp32c5, esp32c6, esp32h2, esp32p4)",
                          name, q);
    }
    rep->idf_chip_id = id;
    rep->has_chip = true;
    return 0;
}

/*
 * The ESP-IDF family (docs/PROTOCOL.md, "ESP-IDF check-in"): the MAC as the
 * STA MAC, the chip, its revision, the secure_version, the running app's
 * ELF SHA-256 and the update partition's size. The version is read after,
 * as for every family.
 */
static int parse_identity_idf(const struct parse_ctx *ctx, struct device_report *rep)
{
    uint64_t n = 0;
    bool has = false;
    int r;

    if ((r = field_mac(ctx, "MAC", rep->sta_mac, &rep->has_sta_mac)) < 0)
        return r;
    if ((r = field_elf_sha256(ctx, rep)) < 0)
        return r;
    if ((r = field_chip(ctx, rep)) < 0)
        return r;
    /* efuse_hal_chip_revision(): major * 100 + minor, in a uint16_t like the image header's. */
    if ((r = field_number(ctx, "chip-revision", UINT16_MAX, &n, &has)) < 0)
        return r;
    if (has) {
        rep->chip_revision = (uint16_t)n;
        rep->has_chip_revision = true;
    }
    has = false;
    if ((r = field_number(ctx, "secure-version", UINT32_MAX, &n, &has)) < 0)
        return r;
    if (has) {
        rep->secure_version = (uint32_t)n;
        rep->has_secure_version = true;
    }
    return field_number(ctx, "free-space", DEVICE_SIZE_MAX, &rep->free_space, &rep->has_free_space);
}

/* Copies the User-Agent, cut to the field and with non-printable bytes as '?': it is not identity.
 */
static void copy_user_agent(const struct http_request *req, struct device_report *rep)
{
    const char *ua = http_request_header(req, "User-Agent");
    struct slice v = trim(ua ? ua : "");
    size_t n = v.len < sizeof(rep->user_agent) - 1 ? v.len : sizeof(rep->user_agent) - 1;
    for (size_t i = 0; i < n; i++)
        rep->user_agent[i] = is_printable(v.p[i]) ? v.p[i] : '?';
    rep->user_agent[n] = 0;
}

/*
 * What every family's prefix starts with. One compare of it rules out the
 * headers of no family (Host, User-Agent, ...) whatever the number of
 * families, so adding one costs a check-in only a compare per x-ESP header,
 * not one per header.
 */
#define FAMILY_COMMON_PREFIX     "x-ESP"
#define FAMILY_COMMON_PREFIX_LEN (sizeof(FAMILY_COMMON_PREFIX) - 1)

/* Index in families[] of the family whose prefix NAME starts with; -1 for none. */
static int header_family(const char *name)
{
    if (strncasecmp(name, FAMILY_COMMON_PREFIX, FAMILY_COMMON_PREFIX_LEN) != 0)
        return -1;
    for (size_t f = 0; f < ARRAY_SIZE(families); f++)
        if (starts_with_nocase(name + FAMILY_COMMON_PREFIX_LEN,
                               families[f].prefix + FAMILY_COMMON_PREFIX_LEN))
            return (int)f;
    return -1;
}

/* Which header family the request uses; NULL for none, -EINVAL in *ret_err for two or more. */
static const struct family *find_family(const struct http_request *req, struct reason *why,
                                        int *ret_err)
{
    bool seen[ARRAY_SIZE(families)] = {false};
    for (size_t f = 0; f < ARRAY_SIZE(families); f++)
        assert(starts_with_nocase(families[f].prefix, FAMILY_COMMON_PREFIX));
    for (unsigned i = 0; i < req->header_count; i++) {
        int f = header_family(req->headers[i].name);
        if (f >= 0)
            seen[f] = true;
    }
    *ret_err = 0;
    const struct family *found = NULL;
    for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
        if (!seen[f])
            continue;
        if (found) {
            *ret_err = reason_set(why, -EINVAL, "the request carries both %s* and %s* headers",
                                  found->prefix, families[f].prefix);
            return NULL;
        }
        found = &families[f];
    }
    return found;
}

int device_report_parse(const struct http_request *req, struct device_report *ret_report,
                        struct reason *why)
{
    assert(req);
    assert(ret_report);
    struct device_report rep = {.platform = PLATFORM_ESP8266, .mode = REPORT_MODE_SKETCH};
    copy_user_agent(req, &rep);

    int r;
    const struct family *fam = find_family(req, why, &r);
    if (r < 0)
        return r;
    if (fam) {
        rep.platform = fam->platform;
        rep.platform_known = true;
        rep.idf = fam->idf;
    } else {
        for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
            if (families[f].user_agent &&
                starts_with_nocase(rep.user_agent, families[f].user_agent)) {
                rep.platform = families[f].platform;
                rep.platform_known = true;
            }
        }
    }

    struct parse_ctx ctx = {
        .req = req, .prefix = fam ? fam->prefix : families[0].prefix, .why = why};
    if (fam)
        index_fields(&ctx);
    if (fam && (r = fam->idf ? parse_identity_idf(&ctx, &rep) : parse_identity(&ctx, &rep)) < 0)
        return r;
    /* Without a family this finds no header, but ?tag= / ?version= still count. */
    if ((r = field_version(&ctx, &rep)) < 0)
        return r;
    query_core(req, &rep);
    query_fleet(req, &rep);

    *ret_report = rep;
    return 0;
}

void device_mac_format(const uint8_t mac[6], char out[18])
{
    mac_format(mac, out);
}
