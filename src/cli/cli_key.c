/*
 * `otad key`, `otad sign` and `otad verify`: the signing module (src/signing/)
 * on the command line. Keys live in <data_dir>/keys as NAME.key (private,
 * 0600) and NAME.pub; sign and verify work on plain files without a server,
 * for CI. This file parses arguments and prints; every decision about keys
 * and formats is the signing module's.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/limits.h"
#include "core/reason.h"
#include "core/util.h"
#include "signing/secure_boot.h"
#include "signing/signing.h"

#define KEY_LIST_MAX 4096u /* names `otad key list` shows */

/* Prints "otad WHAT: " and the formatted message to stderr; returns CLI_EXIT_FAILURE. */
static int fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "otad %s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_FAILURE;
}

/* Prints a usage error and subcommand SUBCOMMAND's synopsis; returns CLI_EXIT_USAGE. */
static int usage_error(const char *what, const char *subcommand, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_error(const char *what, const char *subcommand, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "otad %s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return cli_usage(subcommand);
}

/*
 * Splits ARGV with args_parse into OPTIONS and *RET_COUNT positional
 * arguments; on a bad option prints subcommand SUBCOMMAND's synopsis too. Returns 0
 * or CLI_EXIT_USAGE.
 */
static int parse_args(const char *subcommand, int argc, char **argv, struct args_option *options,
                      unsigned option_count, const char **ret_positional, unsigned *ret_count)
{
    if (args_parse(argc, argv, options, option_count, ret_positional, ret_count) < 0)
        return cli_usage(subcommand);
    return 0;
}

static int keys_dir(const struct config *config, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/keys", config->data_dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Loads key NAME from the keys folder: NAME.key when PRIVATE, else NAME.pub,
 * falling back to the public half of NAME.key.
 */
static int load_named_key(const struct config *config, const char *name, bool private_key,
                          struct signing_key **ret_key, struct reason *why)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct stat st;
    if (keys_dir(config, dir, sizeof(dir)) < 0 ||
        signing_key_path(path, sizeof(path), dir, name, private_key) < 0)
        return reason_set(why, -ENAMETOOLONG, "data_dir is too long");
    if (private_key)
        return signing_key_load_private(path, ret_key, why);
    if (stat(path, &st) == 0)
        return signing_key_load_public(path, ret_key, why);
    signing_key_path(path, sizeof(path), dir, name, true);
    if (stat(path, &st) == 0)
        return signing_key_load_private(path, ret_key, why);
    return reason_set(why, -ENOENT, "no key '%s' in '%s' (see `otad key list`)", name, dir);
}

/*
 * Loads the key ARG names: a file path (anything with a '/', an existing
 * file, or not a key name), else a key name in the keys folder. PRIVATE
 * asks for a private key; otherwise a public one, or a private file's
 * public half.
 */
static int load_key(const struct config *config, const char *arg, bool private_key,
                    struct signing_key **ret_key, struct reason *why)
{
    struct stat st;
    bool is_path = strchr(arg, '/') || stat(arg, &st) == 0 || !signing_key_name_valid(arg);
    if (!is_path)
        return load_named_key(config, arg, private_key, ret_key, why);
    if (private_key)
        return signing_key_load_private(arg, ret_key, why);
    int r = signing_key_load_public(arg, ret_key, why);
    if (r != -EINVAL)
        return r;
    /* Not a public PEM: a private key file gives its public half too. */
    struct reason first = *why;
    if (signing_key_load_private(arg, ret_key, why) == 0)
        return 0;
    *why = first;
    return r;
}

static void print_key(const char *label, const struct signing_key *key)
{
    struct signing_key_info info;
    signing_key_info(key, &info);
    printf("%s%s %s\n", label, info.type, info.fingerprint);
}

/*
 * Records `key generate` in the audit log (docs/AUDIT.md): the key's name,
 * type and public fingerprint, or why it failed; never key material. The
 * key is on disk either way: a log that cannot be opened is reported, not
 * a failure of the command.
 */
static void key_generate_audit(const struct config *config, const char *name, const char *type,
                               const struct signing_key *key, int r, const struct reason *why)
{
    struct service *svc;
    if (service_open(config, SERVICE_LOCAL, &svc) < 0) {
        fprintf(stderr, "otad: warning: the audit log in \"%s\" cannot be opened\n",
                config->data_dir);
        return;
    }
    json_t *params = json_pack("{s:s}", "type", type);
    if (key) {
        struct signing_key_info info;
        signing_key_info(key, &info);
        json_object_set_new(params, "fingerprint", json_string(info.fingerprint));
    }
    cli_audit(svc, "key.generate", NULL, name, params, r, why);
    service_close(svc);
}

static int key_generate(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--type", true, NULL}, {"--name", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("key", argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    if (npos != 0)
        return usage_error("key generate", "key", "unexpected argument '%s'", pos[0]);
    const char *type_name = opts[0].value, *name = opts[1].value;
    enum signing_key_type type;
    if (!type_name)
        return usage_error("key generate", "key", "--type is required");
    if (signing_key_type_parse(type_name, &type) < 0)
        return usage_error("key generate", "key", "unknown key type '%s'", type_name);
    if (!name)
        name = type_name;
    if (!signing_key_name_valid(name))
        return usage_error("key generate", "key",
                           "invalid key name '%s': use letters, digits, '.', '_' or '-'", name);

    char dir[PATH_MAX], private_path[PATH_MAX], public_path[PATH_MAX];
    if (keys_dir(config, dir, sizeof(dir)) < 0 ||
        signing_key_path(private_path, sizeof(private_path), dir, name, true) < 0 ||
        signing_key_path(public_path, sizeof(public_path), dir, name, false) < 0)
        return fail("key generate", "data_dir '%s' is too long", config->data_dir);

    struct signing_key *key = NULL;
    struct reason why = {""};
    int r = signing_key_generate(dir, name, type, &key, &why);
    key_generate_audit(config, name, type_name, r < 0 ? NULL : key, r, &why);
    if (r < 0)
        return fail("key generate", "%s", why.text);
    printf("generated %s key '%s'\n", type_name, name);
    printf("private: %s (mode 0600)\n", private_path);
    printf("public: %s\n", public_path);
    print_key("key: ", key);
    signing_key_free(key);
    return CLI_EXIT_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Collects the key names in DIR (from NAME.key and NAME.pub), sorted and
 * without duplicates, into a new array of new strings (caller frees).
 */
static int collect_key_names(const char *dir, char ***ret_names, size_t *ret_count)
{
    char **names = NULL;
    size_t count = 0;
    int r = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    names = calloc(KEY_LIST_MAX, sizeof(*names));
    if (!names) {
        r = -ENOMEM;
        goto out;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) && count < KEY_LIST_MAX) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || (strcmp(entry->d_name + len - 4, ".key") != 0 &&
                        strcmp(entry->d_name + len - 4, ".pub") != 0))
            continue;
        char *name = strndup(entry->d_name, len - 4);
        if (!name) {
            r = -ENOMEM;
            goto out;
        }
        if (!signing_key_name_valid(name)) {
            free(name);
            continue;
        }
        names[count++] = name;
    }
    qsort(names, count, sizeof(*names), compare_names);
    size_t unique = 0;
    for (size_t i = 0; i < count; i++) {
        if (unique > 0 && strcmp(names[unique - 1], names[i]) == 0)
            free(names[i]);
        else
            names[unique++] = names[i];
    }
    *ret_names = names;
    *ret_count = unique;
    names = NULL;
