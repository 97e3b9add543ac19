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

/* Exit statuses shared by every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the operation failed (a refusal, a mismatch, an I/O error) */
    CLI_EXIT_USAGE = 2,   /* the command line was wrong */
};

#endif
