/*
 * Dispatch: the table of subcommands, the shared option handling and the
 * help. Each row carries the subcommand's synopsis and description
 * (subcommands.h): `otad --help`, `otad SUBCOMMAND --help`, the usage a
 * subcommand prints on a wrong command line, otad(8) and the bash
 * completion all read them here, so they cannot drift apart. Subcommands
 * that work on the data folder open the service in local mode (no background
 * threads) and leave serving to `otad serve`.
 */
#include "cli/cli.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/subcommands.h"
#include "core/journal.h"
#include "core/log.h"
#include "core/util.h"

/*
 * The command line as main gave it, before config_load took the settings'
 * flags out: a reload loads from it again. Written once in cli_main.
 */
static int start_argc;
static char **start_argv;
static char **start_envp;

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* A rollout's plan: `otad channel set` and `otad rollout start` take it alike. */
#define PLAN_FLAGS                                                                                 \
    "[--stages 1,10,50,100] [--soak 1h] [--ramp 15m] [--interval 1h] [--fail-max N]\n"             \
    "[--fail-percent P] [--min-served N] [--count-silent yes|no] [--promote-min N]\n"              \
    "[--promote-percent P] [--revert-on-halt yes|no] [--plan key=value ...]"

/* Columns before a continuation line of a synopsis: past "usage: otad ". */
#define CONTINUATION_INDENT 15