out:
    if (names) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
    }
    closedir(d);
    return r;
}

static int key_list(int argc, char **argv, const struct config *config)
{
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("key", argc, argv, NULL, 0, pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    if (npos != 0)
        return usage_error("key list", "key", "unexpected argument '%s'", pos[0]);
    char dir[PATH_MAX];
    if (keys_dir(config, dir, sizeof(dir)) < 0)
        return fail("key list", "data_dir '%s' is too long", config->data_dir);

    char **names = NULL;
    size_t count = 0;
    int r = collect_key_names(dir, &names, &count);
    if (r == -ENOENT)
        return CLI_EXIT_OK; /* no key generated yet */
    if (r < 0)
        return fail("key list", "cannot read '%s': %s", dir, strerror(-r));

    int status = CLI_EXIT_OK;
    for (size_t i = 0; i < count; i++) {
        struct signing_key *key = NULL;
        struct reason why = {""};
        if (load_named_key(config, names[i], false, &key, &why) < 0) {
            status = fail("key list", "%s: %s", names[i], why.text);
        } else {
            struct signing_key_info info;
            signing_key_info(key, &info);
            printf("%s %s %s\n", names[i], info.type, info.fingerprint);
            signing_key_free(key);
        }
        free(names[i]);
    }
    free(names);
    return status;
}

/*
 * `otad key show`: what a key is, its fingerprint and, for the types Secure
 * Boot v2 takes, the digest a device burns in eFuse (docs/SIGNING.md), to
 * compare with `espefuse.py summary`.
 */
static int key_show(int argc, char **argv, const struct config *config)
{
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("key", argc, argv, NULL, 0, pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    if (npos != 1)
        return usage_error("key show", "key", "give one key name or file");
    struct signing_key *key = NULL;
    struct reason why = {""};
    if (load_key(config, pos[0], false, &key, &why) < 0)
        return fail("key show", "%s", why.text);
    struct signing_key_info info;
    signing_key_info(key, &info);
    char digest[SECURE_BOOT_DIGEST_HEX] = "-";
    if (secure_boot_key_usable(key) && secure_boot_key_digest(key, digest, &why) < 0) {
        signing_key_free(key);
        return fail("key show", "%s", why.text);
    }
    printf("type %s\nfingerprint %s\nsecure_boot_digest %s\n", info.type, info.fingerprint, digest);
    signing_key_free(key);
    return CLI_EXIT_OK;
}

/* "pubkey_" and NAME with every character outside [A-Za-z0-9_] made '_'. */
static void c_ident_for(const char *name, char *out, size_t size)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    size_t n = (size_t)snprintf(out, size, "pubkey_");
    for (; *base && *base != '.' && n + 1 < size; base++) {
        char c = *base;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[n++] = ok ? c : '_';
    }
    out[n] = 0;
}

static int key_export(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--format", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("key", argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    const char *format = opts[0].value ? opts[0].value : "pem";
    if (npos != 1)
        return usage_error("key export", "key", "give one key name or file");
    if (strcmp(format, "pem") != 0 && strcmp(format, "c") != 0)
        return usage_error("key export", "key", "unknown format '%s' (pem or c)", format);
    const char *name = pos[0];

    struct signing_key *key = NULL;
    struct reason why = {""};
    struct buf out;
    int status = CLI_EXIT_OK;
    buf_init(&out, 64u * 1024u);
    if (load_key(config, name, false, &key, &why) < 0) {
        status = fail("key export", "%s", why.text);
        goto out;
    }
    int r;
    if (strcmp(format, "pem") == 0) {
        r = signing_key_export_pem(key, &out, &why);
    } else {
        char ident[72];
        c_ident_for(name, ident, sizeof(ident));
        r = signing_key_export_c(key, name, ident, &out, &why);
    }
    if (r < 0) {
        status = fail("key export", "%s", why.text);
        goto out;
    }
    if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        status = fail("key export", "cannot write to stdout: %s", strerror(errno));
out:
    buf_release(&out);
    signing_key_free(key);
    return status;
}

int cli_key(int argc, char **argv, const struct config *config)
{
    if (argc < 2)
        return usage_error("key", "key", "missing command");
    const char *verb = argv[1];
    if (strcmp(verb, "generate") == 0)
        return key_generate(argc - 1, argv + 1, config);
    if (strcmp(verb, "list") == 0)
        return key_list(argc - 1, argv + 1, config);
    if (strcmp(verb, "export") == 0)
        return key_export(argc - 1, argv + 1, config);
    if (strcmp(verb, "show") == 0)
        return key_show(argc - 1, argv + 1, config);
    if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
        cli_help_print(stdout, cli_subcommand_find("key"));
        return CLI_EXIT_OK;
    }
    return usage_error("key", "key", "unknown command '%s'", verb);
}

