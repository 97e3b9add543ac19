/*
 * Dispatch: the table of subcommands, the shared option handling and the
 * top-level usage. Subcommands that work on the data folder open the
 * service in local mode (no background threads) and leave serving to
 * `otad serve`.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/log.h"
#include "core/util.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv, const struct config *config);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"serve", cli_serve, "run the server"},
    {"config", cli_config, "config dump | config markdown: show the effective settings"},
    {"product", cli_product, "product add | set | fleet | list"},
    {"release", cli_release, "release add | list"},
    {"token", cli_token, "token create | list | revoke"},
    {"session", cli_session, "session list | revoke: dashboard sessions"},
    {"device", cli_device, "device list | show: a device and why it gets what it gets"},
    {"channel", cli_channel, "channel list | show | set | reset: release channels' policies"},
    {"group", cli_group, "group list | show | add | set | delete | add-macs | remove-macs"},
    {"pin", cli_pin, "pin set | hold | clear | list: one device, one release (or none)"},
    {"rollout", cli_rollout,
     "rollout start | pause | resume | abort | promote | halt | revert | status | list | tick"},
    {"audit", cli_audit_log, "audit list: who did what, when, from where, and how it ended"},
    {"source", cli_source, "source add | list | sync | remove: GitHub release sources"},
    {"notify", cli_notify,
     "notify add | list | remove | test | deliveries: webhooks on rollouts, releases, sources"},
    {"key", cli_key, "key generate | list | export: signing keys"},
    {"tls", cli_tls, "tls ca init | cert | export | show: the fleet CA and HTTPS certificates"},
    {"store", cli_store, "store verify: check every firmware blob against its hash"},
    {"migrate", cli_migrate, "migrate --to URL: copy a stopped otad's data to PostgreSQL"},
    {"sign", cli_sign, "sign a firmware file for a device format"},
    {"verify", cli_verify, "verify a signed firmware file"},
    {"version", cli_version, "the git description, the build's options, the linked libraries"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: otad [SETTINGS] SUBCOMMAND [ARGS]\n\nSubcommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n");
    config_help(out);
}

int cli_main(int argc, char **argv, char **envp)
{
    struct config config;
    if (config_load(&config, &argc, argv, envp, stderr) < 0)
        return CLI_EXIT_USAGE;
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(config.log_level, &level);
    log_set_level(level);

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cli_version(argc - 1, argv + 1, &config);
    for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1, &config);
    fprintf(stderr, "otad: unknown subcommand \"%s\" (otad --help lists them)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
