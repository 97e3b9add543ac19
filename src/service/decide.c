/* The update decision (decide.h). Rules cite docs/PROTOCOL.md by section. */
#include "service/decide.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "core/version.h"
#include "service/compat.h"

uint64_t round_up_sector(uint64_t n)
{
    return (n + 4095) / 4096 * 4096;
}

/* Where the device stands relative to TARGET: <0 behind, 0 at, >0 ahead; UNKNOWN when unplaced. */
enum placement { PLACED_BEHIND, PLACED_CURRENT, PLACED_UNKNOWN, PLACED_NOTHING };

/*
 * Whether an ELF SHA-256 (or a prefix of one) names a build: not empty, and
 * not all zeros, which is what an image carries whose build did not write it
 * (esptool elf2image without --elf-sha256-offset) and what its app then
 * reports; every such build would look like one program.
 */
static bool names_build(const char *elf_sha256)
{
    return elf_sha256[0] && elf_sha256[strspn(elf_sha256, "0")] != 0;
}

/*
 * The newest release whose app descriptor's ELF SHA-256 begins with
 * ELF_SHA256 (the device may send a prefix, docs/PROTOCOL.md), or NULL. A
 * linear walk, newest first: only an ESP-IDF check-in that sends the header
 * asks, and two releases of one build (published again) are one program.
 * A prefix that two different builds share names neither: placing the
 * device on the newest would tell it "current" (304) while it runs the
 * other, so it is placed by its version instead.
 */
static const struct catalog_release *release_by_elf_sha256(const struct catalog_product *product,
                                                           const char *elf_sha256)
{
    size_t len = strlen(elf_sha256);
    const struct catalog_release *found = NULL;
    if (!names_build(elf_sha256))
        return NULL;
    for (size_t i = product->release_count; i-- > 0;) {
        const struct release *r = &product->releases[i].release;
        if (!r->app.present || !names_build(r->app.elf_sha256) ||
            strncmp(r->app.elf_sha256, elf_sha256, len) != 0)
            continue;
        if (!found)
            found = &product->releases[i];
        else if (strcmp(found->release.app.elf_sha256, r->app.elf_sha256) != 0)
            return NULL;
    }
    return found;
}

/* Whether the device reports a digest of what it runs (which may name no release). */
static bool reports_running_digest(const struct device_report *rep)
{
    return rep->sketch_md5[0] || rep->sketch_sha256[0] || rep->elf_sha256[0];
}

/* The release whose installed image has the digest the device reports (any mode), or NULL. */
static const struct catalog_release *
release_by_reported_digest(const struct catalog_product *product, const struct device_report *rep)
{
    /* §2 note: sketch-md5 is the installed image's MD5; a digest names one release exactly. */
    const struct catalog_release *r = NULL;
    if (rep->sketch_md5[0])
        r = catalog_release_by_digest(product, rep->sketch_md5);
    if (!r && rep->sketch_sha256[0])
        r = catalog_release_by_digest(product, rep->sketch_sha256);
    /* "ESP-IDF check-in": the ELF SHA-256 names the build, so it wins over the version. */
    if (!r && rep->elf_sha256[0])
        r = release_by_elf_sha256(product, rep->elf_sha256);
    return r;
}

/*
 * The release of MODE the device runs: the one BY_DIGEST names, else the
 * one with its exact version; NULL when unknown. With MUST_MATCH_DIGEST (for
 * what its firmware can do), a digest that matches nothing is firmware otad
 * does not know, whatever its version says.
 */
static const struct catalog_release *running_release(const struct catalog_product *product,
                                                     const struct device_report *rep,
                                                     const struct catalog_release *by_digest,
                                                     enum fw_mode mode, bool must_match_digest)
{
    if (by_digest && by_digest->release.mode == mode)
        return by_digest;
    if (must_match_digest && reports_running_digest(rep))
        return NULL;
    return rep->version[0] ? catalog_release_by_version(product, mode, rep->version) : NULL;
}

const struct catalog_release *decide_running(const struct catalog_product *product,
                                             const struct device_report *rep, enum fw_mode mode)
{
    return running_release(product, rep, release_by_reported_digest(product, rep), mode, false);
}

enum fw_mode decide_mode(const struct device_report *rep)
{
    return rep->mode == REPORT_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
}

static enum placement place_device(const struct device_report *rep,
                                   const struct catalog_release *running,
                                   const struct catalog_release *target, bool exact)
{
    if (running) {
        if (running == target)
            return PLACED_CURRENT;
        /* docs/FLEET.md: a pin or a rollback offers its release; a withdrawn one is left. */
        if (exact || running->withdrawn)
            return PLACED_BEHIND;
        return release_order(running, target) >= 0 ? PLACED_CURRENT : PLACED_BEHIND;
    }
    if (rep->version[0]) {
        int cmp;
        if (target->semver && version_compare(rep->version, target->release.version, &cmp) == 0)
            return cmp >= 0 ? PLACED_CURRENT : PLACED_BEHIND;
        return PLACED_UNKNOWN;
    }
    if (reports_running_digest(rep))
        return PLACED_UNKNOWN;
    return PLACED_NOTHING;
}

