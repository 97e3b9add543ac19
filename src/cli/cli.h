/*
 * The command line: `otad SUBCOMMAND ...`. cli_main loads the configuration
 * (flags shared by every subcommand) and dispatches through one table, which
 * also holds each subcommand's synopsis and description (subcommands.h);
 * each subcommand prints its own errors and returns an exit status.
 */
#ifndef OTAD_CLI_CLI_H
#define OTAD_CLI_CLI_H

#include "core/config.h"

/* Runs otad with ARGV and environment ENVP; returns the process exit status. */
int cli_main(int argc, char **argv, char **envp);

/*
 * Loads the configuration again the way cli_main did at start (the same
 * flags and environment; the file as it is now) into RET_CONFIG, for a
 * reload. Returns 0, or -EINVAL after logging why (the file no longer
 * loads, or a setting is wrong).
 */
int cli_config_reload(struct config *ret_config);

/* Exit statuses shared by every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the operation failed (a refusal, a mismatch, an I/O error) */
    CLI_EXIT_USAGE = 2,   /* the command line was wrong */
};

#endif