/* Prints what a verification found; fields that were not reached are left out. */
static void print_verdict(const struct signing_verdict *verdict)
{
    printf("format: %s\n", verdict->format == SIGNING_FORMAT_AUTO
                               ? "none found"
                               : signing_format_name(verdict->format));
    if (verdict->payload_len > 0) {
        printf("payload: %zu bytes\n", verdict->payload_len);
        printf("signature: %zu bytes\n", verdict->sig_len);
    }
    if (verdict->digest[0])
        printf("digest: %s:%s\n", signing_hash_name(verdict->hash), verdict->digest);
}

#define SECURE_BOOT_FORMAT "secure-boot"

/* Loads the comma-separated keys of LIST (1 to 3 names or files). 0, or -1 after saying why. */
static int load_key_list(const struct config *config, const char *what, const char *list,
                         bool private_key, struct signing_key *keys[SECURE_BOOT_MAX_BLOCKS],
                         size_t *ret_count)
{
    size_t count = 0;
    for (const char *at = list; *at;) {
        size_t len = strcspn(at, ",");
        char arg[PATH_MAX];
        struct reason why = {""};
        if (count == SECURE_BOOT_MAX_BLOCKS || len == 0 || len >= sizeof(arg)) {
            fail(what, "--key takes 1 to %u keys separated by commas", SECURE_BOOT_MAX_BLOCKS);
            goto fail;
        }
        memcpy(arg, at, len);
        arg[len] = 0;
        at += len + (at[len] == ',');
        if (load_key(config, arg, private_key, &keys[count], &why) < 0) {
            fail(what, "%s", why.text);
            goto fail;
        }
        count++;
    }
    if (count == 0) {
        fail(what, "--key takes 1 to %u keys separated by commas", SECURE_BOOT_MAX_BLOCKS);
        return -1;
    }
    *ret_count = count;
    return 0;
fail:
    for (size_t i = 0; i < count; i++)
        signing_key_free(keys[i]);
    return -1;
}

