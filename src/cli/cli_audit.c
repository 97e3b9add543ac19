/*
 * `otad audit list`: the audit log (docs/AUDIT.md) read from the data
 * folder, with the filters of GET /api/v1/audit, newest first, as a table
 * or as the API's JSON. Reading the log is not itself recorded.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "service/audit.h"
#include "service/present.h"

/* The options that are filters, named as service_audit_filter_set names them. */
static const char *const filters[] = {"since",   "until",   "actor", "action",
                                      "product", "outcome", "before"};

static void print_table(const struct audit_entry *list, size_t n)
{
    printf("%-6s %-20s %-9s %-16s %-20s %-28s %s\n", "ID", "WHEN", "VIA", "WHO", "ACTION", "OBJECT",
           "OUTCOME");
    for (size_t i = 0; i < n; i++) {
        const struct audit_entry *e = &list[i];
        char when[21], object[LIMIT_PRODUCT_NAME_BYTES + LIMIT_AUDIT_OBJECT_BYTES + 2];
        time_format_rfc3339(e->at_ms, when);
        snprintf(object, sizeof(object), "%s%s%s", e->product,
                 e->product[0] && e->object[0] ? "/" : "", e->object);
        char outcome[LIMIT_AUDIT_REASON_BYTES + 48];
        if (e->ok)
            snprintf(outcome, sizeof(outcome), "ok");
        else if (e->status)
            snprintf(outcome, sizeof(outcome), "failed %d %s: %s", e->status, e->error, e->reason);
        else
            snprintf(outcome, sizeof(outcome), "failed %s: %s", e->error, e->reason);
        printf("%-6lld %-20s %-9s %-16s %-20s %-28s %s\n", (long long)e->id, when,
               actor_via_name(e->actor.via), e->actor.name[0] ? e->actor.name : "-", e->action,
               object[0] ? object : "-", outcome);
    }
}

int cli_audit_log(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {
        {"--since", true, NULL},  {"--until", true, NULL},   {"--actor", true, NULL},
        {"--action", true, NULL}, {"--product", true, NULL}, {"--outcome", true, NULL},
        {"--before", true, NULL}, {"--limit", true, NULL},   {"--json", false, NULL},
    };
    enum { OPT_LIMIT = 7, OPT_JSON = 8 };
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos != 1 ||
        strcmp(pos[0], "list") != 0) {
        return cli_usage("audit");
    }
    struct audit_filter filter = {0};
    struct reason why = {""};
    for (size_t i = 0; i < ARRAY_SIZE(filters); i++)
        if (opts[i].value &&
            service_audit_filter_set(&filter, filters[i], opts[i].value, &why) < 0) {
            fprintf(stderr, "otad: %s\n", why.text);
            return cli_usage("audit");
        }
    uint64_t limit = 100;
    if (opts[OPT_LIMIT].value &&
        (parse_u64(opts[OPT_LIMIT].value, LIMIT_API_PAGE_ROWS, &limit) < 0 || limit == 0)) {
        fprintf(stderr, "otad: --limit takes 1 to %u\n", LIMIT_API_PAGE_ROWS);
        return CLI_EXIT_USAGE;
    }
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct audit_entry *list = NULL;
    size_t n = 0;
    int r = service_audit_list(svc, &filter, (size_t)limit, &list, &n, &why);
    service_close(svc);
    if (r < 0)
        return cli_refused(&why, r);
    if (opts[OPT_JSON].value) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, present_audit_entry(&list[i]));
        json_t *next = n == limit ? json_integer((json_int_t)list[n - 1].id) : json_null();
        cli_print_json(json_pack("{s:o,s:o}", "entries", arr, "next_before", next));
    } else {
        print_table(list, n);
        if (n == limit)
            printf("(more: --before %lld)\n", (long long)list[n - 1].id);
    }
    audit_entry_list_free(list, n);
    return CLI_EXIT_OK;
}
