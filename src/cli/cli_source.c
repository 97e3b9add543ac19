/*
 * `otad source`: GitHub release sources on the data folder, through the
 * sources module (src/sources/) like the server's poller:
 *   source add PRODUCT OWNER/REPO [--asset GLOB] [--token-file F | --token-env VAR]
 *              [--prerelease-channel C|none] [--api-url URL]
 *              [--webhook-secret-file F | --webhook-secret-env VAR] [--interval S]
 *   source list [--json]          settings and status (last poll, change, error, refusal,
 *                                 rate limit)
 *   source sync [ID] [--json]     poll now, once, in the foreground (CI, tests); exits 1
 *                                 when a sync failed or a release was refused, with why
 *   source remove ID
 * A running server sees an added source within SOURCES_IDLE_S; a sync here
 * publishes through the same service call, and the server offers the
 * release within a second.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/local.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "sources/github.h"
#include "sources/sources.h"

enum {
    OPT_ASSET,
    OPT_TOKEN_FILE,
    OPT_TOKEN_ENV,
    OPT_PRERELEASE,
    OPT_API_URL,
    OPT_SECRET_FILE,
    OPT_SECRET_ENV,
    OPT_INTERVAL,
    OPT_JSON,
    OPT_COUNT
};

struct opened {
    struct service *svc;
    struct sources *sources;
};

static int open_both(const struct config *config, struct opened *o)
{
    if (cli_open_service(config, &o->svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    int r = sources_open(config, o->svc, SOURCES_LOCAL, &o->sources);
    if (r < 0) {
        service_close(o->svc);
        fprintf(stderr, "otad: cannot open the data folder \"%s\": %s\n", config->data_dir,
                strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static void close_both(const struct config *config, struct opened *o)
{
    sources_close(o->sources);
    cli_close_service(config, o->svc);
}

static void print_row(const struct source_row *row, uint64_t default_interval)
{
    const struct source *src = &row->source;
    const struct source_state *st = &row->state;
    char poll[21] = "never", change[21] = "never";
    if (st->last_poll_ms)
        time_format_rfc3339(st->last_poll_ms, poll);
    if (st->last_change_ms)
        time_format_rfc3339(st->last_change_ms, change);
    printf("%-4lld %-20s %s/%s  asset %s  pre-releases %s  every %llus\n", (long long)src->id,
           src->product, src->owner, src->repo, src->asset_glob,
           src->prerelease_channel[0] ? src->prerelease_channel : "ignored",
           (unsigned long long)(src->poll_interval_s ? src->poll_interval_s : default_interval));
    printf("     last poll %s, last change %s%s%s%s", poll, change, st->last_tag[0] ? " (" : "",
           st->last_tag, st->last_tag[0] ? ")" : "");
    if (st->rate_remaining >= 0)
        printf(", rate limit %lld/%lld left", (long long)st->rate_remaining,
               (long long)st->rate_limit);
    printf(", %lld API requests\n", (long long)st->api_calls);
    if (st->last_error[0]) {
        char when[21];
        time_format_rfc3339(st->last_error_ms, when);
        printf("     last error %s: %s%s\n", when, st->last_error,
               st->failures ? "" : " (recovered since)");
    }
    const struct source_tag *refused = &row->last_refused;
    if (refused->tag[0]) {
        char when[21], tag[sizeof(refused->tag)];
        time_format_rfc3339(refused->updated_ms, when);
        str_copy(tag, sizeof(tag), refused->tag);
        github_ascii_safe(tag);
        printf("     last refused %s: %s: %s\n", when, tag, refused->detail);
    }
}

static int source_add(const struct config *config, const char *const *pos,
                      const struct args_option *opts)
{
    uint64_t interval = 0;
    if (opts[OPT_INTERVAL].value &&
        (parse_u64(opts[OPT_INTERVAL].value, LIMIT_GITHUB_POLL_INTERVAL_S_MAX, &interval) < 0 ||
         interval == 0)) {
        fprintf(stderr, "otad: --interval must be 1-%u seconds\n",
                LIMIT_GITHUB_POLL_INTERVAL_S_MAX);
        return CLI_EXIT_USAGE;
    }
    struct source_spec spec = {
        .product = pos[1],
        .repository = pos[2],
        .asset_glob = opts[OPT_ASSET].value,
        .token_file = opts[OPT_TOKEN_FILE].value,
        .token_env = opts[OPT_TOKEN_ENV].value,
        .secret_file = opts[OPT_SECRET_FILE].value,
        .secret_env = opts[OPT_SECRET_ENV].value,
        .prerelease_channel = opts[OPT_PRERELEASE].value,
        .api_url = opts[OPT_API_URL].value,
        .poll_interval_s = interval,
    };
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    struct source_row row;
    int r = sources_add(o.sources, &spec, &row, &why);
    /* Where its credentials come from, never a path or a variable's value. */
    const char *token_from = spec.token_file ? "file" : spec.token_env ? "env" : NULL;
    const char *secret_from = spec.secret_file ? "file" : spec.secret_env ? "env" : NULL;
    char object[24] = "";
    if (r == 0)
        snprintf(object, sizeof(object), "%lld", (long long)row.source.id);
    cli_audit(
        o.svc, "source.add", spec.product, object,
        json_pack("{s:s,s:o,s:o,s:o,s:I,s:o,s:o}", "repository", spec.repository, "asset",
                  spec.asset_glob ? json_string(spec.asset_glob) : json_null(),
                  "prerelease_channel",
                  spec.prerelease_channel ? json_string(spec.prerelease_channel) : json_null(),
                  "api_url", spec.api_url ? json_string(spec.api_url) : json_null(), "interval_s",
                  (json_int_t)interval, "token", token_from ? json_string(token_from) : json_null(),
                  "webhook_secret", secret_from ? json_string(secret_from) : json_null()),
        r, &why);
    json_t *j = r == 0 && opts[OPT_JSON].value ? sources_present(o.sources, &row) : NULL;
    close_both(config, &o);
    if (r < 0)
        return cli_refused(&why, r);
    if (j) {
        cli_print_json(json_pack("{s:o}", "source", j));
        return CLI_EXIT_OK;
    }
    printf("source %lld: %s/%s -> product %s (asset %s, pre-releases %s)\n",
           (long long)row.source.id, row.source.owner, row.source.repo, row.source.product,
           row.source.asset_glob,
           row.source.prerelease_channel[0] ? row.source.prerelease_channel : "ignored");
    if (spec.token_file && access(spec.token_file, R_OK) != 0)
        fprintf(stderr, "otad: warning: cannot read the token file \"%s\" from here: %s\n",
                spec.token_file, strerror(errno));
    if (spec.secret_file && access(spec.secret_file, R_OK) != 0)
        fprintf(stderr, "otad: warning: cannot read the webhook secret file \"%s\" from here: %s\n",
                spec.secret_file, strerror(errno));
    return CLI_EXIT_OK;
}

