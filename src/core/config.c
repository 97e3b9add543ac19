/*
 * The configuration table and the three readers it drives (INI file through
 * libinih, OTAD_* variables, --flags). Adding a setting is one row in
 * config_settings plus one field in struct config.
 */
#include "core/config.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "core/util.h"

enum setting_type { SETTING_STRING, SETTING_UINT };

struct setting {
    const char *name; /* INI key; flag is --name with '_' as '-' */
    enum setting_type type;
    size_t offset; /* into struct config */
    size_t size;   /* of a string field */
    const char *default_value;
    uint64_t min, max; /* for SETTING_UINT */
    const char *help;
};

#define STRING_SETTING(field, def, help)                                                           \
    {                                                                                              \
#field, SETTING_STRING, offsetof(struct config, field),                                    \
            sizeof(((struct config *)0)->field), def, 0, 0, help                                   \
    }
#define UINT_SETTING(field, def, lo, hi, help)                                                     \
    {                                                                                              \
#field, SETTING_UINT, offsetof(struct config, field), 0, def, lo, hi, help                 \
    }

static const struct setting config_settings[] = {
    STRING_SETTING(listen, "0.0.0.0:8080",
                   "address and port to serve devices and the API on over plain HTTP "
                   "(\"[::]:8080\" for IPv6); \"off\" serves HTTPS only"),
    STRING_SETTING(listen_tls, "",
                   "address and port to serve HTTPS on (\"0.0.0.0:8443\"); \"\" means no TLS "
                   "listener (docs/TLS.md)"),
    STRING_SETTING(tls_cert, "",
                   "certificate chain files (PEM, leaf first), comma-separated, one per key "
                   "type (an ECDSA and an RSA one); \"\" means DATA_DIR/tls/server.pem and, when "
                   "present, DATA_DIR/tls/server-rsa.pem (otad tls cert)"),
    STRING_SETTING(tls_key, "",
                   "private key files (PEM) in the order of tls_cert; each must not be readable "
                   "by others; \"\" means the keys beside the default certificates"),
    UINT_SETTING(tls_session_cache, "20000", 0, LIMIT_TLS_SESSION_CACHE_MAX,
                 "TLS 1.2 sessions kept for resumption by session ID (the ESP8266's setSession); "
                 "the oldest go first; 0 turns resumption by ID off (tickets still work)"),
    UINT_SETTING(tls_session_lifetime_s, "7200", 60, 604800,
                 "seconds a TLS session may be resumed, by ID or by ticket; the ticket key "
                 "changes every three of them (GnuTLS derives it from a random master key and "
                 "the time)"),
    UINT_SETTING(api_tls_only, "0", 0, 1,
                 "1: the API and the GitHub webhook answer only on the TLS listener (403 on the "
                 "plain one); device check-ins follow each product's own HTTPS policy"),
    STRING_SETTING(metrics_token, "read",
                   "who may read GET /metrics (Prometheus): \"read\" (a token of read scope or "
                   "more, Bearer; api_tls_only applies) or \"none\" (anyone who reaches the "
                   "listener); docs/METRICS.md"),
    STRING_SETTING(data_dir, "/var/lib/otad", "folder for the database, firmware blobs and keys"),
    STRING_SETTING(database, "",
                   "where the database is: \"\" means SQLite in the data folder (one node); a "
                   "postgresql://USER@HOST:PORT/DB URL means PostgreSQL, shared by every node "
                   "(docs/OPERATIONS.md, \"Several nodes\"); keep a password out of it (config "
                   "dump prints it): use PGPASSFILE or PGPASSWORD"),
    UINT_SETTING(database_statement_timeout_ms, "30000", 0, 3600000,
                 "PostgreSQL: milliseconds one statement may run (waiting for a lock included) "
                 "before the database cancels it: an API call gets 503 database_timeout; the "
                 "registry and the dashboard, whose statements grow with the fleet, are held to "
                 "it only while waiting for a lock (the registry tries its batch again); "
                 "migrations are exempt; 0 means no limit (SQLite ignores it)"),
    STRING_SETTING(node_name, "",
                   "this node's name among several on one PostgreSQL database (the leader, the "
                   "nodes list); \"\" means HOSTNAME:PORT"),
    STRING_SETTING(log_level, "info", "error, warn, info or debug"),
    UINT_SETTING(threads, "0", 0, 256,
                 "HTTP worker threads; 0 means one per CPU otad may use (its CPU affinity and "
                 "cgroup CPU quota, the smaller)"),
    UINT_SETTING(max_upload_bytes, "16777216", LIMIT_IMAGE_MIN_BYTES, LIMIT_UPLOAD_BYTES_MAX,
                 "largest firmware upload accepted; larger ones get 413"),
    UINT_SETTING(connection_timeout_s, "30", 1, 3600,
                 "seconds an idle HTTP connection is kept before it is closed"),
    UINT_SETTING(connection_memory, "8192", 4096, 1048576,
                 "bytes per connection for the request line and headers (libmicrohttpd zeroes "
                 "them for every connection: keep it small); larger requests are refused"),
    UINT_SETTING(max_connections, "20000", 16, 1000000,
                 "concurrent connections per listener (plain HTTP and HTTPS each)"),
    UINT_SETTING(max_connections_per_ip, "64", 0, 1000000,
                 "concurrent HTTP connections from one address; more are closed at once; 0 means "
                 "no limit (behind a reverse proxy every connection comes from its address)"),
    STRING_SETTING(trusted_proxies, "",
                   "load balancers whose X-Forwarded-For is believed: addresses or CIDR prefixes, "
                   "IPv4 or IPv6, comma-separated (\"10.0.0.5, 10.0.1.0/24, fd00::/64\"); a "
                   "request from one of them on the plain listener stands for the right-most "
                   "address in the header that is not listed; \"\" trusts nobody "
                   "(docs/OPERATIONS.md)"),
    UINT_SETTING(max_downloads, "0", 0, 1000000,
                 "image bodies sent at once, every product together (on PostgreSQL by all "
                 "nodes together: each takes its share); a device over the cap is answered 304 "
                 "and checks again later (docs/FLEET.md, herd control); 0 means no cap"),
    UINT_SETTING(registry_flush_ms, "250", 10, LIMIT_REGISTRY_FLUSH_MS_MAX,
                 "how often device check-ins are committed to the database, in milliseconds"),
    UINT_SETTING(registry_new_devices_per_ip_per_minute, "600", 0, 1000000000u,
                 "new devices one source address (an IPv6 /64) may add to the registry per "
                 "minute; past it their check-ins are answered but not recorded; 0 = unlimited"),
    UINT_SETTING(registry_max_devices_per_product, "1000000", 0, 1000000000u,
                 "devices the registry holds per product; a new device past it is answered but "
                 "not recorded (known devices always are); 0 = unlimited"),
    UINT_SETTING(rollout_tick_ms, "1000", 100, 60000,
                 "milliseconds between two passes of the rollout controller, which halts, "
                 "promotes and completes rollouts and marks devices silent past their deadline "
                 "(docs/FLEET.md); on several nodes the leader runs it. Under 500 it also "
                 "shortens every node's catalog check (a database read) to the same period"),
    UINT_SETTING(rollout_deadline_margin_ms, "300000", 0, 86400000,
                 "milliseconds past three check-in intervals after a device was served a "
                 "rollout's release before it counts as silent (docs/FLEET.md, \"Outcomes\"); "
                 "lower it with short plan intervals to see silence within seconds"),
    UINT_SETTING(interval_min_gap_ms, "30000", 100, 3600000,
                 "the shortest gap between two check-ins of a device that counts toward its "
                 "learned check-in interval (shorter ones are retries or reboots); lower it "
                 "when devices check in every few seconds, as a fleet simulator does"),
    UINT_SETTING(audit_retention_days, "365", 0, 36500,
                 "days the audit log keeps an entry; older ones are deleted within the hour "
                 "(docs/AUDIT.md); 0 keeps every entry"),
    UINT_SETTING(github_poll_interval_s, "300", 1, LIMIT_GITHUB_POLL_INTERVAL_S_MAX,
                 "seconds between polls of a GitHub release source (one conditional request "
                 "each); 300 keeps a few unauthenticated sources inside 60 requests an hour"),
    UINT_SETTING(notify_connect_timeout_ms, "5000", 100, 60000,
                 "milliseconds a notification receiver has to accept the connection (TCP and "
                 "TLS) before the attempt fails"),
    UINT_SETTING(notify_timeout_ms, "10000", 100, 300000,
                 "milliseconds one notification delivery may take in all, connection included; "
                 "a receiver that hangs past it fails the attempt (retried)"),
    UINT_SETTING(notify_max_attempts, "8", 1, 100,
                 "attempts at one notification delivery before it is marked failed"),
    UINT_SETTING(notify_retry_ms, "10000", 10, 3600000,
                 "the first retry's delay after a failed delivery, in milliseconds; the next "
                 "ones are 3, 6, 30, 90 and 360 times it (10 s, 30 s, 1 min, 5 min, 15 min, 1 h), "
                 "each plus up to a quarter at random"),
    UINT_SETTING(notify_max_age_s, "86400", 1, 2592000,
                 "seconds after its event a delivery is still attempted; older ones are failed"),
    UINT_SETTING(notify_keep_days, "7", 1, 3650,
                 "days delivered and failed notification deliveries are kept (and at most "
                 "10000 of them)"),
    UINT_SETTING(notify_source_failures, "3", 1, 1000,
                 "consecutive failed syncs of a GitHub source that send source.failing (once "
                 "per failing streak; a refused release sends it at once)"),
    UINT_SETTING(session_idle_s, "28800", 1, 2592000,
                 "seconds a dashboard session may go unused before it ends (sign in again)"),
    UINT_SETTING(session_max_s, "604800", 1, 31536000,
                 "seconds a dashboard session lasts at most after sign-in, however much it is "
                 "used"),
    STRING_SETTING(aliases_text, "",
                   "legacy paths that serve a product: \"/esp/firmware.php=emonesp,/fw.php=door\""),
};