static void print_secure_boot(const struct secure_boot_verdict *verdict)
{
    printf("format: secure-boot\nsigned: %zu bytes\n", verdict->signed_len);
    for (unsigned i = 0; i < verdict->block_count; i++)
        printf("block %u: %s %s\n", i, verdict->blocks[i].scheme, verdict->blocks[i].key_digest);
}

/* `otad sign --format secure-boot`: IN padded and signed with every key (docs/SIGNING.md). */
static int sign_secure_boot(const struct config *config, const char *keys_arg, const char *in_path,
                            const char *out_path)
{
    struct signing_key *keys[SECURE_BOOT_MAX_BLOCKS];
    size_t count = 0, len = 0;
    uint8_t *image = NULL;
    struct reason why = {""};
    struct buf out;
    int status = CLI_EXIT_FAILURE;
    if (load_key_list(config, "sign", keys_arg, true, keys, &count) < 0)
        return CLI_EXIT_FAILURE;
    buf_init(&out, (size_t)LIMIT_UPLOAD_BYTES_MAX + 2 * SECURE_BOOT_SECTOR);
    int r = file_read_all(in_path, LIMIT_UPLOAD_BYTES_MAX, &image, &len);
    if (r < 0) {
        fail("sign", "cannot read '%s': %s", in_path, strerror(-r));
        goto out;
    }
    struct secure_boot_verdict verdict;
    if (secure_boot_sign((const struct signing_key *const *)keys, count, image, len, &out, &why) <
            0 ||
        secure_boot_verify(out.data, out.len, &verdict, &why) < 0) {
        fail("sign", "%s: %s", in_path, why.text);
        goto out;
    }
    if ((r = file_write_atomic(out_path, out.data, out.len, 0644)) < 0) {
        fail("sign", "cannot write '%s': %s", out_path, strerror(-r));
        goto out;
    }
    print_secure_boot(&verdict);
    printf("output: %s (%zu bytes)\n", out_path, out.len);
    status = CLI_EXIT_OK;
out:
    buf_release(&out);
    free(image);
    for (size_t i = 0; i < count; i++)
        signing_key_free(keys[i]);
    return status;
}

