/*
 * `otad notify`: outgoing notifications on the data folder, through the
 * notification layer (src/notify/) like the API:
 *   notify add NAME URL --events rollout.*,release.published [--format json|slack]
 *              [--secret-file F | --secret-env VAR] [--json]
 *   notify list [--json]              receivers with their last delivery (never a secret)
 *   notify remove ID
 *   notify test ID [--json]           queue a ping; a running server sends it within a second
 *   notify deliveries ID [--json]     recent deliveries: event, status, attempts, next, error
 * The secret is read from a file or a variable (never a command-line
 * argument: `ps` shows those), stored, and never shown again.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "notify/notify.h"
#include "sources/secrets.h"

enum { OPT_EVENTS, OPT_FORMAT, OPT_SECRET_FILE, OPT_SECRET_ENV, OPT_JSON, OPT_COUNT };

struct opened {
    struct service *svc;
    struct notify *notify;
};

static int open_both(const struct config *config, struct opened *o)
{
    if (cli_open_service(config, &o->svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    int r = notify_open(config, o->svc, NOTIFY_LOCAL, &o->notify);
    if (r < 0) {
        service_close(o->svc);
        fprintf(stderr, "otad: cannot open the data folder \"%s\": %s\n", config->data_dir,
                strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static void close_both(struct opened *o)
{
    notify_close(o->notify);
    service_close(o->svc);
}

static int parse_id(const char *text, int64_t *ret)
{
    uint64_t v;
    if (parse_u64(text, INT64_MAX, &v) < 0 || v == 0) {
        fprintf(stderr, "otad: receiver id \"%s\" is not a number\n", text);
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

static void print_delivery(const struct notify_delivery *d)
{
    char created[21], next[21] = "";
    time_format_rfc3339(d->created_ms, created);
    if (d->state == NOTIFY_PENDING)
        time_format_rfc3339(d->next_ms, next);
    printf("%s  %-18s %-9s attempts %lld", d->uuid, d->event, notify_state_name(d->state),
           (long long)d->attempts);
    if (d->status)
        printf(", HTTP %lld", (long long)d->status);
    if (next[0])
        printf(", next %s", next);
    if (d->error[0])
        printf(", last error: %s", d->error);
    printf("  (event at %s)\n", created);
}

static int notify_cmd_add(const struct config *config, const char *const *pos,
                          const struct args_option *opts)
{
    if (!opts[OPT_EVENTS].value) {
        fprintf(stderr, "otad: notify add needs --events (e.g. 'rollout.*,release.published')\n");
        return CLI_EXIT_USAGE;
    }
    char list[LIMIT_NOTIFY_PATTERNS * (LIMIT_NOTIFY_PATTERN_BYTES + 1) + 1];
    if (str_copy(list, sizeof(list), opts[OPT_EVENTS].value) < 0) {
        fprintf(stderr, "otad: --events is too long\n");
        return CLI_EXIT_USAGE;
    }
    const char *patterns[LIMIT_NOTIFY_PATTERNS + 1];
    size_t count = 0;
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (count == LIMIT_NOTIFY_PATTERNS + 1)
            break;
        patterns[count++] = p;
    }
    char secret[LIMIT_NOTIFY_SECRET_BYTES + 1] = "";
    struct reason why = {""};
    const char *file = opts[OPT_SECRET_FILE].value, *env = opts[OPT_SECRET_ENV].value;
    if (file && env) {
        fprintf(stderr, "otad: give the secret as a file or a variable, not both\n");
        return CLI_EXIT_USAGE;
    }
    if (file || env) {
        int r = sources_secret_read(config, file ? file : "", env ? env : "", false, secret,
                                    sizeof(secret), "secret", &why);
        if (r < 0)
            return cli_refused(&why, r);
    }
    struct notify_spec spec = {
        .name = pos[1],
        .url = pos[2],
        .events = patterns,
        .event_count = count,
        .format = opts[OPT_FORMAT].value,
        .secret = secret,
    };
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK) {
        explicit_bzero(secret, sizeof(secret));
        return CLI_EXIT_FAILURE;
    }
    struct notify_receiver rcv;
    int r = notify_add(o.notify, &spec, &rcv, &why);
    /* The URL's path may be its credential (a Slack webhook's): the log keeps name and events. */
    cli_audit(o.svc, "notification.add", NULL, pos[1],
              json_pack("{s:s,s:s,s:b}", "events", opts[OPT_EVENTS].value, "format",
                        opts[OPT_FORMAT].value ? opts[OPT_FORMAT].value : "json", "signed",
                        secret[0] != 0),
              r, &why);
    explicit_bzero(secret, sizeof(secret));
    close_both(&o);
    if (r < 0)
        return cli_refused(&why, r);
    if (opts[OPT_JSON].value) {
        struct notify_receiver_row row = {.receiver = rcv};
        cli_print_json(json_pack("{s:o}", "receiver", notify_present_receiver(&row)));
        return CLI_EXIT_OK;
    }
    printf("receiver %lld: %s -> %s (%s, %s%s)\n", (long long)rcv.id, rcv.name, rcv.url, rcv.events,
           notify_format_name(rcv.format), rcv.has_secret ? ", signed" : "");
    return CLI_EXIT_OK;
}

