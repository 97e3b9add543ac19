/*
 * Unit tests for src/service/decide.c: every decision rule of the protocol
 * reference (§3, §4, §12, §13) against a catalog built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "core/version.h"
#include "service/decide.h"

#define MAX_RELEASES 8

struct fixture {
    struct catalog_product product;
    struct catalog_release releases[MAX_RELEASES];
    struct catalog_digest digests[MAX_RELEASES];
};

static struct fixture fx;

static void fixture_reset(enum platform platform)
{
    free(fx.product.targets);
    memset(&fx, 0, sizeof(fx));
    fx.product.product.id = 1;
    strcpy(fx.product.product.name, "emonesp");
    fx.product.product.platform = platform;
    strcpy(fx.product.product.default_channel, "stable");
    fx.product.releases = fx.releases;
    fx.product.digests = fx.digests;
}

/* Adds a release with a plain variant of SIZE bytes whose MD5 is MD5 (32 chars). */
static struct catalog_release *add_release(const char *version, const char *channel,
                                           enum fw_mode mode, uint64_t size, const char *md5,
                                           uint64_t flash_size)
{
    size_t i = fx.product.release_count++;
    struct catalog_release *r = &fx.releases[i];
    r->release.id = (int64_t)i + 100;
    r->release.seq = (int64_t)i + 1;
    strcpy(r->release.version, version);
    strcpy(r->release.channel, channel);
    r->release.mode = mode;
    r->release.size = size;
    r->release.flash_size = flash_size;
    strcpy(r->release.md5, md5);
    r->release.variants[0] = (struct variant){.kind = VARIANT_PLAIN, .size = size};
    strcpy(r->release.variants[0].md5, md5);
    r->release.variant_count = 1;
    r->semver = version_is_semver(version);
    struct catalog_digest *d = &fx.digests[fx.product.digest_count++];
    strcpy(d->digest, md5);
    d->release = r;
    /* What catalog_build does: digests sorted, each (channel, mode)'s target computed. */
    assert_int_equal(catalog_index(&fx.product), 0);
    return r;
}

#define MD5_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MD5_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MD5_C "cccccccccccccccccccccccccccccccc"
#define MD5_X "0123456789abcdef0123456789abcdef"

static struct device_report report_with_version(const char *version)
{
    struct device_report r;
    memset(&r, 0, sizeof(r));
    r.platform = PLATFORM_ESP8266;
    r.platform_known = true;
    if (version) {
        strcpy(r.version, version);
        r.version_source = VERSION_SOURCE_HEADER;
    }
    return r;
}

static enum decision_kind decide_for(const struct device_report *rep, bool legacy,
                                     struct decision *d)
{
    struct decide_request req = {.report = rep, .channel = "stable", .legacy_alias = legacy};
    decide(&fx.product, &req, d);
    return d->kind;
}

static void test_unknown_product_is_404(void **state)
{
    struct device_report rep = report_with_version("1.0.0");
    struct decide_request req = {.report = &rep, .channel = "stable"};
    struct decision d;
    decide(NULL, &req, &d);
    assert_int_equal(d.kind, DECISION_UNKNOWN);
}

