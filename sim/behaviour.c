/*
 * The failure rules (behaviour.h): parsing "VERSION:KIND:PERCENT[:FILTERS]"
 * and the keyed draws that decide which devices a rule hits. A draw is
 * splitmix64 over the seed, the device's number, a hash of the version and a
 * salt per kind of draw, taken modulo 10,000 (basis points).
 */
#include "behaviour.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_INSTALL 0x696e7374616c6cull
#define SALT_CUT     0x637574ull
#define SALT_SPACE   0x7370616365ull

uint64_t sim_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static uint32_t draw(const struct behaviour *b, uint32_t device, uint64_t salt, const char *version,
                     uint32_t attempt)
{
    uint64_t h = sim_mix64(b->seed ^ salt);
    h = sim_mix64(h ^ device);
    h = sim_mix64(h ^ text_hash(version));
    h = sim_mix64(h ^ attempt);
    return (uint32_t)(h % 10000u);
}

const char *fault_name(enum fault f)
{
    switch (f) {
    case FAULT_NONE:
        return "none";
    case FAULT_BOOT:
        return "boot";
    case FAULT_BRICK:
        return "brick";
    case FAULT_CUT:
        return "cut";
    case FAULT_SPACE:
        return "space";
    }
    return "?";
}

static const struct {
    const char *name;
    enum otac_client client;
} clients[] = {
    {"2.4", OTAC_CLIENT_ESP8266_2_4},
    {"2.7", OTAC_CLIENT_ESP8266_2_7},
    {"3.1", OTAC_CLIENT_ESP8266_3_1},
    {"esp32", OTAC_CLIENT_ESP32},
};

int client_parse(const char *text, enum otac_client *ret_client)
{
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        if (strcmp(text, clients[i].name) == 0) {
            *ret_client = clients[i].client;
            return 0;
        }
    }
    return -EINVAL;
}

const char *client_name(enum otac_client c)
{
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
        if (clients[i].client == c)
            return clients[i].name;
    return "?";
}

int size_parse(const char *text, uint64_t *ret_bytes)
{
    if (!text || *text < '0' || *text > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    uint64_t unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        unit = 1024 * 1024, end++;
    if (*end || n == 0 || n > UINT64_MAX / unit)
        return -EINVAL;
    *ret_bytes = n * unit;
    return 0;
}

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* "20", "20%", "2.5", "0.25%": basis points. */
static int percent_parse(const char *text, uint32_t *ret_bp)
{
    const char *p = text;
    uint32_t whole = 0, frac = 0;
    int digits = 0, frac_digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        whole = whole * 10 + (uint32_t)(*p - '0');
        if (whole > 100)
            return -EINVAL;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits == 2)
                return -EINVAL;
            frac = frac * 10 + (uint32_t)(*p - '0');
        }
        if (!frac_digits)
            return -EINVAL;
    }
    if (frac_digits == 1)
        frac *= 10;
    if (*p == '%')
        p++;
    if (*p || !digits)
        return -EINVAL;
    uint32_t bp = whole * 100 + frac;
    if (bp > 10000)
        return -EINVAL;
    *ret_bp = bp;
    return 0;
}

