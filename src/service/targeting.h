/*
 * Which channel a device is in and which release it is offered
 * (docs/FLEET.md, "Which channel, which release: precedence"): holds and
 * pins, groups, the channel's active rollout with the device's bucket and
 * its failures, the maintenance window. Reads the catalog and the tracker
 * only: never the database, never allocates. Thread-safe.
 */
#ifndef OTAD_SERVICE_TARGETING_H
#define OTAD_SERVICE_TARGETING_H

#include <stdbool.h>
#include <stdint.h>

#include "model/fleet.h"
#include "service/catalog.h"

struct tracker;

struct target_choice {
    const char *channel;                   /* the device's channel */
    const struct catalog_group *group;     /* the group that chose it, or NULL */
    bool by_query;                         /* chosen by ?channel= */
    bool held;                             /* a hold: nothing is offered */
    const struct catalog_pin *pin;         /* a pin or a hold, or NULL */
    const struct catalog_rollout *rollout; /* the channel's active rollout of the mode, or NULL */
    uint16_t bucket;                       /* in ROLLOUT */
    uint16_t admitted_bp;                  /* ROLLOUT's share now */
    bool admitted;                         /* ROLLOUT offers the device its release */
    bool failed;                           /* the device failed ROLLOUT: never offered it again */
    const struct catalog_release *target;  /* what it is offered, NULL: nothing */
    bool exact;                            /* offered unless it runs exactly TARGET */
    bool window_open;                      /* may be offered something new now */
};

/*
 * Decides for device MAC (0: it sent no MAC; then only the channel and the
 * deployed release apply) of PRODUCT, reporting REP, running RUNNING (NULL:
 * unknown), at NOW_MS, asking for MODE. TRACKER may be NULL (no failures
 * known).
 */
void target_choose(const struct catalog_product *product, const struct device_report *rep,
                   uint64_t mac, enum fw_mode mode, const struct catalog_release *running,
                   struct tracker *tracker, int64_t now_ms, struct target_choice *ret);

/* Says in words why the device is in CHOICE's channel ("group lab (MAC list)"). */
void target_channel_rule(const struct catalog_product *product, const struct target_choice *choice,
                         char *buf, size_t size);

/* True when WINDOW (in zone TZ, NULL: UTC) is open at NOW_MS; always open when unset. */
bool target_window_open(const struct fleet_window *window, const struct tz *tz, int64_t now_ms);

#endif
