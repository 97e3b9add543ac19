/*
 * The subcommand table as data: for each subcommand its synopsis lines and
 * its description, the one source of `otad SUBCOMMAND --help`, the usage a
 * subcommand prints on a wrong command line, the manual page otad(8) and the
 * bash completion (cli/manual.c). The table itself is in cli.c; the text a
 * subcommand prints when it runs is its own file's.
 */
#ifndef OTAD_CLI_SUBCOMMANDS_H
#define OTAD_CLI_SUBCOMMANDS_H

#include <stddef.h>
#include <stdio.h>

#include "core/config.h"

/*
 * One synopsis line: `otad NAME VERB ARGS`. VERB is the sub-subcommand,
 * "" when the subcommand has none (otad serve, otad sign): one word, two for
 * `tls ca init`, or alternatives joined by '|' (`pause|resume`). ARGS is the
 * rest, NULL for none; a '\n' in it continues the line on the next one.
 * In ARGS, "--name" is an option, a following lowercase word with '|' its
 * values (`--mode sketch|fs`), an upper-case word a value to give: the
 * completion reads them so.
 */
struct cli_form {
    const char *verb;
    const char *args;
};

struct cli_subcommand {
    const char *name;
    int (*run)(int argc, char **argv, const struct config *config);
    const char *summary;          /* one line for `otad --help` */
    const struct cli_form *forms; /* the synopsis, ended by a form whose verb is NULL */
    const char *description;      /* plain text, paragraphs split by an empty line */
    /* Neither may be NULL, nor the synopsis empty: --help asserts so. */
};

/* The table, in the order of `otad --help` and otad(8); cli_subcommand_count rows. */
extern const struct cli_subcommand cli_subcommands[];
extern const size_t cli_subcommand_count;

/* The row named NAME, or NULL. */
const struct cli_subcommand *cli_subcommand_find(const char *name);

/*
 * Prints SUB's synopsis to OUT as `otad SUB --help` begins: "usage: " and
 * one line per form, continuation lines indented.
 */
void cli_synopsis_print(FILE *out, const struct cli_subcommand *sub);

/* Prints SUB's whole help to OUT: the synopsis, an empty line, the description. */
void cli_help_print(FILE *out, const struct cli_subcommand *sub);

/*
 * Prints the synopsis of the subcommand named NAME (a row of the table) to
 * stderr, for a command line it cannot run; returns CLI_EXIT_USAGE.
 */
int cli_usage(const char *name);

#endif