static int source_list(const struct config *config, bool json)
{
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct source_row *rows = NULL;
    size_t n = 0;
    int r = sources_list(o.sources, &rows, &n);
    if (r < 0) {
        close_both(config, &o);
        fprintf(stderr, "otad: cannot list sources: %s\n", strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, sources_present(o.sources, &rows[i]));
        cli_print_json(json_pack("{s:o}", "sources", arr));
    } else {
        for (size_t i = 0; i < n; i++)
            print_row(&rows[i], config->github_poll_interval_s);
    }
    free(rows);
    close_both(config, &o);
    return CLI_EXIT_OK;
}

static int source_sync(const struct config *config, int64_t id, bool json)
{
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct sources_sync_result *results = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = sources_sync(o.sources, id, &results, &n, &why);
    char object[24] = "";
    if (id)
        snprintf(object, sizeof(object), "%lld", (long long)id);
    cli_audit(o.svc, "source.sync", NULL, object, NULL, r, &why);
    close_both(config, &o);
    if (r < 0)
        return cli_refused(&why, r);
    bool failed = false;
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct sources_sync_result *res = &results[i];
        /* A refused release failed too: the operator must see why a tag is no release. */
        failed = failed || res->failed || res->rate_limited || res->refused;
        if (arr)
            json_array_append_new(
                arr,
                json_pack("{s:I,s:i,s:i,s:i,s:i,s:b,s:b,s:b,s:s}", "source",
                          (json_int_t)res->source_id, "api_calls", (int)res->api_calls, "ingested",
                          (int)res->ingested, "refused", (int)res->refused, "waiting",
                          (int)res->waiting, "not_modified", res->not_modified, "rate_limited",
                          res->rate_limited, "failed", res->failed, "message", res->message));
        else
            printf("source %lld: %s (%u API request%s)\n", (long long)res->source_id, res->message,
                   res->api_calls, res->api_calls == 1 ? "" : "s");
    }
    if (arr)
        cli_print_json(json_pack("{s:o}", "results", arr));
    free(results);
    return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int parse_id(const char *text, int64_t *ret)
{
    uint64_t v;
    if (parse_u64(text, INT64_MAX, &v) < 0 || v == 0) {
        fprintf(stderr, "otad: source id \"%s\" is not a number\n", text);
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

int cli_source(int argc, char **argv, const struct config *config)
{
    struct args_option opts[OPT_COUNT] = {
        [OPT_ASSET] = {"--asset", true, NULL},
        [OPT_TOKEN_FILE] = {"--token-file", true, NULL},
        [OPT_TOKEN_ENV] = {"--token-env", true, NULL},
        [OPT_PRERELEASE] = {"--prerelease-channel", true, NULL},
        [OPT_API_URL] = {"--api-url", true, NULL},
        [OPT_SECRET_FILE] = {"--webhook-secret-file", true, NULL},
        [OPT_SECRET_ENV] = {"--webhook-secret-env", true, NULL},
        [OPT_INTERVAL] = {"--interval", true, NULL},
        [OPT_JSON] = {"--json", false, NULL},
    };
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    int64_t id = 0;
    if (args_parse(argc, argv, opts, OPT_COUNT, pos, &npos) < 0 || npos < 1)
        goto usage;
    if (strcmp(pos[0], "add") == 0 && npos == 3)
        return source_add(config, pos, opts);
    if (strcmp(pos[0], "list") == 0 && npos == 1)
        return source_list(config, opts[OPT_JSON].value != NULL);
    if (strcmp(pos[0], "sync") == 0 && npos <= 2) {
        if (npos == 2 && parse_id(pos[1], &id) < 0)
            return CLI_EXIT_USAGE;
        return source_sync(config, id, opts[OPT_JSON].value != NULL);
    }
    if (strcmp(pos[0], "remove") == 0 && npos == 2) {
        if (parse_id(pos[1], &id) < 0)
            return CLI_EXIT_USAGE;
        struct opened o;
        if (open_both(config, &o) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct reason why = {""};
        int r = sources_remove(o.sources, id, &why);
        cli_audit(o.svc, "source.remove", NULL, pos[1], NULL, r, &why);
        close_both(config, &o);
        if (r < 0)
            return cli_refused(&why, r);
        printf("source %lld removed (its releases stay)\n", (long long)id);
        return CLI_EXIT_OK;
    }
usage:
    return cli_usage("source");
}
