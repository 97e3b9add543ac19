/*
 * Flag parsing (options.h). The table below is the one list of flags: the
 * parser walks it, --help prints it. Flags are "--name value" or
 * "--name=value"; repeatable ones (--fail) append.
 */
#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum flag_id {
    F_SERVERS,
    F_DEVICES,
    F_SEED,
    F_MAC_PREFIX,
    F_CLIENTS,
    F_CHIPS,
    F_VERSION_RUN,
    F_SKETCH_SIZE,
    F_INTERVAL,
    F_FIRST,
    F_JITTER,
    F_TIME_SCALE,
    F_DURATION,
    F_REBOOT,
    F_TIMEOUT,
    F_DRAIN,
    F_MAX_CONNECTIONS,
    F_FAIL,
    F_TIMELINE,
    F_PROGRESS,
    F_CA,
    F_RESOLVE,
    F_HELP,
    F_VERSION,
};

struct flag {
    enum flag_id id;
    const char *name;
    const char *arg; /* NULL: takes none */
    const char *help;
};

static const struct flag flags[] = {
    {F_SERVERS, "servers", "URL,...",
     "otad nodes, http(s)://HOST:PORT/update/PRODUCT each; devices are spread over them by "
     "MAC (required)"},
    {F_DEVICES, "devices", "N", "devices in the fleet, 10 to 100000 (default 100)"},
    {F_SEED, "seed", "N", "seed of every draw: the same seed, the same fleet (default 1)"},
    {F_MAC_PREFIX, "mac-prefix", "AA:BB:CC",
     "the first three bytes of every STA MAC; the device's number is the rest (default 5C:CF:7F)"},
    {F_CLIENTS, "clients", "NAME:W,...",
     "mix of stock clients by weight: 2.4, 2.7, 3.1 (ESP8266 cores), esp32 (default "
     "2.4:20,2.7:30,3.1:50)"},
    {F_CHIPS, "chips", "SIZE:W,...", "mix of flash chip sizes by weight (default 4M:1)"},
    {F_VERSION_RUN, "factory-version", "V",
     "the version every device runs at first (default 1.0.0)"},
    {F_SKETCH_SIZE, "sketch-size", "SIZE", "the factory image's size (default 300K)"},
    {F_INTERVAL, "interval", "DURATION", "time between a device's check-ins (default 1h)"},
    {F_FIRST, "first-checkins", "DURATION",
     "the fleet's first check-ins spread over this (default: one interval; 1s: a storm)"},
    {F_JITTER, "jitter", "PERCENT",
     "each interval spread by up to this much either way (default 10)"},
    {F_TIME_SCALE, "time-scale", "X",
     "divide every simulated duration by X: 60 plays an hour in a minute (default 1)"},
    {F_DURATION, "duration", "DURATION", "simulated time the run lasts (default 1h)"},
    {F_REBOOT, "reboot", "DURATION",
     "an update staged to the new firmware's first check-in: flash, reset, boot (default 5s)"},
    {F_TIMEOUT, "timeout", "DURATION",
     "real time a socket may wait, as the stock 8 s (default 8s)"},
    {F_DRAIN, "drain", "DURATION",
     "real time open check-ins may finish after the run ends; the rest are cut (default 10s)"},
    {F_MAX_CONNECTIONS, "max-connections", "N",
     "connections open at once; a check-in past it waits a little (default 1024)"},
    {F_FAIL, "fail", "RULE",
     "VERSION:KIND:PERCENT[:chip=SIZE,client=NAME], KIND boot|brick|cut|space; repeatable"},
    {F_TIMELINE, "timeline", "FILE",
     "write every check-in, answer and outcome (CSV if FILE ends "
     "in .csv, else JSON lines)"},
    {F_PROGRESS, "progress", "on|off|auto",
     "the live one-line summary on stderr (default auto: when stderr is a terminal)"},
    {F_CA, "ca", "FILE", "the CA certificates https servers are checked against (PEM)"},
    {F_RESOLVE, "resolve", "NAME:ADDRESS",
     "connect to ADDRESS for servers named NAME (their certificate's name); repeatable"},
    {F_HELP, "help", NULL, "this text"},
    {F_VERSION, "version", NULL, "the simulator's and the device library's version"},
};

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int duration_parse(const char *text, uint64_t *ret_ms)
{
    if (!text || *text < '0' || *text > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    uint64_t unit;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (strcmp(end, "d") == 0)
        unit = 86400000;
    else
        return -EINVAL;
    if (n > UINT64_MAX / unit / 1000) /* room for any scaling later */
        return -EINVAL;
    *ret_ms = n * unit;
    return 0;
}

static int number_parse(const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
    if (!text || *text < '0' || *text > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || *end || n < min || n > max)
        return -EINVAL;
    *ret = n;
    return 0;
}

int server_url_parse(const char *text, struct server_url *ret)
{
    struct server_url u = {0};
    const char *p;
    if (strncmp(text, "http://", 7) == 0) {
        p = text + 7;
        u.port = 80;
    } else if (strncmp(text, "https://", 8) == 0) {
        p = text + 8;
        u.port = 443;
        u.tls = 1;
    } else {
        return -EINVAL;
    }
    const char *slash = strchr(p, '/');
    const char *host_end = slash ? slash : p + strlen(p);
    const char *colon = NULL;
    if (*p == '[') { /* [IPv6]:port */
        const char *close = memchr(p, ']', (size_t)(host_end - p));
        if (!close)
            return -EINVAL;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] != ':' && close + 1 != host_end)
            return -EINVAL;
        if ((size_t)(close - p - 1) > SIM_HOST_MAX || close == p + 1)
            return -EINVAL;
        memcpy(u.host, p + 1, (size_t)(close - p - 1));
    } else {
        colon = memchr(p, ':', (size_t)(host_end - p));
        const char *name_end = colon ? colon : host_end;
        if (name_end == p || (size_t)(name_end - p) > SIM_HOST_MAX)
            return -EINVAL;
        memcpy(u.host, p, (size_t)(name_end - p));
    }
    if (colon) {
        char port[8] = {0};
        size_t len = (size_t)(host_end - colon - 1);
        uint64_t n;
        if (len == 0 || len >= sizeof(port))
            return -EINVAL;
        memcpy(port, colon + 1, len);
        if (number_parse(port, 1, 65535, &n) < 0)
            return -EINVAL;
        u.port = (uint16_t)n;
    }
    const char *target = slash ? slash : "/";
    if (strlen(target) > SIM_TARGET_MAX || strpbrk(target, " \r\n\t"))
        return -EINVAL;
    strcpy(u.target, target);
    *ret = u;
    return 0;
}

