/*
 * The update decision: given what a device reported and the catalog's view
 * of its product, answer current (304), update (200 with which variant),
 * version, latest-as-text, refused (403) or unknown (404). Pure: no I/O, no
 * clock, no allocation, so every rule of the protocol reference has a unit
 * test here.
 *
 * Release order (catalog.h: semver where both are, else publish sequence);
 * the target is the channel's deployed release (catalog_target: its
 * greatest by that order, unless fleet control deployed another), or the
 * one fleet control chose for this device (targeting.h). A device is
 * placed by, in turn: an installed digest it reports (sketch-md5 with any
 * flash-mode byte, or ESP32 sketch-sha256) matching a release; a reported
 * version equal to a release's; a reported semantic version compared with
 * the target's. A device that is at or above the target is current; one
 * that runs something unknown is offered the target; one that reports
 * nothing to compare is current. Fleet control adds two ways past that
 * order: an EXACT target (a pin, a rollback) is offered to a device that
 * runs any other known release, and a device running a withdrawn release
 * is behind whatever the target is (docs/FLEET.md).
 *
 * Whatever chose the target (the channel, a rollout, a pin, a rollback), a
 * device whose anti-rollback floor is N (the highest secure_version it or
 * the registry reported) is never offered, nor told the version of, a
 * release whose app descriptor says a secure_version below N: 403 with
 * DELIVERY_BELOW_SECURE_VERSION (docs/SECURITY.md, "Anti-rollback").
 */
#ifndef OTAD_SERVICE_DECIDE_H
#define OTAD_SERVICE_DECIDE_H

#include <stdbool.h>

#include "service/catalog.h"
#include "model/model.h"

/* How the device reached us. */
struct decide_request {
    const struct device_report *report;
    const char *channel; /* the device's channel */
    bool legacy_alias;   /* came through a configured legacy path (EmonESP form) */
    bool has_target;     /* TARGET was chosen (targeting.h): not the channel's deployed release */
    const struct catalog_release *target; /* NULL with HAS_TARGET: nothing to offer */
    bool exact; /* offer TARGET to a device that runs any other known release */
    /*
     * The highest anti-rollback secure_version known for the device besides
     * what REPORT says now (the registry's, for `device show`): with
     * REPORT->secure_version, the floor no release may be offered below
     * (docs/SECURITY.md, "Anti-rollback").
     */
    bool has_secure_version_known;
    uint32_t secure_version_known;
};

/*
 * The release of MODE that a device reporting REP runs: the one its
 * installed digest names, else the one with its exact version; NULL when
 * unknown. What fleet control compares an outcome with.
 */
const struct catalog_release *decide_running(const struct catalog_product *product,
                                             const struct device_report *rep, enum fw_mode mode);

/* The mode a report asks about: FW_MODE_FS for x-ESP8266-mode: spiffs, else the sketch. */
enum fw_mode decide_mode(const struct device_report *rep);

/*
 * Decides for REQ against PRODUCT (NULL when the product is unknown) and
 * fills *ret_decision. Never fails.
 */
void decide(const struct catalog_product *product, const struct decide_request *req,
            struct decision *ret_decision);

/* Rounds N up to the ESP8266 flash sector size (4096), as Update.begin() does. */
uint64_t round_up_sector(uint64_t n);

#endif
