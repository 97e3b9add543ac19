/* Subcommand argument splitting (args.h). */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int args_parse(int argc, char **argv, struct args_option *options, unsigned option_count,
               const char **ret_positional, unsigned *ret_positional_count)
{
    unsigned npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (npos == ARGS_MAX_POSITIONAL) {
                fprintf(stderr, "otad: too many arguments\n");
                return -EINVAL;
            }
            ret_positional[npos++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        struct args_option *opt = NULL;
        for (unsigned j = 0; j < option_count; j++)
            if (strlen(options[j].name) == n && strncmp(options[j].name, a, n) == 0)
                opt = &options[j];
        if (!opt) {
            fprintf(stderr, "otad: unknown option \"%.*s\"\n", (int)n, a);
            return -EINVAL;
        }
        if (!opt->takes_value) {
            opt->value = "1";
        } else if (eq) {
            opt->value = eq + 1;
        } else if (i + 1 < argc) {
            opt->value = argv[++i];
        } else {
            fprintf(stderr, "otad: %s needs a value\n", opt->name);
            return -EINVAL;
        }
    }
    *ret_positional_count = npos;
    return 0;
}

unsigned args_values(int argc, char **argv, const char *name, const char **ret, unsigned max)
{
    size_t len = strlen(name);
    unsigned n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0 || strncmp(argv[i], name, len) != 0)
            continue;
        const char *value = NULL;
        if (argv[i][len] == '=')
            value = argv[i] + len + 1;
        else if (argv[i][len] == 0 && i + 1 < argc)
            value = argv[++i];
        if (!value)
            continue;
        if (n < max)
            ret[n] = value;
        n++;
    }
    return n;
}