/* The INI key and flag of aliases_text is "aliases". */
static const char *setting_key(const struct setting *s)
{
    return strcmp(s->name, "aliases_text") == 0 ? "aliases" : s->name;
}

static void setting_env_name(const struct setting *s, char *out, size_t size)
{
    const char *key = setting_key(s);
    size_t n = 0;
    n += (size_t)snprintf(out, size, "OTAD_");
    for (const char *p = key; *p && n + 1 < size; p++)
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    out[n] = 0;
}

static void setting_flag_name(const struct setting *s, char *out, size_t size)
{
    const char *key = setting_key(s);
    size_t n = (size_t)snprintf(out, size, "--");
    for (const char *p = key; *p && n + 1 < size; p++)
        out[n++] = *p == '_' ? '-' : *p;
    out[n] = 0;
}

static const struct setting *setting_find(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++)
        if (strcmp(setting_key(&config_settings[i]), key) == 0)
            return &config_settings[i];
    return NULL;
}

static int parse_aliases(struct config *c, FILE *err)
{
    c->alias_count = 0;
    char text[sizeof(c->aliases_text)];
    memcpy(text, c->aliases_text, sizeof(text));
    char *save = NULL;
    for (char *item = strtok_r(text, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        if (!*item)
            continue;
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1]) {
            fprintf(err, "otad: aliases: \"%s\" is not path=product\n", item);
            return -EINVAL;
        }
        if (c->alias_count == LIMIT_ALIASES) {
            fprintf(err, "otad: aliases: more than %u\n", LIMIT_ALIASES);
            return -EINVAL;
        }
        *eq = 0;
        struct config_alias *a = &c->aliases[c->alias_count];
        const char *path = item;
        /* Devices may send the path without its leading slash; store it with one. */
        int r = snprintf(a->path, sizeof(a->path), "%s%s", path[0] == '/' ? "" : "/", path);
        if (r < 0 || (size_t)r >= sizeof(a->path) ||
            str_copy(a->product, sizeof(a->product), eq + 1) < 0) {
            fprintf(err, "otad: aliases: \"%s\" is too long\n", path);
            return -EINVAL;
        }
        c->alias_count++;
    }
    return 0;
}