const struct cli_subcommand cli_subcommands[] = {
    {"serve", cli_serve, "run the server", (const struct cli_form[]){{"", NULL}, {NULL, NULL}},
     "Serves devices and the API on the plain HTTP listener (listen) and, when listen_tls is\n"
     "set, on the HTTPS one; polls the GitHub sources and sends the notifications. It runs in\n"
     "the foreground and logs to stderr.\n"
     "\n"
     "Under systemd it tells the manager when it answers (Type=notify), feeds the watchdog\n"
     "while it answers, shows check-ins per second and the active rollouts as its status, takes\n"
     "its listening sockets from otad.socket when socket-activated, and logs to the journal\n"
     "with fields (docs/OPERATIONS.md, \"Under systemd\").\n"
     "\n"
     "SIGHUP reads the config file again and applies log_level at once (every other changed\n"
     "setting is logged as needing a restart), and reloads the TLS certificates (connections\n"
     "in flight keep theirs). SIGTERM or\n"
     "SIGINT stops it: it stops accepting, gives requests in flight "
     "up to " STRINGIFY(SERVE_SHUTDOWN_GRACE_S) " seconds,\n"
                                                "and commits the check-ins not yet written.\n"},
    {"config", cli_config, "show the effective settings, or the settings table",
     (const struct cli_form[]){{"dump", NULL}, {"markdown", NULL}, {NULL, NULL}},
     "dump prints the effective settings (defaults, then the config file, then OTAD_*\n"
     "variables, then flags) as a file that --config reads back; a database URL is printed\n"
     "as given. markdown prints the settings table as docs/CONFIG.md has it.\n"},
    {"product", cli_product, "firmware products: add, signing, fleet settings, list",
     (const struct cli_form[]){
         {"add", "NAME --platform esp8266|esp32 [--default-channel stable]"},
         {"set", "NAME [--signing required|off] [--key KEY] [--legacy-signature on|off]\n"
                 "[--gzip on|off] [--esp32-hash sha256|sha384|sha512] [--core-min VERSION|none]\n"
                 "[--secure-boot-keys K1[,K2[,K3]]|none]"},
         {"fleet", "NAME [--channel-query on|off] [--group-query on|off] [--download-cap N]\n"
                   "[--https required|optional] [--json]"},
         {"list", "[--json]"},
         {NULL, NULL}},
     "A product is one line of firmware for one platform. add creates it with its default\n"
     "channel. set says how its releases are signed and packed: signing required with a key\n"
     "from otad key, the ESP8266 legacy signature, gzip forms, the ESP32 signature's hash, the\n"
     "lowest core its devices run, the Secure Boot v2 keys (docs/SIGNING.md). fleet says\n"
     "whether devices may pick their channel or group by query, how many downloads run at\n"
     "once and whether check-ins need HTTPS (docs/FLEET.md). list shows each product with the\n"
     "devices that could not be updated safely, and the fix.\n"},
    {"release", cli_release, "publish a firmware image, list releases",
     (const struct cli_form[]){
         {"add", "PRODUCT FILE [--version V] [--channel C] [--mode sketch|fs] [--notes TEXT]\n"
                 "[--signed] [--force-version] [--allow-secure-version-bump]"},
         {"list", "PRODUCT [--json]"},
         {NULL, NULL}},
     "add publishes the firmware image FILE as a release of PRODUCT, as an upload through the\n"
     "API does. The version is --version or an ESP32 image's app descriptor's, and the two\n"
     "must agree unless --force-version. --signed takes an image signed already. The same\n"
     "version with the same bytes changes nothing; with other bytes it is refused. A release\n"
     "that raises secure_version needs --allow-secure-version-bump (docs/SECURITY.md).\n"
     "list shows a product's releases.\n"},
    {"token", cli_token, "API tokens: create, list, revoke",
     (const struct cli_form[]){{"create", "--scope publish|admin|read [--name NAME]"},
                               {"list", "[--json]"},
                               {"revoke", "ID"},
                               {NULL, NULL}},
     "Bearer tokens for the API and the dashboard. create prints the new token's secret once,\n"
     "on stdout: store it then. Scopes nest: read reads, publish also publishes releases,\n"
     "admin also creates products and changes fleet control (docs/API.md). revoke ends a\n"
     "token at once, and its dashboard sessions with it.\n"},
    {"session", cli_session, "dashboard sessions: list, revoke",
     (const struct cli_form[]){{"list", "[--json]"}, {"revoke", "ID"}, {NULL, NULL}},
     "The dashboard's sessions: the token each signed in with, from where, since when and\n"
     "when last used. revoke signs one out.\n"},
    {"device", cli_device, "devices: list, and why one gets what it gets",
     (const struct cli_form[]){{"list", "PRODUCT [--limit N] [--offset N] [--json]"},
                               {"show", "PRODUCT MAC [--json]"},
                               {NULL, NULL}},
     "list pages through a product's devices that have checked in: MAC, version, last answer,\n"
     "last check-in. show explains one device: its channel and why, a pin or hold, its rollout\n"
     "and bucket, its window, its target and what its next check-in gets, and its history.\n"},
    {"channel", cli_channel, "release channels' policies",
     (const struct cli_form[]){
         {"list", "PRODUCT [--json]"},
         {"show", "PRODUCT NAME [--json]"},
         {"set", "PRODUCT NAME [--deploy immediate|rollout|manual] [--on-new supersede|queue]\n"
                 "[--window HH:MM-HH:MM|always] [--tz ZONE]\n" PLAN_FLAGS},
         {"reset", "PRODUCT NAME"},
         {NULL, NULL}},
     "A channel's policy for one product: how a new release reaches its devices (at once,\n"
     "through a staged rollout with the plan's stages, soak and halt thresholds, or only by\n"
     "hand), what a newer release does to a rollout in progress, and the maintenance window\n"
     "in which devices are offered updates. reset returns the channel to the defaults\n"
     "(docs/FLEET.md).\n"},
    {"group", cli_group, "device groups: which devices follow which channel",
     (const struct cli_form[]){
         {"list", "PRODUCT [--json]"},
         {"show", "PRODUCT NAME [--json]"},
         {"add", "PRODUCT NAME --channel C\n"
                 "[--macs MAC,... | --mac-prefix 18:FE:34 | --query VALUE |\n"
                 " --chip-size BYTES | --sdk PREFIX | --core PREFIX]\n"
                 "[--priority N] [--window HH:MM-HH:MM|always] [--tz ZONE]"},
         {"set", "PRODUCT NAME [--channel C] [--mac-prefix ... | --query ... | ...]\n"
                 "[--priority N] [--window HH:MM-HH:MM|always] [--tz ZONE] [--no-window]"},
         {"delete", "PRODUCT NAME"},
         {"add-macs|remove-macs", "PRODUCT NAME MAC[,MAC...] ... [--macs LIST]"},
         {NULL, NULL}},
     "A group puts devices on a channel by one rule: a list of MACs, a MAC prefix, the\n"
     "?group= query, the flash chip's size, the SDK or the core version. Of the groups a\n"
     "device matches, the one of highest priority wins; a group may have its own window.\n"
     "add-macs and remove-macs change a group's MAC list (docs/FLEET.md).\n"},
    {"pin", cli_pin, "one device, one release (or none)",
     (const struct cli_form[]){{"set", "PRODUCT MAC VERSION [--mode sketch|fs] [--note TEXT]"},
                               {"hold", "PRODUCT MAC [--note TEXT]"},
                               {"clear", "PRODUCT MAC"},
                               {"list", "PRODUCT [--json]"},
                               {NULL, NULL}},
     "A pin gives one device one release whatever its channel says; a hold offers it nothing.\n"
     "clear returns the device to its channel and groups.\n"},
    {"rollout", cli_rollout, "staged rollouts: start, act on, watch",
     (const struct cli_form[]){
         {"start",
          "PRODUCT VERSION [--channel C] [--mode sketch|fs] [--rollback] [--json]\n" PLAN_FLAGS},
         {"pause|resume|abort|promote|halt|revert", "PRODUCT ID [--reason TEXT] [--json]"},
         {"status", "PRODUCT ID [--json]"},
         {"list", "PRODUCT [--active] [--json]"},
         {"tick", NULL},
         {NULL, NULL}},
     "A staged rollout offers a release to a growing share of a channel's devices, stage by\n"
     "stage, each after its soak, and halts by itself when too many fail (docs/FLEET.md).\n"
     "start begins one (--rollback: of an older release); pause, resume, abort, promote (to\n"
     "the next stage now), halt and revert act on one; status and list show them. tick runs\n"
     "the controller once, as the server does every rollout_tick_ms: halts, promotions,\n"
     "silent devices.\n"},
    {"audit", cli_audit_log, "who did what, when, from where, and how it ended",
     (const struct cli_form[]){{"list",
                                "[--since T] [--until T] [--actor NAME] [--action PREFIX]\n"
                                "[--product P] [--outcome ok|failed] [--before ID] [--limit N]\n"
                                "[--json]"},
                               {NULL, NULL}},
     "Shows the audit log, newest first: who did what, when, from where (the API, the\n"
     "dashboard or the command line) and how it ended, with the filters of GET /api/v1/audit.\n"
     "T is an RFC 3339 UTC time (2026-11-29T07:00:00Z) or milliseconds since the epoch.\n"
     "Reading the log is not itself recorded (docs/AUDIT.md).\n"},
    {"source", cli_source, "GitHub release sources",
     (const struct cli_form[]){
         {"add", "PRODUCT OWNER/REPO [--asset 'firmware*.bin']\n"
                 "[--token-file FILE | --token-env VAR] [--prerelease-channel beta|none]\n"
                 "[--api-url https://api.github.com] [--interval SECONDS]\n"
                 "[--webhook-secret-file FILE | --webhook-secret-env VAR]"},
         {"list", "[--json]"},
         {"sync", "[ID] [--json]"},
         {"remove", "ID"},
         {NULL, NULL}},
     "The server follows a GitHub repository's releases, by polling (every\n"
     "github_poll_interval_s, or --interval) or by its webhook, and publishes the asset that\n"
     "matches --asset as a release of PRODUCT; prereleases go to --prerelease-channel. The API\n"
     "token and the webhook secret are read from a file or an environment variable, never\n"
     "from the command line. sync polls now (one source, or all); remove stops following\n"
     "the repository and keeps its releases.\n"},
    {"notify", cli_notify, "webhooks on rollouts, releases, sources",
     (const struct cli_form[]){{"add",
                                "NAME URL --events 'rollout.*,release.published,source.*'\n"
                                "[--format json|slack] [--secret-file FILE | --secret-env VAR]"},
                               {"list", "[--json]"},
                               {"remove", "ID"},
                               {"test", "ID [--json]"},
                               {"deliveries", "ID [--json]"},
                               {NULL, NULL}},
     "Receivers of webhooks on fleet events. add registers one for the events --events\n"
     "matches, as JSON (signed with the secret, when one is given) or as Slack messages; test\n"
     "queues a ping to it; deliveries shows its deliveries and their attempts\n"
     "(docs/NOTIFICATIONS.md).\n"},
    {"key", cli_key, "signing keys",
     (const struct cli_form[]){
         {"generate", "--type rsa-2048|rsa-3072|rsa-4096|ecdsa-p256|ecdsa-p384 [--name NAME]"},
         {"list", NULL},
         {"show", "NAME|FILE"},
         {"export", "NAME|FILE [--format pem|c]"},
         {NULL, NULL}},
     "Signing keys in DATA_DIR/keys: NAME.key (private, mode 0600) and NAME.pub. export\n"
     "prints a public key as PEM, or as C for the device firmware to check signatures with\n"
     "(docs/SIGNING.md).\n"},
    {"tls", cli_tls, "the fleet CA and HTTPS certificates",
     (const struct cli_form[]){
         {"ca init", "[--name CN] [--days N] [--rsa] [--force]"},
         {"cert", "--host NAME [--host NAME ...] [--ip ADDR ...] [--days N] [--new-key]\n"
                  "[--no-rsa] [--ca-cert FILE --ca-key FILE]"},
         {"cert", "--import CHAIN.pem --key KEY.pem [--rsa]"},
         {"export", "[--format header|fingerprint|pubkey|pem|all]"},
         {"show", NULL},
         {NULL, NULL}},
     "The fleet CA and the server's certificates in DATA_DIR/tls. ca init makes the CA; cert\n"
     "issues the server's certificates from it (an ECDSA one and an RSA one), or takes a\n"
     "public CA's with --import; export prints what device firmware pins; show says what is\n"
     "in place and whether it verifies (docs/TLS.md).\n"},
    {"store", cli_store, "check every firmware blob against its hash",
     (const struct cli_form[]){{"verify", NULL}, {NULL, NULL}},
     "Checks every firmware blob in the data folder against its SHA-256 and lists the\n"
     "damaged, missing and unused ones; exits 1 when one is damaged or missing.\n"},
    {"backup", cli_backup, "a consistent copy of the data folder while otad serves",
     (const struct cli_form[]){{"", "DEST"}, {"", "--in DIR [--keep N]"}, {NULL, NULL}},
     "Copies the data folder into DEST while otad serves: the SQLite database through its\n"
     "online backup (one snapshot), every firmware blob that snapshot's releases need (each\n"
     "checked against its hash as it is copied), keys/ and tls/ with their modes. It writes\n"
     "DEST.partial and renames it to DEST at the end, so a cut backup is never taken for a\n"
     "whole one; a DEST that exists (other than an empty folder) is refused. --in DIR writes\n"
     "DIR/otad-<UTC time> and keeps the newest N (--keep, 7 by default), as the nightly\n"
     "otad-backup.timer does. On PostgreSQL it copies keys/ and tls/ only and says to back\n"
     "the database up with pg_dump -Fc.\n"},
    {"restore", cli_restore, "a backup into the data folder, checked before it is moved in",
     (const struct cli_form[]){{"", "SRC [--force]"}, {NULL, NULL}},
     "Restores the backup SRC into the data folder (--data-dir): copies it beside the folder,\n"
     "checks the database's integrity and every blob's hash there, and only then renames it\n"
     "into place. It refuses while an otad has the folder's database open, and refuses a\n"
     "folder that is not empty unless --force, which keeps the old folder as\n"
     "DATA_DIR.replaced-<UTC time>.\n"},
    {"check", cli_check, "verify a data folder: database, blobs, keys",
     (const struct cli_form[]){{"", "[--quick] [--json]"}, {NULL, NULL}},
     "Checks the data folder, also while otad serves: the database's integrity (--quick: its\n"
     "quick check), every release's blobs present and matching their hash, the keys the\n"
     "products name present; orphan blobs and other files are listed, not removed. Exits 1\n"
     "when anything is damaged or missing.\n"},
    {"migrate", cli_migrate, "copy a stopped otad's data to PostgreSQL",
     (const struct cli_form[]){{"", "--to postgresql://USER@HOST:PORT/DB"}, {NULL, NULL}},
     "Copies the data folder's SQLite database and every firmware blob its releases need\n"
     "into an empty PostgreSQL database (its schema is created first), in one transaction,\n"
     "then checks each table's row count and each blob's SHA-256 as read back.\n"
     "\n"
     "Stop otad on the folder first: migrate refuses while any otad has its database open.\n"
     "It refuses a database that has rows, and copies nothing when a blob is damaged.\n"
     "Nothing in the folder is written; keep it: each node keeps a data folder (keys, blobs).\n"},
    {"sign", cli_sign, "sign a firmware file for a device format",
     (const struct cli_form[]){{"", "--key NAME|PRIVATE.key --format esp8266|esp8266-legacy|esp32\n"
                                    "[--hash sha256|sha384|sha512] IN OUT"},
                               {"", "--key K1[,K2[,K3]] --format secure-boot IN OUT"},
                               {NULL, NULL}},
     "Signs the firmware file IN into OUT as a device checks it, without a server (for CI):\n"
     "the ESP8266 core's signature or its legacy form, the ESP32's, or Secure Boot v2 with\n"
     "one to three keys. A key is a name in DATA_DIR/keys or a file.\n"},
    {"verify", cli_verify, "verify a signed firmware file",
     (const struct cli_form[]){{"", "FILE --key NAME|PUBLIC.pem "
                                    "[--format auto|esp8266|esp8266-legacy|esp32]\n"
                                    "[--hash auto|sha256|sha384|sha512]"},
                               {"", "FILE --key K1[,K2[,K3]] --format secure-boot"},
                               {NULL, NULL}},
     "Checks a signed firmware file against a public key as the device would and prints what\n"
     "it found; exits 1 when the signature does not verify.\n"},
    {"version", cli_version, "the git description, the build's options, the linked libraries",
     (const struct cli_form[]){{"", NULL}, {NULL, NULL}},
     "Prints otad's version as git describe gave it when it was built (the project's version\n"
     "when built without git), the build's options (buildtype, optimization, sanitizers,\n"
     "PostgreSQL support, compiler) and the version of each library it links, as the loaded\n"
     "library reports it. otad --version prints the same.\n"},
    {"manual", cli_manual, "print the manual pages or the bash completion",
     (const struct cli_form[]){
         {"otad.8", NULL}, {"otad.ini.5", NULL}, {"completion", NULL}, {NULL, NULL}},
     "Prints the manual page otad(8) or otad.ini(5) as roff, or the bash completion script,\n"
     "made from the tables behind --help; man/ and dist/bash-completion/ hold their output.\n"},
};