static int notify_cmd_list(const struct config *config, bool json)
{
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct notify_receiver_row *rows = NULL;
    size_t n = 0;
    int r = notify_list(o.notify, &rows, &n);
    close_both(&o);
    if (r < 0) {
        fprintf(stderr, "otad: cannot list the receivers: %s\n", strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, notify_present_receiver(&rows[i]));
        cli_print_json(json_pack("{s:o}", "receivers", arr));
    } else {
        for (size_t i = 0; i < n; i++) {
            const struct notify_receiver *rcv = &rows[i].receiver;
            printf("%-4lld %-20s %s  %s  %s%s%s, %lld pending\n", (long long)rcv->id, rcv->name,
                   rcv->url, rcv->events, notify_format_name(rcv->format),
                   rcv->has_secret ? ", signed" : "", rcv->disabled ? ", DISABLED (410)" : "",
                   (long long)rows[i].pending);
            if (rows[i].has_last) {
                printf("     last: ");
                print_delivery(&rows[i].last);
            }
        }
    }
    free(rows);
    return CLI_EXIT_OK;
}

static int notify_cmd_deliveries(const struct config *config, int64_t id, bool json)
{
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct notify_delivery *d = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = notify_deliveries(o.notify, id, LIMIT_NOTIFY_DELIVERIES_LISTED, &d, &n, &why);
    close_both(&o);
    if (r < 0)
        return cli_refused(&why, r);
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, notify_present_delivery(&d[i]));
        cli_print_json(json_pack("{s:o}", "deliveries", arr));
    } else {
        for (size_t i = 0; i < n; i++)
            print_delivery(&d[i]);
    }
    free(d);
    return CLI_EXIT_OK;
}

int cli_notify(int argc, char **argv, const struct config *config)
{
    struct args_option opts[OPT_COUNT] = {
        [OPT_EVENTS] = {"--events", true, NULL},
        [OPT_FORMAT] = {"--format", true, NULL},
        [OPT_SECRET_FILE] = {"--secret-file", true, NULL},
        [OPT_SECRET_ENV] = {"--secret-env", true, NULL},
        [OPT_JSON] = {"--json", false, NULL},
    };
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    int64_t id = 0;
    bool json;
    if (args_parse(argc, argv, opts, OPT_COUNT, pos, &npos) < 0 || npos < 1)
        goto usage;
    json = opts[OPT_JSON].value != NULL;
    if (strcmp(pos[0], "add") == 0 && npos == 3)
        return notify_cmd_add(config, pos, opts);
    if (strcmp(pos[0], "list") == 0 && npos == 1)
        return notify_cmd_list(config, json);
    if (npos != 2 || (strcmp(pos[0], "remove") != 0 && strcmp(pos[0], "test") != 0 &&
                      strcmp(pos[0], "deliveries") != 0))
        goto usage;
    if (parse_id(pos[1], &id) < 0)
        return CLI_EXIT_USAGE;
    if (strcmp(pos[0], "deliveries") == 0)
        return notify_cmd_deliveries(config, id, json);
    struct opened o;
    if (open_both(config, &o) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    struct notify_delivery d;
    bool test = strcmp(pos[0], "test") == 0;
    int r = test ? notify_test(o.notify, id, &d, &why) : notify_remove(o.notify, id, &why);
    cli_audit(o.svc, test ? "notification.test" : "notification.remove", NULL, pos[1], NULL, r,
              &why);
    close_both(&o);
    if (r < 0)
        return cli_refused(&why, r);
    if (test && json)
        cli_print_json(json_pack("{s:o}", "delivery", notify_present_delivery(&d)));
    else if (test)
        printf("ping %s queued for receiver %lld (a running server sends it within a second)\n",
               d.uuid, (long long)id);
    else
        printf("receiver %lld removed with its deliveries\n", (long long)id);
    return CLI_EXIT_OK;
usage:
    return cli_usage("notify");
}
