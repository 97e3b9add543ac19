/*
 * The daemon's configuration. One table (config.c) names every setting with
 * its type, default, bounds, environment variable and help; it drives the INI
 * file, the command-line flags, `otad --help`, `otad config dump` and
 * docs/CONFIG.md. The result is an immutable struct config handed to each
 * module; no module reads the environment itself.
 *
 * Precedence, lowest first: built-in default, config file, OTAD_* variable,
 * command-line flag.
 */
#ifndef OTAD_CORE_CONFIG_H
#define OTAD_CORE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/limits.h"
#include "core/netaddr.h"

/* One legacy path that serves a product, e.g. "/esp/firmware.php" -> "emonesp". */
struct config_alias {
    char path[256];
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
};

struct config {
    char config_file[PATH_MAX];      /* "" when none was read */
    char listen[128];                /* "host:port", "[v6]:port", ":port" or "off" */
    char listen_tls[128];            /* the HTTPS listener, same forms; "" when none */
    char tls_cert[2048];             /* chain files, comma-separated; "" = the data folder's */
    char tls_key[2048];              /* key files in tls_cert's order */
    uint64_t tls_session_cache;      /* TLS 1.2 sessions kept for resumption by ID */
    uint64_t tls_session_lifetime_s; /* resumption window; ticket key rotation period */
    uint64_t api_tls_only;           /* 1: API and webhook only on the TLS listener */
    char metrics_token[8];           /* GET /metrics: "read" (a read token) or "none" */
    char data_dir[PATH_MAX];         /* SQLite file, blobs, keys */
    char database[1024];             /* "" = SQLite in data_dir; or a postgresql:// URL */
    char node_name[128];             /* this node among several; "" = hostname:port */
    uint64_t database_statement_timeout_ms; /* PostgreSQL: a statement's longest run; 0 = none */
    char log_level[16];                     /* error | warn | info | debug */
    uint64_t threads;                       /* HTTP worker threads; 0 = one per usable CPU */
    uint64_t max_upload_bytes;              /* larger uploads get 413 */
    uint64_t connection_timeout_s;          /* idle HTTP connections are closed after it */
    uint64_t connection_memory;             /* bytes per connection for request line + headers */
    uint64_t max_connections;               /* concurrent HTTP connections */
    uint64_t max_connections_per_ip; /* concurrent HTTP connections from one address; 0 = any */
    char trusted_proxies[2048];      /* the balancers' addresses and prefixes as configured */
    /* trusted_proxies parsed: whose X-Forwarded-For the plain listener believes. */
    struct net_prefix trusted_proxy_list[LIMIT_TRUSTED_PROXIES];
    unsigned trusted_proxy_count;
    uint64_t max_downloads;          /* image bodies in flight (the cluster's); 0 = no cap */
    uint64_t registry_flush_ms;      /* device registry commit interval */
    uint64_t github_poll_interval_s; /* default seconds between polls of a GitHub source */
    uint64_t audit_retention_days;   /* audit entries older are deleted; 0 = kept forever */
    /* Outgoing notifications (docs/NOTIFICATIONS.md). */
    uint64_t notify_connect_timeout_ms; /* a receiver's connect (TCP + TLS) */
    uint64_t notify_timeout_ms;         /* one whole delivery attempt */
    uint64_t notify_max_attempts;       /* then the delivery is failed */
    uint64_t notify_retry_ms;           /* the first retry's delay; the schedule scales it */
    uint64_t notify_max_age_s;          /* a delivery older than this is failed */
    uint64_t notify_keep_days;          /* finished deliveries kept */
    uint64_t notify_source_failures;    /* consecutive failed syncs that make source.failing */
    uint64_t session_idle_s;            /* a dashboard session unused this long ends */
    uint64_t session_max_s;             /* a dashboard session ends this long after sign-in */
    char aliases_text[2048];            /* "path=product,path=product" as configured */
    struct config_alias aliases[LIMIT_ALIASES];
    unsigned alias_count;
    /* Registry growth (registry.h); 0 = no limit. */
    uint64_t registry_new_devices_per_ip_per_minute; /* new devices per source address a minute */
    uint64_t registry_max_devices_per_product;
    /* How fast a rollout can move (docs/FLEET.md, "Defaults, and why"). */
    uint64_t rollout_tick_ms;            /* the controller's pass: halts, promotions, silence */
    uint64_t rollout_deadline_margin_ms; /* a served device's deadline: 3 intervals + this */
    uint64_t interval_min_gap_ms;        /* shorter gaps between check-ins are no interval */
    /*
     * The environment config_load read (borrowed: it must outlive the struct;
     * main passes environ). Only config_getenv looks at it: settings that name
     * a variable, such as a GitHub source's token, are read through it.
     */
    char *const *envp;
};

/*
 * Builds the effective configuration: defaults, then the file named by
 * --config / OTAD_CONFIG (if any), then OTAD_* variables, then flags in
 * ARGV. Consumed flags are removed from ARGV (*argc shrinks), so the caller
 * sees only its subcommand and that subcommand's own arguments.
 * ENVP is the environment to read (main passes environ; tests pass their own).
 * Returns 0, or -EINVAL after printing one line that says which setting is
 * wrong and why to ERR.
 */
int config_load(struct config *ret_config, int *argc, char **argv, char **envp, FILE *err);

/*
 * Calls EACH(KEY, CTX) for every setting whose value differs between
 * BEFORE and AFTER, in the table's order, KEY the setting's name in the
 * file (static). Returns how many differ. For a reload (SIGHUP).
 */
size_t config_each_change(const struct config *before, const struct config *after,
                          void (*each)(const char *key, void *ctx), void *ctx);

/* Prints the effective configuration as an INI file that config_load accepts. */
void config_dump(const struct config *config, FILE *out);

/* Prints one line per setting: flag, environment variable, default and help. */
void config_help(FILE *out);

/* Prints the settings table as Markdown (docs/CONFIG.md is generated from it). */
void config_markdown(FILE *out);

/*
 * One row of the settings table as the documentation shows it (the manual
 * page otad.ini(5), the shell completion). Every string is borrowed from the
 * table or from the caller's struct and lives as long as the program.
 */
struct config_setting_info {
    const char *key;           /* INI key, "listen" */
    char flag[64];             /* "--listen" */
    char env[64];              /* "OTAD_LISTEN" */
    bool is_number;            /* a whole number from min to max; else a string */
    uint64_t min, max;         /* when is_number */
    const char *default_value; /* as the table gives it; "" for none */
    const char *help;          /* one paragraph, plain text */
};

/* How many settings the table has (config_setting_describe's bound). */
size_t config_setting_count(void);

/*
 * Fills *RET with row INDEX of the settings table, in the table's order
 * (the order of --help, config dump and docs/CONFIG.md). INDEX must be
 * below config_setting_count().
 */
void config_setting_describe(size_t index, struct config_setting_info *ret);

/*
 * The value of environment variable NAME in the environment CONFIG was
 * loaded from (borrowed from it), or NULL when it is not set.
 */
const char *config_getenv(const struct config *config, const char *name);

/* Looks up the product served at PATH (an alias). Returns the name or NULL. */
const char *config_alias_product(const struct config *config, const char *path);

#endif