const size_t cli_subcommand_count = ARRAY_SIZE(cli_subcommands);

const struct cli_subcommand *cli_subcommand_find(const char *name)
{
    for (size_t i = 0; i < cli_subcommand_count; i++)
        if (strcmp(cli_subcommands[i].name, name) == 0)
            return &cli_subcommands[i];
    return NULL;
}

void cli_synopsis_print(FILE *out, const struct cli_subcommand *sub)
{
    /* A row without its synopsis or description is a mistake in the table, not the user's. */
    assert(sub->forms && sub->forms[0].verb && sub->description);
    for (const struct cli_form *f = sub->forms; f->verb; f++) {
        fprintf(out, "%s otad %s%s%s", f == sub->forms ? "usage:" : "      ", sub->name,
                f->verb[0] ? " " : "", f->verb);
        if (f->args) {
            fputc(' ', out);
            for (const char *c = f->args; *c; c++) {
                fputc(*c, out);
                if (*c == '\n')
                    fprintf(out, "%*s", CONTINUATION_INDENT, "");
            }
        }
        fputc('\n', out);
    }
}

void cli_help_print(FILE *out, const struct cli_subcommand *sub)
{
    cli_synopsis_print(out, sub);
    fprintf(out, "\n%s", sub->description);
}

int cli_usage(const char *name)
{
    const struct cli_subcommand *sub = cli_subcommand_find(name);
    if (sub)
        cli_synopsis_print(stderr, sub);
    return CLI_EXIT_USAGE;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: otad [SETTINGS] SUBCOMMAND [ARGS]\n"
                 "       otad SUBCOMMAND --help\n\nSubcommands:\n");
    for (size_t i = 0; i < cli_subcommand_count; i++)
        fprintf(out, "  %-10s %s\n", cli_subcommands[i].name, cli_subcommands[i].summary);
    fprintf(out, "\n");
    config_help(out);
}

