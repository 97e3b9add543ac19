/*
 * The JSON shapes of fleet control (docs/API.md, "Fleet control"): channels,
 * groups, pins, rollouts with their counters, a device's "why", a product's
 * fleet settings; and the one reader of a plan given as JSON. Shared by the
 * API (api_fleet.c) and the CLI's --json, so both answer alike. Field names
 * are part of the API: add, never rename. Presenting only: no service calls.
 */
#ifndef OTAD_HTTP_FLEET_JSON_H
#define OTAD_HTTP_FLEET_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"
#include "model/fleet.h"
#include "service/service_fleet.h"

/*
 * Each returns a new JSON object (the caller owns the reference), or NULL
 * when out of memory. Inputs are borrowed. Percentages are numbers (1.5 for
 * 150 basis points), times RFC 3339 strings, stage numbers start at 1.
 */

/* {"stages": [1, 10, 50, 100], "soak": "1h", "fail_max": 50, ...}: every key of the plan syntax. */
json_t *fleet_json_plan(const struct rollout_plan *plan);
/* {"channel_query", "group_query", "max_downloads", "require_https"} */
json_t *fleet_json_product_fleet(const struct product_fleet *f);
json_t *fleet_json_channel(const struct channel_view *v);
/*
 * A group. MACS (MAC_COUNT of them) may be NULL: then only "mac_count"
 * (MAC_COUNT) is given, as in a list; else "macs" too.
 */
json_t *fleet_json_group(const struct group *g, const uint64_t *macs, size_t mac_count);
json_t *fleet_json_pin(const struct pin *p);
json_t *fleet_json_rollout(const struct rollout_status *s);
json_t *fleet_json_device(const struct device_why *d);

/*
 * Applies OBJ, a JSON object of plan keys (docs/FLEET.md, "Plan syntax")
 * to strings, numbers or booleans, over PLAN through rollout_plan_set;
 * "stages" may also be an array of numbers. Returns 0, or -EINVAL with WHY
 * naming the key (PLAN may then be partly changed: pass a copy).
 */
int fleet_json_plan_apply(struct rollout_plan *plan, const json_t *obj, struct reason *why);

/*
 * The plan a new rollout given a plan starts from: channel CHANNEL's, or
 * (CHANNEL NULL) that of the channel release VERSION (MODE) of PRODUCT was
 * published to, into *RET. -ENOENT (no such product or release), -EINVAL
 * (a bad channel name), with WHY.
 */
int fleet_plan_base(struct service *svc, const char *product, const char *channel,
                    const char *version, enum fw_mode mode, struct rollout_plan *ret,
                    struct reason *why);

#endif