static int parse_trusted_proxies(struct config *c, FILE *err)
{
    c->trusted_proxy_count = 0;
    char text[sizeof(c->trusted_proxies)];
    memcpy(text, c->trusted_proxies, sizeof(text));
    char *save = NULL;
    for (char *item = strtok_r(text, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
        if (c->trusted_proxy_count == LIMIT_TRUSTED_PROXIES) {
            fprintf(err, "otad: trusted_proxies: more than %u\n", LIMIT_TRUSTED_PROXIES);
            return -EINVAL;
        }
        if (net_prefix_parse(item, &c->trusted_proxy_list[c->trusted_proxy_count]) < 0) {
            fprintf(err,
                    "otad: trusted_proxies: \"%s\" is not an IPv4 or IPv6 address or prefix "
                    "(ADDRESS/BITS, no bits set past the prefix)\n",
                    item);
            return -EINVAL;
        }
        c->trusted_proxy_count++;
    }
    return 0;
}

static int setting_set(struct config *c, const struct setting *s, const char *value,
                       const char *origin, FILE *err)
{
    char *field = (char *)c + s->offset;
    if (s->type == SETTING_STRING) {
        if (str_copy(field, s->size, value) < 0) {
            fprintf(err, "otad: %s (%s): value longer than %zu bytes\n", setting_key(s), origin,
                    s->size - 1);
            return -EINVAL;
        }
        return 0;
    }
    uint64_t v;
    int r = parse_u64(value, UINT64_MAX, &v);
    if (r < 0 || v < s->min || v > s->max) {
        fprintf(err, "otad: %s (%s): \"%s\" is not a whole number from %llu to %llu\n",
                setting_key(s), origin, value, (unsigned long long)s->min,
                (unsigned long long)s->max);
        return -EINVAL;
    }
    memcpy(field, &v, sizeof(v));
    return 0;
}

struct ini_context {
    struct config *config;
    FILE *err;
    int failed;
};

static int ini_entry(void *user, const char *section, const char *key, const char *value)
{
    struct ini_context *ctx = user;
    if (section[0] && strcmp(section, "otad") != 0) {
        fprintf(ctx->err, "otad: config file: unknown section [%s]\n", section);
        ctx->failed = 1;
        return 0;
    }
    const struct setting *s = setting_find(key);
    if (!s) {
        fprintf(ctx->err, "otad: config file: unknown setting \"%s\"\n", key);
        ctx->failed = 1;
        return 0;
    }
    if (setting_set(ctx->config, s, value, "config file", ctx->err) < 0)
        ctx->failed = 1;
    return 1;
}

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Removes ARGV[i] (and its value, when COUNT is 2), keeping the NULL terminator. */
static void argv_remove(int *argc, char **argv, int i, int count)
{
    for (int j = i; j + count <= *argc; j++)
        argv[j] = argv[j + count];
    *argc -= count;
}

/* Finds --name VALUE or --name=VALUE in ARGV (before a lone "--"). */
static const char *flag_take(int *argc, char **argv, const char *flag, char *store, size_t size,
                             int *ret_missing)
{
    size_t n = strlen(flag);
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], flag, n) != 0)
            continue;
        if (argv[i][n] == '=') {
            if (str_copy(store, size, argv[i] + n + 1) < 0)
                store[0] = 0;
            argv_remove(argc, argv, i, 1);
            return store;
        }
        if (argv[i][n] == 0) {
            if (i + 1 >= *argc) {
                *ret_missing = 1;
                return NULL;
            }
            if (str_copy(store, size, argv[i + 1]) < 0)
                store[0] = 0;
            argv_remove(argc, argv, i, 2);
            return store;
        }
    }
    return NULL;
}

