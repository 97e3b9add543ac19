/*
 * otad's entry point, kept thin: load the configuration, pick the
 * subcommand, run it. Each subcommand lives in src/cli/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

extern char **environ;

int main(int argc, char **argv)
{
    return cli_main(argc, argv, environ);
}
