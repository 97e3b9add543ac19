/*
 * `otad tls`: the fleet CA and the server's certificates in DATA_DIR/tls
 * (core/tls_paths.h), and what device firmware needs to trust the server.
 * `ca init` makes the CA, `cert` issues the server certificates (an ECDSA
 * one and an RSA one) or takes a certificate from a public CA, `export`
 * prints what a sketch pins, `show` says what is in place. This file parses
 * arguments, picks the files and prints; the certificates are made and
 * checked by src/signing/pki.c. docs/TLS.md is the operator's guide.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/subcommands.h"
#include "core/buf.h"
#include "core/reason.h"
#include "core/tls_paths.h"
#include "core/util.h"
#include "signing/pki.h"

#define EXPORT_MAX (256u * 1024u) /* bytes `otad tls export` prints at most */

/* Prints "otad tls WHAT: " and the formatted message, one line, to stderr. */
static void complain(const char *what, const char *fmt, va_list ap)
{
    fprintf(stderr, "otad tls%s%s: ", what[0] ? " " : "", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* complain(); returns CLI_EXIT_FAILURE. */
static int fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(what, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAILURE;
}

/* complain() and the synopsis; returns CLI_EXIT_USAGE. */
static int usage_error(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(what, fmt, ap);
    va_end(ap);
    return cli_usage("tls");
}

/*
 * Parses ARGV into OPTS (N of them) for subcommand WHAT, which takes no
 * other arguments. CLI_EXIT_OK, or CLI_EXIT_USAGE after saying why.
 */
static int options_only(const char *what, int argc, char **argv, struct args_option *opts,
                        unsigned n)
{
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, opts, n, pos, &npos) < 0)
        return cli_usage("tls");
    if (npos != 0)
        return usage_error(what, "unexpected argument '%s'", pos[0]);
    return CLI_EXIT_OK;
}