/*
 * `otad verify --format secure-boot`: every block of FILE valid, and one of
 * them by one of the keys (the ones a device has burned).
 */
static int verify_secure_boot(const struct config *config, const char *keys_arg, const char *path)
{
    struct signing_key *keys[SECURE_BOOT_MAX_BLOCKS];
    size_t count = 0, len = 0;
    uint8_t *data = NULL;
    struct reason why = {""};
    int status = CLI_EXIT_FAILURE;
    if (load_key_list(config, "verify", keys_arg, false, keys, &count) < 0)
        return CLI_EXIT_FAILURE;
    int r = file_read_all(path, LIMIT_UPLOAD_BYTES_MAX + 2 * SECURE_BOOT_SECTOR, &data, &len);
    if (r < 0) {
        fail("verify", "cannot read '%s': %s", path, strerror(-r));
        goto out;
    }
    struct secure_boot_verdict verdict;
    r = secure_boot_verify(data, len, &verdict, &why);
    printf("file: %s (%zu bytes)\n", path, len);
    print_secure_boot(&verdict);
    bool trusted = false;
    for (size_t k = 0; r == 0 && k < count && !trusted; k++) {
        char digest[SECURE_BOOT_DIGEST_HEX];
        if (secure_boot_key_digest(keys[k], digest, &why) < 0) {
            r = -EINVAL;
            break;
        }
        for (unsigned b = 0; b < verdict.block_count; b++)
            trusted = trusted || strcmp(verdict.blocks[b].key_digest, digest) == 0;
    }
    if (r == 0 && !trusted)
        reason_set(&why, -EBADMSG, "no block is signed by the keys given");
    printf("verdict: %s\n", r == 0 && trusted ? "valid" : "INVALID");
    fflush(stdout);
    if (r < 0 || !trusted) {
        fail("verify", "%s: %s", path, why.text);
        goto out;
    }
    status = CLI_EXIT_OK;
out:
    free(data);
    for (size_t i = 0; i < count; i++)
        signing_key_free(keys[i]);
    return status;
}

