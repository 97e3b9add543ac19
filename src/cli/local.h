/*
 * What the subcommands that work on the data folder share: opening the
 * service there, and printing refusals and JSON the same way.
 */
#ifndef OTAD_CLI_LOCAL_H
#define OTAD_CLI_LOCAL_H

#include <jansson.h>

#include "core/config.h"
#include "core/reason.h"
#include "service/service.h"

/* Opens the service on CONFIG's data folder without background threads; prints why not. */
int cli_open_service(const struct config *config, struct service **ret_svc);

/* Prints WHY (or the errno R's text) and returns CLI_EXIT_FAILURE. */
int cli_refused(const struct reason *why, int r);

/* Prints ROOT as indented JSON and drops its reference. */
void cli_print_json(json_t *root);

#endif