/* The paths of the files in DATA_DIR/tls, made once per command. */
struct tls_files {
    char dir[PATH_MAX];
    char ca_cert[PATH_MAX];
    char ca_key[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char rsa_cert[PATH_MAX];
    char rsa_key[PATH_MAX];
};

static int tls_files_init(struct tls_files *f, const struct config *config)
{
    const char *data = config->data_dir;
    if (tls_path(f->dir, sizeof(f->dir), data, NULL) < 0 ||
        tls_path(f->ca_cert, sizeof(f->ca_cert), data, TLS_CA_CERT) < 0 ||
        tls_path(f->ca_key, sizeof(f->ca_key), data, TLS_CA_KEY) < 0 ||
        tls_path(f->cert, sizeof(f->cert), data, TLS_SERVER_CERT) < 0 ||
        tls_path(f->key, sizeof(f->key), data, TLS_SERVER_KEY) < 0 ||
        tls_path(f->rsa_cert, sizeof(f->rsa_cert), data, TLS_SERVER_RSA_CERT) < 0 ||
        tls_path(f->rsa_key, sizeof(f->rsa_key), data, TLS_SERVER_RSA_KEY) < 0)
        return -ENAMETOOLONG;
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Parses --days: empty is 0 (the default), else 1 to PKI_DAYS_MAX. */
static int parse_days(const char *what, const char *text, unsigned *ret_days)
{
    uint64_t days = 0;
    if (text && (parse_u64(text, PKI_DAYS_MAX, &days) < 0 || days == 0))
        return usage_error(what, "--days must be a number of days from 1 to %u", PKI_DAYS_MAX);
    *ret_days = (unsigned)days;
    return 0;
}

/* "2046-05-01T10:00:00Z" for T seconds since the epoch into OUT[21]. */
static void time_text(int64_t t, char out[21])
{
    time_format_rfc3339(t * 1000, out);
}

static void print_fingerprints(const char *indent, const struct pki_cert_info *info)
{
    printf("%sSHA1 %s\n", indent, info->sha1_text);
    printf("%sSHA256 %s\n", indent, info->sha256_text);
}

/* ------------------------------------------------------------------------- ca init */

static int ca_init(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--name", true, NULL},
                                 {"--days", true, NULL},
                                 {"--rsa", false, NULL},
                                 {"--force", false, NULL}};
    int usage = options_only("ca init", argc, argv, opts, ARRAY_SIZE(opts));
    if (usage != CLI_EXIT_OK)
        return usage;
    struct pki_ca_params params = {
        .common_name = opts[0].value,
        .key_type = opts[2].value ? SIGNING_KEY_RSA_3072 : SIGNING_KEY_ECDSA_P256,
        .force = opts[3].value != NULL,
    };
    if (parse_days("ca init", opts[1].value, &params.days) != 0)
        return CLI_EXIT_USAGE;

    struct tls_files f;
    if (tls_files_init(&f, config) < 0)
        return fail("ca init", "data_dir '%s' is too long", config->data_dir);
    bool replacing = exists(f.ca_cert) || exists(f.ca_key);
    struct reason why = {""};
    int r = pki_ca_create(f.ca_cert, f.ca_key, &params, &why);
    if (r == -EEXIST)
        return fail("ca init",
                    "a fleet CA is already in '%s' (%s, %s). A new one cuts off every device "
                    "that trusts the old one until it gets new firmware: give --force if that is "
                    "what you want",
                    f.dir, TLS_CA_CERT, TLS_CA_KEY);
    if (r < 0)
        return fail("ca init", "%s", why.text);

    struct pki_chain *ca = NULL;
    struct pki_cert_info info;
    if (pki_chain_load(f.ca_cert, &ca, &why) < 0 || pki_chain_info(ca, 0, &info, &why) < 0) {
        pki_chain_free(ca);
        return fail("ca init", "%s", why.text);
    }
    pki_chain_free(ca);
    char until[21];
    time_text(info.not_after, until);
    printf("%s the fleet CA %s (%s), valid until %s\n", replacing ? "replaced" : "created",
           info.subject, info.key_type, until);
    printf("certificate: %s\n", f.ca_cert);
    printf("key: %s (mode 0600; keep a copy offline: without it no certificate devices trust "
           "can be issued)\n",
           f.ca_key);
    print_fingerprints("", &info);
    if (replacing)
        fprintf(stderr, "otad tls ca init: the old CA is gone: devices that trust it refuse "
                        "this server until they get new firmware; issue the server "
                        "certificates again with `otad tls cert`\n");
    printf("next: otad tls cert --host NAME, then otad tls export --format header > "
           "otad_tls.h for the firmware\n");
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------- cert */

/* Prints what a certificate file now holds: its leaf. */
static int print_leaf(const char *what, const char *path, struct pki_cert_info *ret_info)
{
    struct pki_chain *chain = NULL;
    struct reason why = {""};
    if (pki_chain_load(path, &chain, &why) < 0 || pki_chain_info(chain, 0, ret_info, &why) < 0) {
        pki_chain_free(chain);
        return fail(what, "%s", why.text);
    }
    pki_chain_free(chain);
    char until[21];
    time_text(ret_info->not_after, until);
    printf("%s: %s, %s, valid until %s\n", path, ret_info->subject, ret_info->key_type, until);
    printf("  names: %s\n", ret_info->sans[0] ? ret_info->sans : "none");
    printf("  issuer: %s\n", ret_info->issuer);
    print_fingerprints("  ", ret_info);
    return 0;
}

/* Issues one server certificate into CERT_PATH/KEY_PATH and says what devices make of it. */
static int issue_one(struct pki_server_params *params, const char *cert_path, const char *key_path,
                     enum signing_key_type type)
{
    struct pki_issued issued;
    struct pki_cert_info info;
    struct reason why = {""};
    params->key_type = type;
    params->cert_path = cert_path;
    params->key_path = key_path;
    if (pki_server_issue(params, &issued, &why) < 0)
        return fail("cert", "%s", why.text);
    if (print_leaf("cert", cert_path, &info) != 0)
        return CLI_EXIT_FAILURE;
    if (issued.key_created)
        printf("  key: new, %s (mode 0600): devices that pinned an earlier public key need new "
               "firmware\n",
               key_path);
    else
        printf("  key: kept, %s: devices that pin the public key keep working\n", key_path);
    printf("  public key SHA256 %s\n", info.spki_sha256);
    if (issued.clamped)
        printf("  valid only until the CA's end: renew the CA first for longer\n");
    return CLI_EXIT_OK;
}

static int cert_import(const struct tls_files *f, const char *chain_path, const char *key_path,
                       bool rsa_slot)
{
    const char *cert_dest = rsa_slot ? f->rsa_cert : f->cert;
    const char *key_dest = rsa_slot ? f->rsa_key : f->key;
    struct pki_chain *chain = NULL;
    struct pki_cert_info info;
    struct reason why = {""};
    if (pki_chain_load(chain_path, &chain, &why) < 0 || pki_chain_info(chain, 0, &info, &why) < 0) {
        pki_chain_free(chain);
        return fail("cert", "%s", why.text);
    }
    pki_chain_free(chain);
    if (rsa_slot && strncmp(info.key_type, "rsa-", 4) != 0)
        return fail("cert", "'%s' holds an %s certificate; --rsa takes an rsa one", chain_path,
                    info.key_type);
    if (pki_server_import(chain_path, key_path, cert_dest, key_dest, &why) < 0)
        return fail("cert", "%s", why.text);
    printf("imported %s as it is\n", chain_path);
    if (print_leaf("cert", cert_dest, &info) != 0)
        return CLI_EXIT_FAILURE;
    printf("  key: %s (mode 0600)\n", key_dest);
    printf("  public key SHA256 %s\n", info.spki_sha256);
    if (!rsa_slot && exists(f->rsa_cert))
        fprintf(stderr,
                "otad tls cert: '%s' is still in place and is what clients that offer only RSA "
                "key exchange get; import an RSA certificate with --rsa, or remove it and '%s'\n",
                f->rsa_cert, f->rsa_key);
    printf("devices that pin this public key keep working across renewals only if the key is "
           "kept (certbot: --reuse-key); devices that pin its SHA-1 need new firmware at each\n");
    return CLI_EXIT_OK;
}

static int cert(int argc, char **argv, const struct config *config)
{
    enum { HOST, IP, DAYS, NEW_KEY, NO_RSA, CA_CERT, CA_KEY, IMPORT, KEY, RSA };
    struct args_option opts[] = {
        [HOST] = {"--host", true, NULL},      [IP] = {"--ip", true, NULL},
        [DAYS] = {"--days", true, NULL},      [NEW_KEY] = {"--new-key", false, NULL},
        [NO_RSA] = {"--no-rsa", false, NULL}, [CA_CERT] = {"--ca-cert", true, NULL},
        [CA_KEY] = {"--ca-key", true, NULL},  [IMPORT] = {"--import", true, NULL},
        [KEY] = {"--key", true, NULL},        [RSA] = {"--rsa", false, NULL},
    };
    int usage = options_only("cert", argc, argv, opts, ARRAY_SIZE(opts));
    if (usage != CLI_EXIT_OK)
        return usage;
    struct tls_files f;
    if (tls_files_init(&f, config) < 0)
        return fail("cert", "data_dir '%s' is too long", config->data_dir);

    if (opts[IMPORT].value || opts[KEY].value) {
        if (!opts[IMPORT].value || !opts[KEY].value)
            return usage_error("cert", "--import and --key go together");
        for (unsigned i = HOST; i <= CA_KEY; i++)
            if (opts[i].value)
                return usage_error("cert", "%s does not go with --import", opts[i].name);
        return cert_import(&f, opts[IMPORT].value, opts[KEY].value, opts[RSA].value != NULL);
    }
    if (opts[RSA].value)
        return usage_error("cert", "--rsa goes with --import (an RSA certificate is issued "
                                   "unless --no-rsa)");
    if (!opts[CA_CERT].value != !opts[CA_KEY].value)
        return usage_error("cert", "--ca-cert and --ca-key go together");

    const char *hosts[PKI_SAN_MAX], *ips[PKI_SAN_MAX];
    unsigned host_count = args_values(argc, argv, "--host", hosts, PKI_SAN_MAX);
    unsigned ip_count = args_values(argc, argv, "--ip", ips, PKI_SAN_MAX);
    if (host_count + ip_count == 0)
        return usage_error("cert", "give the names devices use: --host NAME and/or --ip ADDR");
    if (host_count + ip_count > PKI_SAN_MAX)
        return usage_error("cert", "at most %u --host and --ip in all", PKI_SAN_MAX);
    struct pki_server_params params = {
        .ca_cert_path = opts[CA_CERT].value ? opts[CA_CERT].value : f.ca_cert,
        .ca_key_path = opts[CA_KEY].value ? opts[CA_KEY].value : f.ca_key,
        .hosts = hosts,
        .host_count = host_count,
        .ips = ips,
        .ip_count = ip_count,
        .new_key = opts[NEW_KEY].value != NULL,
    };
    if (parse_days("cert", opts[DAYS].value, &params.days) != 0)
        return CLI_EXIT_USAGE;
    if (!opts[CA_CERT].value && !exists(f.ca_cert))
        return fail("cert",
                    "no fleet CA in '%s': run `otad tls ca init` first, or give the CA to issue "
                    "under with --ca-cert and --ca-key (or take a public certificate with "
                    "--import)",
                    f.dir);

    int status = issue_one(&params, f.cert, f.key, SIGNING_KEY_ECDSA_P256);
    if (status == CLI_EXIT_OK && !opts[NO_RSA].value)
        status = issue_one(&params, f.rsa_cert, f.rsa_key, SIGNING_KEY_RSA_2048);
    if (status != CLI_EXIT_OK)
        return status;
    if (opts[NO_RSA].value && exists(f.rsa_cert))
        fprintf(stderr,
                "otad tls cert: '%s' from an earlier run is still in place and is what clients "
                "that offer only RSA key exchange get; remove it and '%s' if no device needs "
                "it\n",
                f.rsa_cert, f.rsa_key);
    printf("devices that trust the CA keep working; devices that pin a certificate's SHA-1 "
           "fingerprint need new firmware (otad tls export); a running otad serve takes the "
           "new files on SIGHUP (systemctl reload otad)\n");
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------- export */

/* What `export` and `show` find in the folder. */
struct tls_state {
    struct pki_chain *ca;        /* ca.pem, or NULL */
    struct pki_chain *server;    /* server.pem, or NULL */
    struct pki_chain *rsa;       /* server-rsa.pem, or NULL */
    const struct pki_chain *top; /* the trust anchor: ca, or server's (or rsa's) chain */
    bool fleet_ca;               /* top is ca.pem, which issued the server certificate */
};

/* Loads PATH into *RET when it exists. Returns 0 (also when it does not), or CLI_EXIT_FAILURE. */
static int load_if_there(const char *what, const char *path, struct pki_chain **ret)
{
    struct reason why = {""};
    *ret = NULL;
    if (!exists(path))
        return 0;
    if (pki_chain_load(path, ret, &why) < 0)
        return fail(what, "%s", why.text);
    return 0;
}

static void tls_state_release(struct tls_state *s)
{
    pki_chain_free(s->ca);
    pki_chain_free(s->server);
    pki_chain_free(s->rsa);
}

static int tls_state_load(const char *what, const struct tls_files *f, struct tls_state *s)
{
    memset(s, 0, sizeof(*s));
    if (load_if_there(what, f->ca_cert, &s->ca) != 0 ||
        load_if_there(what, f->cert, &s->server) != 0 ||
        load_if_there(what, f->rsa_cert, &s->rsa) != 0) {
        tls_state_release(s);
        return CLI_EXIT_FAILURE;
    }
    const struct pki_chain *served = s->server ? s->server : s->rsa;
    s->fleet_ca = s->ca && (!served || pki_chain_issued_by(served, s->ca));
    s->top = s->fleet_ca ? s->ca : served;
    return 0;
}

static int print_fingerprint_lines(const struct pki_chain *chain, const char *file)
{
    struct pki_cert_info info;
    struct reason why = {""};
    if (pki_chain_info(chain, 0, &info, &why) < 0)
        return fail("export", "%s", why.text);
    printf("SHA1 %s %s\nSHA256 %s %s\n", info.sha1_text, file, info.sha256_text, file);
    return 0;
}

/* Appends the public key PEM of CHAIN's leaf to OUT, after a "# FILE" line when LABEL. */
static int append_pubkey(struct buf *out, const struct pki_chain *chain, const char *file,
                         bool label, struct reason *why)
{
    struct pki_cert_info info;
    int r = pki_chain_info(chain, 0, &info, why);
    if (r == 0 && label)
        r = buf_printf(out, "# %s: %s public key\n", file, info.key_type);
    if (r == 0)
        r = pki_chain_pubkey_pem(chain, 0, out, why);
    return r;
}

static int export(int argc, char **argv, const struct config *config)
{
    struct args_option opts[] = {{"--format", true, NULL}};
    int usage = options_only("export", argc, argv, opts, ARRAY_SIZE(opts));
    if (usage != CLI_EXIT_OK)
        return usage;
    const char *format = opts[0].value ? opts[0].value : "all";
    static const char *const formats[] = {"header", "fingerprint", "pubkey", "pem", "all"};
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
        known = known || strcmp(format, formats[i]) == 0;
    if (!known)
        return usage_error("export", "unknown format '%s'", format);
    bool want_leaf = strcmp(format, "pem") != 0;

    struct tls_files f;
    struct tls_state s;
    struct reason why = {""};
    struct buf out;
    int status = CLI_EXIT_FAILURE, r = 0;
    if (tls_files_init(&f, config) < 0)
        return fail("export", "data_dir '%s' is too long", config->data_dir);
    if (tls_state_load("export", &f, &s) != 0)
        return CLI_EXIT_FAILURE;
    buf_init(&out, EXPORT_MAX);
    if (!s.top || (want_leaf && !s.server)) {
        fail("export",
             "no %s in '%s': run `otad tls ca init` and `otad tls cert --host NAME`, or "
             "`otad tls cert --import`",
             s.top ? "server certificate" : "certificate", f.dir);
        goto out;
    }
    bool all = strcmp(format, "all") == 0;
    bool anchor_out = all || strcmp(format, "header") == 0 || strcmp(format, "pem") == 0;
    if (!s.fleet_ca && anchor_out) {
        struct pki_cert_info top;
        if (pki_chain_info(s.top, pki_chain_length(s.top) - 1, &top, &why) < 0) {
            fail("export", "%s", why.text);
            goto out;
        }
        fprintf(stderr,
                "otad tls export: %s: the trust anchor exported is the top certificate of the "
                "server's chain, %s (issued by %s)%s\n",
                s.ca ? "the server certificate is not issued by the fleet CA (ca.pem)"
                     : "no fleet CA",
                top.subject, top.issuer,
                top.self_signed ? "" : "; it is not a root, and a public CA may replace it");
    }
    if (s.fleet_ca && s.rsa && !pki_chain_issued_by(s.rsa, s.ca))
        fprintf(stderr,
                "otad tls export: '%s' is not issued by the fleet CA: the CA does not "
                "pin it\n",
                f.rsa_cert);
    const struct pki_chain *anchor = s.top;
    size_t top_index = pki_chain_length(anchor) - 1;

    if (strcmp(format, "header") == 0) {
        struct pki_export_leaf leaves[2] = {{s.server, "OTAD_SERVER", TLS_SERVER_CERT},
                                            {s.rsa, "OTAD_SERVER_RSA", TLS_SERVER_RSA_CERT}};
        r = pki_export_header(anchor, s.fleet_ca, leaves, s.rsa ? 2 : 1, &out, &why);
    }
    if (r == 0 && all)
        r = buf_printf(&out, "# trust anchor (%s)\n", s.fleet_ca ? TLS_CA_CERT : "top of chain");
    if (r == 0 && (all || strcmp(format, "pem") == 0))
        r = pki_chain_cert_pem(anchor, top_index, &out, &why);
    if (r == 0 && (all || strcmp(format, "pubkey") == 0)) {
        bool label = all || s.rsa;
        r = append_pubkey(&out, s.server, TLS_SERVER_CERT, label, &why);
        if (r == 0 && s.rsa)
            r = append_pubkey(&out, s.rsa, TLS_SERVER_RSA_CERT, label, &why);
    }
    if (r < 0) {
        fail("export", "%s", why.text[0] ? why.text : "the output is too large");
        goto out;
    }
    if (out.len > 0 && (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)) {
        fail("export", "cannot write to stdout: %s", strerror(errno));
        goto out;
    }
    if (all || strcmp(format, "fingerprint") == 0) {
        if (all)
            printf("# fingerprints (they change at every renewal)\n");
        if (print_fingerprint_lines(s.server, TLS_SERVER_CERT) != 0 ||
            (s.rsa && print_fingerprint_lines(s.rsa, TLS_SERVER_RSA_CERT) != 0))
            goto out;
        if (fflush(stdout) != 0) {
            fail("export", "cannot write to stdout: %s", strerror(errno));
            goto out;
        }
    }
    status = CLI_EXIT_OK;
out:
    buf_release(&out);
    tls_state_release(&s);
    return status;
}

/* ------------------------------------------------------------------------- show */

/* Prints one certificate file; returns true when all is well with it. */
static bool show_one(const char *name, const struct pki_chain *chain, const char *key_path,
                     const struct tls_state *s)
{
    struct pki_cert_info info;
    struct reason why = {""};
    bool ok = true;
    char from[21], until[21];
    if (pki_chain_info(chain, 0, &info, &why) < 0) {
        printf("%s: %s\n", name, why.text);
        return false;
    }
    time_text(info.not_before, from);
    time_text(info.not_after, until);
    int64_t now = time_now_ms() / 1000;
    printf("%s: %s\n", name, info.subject);
    if (!info.ca || !info.self_signed || pki_chain_length(chain) > 1)
        printf("  issuer: %s\n", info.issuer);
    if (!info.ca)
        printf("  names: %s\n", info.sans[0] ? info.sans : "none");
    printf("  valid: %s to %s", from, until);
    if (info.not_after < now) {
        printf(" EXPIRED\n");
        ok = false;
    } else {
        printf(" (%lld days left)\n", (long long)((info.not_after - now) / 86400));
    }
    printf("  key: %s, public key SHA256 %s\n", info.key_type, info.spki_sha256);
    int r = pki_chain_key_matches(chain, key_path, &why);
    if (r == 0) {
        printf("  private key: %s matches\n", key_path);
    } else {
        printf("  private key: %s\n", why.text);
        ok = false;
    }
    if (!info.ca) {
        if (!s->ca) {
            printf("  chain: %zu certificate(s), no fleet CA to check against\n",
                   pki_chain_length(chain));
        } else if (pki_chain_verify(chain, s->ca, NULL, &why) == 0) {
            printf("  chain: verifies to %s\n", TLS_CA_CERT);
        } else {
            printf("  chain: does not verify to %s: %s\n", TLS_CA_CERT, why.text);
            if (pki_chain_issued_by(chain, s->ca))
                ok = false;
        }
    }
    print_fingerprints("  ", &info);
    return ok;
}

static int show(int argc, char **argv, const struct config *config)
{
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos = 0;
    if (args_parse(argc, argv, NULL, 0, pos, &npos) < 0)
        return cli_usage("tls");
    if (npos != 0)
        return usage_error("show", "unexpected argument '%s'", pos[0]);
    struct tls_files f;
    struct tls_state s;
    if (tls_files_init(&f, config) < 0)
        return fail("show", "data_dir '%s' is too long", config->data_dir);
    if (tls_state_load("show", &f, &s) != 0)
        return CLI_EXIT_FAILURE;
    bool ok = true;
    printf("folder: %s\n", f.dir);
    if (s.ca)
        ok = show_one(TLS_CA_CERT, s.ca, f.ca_key, &s) && ok;
    else
        printf("%s: none (otad tls ca init)\n", TLS_CA_CERT);
    if (s.server)
        ok = show_one(TLS_SERVER_CERT, s.server, f.key, &s) && ok;
    else
        printf("%s: none (otad tls cert)\n", TLS_SERVER_CERT);
    if (s.rsa)
        ok = show_one(TLS_SERVER_RSA_CERT, s.rsa, f.rsa_key, &s) && ok;
    else
        printf("%s: none\n", TLS_SERVER_RSA_CERT);
    if (s.top && !s.fleet_ca)
        printf("trust anchor for devices: the top of the server's chain (otad tls export)\n");
    else if (s.top)
        printf("trust anchor for devices: %s (otad tls export)\n", TLS_CA_CERT);
    tls_state_release(&s);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int cli_tls(int argc, char **argv, const struct config *config)
{
    if (argc < 2)
        return usage_error("", "missing command");
    const char *verb = argv[1];
    if (strcmp(verb, "ca") == 0) {
        if (argc < 3 || strcmp(argv[2], "init") != 0)
            return usage_error("ca", "the command is `otad tls ca init`");
        return ca_init(argc - 2, argv + 2, config);
    }
    if (strcmp(verb, "cert") == 0)
        return cert(argc - 1, argv + 1, config);
    if (strcmp(verb, "export") == 0)
        return export(argc - 1, argv + 1, config);
    if (strcmp(verb, "show") == 0)
        return show(argc - 1, argv + 1, config);
    if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
        cli_help_print(stdout, cli_subcommand_find("tls"));
        return CLI_EXIT_OK;
    }
    return usage_error("", "unknown command '%s'", verb);
}