int cli_config_reload(struct config *ret_config)
{
    char **argv = calloc((size_t)start_argc + 1, sizeof(*argv));
    if (!argv)
        return -ENOMEM;
    memcpy(argv, start_argv, (size_t)start_argc * sizeof(*argv));
    int argc = start_argc;
    char *complaint = NULL;
    size_t complaint_len = 0;
    FILE *err = open_memstream(&complaint, &complaint_len);
    int r = err ? config_load(ret_config, &argc, argv, start_envp, err) : -ENOMEM;
    if (err)
        fclose(err);
    if (r < 0 && complaint && complaint[0]) {
        complaint[strcspn(complaint, "\n")] = 0;
        log_error("reload: %s", complaint);
    }
    free(complaint);
    free(argv);
    return r;
}

/*
 * Under systemd with StandardError=journal, JOURNAL_STREAM names the stream
 * stderr is: log lines then go to the journal's native socket with their
 * fields. OTAD_TEST_JOURNAL_SOCKET (for tests only) names another socket.
 */
static void log_to_journal_if_asked(const struct config *config)
{
    if (!journal_stream_is(config_getenv(config, "JOURNAL_STREAM"), STDERR_FILENO))
        return;
    const char *path = config_getenv(config, "OTAD_TEST_JOURNAL_SOCKET");
    int r = log_to_journal(path && path[0] ? path : NULL);
    if (r < 0)
        log_warn("the journal's socket does not answer (%s): logging to stderr", strerror(-r));
}