static int servers_parse(struct sim_options *o, const char *text, char *err, size_t cap)
{
    char copy[SIM_SERVERS_MAX * (SIM_TARGET_MAX + SIM_HOST_MAX + 16)];
    if (strlen(text) >= sizeof(copy))
        return fail(err, cap, "--servers: too long");
    strcpy(copy, text);
    o->server_count = 0;
    char *save = NULL;
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (o->server_count == SIM_SERVERS_MAX)
            return fail(err, cap, "--servers: at most %u servers", SIM_SERVERS_MAX);
        if (server_url_parse(u, &o->servers[o->server_count]) < 0)
            return fail(err, cap, "--servers: '%s' is not http://HOST[:PORT]/PATH or https://...",
                        u);
        o->server_count++;
    }
    if (!o->server_count)
        return fail(err, cap, "--servers: no URL given");
    return 0;
}

static int clients_parse(struct sim_options *o, const char *text, char *err, size_t cap)
{
    char copy[256];
    if (strlen(text) >= sizeof(copy))
        return fail(err, cap, "--clients: too long");
    strcpy(copy, text);
    memset(o->client_weight, 0, sizeof(o->client_weight));
    uint64_t total = 0;
    char *save = NULL;
    for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(c, ':');
        uint64_t w = 1;
        if (colon)
            *colon = '\0';
        enum otac_client client;
        if (client_parse(c, &client) < 0)
            return fail(err, cap, "--clients: '%s' is none of 2.4, 2.7, 3.1, esp32", c);
        if (colon && number_parse(colon + 1, 0, 1000000, &w) < 0)
            return fail(err, cap, "--clients: weight '%s' is not a number up to 1000000",
                        colon + 1);
        o->client_weight[client - 1] += (uint32_t)w;
        total += w;
    }
    if (!total)
        return fail(err, cap, "--clients: the weights add up to nothing");
    return 0;
}

static int chips_parse(struct sim_options *o, const char *text, char *err, size_t cap)
{
    char copy[256];
    if (strlen(text) >= sizeof(copy))
        return fail(err, cap, "--chips: too long");
    strcpy(copy, text);
    o->chip_count = 0;
    uint64_t total = 0;
    char *save = NULL;
    for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (o->chip_count == SIM_CHIPS_MAX)
            return fail(err, cap, "--chips: at most %u sizes", SIM_CHIPS_MAX);
        char *colon = strchr(c, ':');
        uint64_t w = 1, size;
        if (colon)
            *colon = '\0';
        if (size_parse(c, &size) < 0 || size < 512 * 1024 || size > 128ull << 20)
            return fail(err, cap, "--chips: '%s' is not a chip size from 512K to 128M", c);
        if (colon && number_parse(colon + 1, 0, 1000000, &w) < 0)
            return fail(err, cap, "--chips: weight '%s' is not a number up to 1000000", colon + 1);
        o->chips[o->chip_count++] = (struct chip_share){.size = size, .weight = (uint32_t)w};
        total += w;
    }
    if (!total)
        return fail(err, cap, "--chips: the weights add up to nothing");
    return 0;
}

