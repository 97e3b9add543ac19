/*
 * The subcommands that work on the data folder directly, through the same
 * service calls the API uses: config, product, release, token, device.
 * A server running on the same folder sees their changes within a second
 * (it polls the catalog generation).
 */
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
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
#include "service/audit.h"
#include "notify/notify.h"
#include "service/compat.h"
#include "service/events.h"
#include "service/present.h"
#include "service/service.h"

int cli_open_service(const struct config *config, struct service **ret_svc)
{
    int r = service_open(config, SERVICE_LOCAL, ret_svc);
    if (r < 0) {
        fprintf(stderr, "otad: cannot open the data folder \"%s\": %s\n", config->data_dir,
                strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

void cli_close_service(const struct config *config, struct service *svc)
{
    struct events_stats st = {0};
    if (svc)
        events_stats(service_events(svc), &st);
    struct notify *notify = NULL;
    /* Opened only when there is something to store: notify_close takes the queue into rows. */
    if (st.queued && notify_open(config, svc, NOTIFY_LOCAL, &notify) == 0)
        notify_close(notify);
    service_close(svc);
}

int cli_refused(const struct reason *why, int r)
{
    fprintf(stderr, "otad: %s\n", why->text[0] ? why->text : strerror(-r));
    return CLI_EXIT_FAILURE;
}

/* The local user running the command: their name, or their uid when it has none. */
static void local_actor(struct actor *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->via = ACTOR_VIA_CLI;
    uid_t uid = geteuid();
    const struct passwd *pw = getpwuid(uid);
    if (pw && pw->pw_name)
        snprintf(ret->name, sizeof(ret->name), "%s", pw->pw_name);
    else
        snprintf(ret->name, sizeof(ret->name), "uid %lu", (unsigned long)uid);
    snprintf(ret->address, sizeof(ret->address), "local");
}

void cli_audit(struct service *svc, const char *action, const char *product, const char *object,
               json_t *params, int r, const struct reason *why)
{
    struct actor actor;
    local_actor(&actor);
    struct audit_note note = {
        .actor = &actor,
        .action = action,
        .product = product,
        .object = object,
        .params = params,
        .result = r,
        .reason = why && why->text[0] ? why->text : (r < 0 ? strerror(-r) : NULL),
    };
    service_audit_record(svc, &note);
    json_decref(params);
}

void cli_print_json(json_t *root)
{
    json_dumpf(root, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(root);
}

int cli_config(int argc, char **argv, const struct config *config)
{
    if (argc == 2 && strcmp(argv[1], "dump") == 0) {
        config_dump(config, stdout);
        return CLI_EXIT_OK;
    }
    if (argc == 2 && strcmp(argv[1], "markdown") == 0) {
        config_markdown(stdout);
        return CLI_EXIT_OK;
    }
    return cli_usage("config");
}

static int on_off(const char *value, const char *flag, bool *ret)
{
    if (strcmp(value, "on") == 0 || strcmp(value, "required") == 0)
        *ret = true;
    else if (strcmp(value, "off") == 0)
        *ret = false;
    else {
        fprintf(stderr, "otad: %s takes on or off\n", flag);
        return -EINVAL;
    }
    return 0;
}

/* otad product set NAME [--signing required|off] [--key K] [--legacy-signature on|off] ... */
static int product_set(const struct config *config, const char *name, struct args_option *opts)
{
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    struct product p = {0};
    int r = service_product_get(svc, name, &p, &why);
    struct product_signing s = p.signing;
    if (r == 0 && ((opts[3].value && on_off(opts[3].value, "--signing", &s.required) < 0) ||
                   (opts[5].value && on_off(opts[5].value, "--legacy-signature", &s.legacy) < 0) ||
                   (opts[6].value && on_off(opts[6].value, "--gzip", &s.gzip) < 0))) {
        cli_close_service(config, svc);
        return CLI_EXIT_USAGE;
    }
    if (r == 0 && opts[4].value && str_copy(s.key, sizeof(s.key), opts[4].value) < 0)
        r = reason_set(&why, -EINVAL, "key name too long");
    if (r == 0 && opts[7].value && str_copy(s.esp32_hash, sizeof(s.esp32_hash), opts[7].value) < 0)
        r = reason_set(&why, -EINVAL, "esp32 hash must be sha256, sha384 or sha512");
    if (r == 0 && opts[8].value &&
        str_copy(s.core_min, sizeof(s.core_min),
                 strcmp(opts[8].value, "none") == 0 ? "" : opts[8].value) < 0)
        r = reason_set(&why, -EINVAL, "--core-min takes a core version such as 3.0, or none");
    if (r == 0 && opts[9].value &&
        str_copy(s.secure_boot_keys, sizeof(s.secure_boot_keys),
                 strcmp(opts[9].value, "none") == 0 ? "" : opts[9].value) < 0)
        r = reason_set(&why, -EINVAL,
                       "--secure-boot-keys takes 1 to 3 key names (K1,K2,K3), or none");
    if (r == 0)
        r = service_product_set_signing(svc, name, &s, &why);
    cli_audit(svc, "product.update", name, NULL,
              json_pack("{s:{s:b,s:s,s:b,s:b,s:s,s:s,s:s}}", "signing", "required", s.required,
                        "key", s.key, "legacy", s.legacy, "gzip", s.gzip, "esp32_hash",
                        s.esp32_hash, "core_min", s.core_min, "secure_boot_keys",
                        s.secure_boot_keys),
              r, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    printf("product %s: signing %s, key %s, legacy form %s, gzip %s, esp32 hash %s, "
           "declared core %s, secure boot keys %s\n",
           name, s.required ? "required" : "off", s.key[0] ? s.key : "-", s.legacy ? "on" : "off",
           s.gzip ? "on" : "off", s.esp32_hash[0] ? s.esp32_hash : "sha256",
           s.core_min[0] ? s.core_min : "none",
           s.secure_boot_keys[0] ? s.secure_boot_keys : "none");
    return CLI_EXIT_OK;
}

int cli_product(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--platform", true, NULL}, {"--default-channel", true, NULL},
                                 {"--json", false, NULL},    {"--signing", true, NULL},
                                 {"--key", true, NULL},      {"--legacy-signature", true, NULL},
                                 {"--gzip", true, NULL},     {"--esp32-hash", true, NULL},
                                 {"--core-min", true, NULL}, {"--secure-boot-keys", true, NULL}};
    if (argc >= 2 && strcmp(argv[1], "fleet") == 0) /* its own options (cli_fleet.c) */
        return cli_product_fleet(argc, argv, config);
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos < 1)
        goto usage;
    struct service *svc;
    if (strcmp(pos[0], "set") == 0 && npos == 2)
        return product_set(config, pos[1], opts);
    if (strcmp(pos[0], "add") == 0 && npos == 2) {
        enum platform platform;
        if (!opts[0].value || platform_parse(opts[0].value, &platform) < 0) {
            fprintf(stderr, "otad: --platform esp8266 or --platform esp32 is required\n");
            return CLI_EXIT_USAGE;
        }
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct reason why = {""};
        struct product p;
        int r = service_product_add(svc, pos[1], platform, opts[1].value, &p, &why);
        cli_audit(svc, "product.create", pos[1], NULL,
                  json_pack("{s:s,s:o}", "platform", platform_name(platform), "default_channel",
                            opts[1].value ? json_string(opts[1].value) : json_null()),
                  r, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        printf("product %s (%s), default channel %s\n", p.name, platform_name(p.platform),
               p.default_channel);
        return CLI_EXIT_OK;
    }
    if (strcmp(pos[0], "list") == 0 && npos == 1) {
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct product *list = NULL;
        size_t n = 0;
        int r = service_product_list(svc, &list, &n);
        /* Devices that could not be updated safely, per product and reason (docs/SIGNING.md). */
        uint64_t(*issues)[DELIVERY_ISSUE_COUNT] =
            r == 0 ? calloc(n ? n : 1, sizeof(*issues)) : NULL;
        if (r == 0 && !issues)
            r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++)
            r = service_product_delivery_issues(svc, &list[i], issues[i]);
        cli_close_service(config, svc);
        if (r < 0) {
            fprintf(stderr, "otad: cannot list products: %s\n", strerror(-r));
            free(list);
            free(issues);
            return CLI_EXIT_FAILURE;
        }
        if (opts[2].value) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *obj = present_product(&list[i]);
                json_object_set_new(obj, "delivery_warnings",
                                    present_delivery_issues(issues[i], list[i].name));
                json_array_append_new(arr, obj);
            }
            cli_print_json(json_pack("{s:o}", "products", arr));
        } else {
            for (size_t i = 0; i < n; i++) {
                const char *secure_boot = list[i].signing.secure_boot_keys;
                printf("%-24s %-8s %-10s %s%s%s\n", list[i].name, platform_name(list[i].platform),
                       list[i].default_channel,
                       list[i].signing.required ? list[i].signing.key : "unsigned",
                       secure_boot[0] ? " secure-boot:" : "", secure_boot);
                for (int k = 1; k < DELIVERY_ISSUE_COUNT; k++) {
                    if (!issues[i][k])
                        continue;
                    char fix[512];
                    delivery_issue_fix_for((enum delivery_issue)k, list[i].name, fix, sizeof(fix));
                    printf("  warning: %llu device(s): %s\n    fix: %s\n",
                           (unsigned long long)issues[i][k],
                           delivery_issue_message((enum delivery_issue)k), fix);
                }
            }
        }
        free(list);
        free(issues);
        return CLI_EXIT_OK;
    }
usage:
    return cli_usage("product");
}

static int release_add(const struct config *config, const char *product, const char *file,
                       struct args_option *opts)
{
    enum fw_mode mode = FW_MODE_SKETCH;
    /* No --version: the service takes the image's app descriptor's, or says why it cannot. */
    if (opts[2].value && fw_mode_parse(opts[2].value, &mode) < 0) {
        fprintf(stderr, "otad: --mode must be sketch or fs\n");
        return CLI_EXIT_USAGE;
    }
    uint8_t *image;
    size_t len;
    int r = file_read_all(file, config->max_upload_bytes, &image, &len);
    if (r < 0) {
        fprintf(stderr, "otad: cannot read \"%s\": %s\n", file,
                r == -EFBIG ? "larger than max_upload_bytes" : strerror(-r));
        return CLI_EXIT_FAILURE;
    }
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK) {
        free(image);
        return CLI_EXIT_FAILURE;
    }
    struct publish_request req = {
        .product = product,
        .version = opts[0].value,
        .channel = opts[1].value,
        .mode = mode,
        .image = image,
        .image_len = len,
        .source = "cli",
        .notes = opts[3].value,
        .presigned = opts[5].value != NULL,
        .force_version = opts[6].value != NULL,
        .allow_secure_version_bump = opts[7].value != NULL,
    };
    struct secure_version_bump bump;
    req.ret_bump = &bump;
    struct actor actor;
    local_actor(&actor);
    req.actor = &actor;
    struct reason why = {""};
    struct release rel;
    bool created = false;
    r = service_publish(svc, &req, &rel, &created, &why);
    json_t *params = json_pack(
        "{s:o,s:s,s:b,s:I,s:I}", "channel", req.channel ? json_string(req.channel) : json_null(),
        "mode", fw_mode_name(mode), "signed", req.presigned, "bytes", (json_int_t)len,
        "notes_bytes", (json_int_t)(req.notes ? strlen(req.notes) : 0));
    if (r == 0)
        json_object_set_new(params, "sha256", json_string(rel.sha256));
    if (req.force_version)
        json_object_set_new(params, "force_version", json_true());
    json_object_set_new(params, "allow_secure_version_bump",
                        json_boolean(req.allow_secure_version_bump));
    if (bump.raised) /* refused or confirmed, the budget's figures are kept */
        json_object_set_new(params, "secure_version_bump", present_secure_version_bump(&bump));
    cli_audit(svc, "release.publish", product, r == 0 ? rel.version : req.version, params, r, &why);
    cli_close_service(config, svc);
    free(image);
    if (r < 0)
        return cli_refused(&why, r);
    printf("%s %s %s %s (seq %lld, %llu bytes, md5 %s)\n", created ? "published" : "unchanged",
           product, fw_mode_name(rel.mode), rel.version, (long long)rel.seq,
           (unsigned long long)rel.size, rel.md5);
    if (bump.raised) /* docs/SECURITY.md, "Anti-rollback" */
        printf("warning: %s\n", bump.warning);
    for (unsigned i = 0; i < rel.variant_count; i++) {
        const struct variant *v = &rel.variants[i];
        printf("  %-14s %9llu bytes", variant_kind_name(v->kind), (unsigned long long)v->size);
        if (v->kind == VARIANT_GZIP || v->kind == VARIANT_SIGNED_GZIP)
            printf("  (%.0f%% smaller than the image)",
                   rel.size ? 100.0 - 100.0 * (double)v->size / (double)rel.size : 0.0);
        printf("\n");
    }
    if (rel.app.present) {
        char line[512];
        app_desc_format(&rel.app, line, sizeof(line));
        printf("  app descriptor: %s\n", line);
    }
    free(rel.notes);
    return CLI_EXIT_OK;
}

