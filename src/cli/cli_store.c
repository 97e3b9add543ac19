/*
 * `otad store verify`: the scrub of the blob store. Hashes every blob
 * against its name and checks that every blob a release needs is there,
 * through the service (service_store_verify). Prints one line per problem
 * to stdout and a summary to stderr; exits 1 when any blob a release could
 * be served from is damaged, unreadable or missing. Safe while the server
 * runs: it only reads.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "service/service.h"

void cli_print_store_finding(const struct store_finding *f)
{
    const char *what;
    switch (f->result) {
    case 0:
        return;
    case -EBADMSG:
        what = "damaged";
        break;
    case -ENOENT:
        what = "missing";
        break;
    case -EINVAL:
        what = "not-a-blob";
        break;
    default:
        what = "unreadable";
    }
    printf("%-10s %s", what, f->blob);
    if (f->result == -EBADMSG || f->result == -EINVAL)
        printf("  %llu bytes", (unsigned long long)f->size);
    else if (f->result != -ENOENT)
        printf("  %s", strerror(-f->result));
    if (f->used_by[0])
        printf("  used by %s", f->used_by);
    else if (f->result == -EBADMSG)
        printf("  used by no release");
    putchar('\n');
}

static void print_finding(void *ctx, const struct store_finding *f)
{
    (void)ctx;
    cli_print_store_finding(f);
}

int cli_store(int argc, char **argv, const struct config *config)
{
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, NULL, 0, pos, &npos) < 0 || npos != 1 ||
        strcmp(pos[0], "verify") != 0)
        return cli_usage("store");
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct store_verify_totals t;
    struct reason why = {""};
    int r = service_store_verify(svc, print_finding, NULL, &t, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    fprintf(stderr,
            "%llu files: %llu blobs intact (%llu used by no release), %llu damaged or "
            "unreadable, %llu missing, %llu not blobs\n",
            (unsigned long long)t.files, (unsigned long long)t.good, (unsigned long long)t.unused,
            (unsigned long long)t.bad, (unsigned long long)t.missing, (unsigned long long)t.strays);
    return t.bad || t.missing ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
