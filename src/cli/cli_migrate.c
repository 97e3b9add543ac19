/*
 * `otad migrate --to URL`: moves a stopped one-box otad from SQLite to
 * PostgreSQL. Copies the data folder's database and the blobs its
 * releases need into an empty PostgreSQL database in one transaction, then
 * reads everything back and compares (service/migrate.h, db/db_copy.h).
 * Prints what it copied to stderr as it goes, one `TABLE N rows` line per
 * table and `blobs N (M bytes), verified` to stdout once the copy checks
 * out; exits 0 only then. The data folder is left as it was.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "service/migrate.h"

static void print_event(void *ctx, const struct migrate_event *e)
{
    (void)ctx;
    switch (e->stage) {
    case MIGRATE_TABLE_COPIED:
        fprintf(stderr, "copied %s: %llu rows\n", e->table, (unsigned long long)e->rows);
        break;
    case MIGRATE_TABLE_VERIFIED:
        printf("%s %llu rows\n", e->table, (unsigned long long)e->rows);
        break;
    case MIGRATE_BLOBS_VERIFIED:
        printf("blobs %llu (%llu bytes), verified\n", (unsigned long long)e->blobs,
               (unsigned long long)e->bytes);
        break;
    }
    fflush(stdout);
}

int cli_migrate(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--to", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos != 0 ||
        !opts[0].value)
        return cli_usage("migrate");
    struct reason why = {""};
    int r = service_migrate_to_postgresql(config->data_dir, opts[0].value, print_event, NULL, &why);
    if (r < 0)
        return cli_refused(&why, r);
    fprintf(stderr, "migrated \"%s\" to PostgreSQL: every table and blob verified\n",
            config->data_dir);
    return CLI_EXIT_OK;
}