int config_load(struct config *ret_config, int *argc, char **argv, char **envp, FILE *err)
{
    struct config c;
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++)
        if (setting_set(&c, &config_settings[i], config_settings[i].default_value, "default", err) <
            0)
            return -EINVAL;

    char value[PATH_MAX];
    int missing = 0;
    const char *file = NULL;
    while (flag_take(argc, argv, "--config", value, sizeof(value), &missing))
        file = value; /* the last one wins, as for every flag */
    if (missing) {
        fprintf(err, "otad: --config needs a file name\n");
        return -EINVAL;
    }
    if (!file)
        file = env_get(envp, "OTAD_CONFIG");
    if (file && *file) {
        if (str_copy(c.config_file, sizeof(c.config_file), file) < 0) {
            fprintf(err, "otad: config file name too long\n");
            return -EINVAL;
        }
        struct ini_context ctx = {.config = &c, .err = err};
        int r = ini_parse(c.config_file, ini_entry, &ctx);
        if (r < 0) {
            fprintf(err, "otad: cannot read config file \"%s\"\n", c.config_file);
            return -EINVAL;
        }
        if (r > 0) {
            fprintf(err, "otad: config file \"%s\": syntax error on line %d\n", c.config_file, r);
            return -EINVAL;
        }
        if (ctx.failed)
            return -EINVAL;
    }

    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        const struct setting *s = &config_settings[i];
        char env_name[64];
        setting_env_name(s, env_name, sizeof(env_name));
        const char *v = env_get(envp, env_name);
        if (v && setting_set(&c, s, v, env_name, err) < 0)
            return -EINVAL;
    }

    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        const struct setting *s = &config_settings[i];
        char flag[64];
        setting_flag_name(s, flag, sizeof(flag));
        /* A flag given twice: the last one wins (a wrapper script may add its own). */
        const char *v;
        while ((v = flag_take(argc, argv, flag, value, sizeof(value), &missing)))
            if (setting_set(&c, s, v, flag, err) < 0)
                return -EINVAL;
        if (missing) {
            fprintf(err, "otad: %s needs a value\n", flag);
            return -EINVAL;
        }
    }

    if (strcmp(c.metrics_token, "read") != 0 && strcmp(c.metrics_token, "none") != 0) {
        fprintf(err, "otad: metrics_token: \"%s\" is not read or none\n", c.metrics_token);
        return -EINVAL;
    }
    enum log_level level;
    if (log_level_parse(c.log_level, &level) < 0) {
        fprintf(err, "otad: log_level: \"%s\" is not error, warn, info or debug\n", c.log_level);
        return -EINVAL;
    }
    if (parse_aliases(&c, err) < 0)
        return -EINVAL;
    if (parse_trusted_proxies(&c, err) < 0)
        return -EINVAL;
    c.envp = envp;
    *ret_config = c;
    return 0;
}