static void test_nothing_published_is_current(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    struct device_report rep = report_with_version("1.0.0");
    struct decision d;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

static void test_semver_order(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.1", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 2000, MD5_B, 0);
    static const struct {
        const char *device;
        enum decision_kind want;
    } cases[] = {
        {"1.0.2", DECISION_CURRENT},
        {"v1.0.2", DECISION_CURRENT},
        {"1.0.1", DECISION_UPDATE},
        {"1.0.0", DECISION_UPDATE},
        {"0.9", DECISION_UPDATE},
        {"1.0.3", DECISION_CURRENT}, /* never offer older */
        {"2.0.0", DECISION_CURRENT},
        {"1.0.2-rc.1", DECISION_UPDATE}, /* pre-release below */
        {"1.0.2+build.7", DECISION_CURRENT},
        {"DOOR-7-g14f53a19", DECISION_UPDATE}, /* unknown */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct device_report rep = report_with_version(cases[i].device);
        struct decision d;
        enum decision_kind got = decide_for(&rep, false, &d);
        if (got != cases[i].want)
            fail_msg("device %s: got %d, want %d", cases[i].device, got, cases[i].want);
        if (got == DECISION_UPDATE) {
            assert_string_equal(d.version, "1.0.2");
            assert_int_equal(d.variant.size, 2000);
            assert_string_equal(d.variant.md5, MD5_B);
        }
    }
}

static void test_target_is_greatest_semver_not_newest_publish(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.2.0", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("1.1.5", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0); /* a later hotfix of 1.1 */
    struct device_report rep = report_with_version("1.1.5");
    struct decision d;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "1.2.0");
    rep = report_with_version("1.2.0");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

static void test_non_semver_falls_back_to_sequence(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("DOOR-7-g14f53a19", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("DOOR-9-gabcdef01", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0);
    struct decision d;
    struct device_report rep = report_with_version("DOOR-7-g14f53a19");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "DOOR-9-gabcdef01");
    rep = report_with_version("DOOR-9-gabcdef01");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    /* A string that is no release: the device runs something else, offer the target. */
    rep = report_with_version("my-dev-build");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
}

static void test_md5_places_the_device(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.1", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0);
    struct decision d;
    /* No version, md5 of the target: current (§13.1 and the issue's rule). */
    struct device_report rep = report_with_version(NULL);
    strcpy(rep.sketch_md5, MD5_B);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    /* The md5 outranks a stale version string the sketch still reports. */
    rep = report_with_version("1.0.0");
    strcpy(rep.sketch_md5, MD5_B);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    /* md5 of an older release: update. */
    rep = report_with_version(NULL);
    strcpy(rep.sketch_md5, MD5_A);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    /* md5 of nothing we know and no version: the device runs something else. */
    rep = report_with_version(NULL);
    strcpy(rep.sketch_md5, MD5_X);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    /* Nothing to compare at all: 304, never a loop of updates. */
    rep = report_with_version(NULL);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

static void test_mode_version_and_legacy_text(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    struct decision d;
    struct device_report rep = report_with_version(NULL);
    rep.mode = REPORT_MODE_VERSION;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UNKNOWN);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_VERSION);
    assert_string_equal(d.version, "1.0.2");
    assert_string_equal(d.variant.md5, MD5_B);

    rep = report_with_version(NULL);
    rep.platform_known = false; /* a browser or the device's web page, not the updater */
    assert_int_equal(decide_for(&rep, true, &d), DECISION_LATEST_TEXT);
    assert_string_equal(d.version, "1.0.2");
    /* The updater with an empty ?tag=: a check-in (nothing to compare: 304), never text. */
    rep.platform_known = true;
    assert_int_equal(decide_for(&rep, true, &d), DECISION_CURRENT);
    /* The same legacy path with ?tag= is a check-in. */
    rep = report_with_version("1.0.2");
    rep.version_source = VERSION_SOURCE_TAG_QUERY;
    assert_int_equal(decide_for(&rep, true, &d), DECISION_CURRENT);
    rep = report_with_version("1.0.1");
    rep.version_source = VERSION_SOURCE_TAG_QUERY;
    assert_int_equal(decide_for(&rep, true, &d), DECISION_UPDATE);
}

static void test_free_space_rounds_to_sectors(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 4097, MD5_B, 0);
    struct decision d;
    struct device_report rep = report_with_version("1.0.1");
    rep.has_free_space = true;
    rep.free_space = 8192;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    rep.free_space = 8191;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_non_null(strstr(d.reason, "8192"));
    assert_int_equal(round_up_sector(0), 0);
    assert_int_equal(round_up_sector(1), 4096);
    assert_int_equal(round_up_sector(4096), 4096);
}