int cli_release(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {
        {"--version", true, NULL},        {"--channel", true, NULL},
        {"--mode", true, NULL},           {"--notes", true, NULL},
        {"--json", false, NULL},          {"--signed", false, NULL},
        {"--force-version", false, NULL}, {"--allow-secure-version-bump", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos < 1)
        goto usage;
    if (strcmp(pos[0], "add") == 0 && npos == 3)
        return release_add(config, pos[1], pos[2], opts);
    if (strcmp(pos[0], "list") == 0 && npos == 2) {
        struct service *svc;
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct release *list = NULL;
        size_t n = 0;
        struct reason why = {""};
        int r = service_release_list(svc, pos[1], &list, &n, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        if (opts[4].value) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, present_release(&list[i], pos[1]));
            cli_print_json(json_pack("{s:o}", "releases", arr));
        } else {
            for (size_t i = 0; i < n; i++) {
                char when[21];
                time_format_rfc3339(list[i].created_ms, when);
                char app[64];
                app_desc_summary(&list[i].app, app, sizeof(app));
                printf("%-4lld %-20s %-8s %-6s %9llu  %s  %s  %s\n", (long long)list[i].seq,
                       list[i].version, list[i].channel, fw_mode_name(list[i].mode),
                       (unsigned long long)list[i].size, list[i].md5, when, app);
            }
        }
        release_list_free(list, n);
        return CLI_EXIT_OK;
    }
usage:
    return cli_usage("release");
}