int cli_sign(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {
        {"--key", true, NULL}, {"--format", true, NULL}, {"--hash", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("sign", argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    const char *key_arg = opts[0].value, *format_arg = opts[1].value;
    const char *hash_arg = opts[2].value ? opts[2].value : "auto";
    enum signing_format format;
    enum signing_hash hash;
    if (npos != 2)
        return usage_error("sign", "sign", "give an input and an output file");
    if (!key_arg || !format_arg)
        return usage_error("sign", "sign", "--key and --format are required");
    if (strcmp(format_arg, SECURE_BOOT_FORMAT) == 0)
        return sign_secure_boot(config, key_arg, pos[0], pos[1]);
    if (signing_format_parse(format_arg, &format) < 0 || format == SIGNING_FORMAT_AUTO)
        return usage_error("sign", "sign", "unknown format '%s'", format_arg);
    if (signing_hash_parse(hash_arg, &hash) < 0)
        return usage_error("sign", "sign", "unknown hash '%s'", hash_arg);
    const char *in_path = pos[0], *out_path = pos[1];

    struct signing_key *key = NULL;
    struct reason why = {""};
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    struct buf out;
    int status = CLI_EXIT_FAILURE;
    int r;
    buf_init(&out, (size_t)LIMIT_UPLOAD_BYTES_MAX + SIGNING_ESP32_BLOCK);

    if (load_key(config, key_arg, true, &key, &why) < 0) {
        fail("sign", "%s", why.text);
        goto out;
    }
    r = file_read_all(in_path, LIMIT_UPLOAD_BYTES_MAX, &payload, &payload_len);
    if (r < 0) {
        fail("sign", "cannot read '%s': %s", in_path, strerror(-r));
        goto out;
    }
    if (signing_sign(key, format, hash, payload, payload_len, &out, &why) < 0) {
        fail("sign", "%s: %s", in_path, why.text);
        goto out;
    }
    /* Check our own output as a device would, before anyone ships it. */
    struct signing_verdict verdict;
    if (signing_verify(key, format, hash, out.data, out.len, &verdict, &why) < 0) {
        fail("sign", "the signed file does not verify: %s", why.text);
        goto out;
    }
    r = file_write_atomic(out_path, out.data, out.len, 0644);
    if (r < 0) {
        fail("sign", "cannot write '%s': %s", out_path, strerror(-r));
        goto out;
    }
    print_key("key: ", key);
    print_verdict(&verdict);
    printf("output: %s (%zu bytes)\n", out_path, out.len);
    status = CLI_EXIT_OK;
out:
    buf_release(&out);
    free(payload);
    signing_key_free(key);
    return status;
}

int cli_verify(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {
        {"--key", true, NULL}, {"--format", true, NULL}, {"--hash", true, NULL}};
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (parse_args("verify", argc, argv, opts, ARRAY_SIZE(opts), pos, &npos) != 0)
        return CLI_EXIT_USAGE;
    const char *key_arg = opts[0].value;
    const char *format_arg = opts[1].value ? opts[1].value : "auto";
    const char *hash_arg = opts[2].value ? opts[2].value : "auto";
    enum signing_format format;
    enum signing_hash hash;
    if (npos != 1)
        return usage_error("verify", "verify", "give one file to verify");
    if (!key_arg)
        return usage_error("verify", "verify", "--key is required");
    if (strcmp(format_arg, SECURE_BOOT_FORMAT) == 0)
        return verify_secure_boot(config, key_arg, pos[0]);
    if (signing_format_parse(format_arg, &format) < 0)
        return usage_error("verify", "verify", "unknown format '%s'", format_arg);
    if (signing_hash_parse(hash_arg, &hash) < 0)
        return usage_error("verify", "verify", "unknown hash '%s'", hash_arg);
    const char *path = pos[0];

    struct signing_key *key = NULL;
    struct reason why = {""};
    uint8_t *data = NULL;
    size_t len = 0;
    int status = CLI_EXIT_FAILURE;

    if (load_key(config, key_arg, false, &key, &why) < 0) {
        fail("verify", "%s", why.text);
        goto out;
    }
    int r = file_read_all(path, LIMIT_UPLOAD_BYTES_MAX + SIGNING_ESP32_BLOCK, &data, &len);
    if (r < 0) {
        fail("verify", "cannot read '%s': %s", path, strerror(-r));
        goto out;
    }
    struct signing_verdict verdict;
    r = signing_verify(key, format, hash, data, len, &verdict, &why);
    printf("file: %s (%zu bytes)\n", path, len);
    print_key("key: ", key);
    print_verdict(&verdict);
    printf("verdict: %s\n", r == 0 ? "valid" : "INVALID");
    fflush(stdout);
    if (r < 0) {
        fail("verify", "%s: %s", path, why.text);
        goto out;
    }
    status = CLI_EXIT_OK;
out:
    free(data);
    signing_key_free(key);
    return status;
}