static void test_flash_size_code_must_fit_chip(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_B, 4u << 20);
    struct decision d;
    struct device_report rep = report_with_version("1.0.1");
    rep.has_chip_size = true;
    rep.chip_size = 1u << 20;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    rep.chip_size = 4u << 20;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    /* ESP32 reports the header's size, not the chip's (§2): no check there. */
    fx.product.product.platform = PLATFORM_ESP32;
    rep.platform = PLATFORM_ESP32;
    rep.chip_size = 1u << 20;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
}

static void test_fs_mode_uses_fs_releases_without_space_check(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("fs-3", "stable", FW_MODE_FS, 1u << 20, MD5_C, 0);
    struct decision d;
    struct device_report rep = report_with_version("fs-2");
    rep.mode = REPORT_MODE_FS;
    rep.has_free_space = true;
    rep.free_space = 4096; /* sketch space, irrelevant for FS (§13.9) */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "fs-3");
    rep = report_with_version("fs-3");
    rep.mode = REPORT_MODE_FS;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

static void test_wrong_platform_is_refused(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    struct decision d;
    struct device_report rep = report_with_version("1.0.0");
    rep.platform = PLATFORM_ESP32; /* x-ESP32-* headers: HTTPUpdate checks only 0xE9 */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_non_null(strstr(d.reason, "esp8266"));
    rep.platform_known = false; /* a client that says nothing about itself */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
}

static void test_other_channels_are_not_offered(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.0.2", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0);
    add_release("1.1.0-beta.1", "beta", FW_MODE_SKETCH, 1000, MD5_B, 0);
    struct decision d;
    struct device_report rep = report_with_version("1.0.2");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    rep = report_with_version("1.0.1");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "1.0.2");
}

/* Gives release R the forms a signing product with the 2.5.x form and gzip makes, signed. */
static void make_signed_forms(struct catalog_release *r)
{
    static const enum variant_kind kinds[] = {VARIANT_SIGNED, VARIANT_SIGNED_LEGACY,
                                              VARIANT_SIGNED_GZIP};
    for (unsigned i = 0; i < ARRAY_SIZE(kinds); i++) {
        r->release.variants[i] = (struct variant){.kind = kinds[i], .size = 500 + 4 * i};
        snprintf(r->release.variants[i].md5, sizeof(r->release.variants[i].md5), "%032u", i);
    }
    r->release.variant_count = ARRAY_SIZE(kinds);
    strcpy(r->release.signed_by, "f00d");
    strcpy(r->release.verifier_key, "f00d"); /* its image carries the key */
}

/*
 * Signed-gzip only to a device declared >= 3.0 whose firmware is a release
 * the product signed (docs/SIGNING.md); the decision says why a device got
 * less, and refuses with a reason when nothing is safe.
 */
