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
static struct catalog_release *add_idf_release(const char *version, const char *md5,
                                               uint32_t secure_version)
{
    struct catalog_release *r = add_release(version, "stable", FW_MODE_SKETCH, 1000, md5, 0);
    r->release.app.present = true;
    r->release.app.secure_version = secure_version;
    strcpy(r->release.app.version, version);
    return r;
}

/* An ESP-IDF device running VERSION whose eFuse holds SECURE_VERSION (x-ESP-IDF-secure-version). */
static struct device_report idf_report(const char *version, bool has, uint32_t secure_version)
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
    struct catalog_release *two = add_idf_release("1.0.0", MD5_A, 2);
    struct decision d;
    struct device_report rep = idf_report("0.9.0", true, 3);

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
    add_idf_release("1.1.0", MD5_B, 3);
    struct device_report on_three = idf_report("1.1.0", true, 3);
    struct decide_request pin = {
        .report = &on_three, .channel = "stable", .has_target = true, .target = two, .exact = true};
    decide(&fx.product, &pin, &d);
    assert_below_secure_version(&d);
    /* The same pin for a device on secure_version 2 is offered: the rule is the floor, not the pin.
     */
    struct device_report on_two = idf_report("1.1.0", true, 2);
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
    struct catalog_release *two = add_idf_release("1.0.0", MD5_A, 2);
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
        struct device_report rep = idf_report("0.9.0", cases[i].reported, cases[i].value);
        req.report = &rep;
        req.has_secure_version_known = cases[i].known;
        req.secure_version_known = cases[i].known_value;
        decide(&fx.product, &req, &d);
        if (d.kind != cases[i].want)
            fail_msg("case %zu: decision %d, want %d (%s)", i, d.kind, cases[i].want, d.reason);
    }
    /* A release without an app descriptor has no secure_version: not compared. */
    two->release.app.present = false;
    struct device_report rep = idf_report("0.9.0", true, 3);
    req.report = &rep;
    req.has_secure_version_known = false;
    decide(&fx.product, &req, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
