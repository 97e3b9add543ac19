/*
 * The anti-rollback budget (docs/SECURITY.md, "Anti-rollback"): how many
 * bits each ESP32 chip's SECURE_VERSION eFuse field has, and the judgement
 * of a publish that raises a product's secure_version, with the figures an
 * operator needs before burning bits that never come back. Pure: no I/O;
 * publish.c reads the product's highest values from the database and
 * records the outcome, the callers print it.
 */
#ifndef OTAD_SERVICE_ANTIROLLBACK_H
#define OTAD_SERVICE_ANTIROLLBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/reason.h"

/*
 * The width in bits of the SECURE_VERSION eFuse field of the chip with
 * esp_chip_name's CHIP_ID (ESP-IDF's components/efuse/<chip>/
 * esp_efuse_table.csv): 32 on the ESP32, 4 on the ESP32-C2, 16 on the
 * others otad knows; 0 for an unknown chip. A secure_version counts the
 * bits burnt, so it is at most this.
 */
unsigned antirollback_efuse_bits(uint16_t chip_id);

/* What a release does to its product's anti-rollback budget. */
struct secure_version_bump {
    bool raised;              /* the release raises secure_version above the earlier releases' */
    uint32_t from;            /* the highest of the earlier releases of its mode (0: none) */
    uint32_t to;              /* the release's */
    uint32_t highest_release; /* = from */
    bool devices_known;       /* a device of the product reported one */
    uint32_t highest_device;  /* the highest a device reported (0 when none) */
    char chip[16];            /* esp_chip_name of the image's chip */
    unsigned efuse_bits;      /* antirollback_efuse_bits of it */
    unsigned left;            /* bumps left now: efuse_bits - the highest known */
    unsigned left_after;      /* after this release: efuse_bits - max(to, the highest known) */
    char warning[256];        /* one line with the figures; "" when not raised */
};

/*
 * Judges a release of secure_version TO for the chip CHIP_ID, against the
 * product's earlier releases of the same mode (their highest RELEASES_MAX,
 * 0 when none) and its devices (DEVICES_KNOWN: one reported; their highest
 * DEVICES_MAX). Fills *RET_BUMP in every case but -EINVAL. Returns 0 when
 * the release does not raise secure_version, or raises it and ALLOWED
 * (RET_BUMP->warning then says so with the figures); -EDQUOT when it raises
 * it and not ALLOWED, WHY with the figures and the flag to confirm; -EINVAL
 * when TO is more than the chip's field can hold, or the chip is unknown.
 */
int antirollback_judge(uint16_t chip_id, uint32_t to, uint32_t releases_max, bool devices_known,
                       uint32_t devices_max, bool allowed, struct secure_version_bump *ret_bump,
                       struct reason *why);

#endif