static void test_form_follows_what_is_known_of_the_device(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    struct product *p = &fx.product.product;
    p->signing.required = p->signing.legacy = p->signing.gzip = true;
    make_signed_forms(add_release("1.0.0", "stable", FW_MODE_SKETCH, 1000, MD5_A, 0));
    struct catalog_release *unsigned_one =
        add_release("1.0.5", "stable", FW_MODE_SKETCH, 1000, MD5_C, 0);
    make_signed_forms(add_release("1.1.0", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0));
    /* Signed (say, republished once the product signed), but built without the key. */
    unsigned_one->release.verifier_key[0] = 0;

    struct device_report rep = report_with_version("1.0.0");
    rep.has_chip_id = true;
    struct decision d;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED); /* undeclared: never signed-gzip */
    assert_int_equal(d.issue, DELIVERY_OK);
    assert_string_equal(d.signed_by, "f00d");

    strcpy(p->signing.core_min, "3.0");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED_GZIP);
    strcpy(rep.sketch_md5, MD5_A); /* placed by digest: the same release */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED_GZIP);
    /* A digest that matches nothing is firmware otad does not know, whatever the version says. */
    strcpy(rep.sketch_md5, MD5_X);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED);

    /* Firmware built without the key (or unknown firmware) may not check signatures. */
    rep = report_with_version("1.0.5");
    rep.has_chip_id = true;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED);
    rep = report_with_version("0.9.0");
    rep.has_chip_id = true;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED);

    /* Before 2.6 (no Chip-ID): the 2.5.x form; without it, the current one and the issue. */
    rep = report_with_version("1.0.0");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED_LEGACY);
    fx.releases[2].release.variants[1].kind = VARIANT_SIGNED_ESP32; /* drop the legacy form */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED);
    assert_int_equal(d.issue, DELIVERY_NO_LEGACY_FORM);

    /* A current device has no issue, whatever the forms. */
    rep = report_with_version("1.1.0");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    assert_int_equal(d.issue, DELIVERY_OK);

    /* Only signed-gzip and an undeclared device: refused, with the reason. */
    strcpy(p->signing.core_min, "");
    fx.releases[2].release.variants[0] = fx.releases[2].release.variants[2];
    fx.releases[2].release.variant_count = 1;
    rep = report_with_version("1.0.0");
    rep.has_chip_id = true;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_int_equal(d.issue, DELIVERY_NO_SAFE_FORM);
    assert_non_null(strstr(d.reason, "no form this device's core can install and boot"));
    /* mode: version still answers, without an x-MD5 to send. */
    rep.mode = REPORT_MODE_VERSION;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_VERSION);
    assert_string_equal(d.variant.md5, "");
}

/* An ESP32 sketch release whose app descriptor says SECURE_VERSION. */
static struct catalog_release *add_sv_release(const char *version, const char *md5,
                                              uint32_t secure_version)
{
    struct catalog_release *r = add_release(version, "stable", FW_MODE_SKETCH, 1000, md5, 0);
    r->release.app.present = true;
    r->release.app.secure_version = secure_version;
    strcpy(r->release.app.version, version);
    return r;
}

/* An ESP-IDF device running VERSION whose eFuse holds SECURE_VERSION (x-ESP-IDF-secure-version). */
static struct device_report sv_report(const char *version, bool has, uint32_t secure_version)
{
    struct device_report r = report_with_version(version);
    r.platform = PLATFORM_ESP32;
    r.idf = true;
    r.has_secure_version = has;
    r.secure_version = secure_version;
    return r;
}

static void assert_below_secure_version(const struct decision *d)
{
    assert_int_equal(d->kind, DECISION_REFUSED);
    assert_int_equal(d->issue, DELIVERY_BELOW_SECURE_VERSION);
    assert_non_null(strstr(d->reason, "secure_version 2"));
}

/*
 * docs/SECURITY.md, "Anti-rollback": a device on secure_version 3 is never
 * offered a release with 2, whichever rule chose it: the channel's deployed
 * release, a rollout stage's (a chosen target), a pin or a rollback (an
 * exact target, offered even below what the device runs), nor told its
 * version; a release with 3 (or without an app descriptor) is offered.
 */
static void test_below_secure_version_is_never_offered(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    struct catalog_release *two = add_sv_release("1.0.0", MD5_A, 2);
    struct decision d;
    struct device_report rep = sv_report("0.9.0", true, 3);

    /* The plain channel. */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_below_secure_version(&d);
    /* Told its version (x-ESP8266-mode: version): refused too. */
    rep.mode = REPORT_MODE_VERSION;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_below_secure_version(&d);
    rep.mode = REPORT_MODE_SKETCH;

    /* A rollout stage admitting the device: its release is the chosen target. */
    struct decide_request rollout = {
        .report = &rep, .channel = "stable", .has_target = true, .target = two};
    decide(&fx.product, &rollout, &d);
    assert_below_secure_version(&d);

    /* A pin (or a rollback) to 1.0.0 of a device running 1.1.0 (secure_version 3). */
    add_sv_release("1.1.0", MD5_B, 3);
    struct device_report on_three = sv_report("1.1.0", true, 3);
    struct decide_request pin = {
        .report = &on_three, .channel = "stable", .has_target = true, .target = two, .exact = true};
    decide(&fx.product, &pin, &d);
    assert_below_secure_version(&d);
    /* The same pin for a device on secure_version 2 is offered: the rule is the floor, not the pin.
     */
    struct device_report on_two = sv_report("1.1.0", true, 2);
    pin.report = &on_two;
    decide(&fx.product, &pin, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
    assert_string_equal(d.version, "1.0.0");

    /* The channel now deploys 1.1.0 (secure_version 3): offered to the device on 3. */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "1.1.0");
    assert_int_equal(d.issue, DELIVERY_OK);
}

