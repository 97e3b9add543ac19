/*
 * The anti-rollback budget (antirollback.h): the eFuse field per chip and
 * the judgement of a secure_version bump. The figures are counted so that
 * an operator reads what is left of an irreversible resource: a bump from
 * A to B burns B - A bits on each device that installs it, and a device
 * whose field is full can never take a higher secure_version again.
 */
#include "service/antirollback.h"

#include <errno.h>
#include <stdio.h>

#include "core/util.h"
#include "model/model.h"

/* SECURE_VERSION's bit count in each chip's esp_efuse_table.csv (ESP-IDF). */
static const struct {
    uint16_t chip_id; /* esp_chip_name's */
    unsigned bits;
} efuse_fields[] = {
    {0, 32},  /* ESP32: EFUSE_BLK3, 32 bits */
    {2, 16},  /* ESP32-S2 */
    {5, 16},  /* ESP32-C3 */
    {9, 16},  /* ESP32-S3 */
    {12, 4},  /* ESP32-C2: EFUSE_BLK0, 4 bits */
    {13, 16}, /* ESP32-C6 */
    {16, 16}, /* ESP32-H2 */
    {18, 16}, /* ESP32-P4 */
    {23, 16}, /* ESP32-C5 */
};

unsigned antirollback_efuse_bits(uint16_t chip_id)
{
    for (size_t i = 0; i < ARRAY_SIZE(efuse_fields); i++)
        if (efuse_fields[i].chip_id == chip_id)
            return efuse_fields[i].bits;
    return 0;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

int antirollback_judge(uint16_t chip_id, uint32_t to, uint32_t releases_max, bool devices_known,
                       uint32_t devices_max, bool allowed, struct secure_version_bump *ret_bump,
                       struct reason *why)
{
    const char *chip = esp_chip_name(chip_id);
    unsigned bits = antirollback_efuse_bits(chip_id);
    if (!chip || !bits)
        return reason_set(why, -EINVAL, "chip id %u has no known anti-rollback eFuse field",
                          (unsigned)chip_id);
    if (to > bits)
        return reason_set(why, -EINVAL,
                          "secure_version %u is more than the %s's %u-bit anti-rollback eFuse "
                          "field can hold: no device could ever boot it",
                          (unsigned)to, chip, bits);
    struct secure_version_bump *b = ret_bump;
    *b = (struct secure_version_bump){
        .raised = to > releases_max,
        .from = releases_max,
        .to = to,
        .highest_release = releases_max,
        .devices_known = devices_known,
        .highest_device = devices_known ? devices_max : 0,
        .efuse_bits = bits,
    };
    str_copy(b->chip, sizeof(b->chip), chip);
    uint32_t highest = max_u32(releases_max, b->highest_device);
    b->left = highest >= bits ? 0 : bits - highest;
    uint32_t after = max_u32(to, highest);
    b->left_after = after >= bits ? 0 : bits - after;
    if (!b->raised)
        return 0;
    char devices[16] = "none reported";
    if (devices_known)
        snprintf(devices, sizeof(devices), "%u", (unsigned)devices_max);
    snprintf(b->warning, sizeof(b->warning),
             "secure_version %u -> %u burns eFuse bits irreversibly on every device that "
             "installs it; %s (%u bits): %u bumps left, %u after (highest known: releases %u, "
             "devices %s)",
             (unsigned)b->from, (unsigned)to, chip, bits, b->left, b->left_after,
             (unsigned)releases_max, devices);
    if (allowed)
        return 0;
    return reason_set(why, -EDQUOT,
                      "%s; confirm: allow_secure_version_bump=true / --allow-secure-version-bump",
                      b->warning);
}