int cli_token(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {
        {"--scope", true, NULL}, {"--name", true, NULL}, {"--json", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos < 1)
        goto usage;
    struct service *svc;
    struct reason why = {""};
    if (strcmp(pos[0], "create") == 0 && npos == 1) {
        enum token_scope scope;
        if (!opts[0].value || token_scope_parse(opts[0].value, &scope) < 0) {
            fprintf(stderr, "otad: --scope publish, admin or read is required\n");
            return CLI_EXIT_USAGE;
        }
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        char secret[SERVICE_TOKEN_LEN + 1];
        int64_t id;
        int r = service_token_create(svc, opts[1].value, scope, secret, &id, &why);
        /* The token's name and scope; its secret never. */
        char object[24] = "";
        if (r == 0)
            snprintf(object, sizeof(object), "%lld", (long long)id);
        cli_audit(svc, "token.create", NULL, object,
                  json_pack("{s:s,s:s}", "name", opts[1].value ? opts[1].value : "", "scope",
                            token_scope_name(scope)),
                  r, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        fprintf(stderr, "token %lld (%s) created; it is shown once, store it now:\n", (long long)id,
                token_scope_name(scope));
        printf("%s\n", secret);
        return CLI_EXIT_OK;
    }
    if (strcmp(pos[0], "list") == 0 && npos == 1) {
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct token *list = NULL;
        size_t n = 0;
        int r = service_token_list(svc, &list, &n);
        cli_close_service(config, svc);
        if (r < 0) {
            fprintf(stderr, "otad: cannot list tokens: %s\n", strerror(-r));
            return CLI_EXIT_FAILURE;
        }
        if (opts[2].value) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, present_token(&list[i]));
            cli_print_json(json_pack("{s:o}", "tokens", arr));
        } else {
            for (size_t i = 0; i < n; i++) {
                char when[21];
                time_format_rfc3339(list[i].created_ms, when);
                printf("%-4lld %-20s %-8s created %s%s\n", (long long)list[i].id, list[i].name,
                       token_scope_name(list[i].scope), when,
                       list[i].revoked_ms ? " (revoked)" : "");
            }
        }
        free(list);
        return CLI_EXIT_OK;
    }
    if (strcmp(pos[0], "revoke") == 0 && npos == 2) {
        uint64_t id;
        if (parse_u64(pos[1], INT64_MAX, &id) < 0) {
            fprintf(stderr, "otad: token id \"%s\" is not a number\n", pos[1]);
            return CLI_EXIT_USAGE;
        }
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        int r = service_token_revoke(svc, (int64_t)id, &why);
        cli_audit(svc, "token.revoke", NULL, pos[1], NULL, r, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        printf("token %llu revoked\n", (unsigned long long)id);
        return CLI_EXIT_OK;
    }
usage:
    return cli_usage("token");
}

int cli_session(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--json", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos < 1)
        goto usage;
    struct service *svc;
    struct reason why = {""};
    if (strcmp(pos[0], "list") == 0 && npos == 1) {
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        struct session_record *list = NULL;
        size_t n = 0;
        int r = service_session_list(svc, &list, &n);
        service_close(svc);
        if (r < 0) {
            fprintf(stderr, "otad: cannot list sessions: %s\n", strerror(-r));
            return CLI_EXIT_FAILURE;
        }
        if (opts[0].value) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, present_session(&list[i]));
            cli_print_json(json_pack("{s:o}", "sessions", arr));
        } else {
            for (size_t i = 0; i < n; i++) {
                char created[21], used[21];
                time_format_rfc3339(list[i].created_ms, created);
                time_format_rfc3339(list[i].last_used_ms, used);
                printf("%-4lld %-20s %-8s from %-15s created %s last used %s  %s\n",
                       (long long)list[i].id, list[i].token_name, token_scope_name(list[i].scope),
                       list[i].address[0] ? list[i].address : "?", created, used,
                       list[i].user_agent);
            }
        }
        free(list);
        return CLI_EXIT_OK;
    }
    if (strcmp(pos[0], "revoke") == 0 && npos == 2) {
        uint64_t id;
        if (parse_u64(pos[1], INT64_MAX, &id) < 0) {
            fprintf(stderr, "otad: session id \"%s\" is not a number\n", pos[1]);
            return CLI_EXIT_USAGE;
        }
        if (cli_open_service(config, &svc) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
        int r = service_session_revoke(svc, (int64_t)id, &why);
        cli_audit(svc, "session.revoke", NULL, pos[1], NULL, r, &why);
        service_close(svc);
        if (r < 0)
            return cli_refused(&why, r);
        printf("session %llu revoked\n", (unsigned long long)id);
        return CLI_EXIT_OK;
    }
usage:
    return cli_usage("session");
}