/* The floor is the highest known: the registry's maximum rules over a lower report. */
static void test_secure_version_floor_is_the_highest_known(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    struct catalog_release *two = add_sv_release("1.0.0", MD5_A, 2);
    struct decision d;
    struct decide_request req = {.channel = "stable", .has_target = true, .target = two};
    static const struct {
        bool reported;
        uint32_t value;
        bool known;
        uint32_t known_value;
        enum decision_kind want;
    } cases[] = {
        {false, 0, false, 0, DECISION_UPDATE}, /* nothing known: nothing to compare */
        {true, 2, false, 0, DECISION_UPDATE},  /* equal is fine */
        {true, 1, false, 0, DECISION_UPDATE},
        {false, 0, true, 3, DECISION_REFUSED}, /* not reported now: the registry's */
        {true, 2, true, 3, DECISION_REFUSED},  /* a lower report: the maximum rules */
        {true, 3, true, 1, DECISION_REFUSED},
        {true, 2, true, 2, DECISION_UPDATE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct device_report rep = sv_report("0.9.0", cases[i].reported, cases[i].value);
        req.report = &rep;
        req.has_secure_version_known = cases[i].known;
        req.secure_version_known = cases[i].known_value;
        decide(&fx.product, &req, &d);
        if (d.kind != cases[i].want)
            fail_msg("case %zu: decision %d, want %d (%s)", i, d.kind, cases[i].want, d.reason);
    }
    /*
     * A release without an app descriptor has no secure_version: not compared
     * (an arduino-esp32 check-in of a device the registry knows on 3; an ESP-IDF
     * one is refused such an image for want of its descriptor).
     */
    two->release.app.present = false;
    struct device_report rep = sv_report("0.9.0", false, 0);
    rep.idf = false;
    req.report = &rep;
    req.has_secure_version_known = true;
    req.secure_version_known = 3;
    decide(&fx.product, &req, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
}

/* An ESP-IDF app's release: an ESP32-S3 image with descriptor (revisions, ELF SHA-256). */
#define ELF_A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define ELF_B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
#define ELF_X "0000000000000000000000000000000000000000000000000000000000000000"

static struct catalog_release *add_idf_release(const char *version, const char *md5,
                                               const char *elf_sha256)
{
    struct catalog_release *r = add_release(version, "stable", FW_MODE_SKETCH, 900000, md5, 0);
    struct app_desc *app = &r->release.app;
    app->present = true;
    strcpy(app->project, "idf-app");
    strcpy(app->version, version);
    strcpy(app->elf_sha256, elf_sha256);
    app->chip_id = 9; /* ESP32-S3 */
    return r;
}

/* What the snippet of docs/ESP-IDF.md reports (device_headers.c fills the same fields). */
static struct device_report idf_report(const char *version, const char *elf_sha256)
{
    struct device_report r;
    memset(&r, 0, sizeof(r));
    r.platform = PLATFORM_ESP32;
    r.platform_known = true;
    r.idf = true;
    r.has_sta_mac = true;
    if (version) {
        strcpy(r.version, version);
        r.version_source = VERSION_SOURCE_HEADER;
    }
    if (elf_sha256)
        strcpy(r.elf_sha256, elf_sha256);
    r.has_chip = true;
    r.idf_chip_id = 9;
    r.has_chip_revision = true;
    r.chip_revision = 2; /* v0.2 */
    return r;
}

static void test_idf_current_by_version_or_elf(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    add_idf_release("1.0.0", MD5_A, ELF_A);
    add_idf_release("1.1.0", MD5_B, ELF_B);
    static const struct {
        const char *version;
        const char *elf;
        enum decision_kind want;
    } cases[] = {
        {"1.1.0", NULL, DECISION_CURRENT},
        {"1.0.0", NULL, DECISION_UPDATE},
        {NULL, ELF_B, DECISION_CURRENT},
        {NULL, ELF_A, DECISION_UPDATE},
        {NULL, "b2b2b2b2b", DECISION_CURRENT}, /* the default 9-digit prefix */
        {NULL, "a1a1a1a1a", DECISION_UPDATE},
        /* Both sent: the ELF SHA-256 names the build and wins over the version. */
        {"1.1.0", ELF_A, DECISION_UPDATE},
        {"1.0.0", ELF_B, DECISION_CURRENT},
        /* An ELF no release has: the version places it. */
        {"1.1.0", ELF_X, DECISION_CURRENT},
        {"1.0.0", ELF_X, DECISION_UPDATE},
        /* Neither known: a build otad does not know gets the target. */
        {NULL, ELF_X, DECISION_UPDATE},
        {"local-build", NULL, DECISION_UPDATE},
        /* Nothing to compare: never an update loop. */
        {NULL, NULL, DECISION_CURRENT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct device_report rep = idf_report(cases[i].version, cases[i].elf);
        struct decision d;
        enum decision_kind got = decide_for(&rep, false, &d);
        if (got != cases[i].want)
            fail_msg("case %zu (%s, %s): got %d, want %d", i,
                     cases[i].version ? cases[i].version : "-", cases[i].elf ? cases[i].elf : "-",
                     got, cases[i].want);
        if (got == DECISION_UPDATE) {
            assert_string_equal(d.version, "1.1.0");
            assert_int_equal(d.variant.kind, VARIANT_PLAIN);
            assert_string_equal(d.variant.md5, MD5_B);
            assert_int_equal(d.issue, DELIVERY_OK);
        }
    }
    /* decide_running, what fleet control judges an outcome by, places it the same way. */
    struct device_report rep = idf_report("1.1.0", ELF_A);
    const struct catalog_release *running = decide_running(&fx.product, &rep, FW_MODE_SKETCH);
    assert_non_null(running);
    assert_string_equal(running->release.version, "1.0.0");
}

/*
 * A short prefix two builds share (here 1.0.0's and 1.1.0's first 8 digits)
 * names neither: taking the newest would answer 304 to a device that runs
 * 1.0.0. The version places it instead, and decide_running agrees.
 */
#define ELF_A_TWIN "a1a1a1a1ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void test_idf_ambiguous_elf_prefix(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    add_idf_release("1.0.0", MD5_A, ELF_A);
    add_idf_release("1.1.0", MD5_B, ELF_A_TWIN);
    struct decision d;
    struct device_report rep = idf_report("1.0.0", "a1a1a1a1");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "1.1.0");
    const struct catalog_release *running = decide_running(&fx.product, &rep, FW_MODE_SKETCH);
    assert_non_null(running);
    assert_string_equal(running->release.version, "1.0.0");
    /* No version: an unplaced build gets the target, never a 304 by the wrong release. */
    rep = idf_report(NULL, "a1a1a1a1");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    /* Long enough to tell them apart: each prefix names its own release. */
    rep = idf_report(NULL, "a1a1a1a1a");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    rep = idf_report(NULL, "a1a1a1a1f");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

/*
 * An image whose build wrote no ELF SHA-256 carries zeros, and its app
 * reports them: zeros name no build, so two such releases never place a
 * device on the newest (304 forever on the older).
 */
static void test_idf_zero_elf_sha256_names_no_build(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    add_idf_release("1.0.0", MD5_A, ELF_X);
    add_idf_release("1.1.0", MD5_B, ELF_X);
    struct decision d;
    struct device_report rep = idf_report("1.0.0", "000000000");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_string_equal(d.version, "1.1.0");
    const struct catalog_release *running = decide_running(&fx.product, &rep, FW_MODE_SKETCH);
    assert_non_null(running);
    assert_string_equal(running->release.version, "1.0.0"); /* by its version */
    rep = idf_report("1.0.0", ELF_X);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    rep = idf_report("1.1.0", "000000000");
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
}

static void test_idf_refused_without_app_desc(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    add_idf_release("1.0.0", MD5_A, ELF_A);
    add_release("1.1.0", "stable", FW_MODE_SKETCH, 900000, MD5_B, 0); /* no descriptor */
    struct device_report rep = idf_report("1.0.0", NULL);
    struct decision d;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_int_equal(d.issue, DELIVERY_NO_APP_DESC);
    assert_string_equal(d.reason, "release 1.1.0 has no app descriptor (not built by ESP-IDF); "
                                  "esp_https_ota refuses it");
    /* An Arduino device of the same product is served it: the descriptor is the IDF app's need.
     */
    struct device_report arduino = report_with_version("1.0.0");
    arduino.platform = PLATFORM_ESP32;
    assert_int_equal(decide_for(&arduino, false, &d), DECISION_UPDATE);
    /* A current IDF device is current: nothing is refused it. */
    rep = idf_report("1.1.0", NULL);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_CURRENT);
    assert_int_equal(d.issue, DELIVERY_OK);
}

static void test_idf_refused_for_another_chip(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    add_idf_release("1.1.0", MD5_B, ELF_B);
    struct decision d;
    struct device_report rep = idf_report("1.0.0", NULL);
    rep.idf_chip_id = 5; /* ESP32-C3 */
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_int_equal(d.issue, DELIVERY_WRONG_CHIP);
    assert_string_equal(d.reason, "release 1.1.0 is built for ESP32-S3; the device is an ESP32-C3");
    /* A device that does not say its chip is not refused by it (esp_https_ota still checks). */
    rep.has_chip = false;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    rep = idf_report("1.0.0", NULL);
    rep.idf_chip_id = 0;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_string_equal(d.reason, "release 1.1.0 is built for ESP32-S3; the device is an ESP32");
}

static void test_idf_chip_revisions(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    struct catalog_release *r = add_idf_release("1.1.0", MD5_B, ELF_B);
    static const struct {
        uint16_t min, max, device;
        enum decision_kind want;
    } cases[] = {
        {0, 0, 0, DECISION_UPDATE},       {0, 0, 9999, DECISION_UPDATE},
        {3, 0, 2, DECISION_REFUSED},      {3, 0, 3, DECISION_UPDATE},
        {100, 199, 99, DECISION_REFUSED}, {100, 199, 100, DECISION_UPDATE},
        {100, 199, 199, DECISION_UPDATE}, {100, 199, 200, DECISION_REFUSED},
        {0, 99, 100, DECISION_REFUSED},   {0, 99, 99, DECISION_UPDATE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        r->release.app.min_chip_rev = cases[i].min;
        r->release.app.max_chip_rev = cases[i].max;
        struct device_report rep = idf_report("1.0.0", NULL);
        rep.chip_revision = cases[i].device;
        struct decision d;
        enum decision_kind got = decide_for(&rep, false, &d);
        if (got != cases[i].want)
            fail_msg("image %u-%u, device %u: got %d, want %d", cases[i].min, cases[i].max,
                     cases[i].device, got, cases[i].want);
        assert_int_equal(d.issue, got == DECISION_REFUSED ? DELIVERY_WRONG_CHIP : DELIVERY_OK);
        /* Without the header the revision is not checked. */
        rep.has_chip_revision = false;
        assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    }
    r->release.app.min_chip_rev = 100;
    r->release.app.max_chip_rev = 199;
    struct device_report rep = idf_report("1.0.0", NULL);
    rep.chip_revision = 301;
    struct decision d;
    decide_for(&rep, false, &d);
    assert_string_equal(d.reason,
                        "release 1.1.0 runs on chip revisions v1.0 to v1.99; the device is v3.1");
    r->release.app.max_chip_rev = 0;
    rep.chip_revision = 3;
    decide_for(&rep, false, &d);
    assert_string_equal(d.reason,
                        "release 1.1.0 runs on chip revisions v1.0 and later; the device is v0.3");
}

static void test_idf_plain_form_only(void **state)
{
    fixture_reset(PLATFORM_ESP32);
    struct catalog_release *r = add_idf_release("1.1.0", MD5_B, ELF_B);
    struct device_report rep = idf_report("1.0.0", NULL);
    struct decision d;
    /* A signing product's arduino-esp32 form (payload and 512-byte block) is not for it. */
    fx.product.product.signing.required = true;
    r->release.variants[0].kind = VARIANT_SIGNED_ESP32;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    assert_int_equal(d.issue, DELIVERY_NO_SAFE_FORM);
    /* An Arduino ESP32 device is served that form. */
    struct device_report arduino = report_with_version("1.0.0");
    arduino.platform = PLATFORM_ESP32;
    assert_int_equal(decide_for(&arduino, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED_ESP32);
    /* The plain form, beside a gzip one, for an unsigned product. */
    fx.product.product.signing.required = false;
    r->release.variants[0].kind = VARIANT_GZIP;
    r->release.variants[1] = (struct variant){.kind = VARIANT_PLAIN, .size = 900000};
    strcpy(r->release.variants[1].md5, MD5_C);
    r->release.variant_count = 2;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_PLAIN);
    /* The update partition must hold it. */
    rep.has_free_space = true;
    rep.free_space = 900000 / 4096 * 4096;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
    rep.free_space = round_up_sector(900000);
    assert_int_equal(decide_for(&rep, false, &d), DECISION_UPDATE);
}

/* An ESP-IDF device is an ESP32: refused on an ESP8266 product. */
static void test_idf_on_esp8266_product(void **state)
{
    fixture_reset(PLATFORM_ESP8266);
    add_release("1.1.0", "stable", FW_MODE_SKETCH, 1000, MD5_B, 0);
    struct device_report rep = idf_report("1.0.0", NULL);
    struct decision d;
    assert_int_equal(decide_for(&rep, false, &d), DECISION_REFUSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_product_is_404),
        cmocka_unit_test(test_nothing_published_is_current),
        cmocka_unit_test(test_semver_order),
        cmocka_unit_test(test_target_is_greatest_semver_not_newest_publish),
        cmocka_unit_test(test_non_semver_falls_back_to_sequence),
        cmocka_unit_test(test_md5_places_the_device),
        cmocka_unit_test(test_mode_version_and_legacy_text),
        cmocka_unit_test(test_free_space_rounds_to_sectors),
        cmocka_unit_test(test_flash_size_code_must_fit_chip),
        cmocka_unit_test(test_fs_mode_uses_fs_releases_without_space_check),
        cmocka_unit_test(test_wrong_platform_is_refused),
        cmocka_unit_test(test_other_channels_are_not_offered),
        cmocka_unit_test(test_form_follows_what_is_known_of_the_device),
        cmocka_unit_test(test_below_secure_version_is_never_offered),
        cmocka_unit_test(test_secure_version_floor_is_the_highest_known),
        cmocka_unit_test(test_idf_current_by_version_or_elf),
        cmocka_unit_test(test_idf_ambiguous_elf_prefix),
        cmocka_unit_test(test_idf_zero_elf_sha256_names_no_build),
        cmocka_unit_test(test_idf_refused_without_app_desc),
        cmocka_unit_test(test_idf_refused_for_another_chip),
        cmocka_unit_test(test_idf_chip_revisions),
        cmocka_unit_test(test_idf_plain_form_only),
        cmocka_unit_test(test_idf_on_esp8266_product),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