/*
 * "ESP-IDF check-in", device safety: esp_https_ota refuses an image without
 * an app descriptor, and one for another chip or outside the chip revisions
 * its header allows, after the download (or the device, for a revision its
 * boot loader checks, would not boot it). Refused here with the issue, before
 * any byte is sent. True when TARGET may be offered.
 */
static bool idf_accepts(const struct device_report *rep, const struct catalog_release *target,
                        struct decision *d)
{
    const struct app_desc *app = &target->release.app;
    const char *version = target->release.version;
    if (!app->present) {
        d->issue = DELIVERY_NO_APP_DESC;
        snprintf(d->reason, sizeof(d->reason),
                 "release %s has no app descriptor (not built by ESP-IDF); esp_https_ota refuses "
                 "it",
                 version);
        return false;
    }
    if (rep->has_chip && rep->idf_chip_id != app->chip_id) {
        const char *image = esp_chip_name(app->chip_id);
        const char *device = esp_chip_name(rep->idf_chip_id);
        d->issue = DELIVERY_WRONG_CHIP;
        snprintf(d->reason, sizeof(d->reason), "release %s is built for %s; the device is an %s",
                 version, image ? image : "an unknown chip", device ? device : "unknown chip");
        return false;
    }
    if (rep->has_chip_revision && ((app->min_chip_rev && rep->chip_revision < app->min_chip_rev) ||
                                   (app->max_chip_rev && rep->chip_revision > app->max_chip_rev))) {
        char range[32];
        if (app->max_chip_rev)
            snprintf(range, sizeof(range), "v%u.%u to v%u.%u", app->min_chip_rev / 100u,
                     app->min_chip_rev % 100u, app->max_chip_rev / 100u, app->max_chip_rev % 100u);
        else
            snprintf(range, sizeof(range), "v%u.%u and later", app->min_chip_rev / 100u,
                     app->min_chip_rev % 100u);
        d->issue = DELIVERY_WRONG_CHIP;
        snprintf(d->reason, sizeof(d->reason),
                 "release %.40s runs on chip revisions %s; the device is v%u.%u", version, range,
                 rep->chip_revision / 100u, rep->chip_revision % 100u);
        return false;
    }
    return true;
}

static void set_reason(struct decision *d, const char *fmt, unsigned long long a,
                       unsigned long long b)
{
    snprintf(d->reason, sizeof(d->reason), fmt, a, b);
}

/* §4 checks 1 and 3: refuse what the device would fail on anyway (-100, -107). */
static bool fits(const struct catalog_product *product, const struct device_report *rep,
                 enum fw_mode mode, const struct catalog_release *target, struct decision *d)
{
    if (mode == FW_MODE_SKETCH && rep->has_free_space &&
        round_up_sector(d->variant.size) > rep->free_space) {
        set_reason(d, "image needs %llu bytes of free sketch space; the device has %llu",
                   (unsigned long long)round_up_sector(d->variant.size),
                   (unsigned long long)rep->free_space);
        return false;
    }
    if (product->product.platform == PLATFORM_ESP8266 && mode == FW_MODE_SKETCH &&
        rep->has_chip_size && target->release.flash_size > rep->chip_size) {
        set_reason(d, "image is built for %llu bytes of flash; the device has %llu",
                   (unsigned long long)target->release.flash_size,
                   (unsigned long long)rep->chip_size);
        return false;
    }
    return true;
}

/*
 * Whether TARGET's secure_version is below the device's anti-rollback floor
 * (the highest of what it reports now and what is known of it): its boot
 * loader, and esp_https_ota before it, would refuse the image. A release
 * without an app descriptor has no secure_version to compare.
 */
static bool below_secure_version(const struct decide_request *req,
                                 const struct catalog_release *target, struct decision *d)
{
    const struct device_report *rep = req->report;
    bool known = rep->has_secure_version || req->has_secure_version_known;
    uint32_t floor = rep->has_secure_version ? rep->secure_version : 0;
    if (req->has_secure_version_known && req->secure_version_known > floor)
        floor = req->secure_version_known;
    if (!known || !target->release.app.present || target->release.app.secure_version >= floor)
        return false;
    d->kind = DECISION_REFUSED;
    d->issue = DELIVERY_BELOW_SECURE_VERSION;
    snprintf(d->reason, sizeof(d->reason),
             "release %.32s has secure_version %u, below this device's anti-rollback %u: it "
             "would not boot",
             target->release.version, (unsigned)target->release.app.secure_version,
             (unsigned)floor);
    return true;
}