static void help(FILE *out)
{
    fprintf(out,
            "usage: otad-sim --servers URL[,URL...] [FLAG VALUE]...\n\n"
            "A fleet of simulated ESP devices checking in with otad over real HTTP(S), on the\n"
            "otac device library (docs/SIMULATOR.md).\n\n");
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", flags[i].name, flags[i].arg ? " " : "",
                 flags[i].arg ? flags[i].arg : "");
        fprintf(out, "  %-28s %s\n", left, flags[i].help);
    }
}

static void defaults(struct sim_options *o)
{
    memset(o, 0, sizeof(*o));
    o->devices = 100;
    o->seed = 1;
    o->mac_prefix[0] = 0x5c, o->mac_prefix[1] = 0xcf, o->mac_prefix[2] = 0x7f;
    o->client_weight[0] = 20, o->client_weight[1] = 30, o->client_weight[2] = 50;
    o->chips[0] = (struct chip_share){.size = 4u << 20, .weight = 1};
    o->chip_count = 1;
    strcpy(o->version, "1.0.0");
    o->sketch_size = 300 * 1024;
    o->interval_ms = 3600000;
    o->jitter_percent = 10;
    o->time_scale = 1.0;
    o->duration_ms = 3600000;
    o->reboot_ms = 5000;
    o->timeout_ms = 8000;
    o->drain_ms = 10000;
    o->max_connections = 1024;
    o->progress = -1;
    behaviour_init(&o->behaviour, o->seed);
}