static int filter_parse(struct fault_rule *r, char *text, char *err, size_t cap)
{
    char *save = NULL;
    for (char *f = strtok_r(text, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(f, '=');
        if (!eq)
            return fail(err, cap, "filter '%s' is not NAME=VALUE", f);
        *eq = '\0';
        const char *value = eq + 1;
        if (strcmp(f, "chip") == 0) {
            if (size_parse(value, &r->chip_size) < 0)
                return fail(err, cap, "chip size '%s' is not a size like 1M or 4M", value);
        } else if (strcmp(f, "client") == 0) {
            if (client_parse(value, &r->client) < 0)
                return fail(err, cap, "client '%s' is none of 2.4, 2.7, 3.1, esp32", value);
        } else {
            return fail(err, cap, "unknown filter '%s' (chip=, client=)", f);
        }
    }
    return 0;
}

void behaviour_init(struct behaviour *b, uint64_t seed)
{
    memset(b, 0, sizeof(*b));
    b->seed = seed;
}

int behaviour_add(struct behaviour *b, const char *text, char *err, size_t err_cap)
{
    char copy[256];
    struct fault_rule r = {0};
    if (b->count >= BEHAVIOUR_RULES_MAX) {
        fail(err, err_cap, "more than %u rules", BEHAVIOUR_RULES_MAX);
        return -ENOSPC;
    }
    if (!text || strlen(text) >= sizeof(copy))
        return fail(err, err_cap, "a rule is VERSION:KIND:PERCENT[:FILTER,...]");
    strcpy(copy, text);
    char *fields[4] = {0};
    size_t n = 0;
    char *p = copy;
    while (n < 4) {
        fields[n++] = p;
        if (n == 4)
            break; /* the filters keep the rest: a colon there is an error below */
        char *colon = strchr(p, ':');
        if (!colon)
            break;
        *colon = '\0';
        p = colon + 1;
    }
    if (n < 3 || (n == 4 && strchr(fields[3], ':')))
        return fail(err, err_cap, "'%s': a rule is VERSION:KIND:PERCENT[:FILTER,...]", text);
    if (!*fields[0] || strlen(fields[0]) > OTAC_VERSION_MAX)
        return fail(err, err_cap, "'%s': the version is empty or too long", text);
    strcpy(r.version, fields[0]);
    static const enum fault kinds[] = {FAULT_BOOT, FAULT_BRICK, FAULT_CUT, FAULT_SPACE};
    r.kind = FAULT_NONE;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(fields[1], fault_name(kinds[i])) == 0)
            r.kind = kinds[i];
    if (r.kind == FAULT_NONE)
        return fail(err, err_cap, "'%s': kind '%s' is none of boot, brick, cut, space", text,
                    fields[1]);
    if (percent_parse(fields[2], &r.basis_points) < 0)
        return fail(err, err_cap, "'%s': '%s' is not a percentage from 0 to 100", text, fields[2]);
    if (n == 4 && filter_parse(&r, fields[3], err, err_cap) < 0)
        return -EINVAL;
    if (r.kind == FAULT_SPACE && strcmp(r.version, "*") != 0)
        return fail(err, err_cap,
                    "'%s': space is the device's, not a release's: write *:space:PERCENT", text);
    b->rules[b->count++] = r;
    return 0;
}

static int rule_matches(const struct fault_rule *r, const struct device_traits *d,
                        const char *version)
{
    if (r->chip_size && r->chip_size != d->chip_size)
        return 0;
    if (r->client && r->client != d->client)
        return 0;
    return strcmp(r->version, "*") == 0 || (version && strcmp(r->version, version) == 0);
}

enum fault behaviour_on_install(const struct behaviour *b, const struct device_traits *d,
                                const char *version)
{
    uint32_t roll = draw(b, d->index, SALT_INSTALL, version, 0);
    uint32_t band = 0;
    for (size_t i = 0; i < b->count; i++) {
        const struct fault_rule *r = &b->rules[i];
        if ((r->kind != FAULT_BOOT && r->kind != FAULT_BRICK) || !rule_matches(r, d, version))
            continue;
        band += r->basis_points;
        if (roll < band)
            return r->kind;
    }
    return FAULT_NONE;
}

int behaviour_cuts(const struct behaviour *b, const struct device_traits *d, const char *version,
                   uint32_t attempt)
{
    uint32_t roll = draw(b, d->index, SALT_CUT, version, attempt);
    uint32_t band = 0;
    for (size_t i = 0; i < b->count; i++) {
        const struct fault_rule *r = &b->rules[i];
        if (r->kind == FAULT_CUT && rule_matches(r, d, version))
            band += r->basis_points;
    }
    return roll < band;
}

int behaviour_small_space(const struct behaviour *b, const struct device_traits *d)
{
    uint32_t roll = draw(b, d->index, SALT_SPACE, "*", 0);
    uint32_t band = 0;
    for (size_t i = 0; i < b->count; i++) {
        const struct fault_rule *r = &b->rules[i];
        if (r->kind == FAULT_SPACE && rule_matches(r, d, "*"))
            band += r->basis_points;
    }
    return roll < band;
}