static void setting_format(const struct config *c, const struct setting *s, char *out, size_t size)
{
    const char *field = (const char *)c + s->offset;
    if (s->type == SETTING_STRING) {
        snprintf(out, size, "%s", field);
    } else {
        uint64_t v;
        memcpy(&v, field, sizeof(v));
        snprintf(out, size, "%llu", (unsigned long long)v);
    }
}

void config_dump(const struct config *config, FILE *out)
{
    fprintf(out, "# otad effective configuration%s%s\n[otad]\n",
            config->config_file[0] ? "; file: " : "", config->config_file);
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        char value[PATH_MAX];
        setting_format(config, &config_settings[i], value, sizeof(value));
        fprintf(out, "%s = %s\n", setting_key(&config_settings[i]), value);
    }
}

size_t config_each_change(const struct config *before, const struct config *after,
                          void (*each)(const char *key, void *ctx), void *ctx)
{
    size_t changed = 0;
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        char old_value[PATH_MAX], new_value[PATH_MAX];
        setting_format(before, &config_settings[i], old_value, sizeof(old_value));
        setting_format(after, &config_settings[i], new_value, sizeof(new_value));
        if (strcmp(old_value, new_value) != 0) {
            changed++;
            each(setting_key(&config_settings[i]), ctx);
        }
    }
    return changed;
}

void config_help(FILE *out)
{
    fprintf(out, "Settings (flag / environment variable / default):\n");
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        const struct setting *s = &config_settings[i];
        char flag[64], env[64];
        setting_flag_name(s, flag, sizeof(flag));
        setting_env_name(s, env, sizeof(env));
        fprintf(out, "  %-24s %-28s default \"%s\"\n      %s\n", flag, env, s->default_value,
                s->help);
    }
    fprintf(out, "  %-24s %-28s a file of key = value lines\n", "--config FILE", "OTAD_CONFIG");
}

void config_markdown(FILE *out)
{
    fprintf(out, "| setting | flag | environment | default | range | meaning |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(config_settings); i++) {
        const struct setting *s = &config_settings[i];
        char flag[64], env[64], range[64] = "";
        setting_flag_name(s, flag, sizeof(flag));
        setting_env_name(s, env, sizeof(env));
        if (s->type == SETTING_UINT)
            snprintf(range, sizeof(range), "%llu–%llu", (unsigned long long)s->min,
                     (unsigned long long)s->max);
        fprintf(out, "| `%s` | `%s` | `%s` | `%s` | %s | %s |\n", setting_key(s), flag, env,
                s->default_value, range, s->help);
    }
}

size_t config_setting_count(void)
{
    return ARRAY_SIZE(config_settings);
}

void config_setting_describe(size_t index, struct config_setting_info *ret)
{
    assert(index < ARRAY_SIZE(config_settings));
    const struct setting *s = &config_settings[index];
    ret->key = setting_key(s);
    setting_flag_name(s, ret->flag, sizeof(ret->flag));
    setting_env_name(s, ret->env, sizeof(ret->env));
    ret->is_number = s->type == SETTING_UINT;
    ret->min = s->min;
    ret->max = s->max;
    ret->default_value = s->default_value;
    ret->help = s->help;
}

const char *config_getenv(const struct config *config, const char *name)
{
    return env_get(config->envp, name);
}

const char *config_alias_product(const struct config *config, const char *path)
{
    for (unsigned i = 0; i < config->alias_count; i++)
        if (strcmp(config->aliases[i].path, path) == 0)
            return config->aliases[i].product;
    return NULL;
}
