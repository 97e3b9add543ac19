/*
 * Small helpers for subcommand arguments: "--name value" / "--name=value"
 * options and positional arguments, in any order.
 */
#ifndef OTAD_CLI_ARGS_H
#define OTAD_CLI_ARGS_H

#include <stdbool.h>

#define ARGS_MAX_POSITIONAL 8

struct args_option {
    const char *name;  /* "--version" */
    bool takes_value;  /* false: a flag */
    const char *value; /* filled: the value, or "1" for a present flag, or NULL */
};

/*
 * Splits ARGV[1..ARGC) into OPTIONS (filled in place) and positional
 * arguments (*ret_positional, at most ARGS_MAX_POSITIONAL). Prints an error
 * naming the problem and returns -EINVAL for an unknown option, a missing
 * value or too many positional arguments.
 */
int args_parse(int argc, char **argv, struct args_option *options, unsigned option_count,
               const char **ret_positional, unsigned *ret_positional_count);

/*
 * Every value of option NAME (one that takes a value) in ARGV[1..ARGC), in
 * order, for an option that may be repeated (--plan k=v --plan k=v):
 * writes at most MAX pointers into ARGV to RET and returns how many there
 * are (more than MAX: the caller refuses). Call after args_parse accepted
 * ARGV, so every occurrence has its value.
 */
unsigned args_values(int argc, char **argv, const char *name, const char **ret, unsigned max);

#endif