static bool asks_for_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_main(int argc, char **argv, char **envp)
{
    start_argc = argc;
    start_argv = calloc((size_t)argc + 1, sizeof(*start_argv));
    if (!start_argv)
        return CLI_EXIT_FAILURE;
    memcpy(start_argv, argv, (size_t)argc * sizeof(*argv));
    start_envp = envp;
    struct config config;
    if (config_load(&config, &argc, argv, envp, stderr) < 0)
        return CLI_EXIT_USAGE;
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(config.log_level, &level);
    log_set_level(level);
    log_to_journal_if_asked(&config);

    if (argc < 2 || asks_for_help(argv[1]) || (strcmp(argv[1], "help") == 0 && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cli_version(argc - 1, argv + 1, &config);
    /* `otad help SUBCOMMAND` and `otad SUBCOMMAND --help` print the same text. */
    const char *name = strcmp(argv[1], "help") == 0 ? argv[2] : argv[1];
    const struct cli_subcommand *sub = cli_subcommand_find(name);
    if (!sub) {
        fprintf(stderr, "otad: unknown subcommand \"%s\" (otad --help lists them)\n", name);
        return CLI_EXIT_USAGE;
    }
    if (name != argv[1] || (argc == 3 && asks_for_help(argv[2]))) {
        cli_help_print(stdout, sub);
        return CLI_EXIT_OK;
    }
    return sub->run(argc - 1, argv + 1, &config);
}