void decide(const struct catalog_product *product, const struct decide_request *req,
            struct decision *d)
{
    const struct device_report *rep = req->report;
    memset(d, 0, sizeof(*d));
    if (!product) {
        d->kind = DECISION_UNKNOWN;
        snprintf(d->reason, sizeof(d->reason), "no such product");
        return;
    }
    /* An ESP32 updater checks only the magic byte: never hand it an ESP8266 image, or back. */
    if (rep->platform_known && rep->platform != product->product.platform) {
        d->kind = DECISION_REFUSED;
        snprintf(d->reason, sizeof(d->reason), "this product is for %s; the device is an %s",
                 platform_name(product->product.platform), platform_name(rep->platform));
        return;
    }
    enum fw_mode mode = decide_mode(rep);
    const struct catalog_release *target =
        req->has_target ? req->target : catalog_target(product, req->channel, mode);
    const struct catalog_release *by_digest = release_by_reported_digest(product, rep);
    const struct catalog_release *running = running_release(product, rep, by_digest, mode, false);
    struct form_choice choice = {NULL, FORM_BRICKS, DELIVERY_OK};
    if (target) {
        str_copy(d->version, sizeof(d->version), target->release.version);
        d->release_id = target->release.id;
        /* Firmware whose image carries a product key checks every update (docs/SIGNING.md). */
        bool reports_digest = rep->sketch_md5[0] || rep->sketch_sha256[0];
        const struct catalog_release *firmware =
            mode == FW_MODE_SKETCH && !reports_digest
                ? running /* the same lookup, by version */
                : running_release(product, rep, by_digest, FW_MODE_SKETCH, true);
        struct device_capability cap;
        compat_capability(&product->product, rep, firmware && firmware->release.verifier_key[0],
                          &cap);
        compat_choose(&product->product, &target->release, &cap, &choice);
        if (choice.variant) {
            d->variant = *choice.variant;
            if (choice.variant->kind != VARIANT_PLAIN && choice.variant->kind != VARIANT_GZIP)
                str_copy(d->signed_by, sizeof(d->signed_by), target->release.signed_by);
        }
    }

    /* §3: getAvailableVersion() wants 200 + x-version; nothing published is a 404. */
    if (rep->mode == REPORT_MODE_VERSION) {
        if (target && below_secure_version(req, target, d))
            return; /* never the version of a release it could not boot */
        d->kind = target ? DECISION_VERSION : DECISION_UNKNOWN;
        if (!target)
            snprintf(d->reason, sizeof(d->reason), "nothing published");
        return;
    }
    /*
     * §10.3: the EmonESP web page asks the legacy path with no tag for the
     * latest version. The updater itself (identified by its User-Agent or
     * x-ESP* headers) may also call it with an empty tag; it must never get
     * text it would try to flash, so it is treated as a check-in.
     */
    if (req->legacy_alias && rep->version_source == VERSION_SOURCE_NONE && !rep->platform_known) {
        d->kind = target ? DECISION_LATEST_TEXT : DECISION_UNKNOWN;
        if (!target)
            snprintf(d->reason, sizeof(d->reason), "nothing published");
        return;
    }
    /* §12.2: "nothing newer" is a 304, never an empty 200. */
    if (!target) {
        d->kind = DECISION_CURRENT;
        return;
    }
    switch (place_device(rep, running, target, req->has_target && req->exact)) {
    case PLACED_CURRENT:
    case PLACED_NOTHING:
        d->kind = DECISION_CURRENT;
        return;
    case PLACED_BEHIND:
    case PLACED_UNKNOWN:
        break;
    }
    /* Never below the device's anti-rollback floor, whichever rule chose the target. */
    if (below_secure_version(req, target, d))
        return;
    if (rep->idf && !idf_accepts(rep, target, d)) {
        d->kind = DECISION_REFUSED;
        return;
    }
    /* Never an unsigned image from a signing product; never a form the device cannot boot. */
    d->issue = choice.issue;
    if (!choice.variant) {
        d->kind = DECISION_REFUSED;
        if (choice.issue == DELIVERY_NOT_SIGNED)
            snprintf(d->reason, sizeof(d->reason),
                     "release %s has no form this device may be served (not signed); publish it "
                     "again to sign it",
                     target->release.version);
        else
            snprintf(d->reason, sizeof(d->reason),
                     "release %s has no form this device's core can install and boot",
                     target->release.version);
        return;
    }
    d->kind = fits(product, rep, mode, target, d) ? DECISION_UPDATE : DECISION_REFUSED;
}