int cli_device(int argc, char **argv, const struct config *config)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return cli_device_show(argc, argv, config);
    struct args_option opts[] = {
        {"--limit", true, NULL}, {"--offset", true, NULL}, {"--json", false, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) < 0 || npos != 2 ||
        strcmp(pos[0], "list") != 0)
        goto usage;
    uint64_t limit = LIMIT_API_PAGE_ROWS, offset = 0;
    if ((opts[0].value && parse_u64(opts[0].value, LIMIT_API_PAGE_ROWS, &limit) < 0) ||
        (opts[1].value && parse_u64(opts[1].value, INT64_MAX, &offset) < 0))
        goto usage;
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct device_record *list = NULL;
    size_t n = 0;
    uint64_t total = 0;
    struct reason why = {""};
    int r =
        service_device_list(svc, pos[1], (size_t)limit, (size_t)offset, &list, &n, &total, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    if (opts[2].value) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, present_device(&list[i]));
        cli_print_json(json_pack("{s:I,s:o}", "total", (json_int_t)total, "devices", arr));
    } else {
        for (size_t i = 0; i < n; i++) {
            char mac[18], seen[21];
            mac_format(list[i].report.sta_mac, mac);
            time_format_rfc3339(list[i].last_seen_ms, seen);
            printf("%s  %-20s %-3d %s  %lld check-ins\n", mac,
                   list[i].report.version[0] ? list[i].report.version : "-", list[i].last_status,
                   seen, (long long)list[i].checkins);
        }
        fprintf(stderr, "%zu of %llu devices\n", n, (unsigned long long)total);
    }
    free(list);
    return CLI_EXIT_OK;
usage:
    return cli_usage("device");
}
