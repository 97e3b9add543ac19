/*
 * `otad backup`, `otad restore` and `otad check` (docs/OPERATIONS.md,
 * "Backups"): their arguments, what they print and their exit status. What
 * a backup holds, the order of the copy and the checks are the service's
 * (service/backup.h). backup and check may run while the server does;
 * restore refuses a data folder any otad has open.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "cli/local.h"
#include "core/util.h"
#include "service/backup.h"

/* The default of --keep: a week of nightly backups. */
#define BACKUP_KEEP_DEFAULT 7

static void print_totals(const char *verb, const char *where, const struct backup_totals *t)
{
    printf("%s %s in %.1f s:", verb, where, (double)t->elapsed_ms / 1000.0);
    if (t->database_copied)
        printf(" database %llu bytes,", (unsigned long long)t->database_bytes);
    printf(" %llu blobs (%llu bytes), %llu files of keys/ and tls/ (%llu bytes)\n",
           (unsigned long long)t->blobs, (unsigned long long)t->blob_bytes,
           (unsigned long long)t->files, (unsigned long long)t->file_bytes);
    if (!t->database_copied)
        fprintf(stderr, "otad: the database is PostgreSQL: this backup holds keys/ and tls/ only; "
                        "back up the database with pg_dump -Fc (docs/OPERATIONS.md, Backups)\n");
}

int cli_backup(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--in", true, NULL}, {"--keep", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 ||
        npos != (opts[0].value ? 0u : 1u) || (opts[1].value && !opts[0].value)) {
        return cli_usage("backup");
    }
    struct backup_totals t;
    struct reason why = {""};
    if (!opts[0].value) {
        int r = service_backup(config, pos[0], &t, &why);
        if (r < 0)
            return cli_refused(&why, r);
        print_totals("backed up into", pos[0], &t);
        return CLI_EXIT_OK;
    }
    char *end = NULL;
    unsigned long keep = opts[1].value ? strtoul(opts[1].value, &end, 10) : BACKUP_KEEP_DEFAULT;
    if ((opts[1].value && (!*opts[1].value || *end)) || keep < 1 || keep > 10000) {
        fprintf(stderr, "otad: --keep takes a number of backups from 1 to 10000\n");
        return CLI_EXIT_USAGE;
    }
    char dest[4096];
    size_t removed = 0;
    int r =
        service_backup_rotate(config, opts[0].value, keep, dest, sizeof(dest), &removed, &t, &why);
    if (r < 0)
        return cli_refused(&why, r);
    print_totals("backed up into", dest, &t);
    printf("removed %zu older backup(s) of %s, keeping the newest %lu\n", removed, opts[0].value,
           keep);
    if (why.text[0])
        fprintf(stderr, "otad: %s\n", why.text);
    return CLI_EXIT_OK;
}

/* What `otad check` and `otad restore` print, or gather for --json. */
struct report {
    json_t *problems, *orphans, *strays; /* NULL: print lines instead */
    const char *database_finding;
    char database_text[512];
};

static const char *blob_kind(int result)
{
    switch (result) {
    case 0:
        return "orphan";
    case -EBADMSG:
        return "damaged";
    case -ENOENT:
        return "missing";
    case -EINVAL:
        return "not-a-blob";
    default:
        return "unreadable";
    }
}