static int apply(struct sim_options *o, const struct flag *f, const char *v, char *err, size_t cap,
                 FILE *out)
{
    uint64_t n;
    switch (f->id) {
    case F_SERVERS:
        return servers_parse(o, v, err, cap);
    case F_DEVICES:
        if (number_parse(v, SIM_DEVICES_MIN, SIM_DEVICES_MAX, &n) < 0)
            return fail(err, cap, "--devices: '%s' is not a number from %u to %u", v,
                        SIM_DEVICES_MIN, SIM_DEVICES_MAX);
        o->devices = (uint32_t)n;
        return 0;
    case F_SEED:
        if (number_parse(v, 0, UINT64_MAX, &o->seed) < 0)
            return fail(err, cap, "--seed: '%s' is not a number", v);
        return 0;
    case F_MAC_PREFIX: {
        unsigned a, b, c;
        char end;
        if (sscanf(v, "%2x:%2x:%2x%c", &a, &b, &c, &end) != 3 || strlen(v) != 8)
            return fail(err, cap, "--mac-prefix: '%s' is not three bytes like 5C:CF:7F", v);
        o->mac_prefix[0] = (uint8_t)a, o->mac_prefix[1] = (uint8_t)b, o->mac_prefix[2] = (uint8_t)c;
        return 0;
    }
    case F_CLIENTS:
        return clients_parse(o, v, err, cap);
    case F_CHIPS:
        return chips_parse(o, v, err, cap);
    case F_VERSION_RUN:
        if (!*v || strlen(v) > OTAC_VERSION_MAX || strpbrk(v, "\r\n"))
            return fail(err, cap, "--factory-version: empty or longer than %u bytes",
                        OTAC_VERSION_MAX);
        strcpy(o->version, v);
        return 0;
    case F_SKETCH_SIZE:
        if (size_parse(v, &o->sketch_size) < 0 || o->sketch_size > 16u << 20)
            return fail(err, cap, "--sketch-size: '%s' is not a size up to 16M", v);
        return 0;
    case F_INTERVAL:
        if (duration_parse(v, &o->interval_ms) < 0 || o->interval_ms < 100)
            return fail(err, cap, "--interval: '%s' is not a duration of at least 100ms", v);
        return 0;
    case F_FIRST:
        if (duration_parse(v, &o->first_ms) < 0 || o->first_ms == 0)
            return fail(err, cap, "--first-checkins: '%s' is not a duration above 0", v);
        return 0;
    case F_JITTER:
        if (number_parse(v, 0, 100, &n) < 0)
            return fail(err, cap, "--jitter: '%s' is not a percentage from 0 to 100", v);
        o->jitter_percent = (unsigned)n;
        return 0;
    case F_TIME_SCALE: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || *end || !(x >= 0.001 && x <= 100000))
            return fail(err, cap, "--time-scale: '%s' is not a number from 0.001 to 100000", v);
        o->time_scale = x;
        return 0;
    }
    case F_DURATION:
        if (duration_parse(v, &o->duration_ms) < 0 || o->duration_ms == 0)
            return fail(err, cap, "--duration: '%s' is not a duration above 0", v);
        return 0;
    case F_REBOOT:
        if (duration_parse(v, &o->reboot_ms) < 0)
            return fail(err, cap, "--reboot: '%s' is not a duration", v);
        return 0;
    case F_TIMEOUT:
        if (duration_parse(v, &o->timeout_ms) < 0 || o->timeout_ms < 100)
            return fail(err, cap, "--timeout: '%s' is not a duration of at least 100ms", v);
        return 0;
    case F_DRAIN:
        if (duration_parse(v, &o->drain_ms) < 0)
            return fail(err, cap, "--drain: '%s' is not a duration", v);
        return 0;
    case F_MAX_CONNECTIONS:
        if (number_parse(v, 1, SIM_CONNECTIONS_MAX, &n) < 0)
            return fail(err, cap, "--max-connections: '%s' is not a number from 1 to %u", v,
                        SIM_CONNECTIONS_MAX);
        o->max_connections = (uint32_t)n;
        return 0;
    case F_FAIL: {
        char why[200];
        if (behaviour_add(&o->behaviour, v, why, sizeof(why)) < 0)
            return fail(err, cap, "--fail: %s", why);
        return 0;
    }
    case F_TIMELINE:
        if (!*v || strlen(v) >= SIM_PATH_MAX)
            return fail(err, cap, "--timeline: empty or too long a path");
        strcpy(o->timeline, v);
        return 0;
    case F_PROGRESS:
        if (strcmp(v, "on") == 0)
            o->progress = 1;
        else if (strcmp(v, "off") == 0)
            o->progress = 0;
        else if (strcmp(v, "auto") == 0)
            o->progress = -1;
        else
            return fail(err, cap, "--progress: '%s' is none of on, off, auto", v);
        return 0;
    case F_CA:
        if (!*v || strlen(v) >= SIM_PATH_MAX)
            return fail(err, cap, "--ca: empty or too long a path");
        strcpy(o->ca, v);
        return 0;
    case F_RESOLVE: {
        const char *colon = strchr(v, ':');
        struct name_address *na = &o->resolve[o->resolve_count];
        if (o->resolve_count == SIM_SERVERS_MAX)
            return fail(err, cap, "--resolve: at most %u names", SIM_SERVERS_MAX);
        if (!colon || colon == v || (size_t)(colon - v) > SIM_HOST_MAX || !colon[1] ||
            strlen(colon + 1) >= sizeof(na->address))
            return fail(err, cap, "--resolve: '%s' is not NAME:ADDRESS", v);
        memcpy(na->name, v, (size_t)(colon - v));
        na->name[colon - v] = '\0';
        strcpy(na->address, colon + 1);
        o->resolve_count++;
        return 0;
    }
    case F_HELP:
        help(out);
        return 1;
    case F_VERSION:
        return 2;
    }
    return fail(err, cap, "unknown flag");
}

int options_parse(struct sim_options *o, int argc, char **argv, char *err, size_t cap, FILE *out)
{
    defaults(o);
    /* The seed first: the rules draw with it, whatever the order of the flags. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strncmp(a, "--seed=", 7) == 0)
            v = a + 7;
        else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
            v = argv[i + 1];
        if (v && number_parse(v, 0, UINT64_MAX, &o->seed) == 0)
            o->behaviour.seed = o->seed;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return fail(err, cap, "'%s': not a flag (otad-sim --help lists them)", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == len && strncmp(flags[k].name, name, len) == 0)
                f = &flags[k];
        if (!f)
            return fail(err, cap, "unknown flag '--%.*s' (otad-sim --help lists them)", (int)len,
                        name);
        const char *v = NULL;
        if (f->arg) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return fail(err, cap, "--%s needs a value: %s", f->name, f->arg);
        } else if (eq) {
            return fail(err, cap, "--%s takes no value", f->name);
        }
        int r = apply(o, f, v, err, cap, out);
        if (r != 0)
            return r;
    }
    if (!o->server_count)
        return fail(err, cap, "--servers is required (http://HOST:PORT/update/PRODUCT)");
    for (size_t i = 0; i < o->server_count; i++)
        if (o->servers[i].tls && !o->ca[0])
            return fail(err, cap,
                        "--servers: https needs --ca FILE, the CA the servers' "
                        "certificates are issued under");
    uint32_t client_total = 0;
    for (size_t i = 0; i < SIM_CLIENT_KINDS; i++)
        client_total += o->client_weight[i];
    if (!client_total)
        return fail(err, cap, "--clients: the weights add up to nothing");
    return 0;
}
