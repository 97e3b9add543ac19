/*
 * What the rollout controller (controller.c) shares with the fleet API
 * (service_fleet.c) inside the service: a channel's settings with their
 * defaults, a rollout's state change, and starting a revert. Nothing
 * outside src/service/ includes this.
 */
#ifndef OTAD_SERVICE_CONTROLLER_H
#define OTAD_SERVICE_CONTROLLER_H

#include <stdbool.h>

#include "core/reason.h"
#include "model/fleet.h"
#include "service/rollout.h"

struct service;

/*
 * Channel NAME of PRODUCT_ID into *RET: its row, or the defaults when it has
 * none (*RET_CONFIGURED false; may be NULL). -EIO.
 */
int fleet_channel_settings(struct service *svc, int64_t product_id, const char *name,
                           struct channel *ret, bool *ret_configured);

/*
 * Applies VERDICT to rollout R (halt, promote, complete) with REASON and
 * stores it; a completion deploys its release and withdraws what it takes
 * back. Call with fleet_lock held. -errno.
 */
int fleet_rollout_transition(struct service *svc, struct rollout *r, enum rollout_verdict verdict,
                             const char *reason);

/*
 * Starts a revert of HALTED (halted or aborted) rollout on PRODUCT: the
 * channel's deployed release, in one stage, to the devices that run the
 * halted release. Takes fleet_lock. -ENOENT when the channel has nothing
 * deployed to go back to.
 */
int fleet_revert(struct service *svc, const char *product, const struct rollout *halted,
                 const char *actor, struct rollout *ret, struct reason *why);

#endif