static void report_finding(void *ctx, const struct check_finding *f)
{
    struct report *rep = ctx;
    switch (f->kind) {
    case CHECK_DATABASE:
        snprintf(rep->database_text, sizeof(rep->database_text), "%s", f->text);
        rep->database_finding = rep->database_text;
        if (rep->problems)
            json_array_append_new(rep->problems,
                                  json_pack("{s:s,s:s}", "kind", "database", "finding", f->text));
        else
            printf("database   %s\n", f->text);
        return;
    case CHECK_KEY:
        if (rep->problems)
            json_array_append_new(rep->problems, json_pack("{s:s,s:s,s:s}", "kind", "key-missing",
                                                           "product", f->product, "key", f->key));
        else
            printf("key-missing %s  product %s names it; keys/ has neither %s.key nor %s.pub\n",
                   f->key, f->product, f->key, f->key);
        return;
    case CHECK_BLOB:
        break;
    }
    const struct store_finding *b = f->blob;
    bool orphan = b->result == 0 && !b->used_by[0];
    if (b->result == 0 && !orphan)
        return;
    if (!rep->problems) {
        if (orphan)
            printf("orphan     %s  %llu bytes  used by no release (left by an interrupted "
                   "publish; not removed)\n",
                   b->blob, (unsigned long long)b->size);
        else
            cli_print_store_finding(b);
        return;
    }
    json_t *item = json_pack("{s:s,s:s,s:I}", "kind", blob_kind(b->result), "blob", b->blob, "size",
                             (json_int_t)b->size);
    if (b->used_by[0])
        json_object_set_new(item, "used_by", json_string(b->used_by));
    json_array_append_new(orphan                 ? rep->orphans
                          : b->result == -EINVAL ? rep->strays
                                                 : rep->problems,
                          item);
}

int cli_check(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--quick", false, NULL}, {"--json", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos != 0) {
        return cli_usage("check");
    }
    bool json = opts[1].value != NULL;
    struct report rep = {0};
    if (json) {
        rep.problems = json_array();
        rep.orphans = json_array();
        rep.strays = json_array();
    }
    struct check_totals t;
    struct reason why = {""};
    int r = service_data_check(config, config->data_dir, opts[0].value != NULL, report_finding,
                               &rep, &t, &why);
    if (r < 0) {
        json_decref(rep.problems);
        json_decref(rep.orphans);
        json_decref(rep.strays);
        return cli_refused(&why, r);
    }
    if (json) {
        json_t *root =
            json_pack("{s:b,s:{s:b,s:s?},s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:o,s:o,s:o}", "ok",
                      t.problems == 0, "database", "ok", t.database_ok, "finding",
                      rep.database_finding, "blobs", "files", (json_int_t)t.blobs.files, "intact",
                      (json_int_t)t.blobs.good, "orphans", (json_int_t)t.blobs.unused, "damaged",
                      (json_int_t)t.blobs.bad, "missing", (json_int_t)t.blobs.missing, "not_blobs",
                      (json_int_t)t.blobs.strays, "keys_missing", (json_int_t)t.keys_missing,
                      "problems", rep.problems, "orphans", rep.orphans, "not_blobs", rep.strays);
        cli_print_json(root);
    }
    fprintf(stderr,
            "database %s; %llu blob files: %llu intact (%llu orphans), %llu damaged or "
            "unreadable, %llu missing, %llu not blobs; %llu keys missing: %llu problem(s)\n",
            t.database_ok ? "ok" : "DAMAGED", (unsigned long long)t.blobs.files,
            (unsigned long long)t.blobs.good, (unsigned long long)t.blobs.unused,
            (unsigned long long)t.blobs.bad, (unsigned long long)t.blobs.missing,
            (unsigned long long)t.blobs.strays, (unsigned long long)t.keys_missing,
            (unsigned long long)t.problems);
    return t.problems ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cli_restore(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--force", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos != 1) {
        return cli_usage("restore");
    }
    struct report rep = {0};
    struct backup_totals t;
    struct reason why = {""};
    char replaced[4096];
    int r = service_restore(config, pos[0], opts[0].value != NULL, report_finding, &rep, replaced,
                            sizeof(replaced), &t, &why);
    if (r < 0)
        return cli_refused(&why, r);
    print_totals("restored into", config->data_dir, &t);
    if (replaced[0])
        printf("the data folder that was there is kept as %s (remove it once the restored one "
               "serves)\n",
               replaced);
    return CLI_EXIT_OK;
}
