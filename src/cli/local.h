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

/*
 * Closes SVC after a command. Events the command raised (a release added, a
 * rollout action, a source's sync) are first stored as notification
 * deliveries (src/notify/), which the running server sends within a second;
 * a failure to store them is logged. NULL-safe.
 */
void cli_close_service(const struct config *config, struct service *svc);

/* Prints WHY (or the errno R's text) and returns CLI_EXIT_FAILURE. */
int cli_refused(const struct reason *why, int r);

/*
 * The audit log's entry for a command that changes state (docs/AUDIT.md),
 * the CLI's one way to write it: ACTION ("channel.put"), PRODUCT and
 * OBJECT (may be NULL), PARAMS (stolen, may be NULL: only parameters the
 * command chooses, never a secret), and how it ended: R (0 or -errno) with
 * WHY. The actor is the local user (getpwuid(geteuid())), token id 0, from
 * "local". A failure to record is logged; the command's result stands.
 */
void cli_audit(struct service *svc, const char *action, const char *product, const char *object,
               json_t *params, int r, const struct reason *why);

/*
 * Prints one line for a problem `otad store verify` found (F->result not 0:
 * "damaged SHA256  N bytes  used by ...", "missing ...", "unreadable ...",
 * "not-a-blob PATH ..."); nothing for an intact blob. `otad check` prints
 * its blob findings with it too.
 */
void cli_print_store_finding(const struct store_finding *f);

/* Prints ROOT as indented JSON and drops its reference. */
void cli_print_json(json_t *root);

#endif
