/*
 * Unit tests for src/service/service.c on a real data folder: product and
 * version rules (the app descriptor's included), idempotent and conflicting publishes, refused
 * images leave nothing behind, the installed-digest rule, tokens, the registry, and a second
 * process's publish reaching a serving catalog.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/util.h"
#include "db/db.h"
#include "service/service.h"
#include "service/service_fleet.h"
#include "core/digest.h"
#include "signing/signing.h"

struct env {
    char dir[64];
    struct config config;
    struct service *svc;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    if (service_open(&e->config, SERVICE_SERVING, &e->svc) < 0)
        return -1;
    struct reason why;
    if (service_product_add(e->svc, "emonesp", PLATFORM_ESP8266, NULL, NULL, &why) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    service_close(e->svc);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static int publish(struct env *e, const char *version, const uint8_t *img, size_t len,
                   bool *created, struct reason *why)
{
    struct publish_request req = {.product = "emonesp",
                                  .version = version,
                                  .mode = FW_MODE_SKETCH,
                                  .image = img,
                                  .image_len = len,
                                  .source = "test"};
    struct release rel;
    int r = service_publish(e->svc, &req, &rel, created, why);
    if (r == 0)
        free(rel.notes);
    return r;
}

static int publish_notes(struct env *e, const char *version, const uint8_t *img, size_t len,
                         const char *notes, struct reason *why)
{
    struct publish_request req = {.product = "emonesp",
                                  .version = version,
                                  .mode = FW_MODE_SKETCH,
                                  .image = img,
                                  .image_len = len,
                                  .source = "test",
                                  .notes = notes};
    return service_publish(e->svc, &req, NULL, NULL, why);
}

static size_t release_count(struct env *e)
{
    struct release *list;
    size_t n;
    struct reason why;
    assert_int_equal(service_release_list(e->svc, "emonesp", &list, &n, &why), 0);
    release_list_free(list, n);
    return n;
}

static void test_product_rules(void **state)
{
    struct env *e = *state;
    struct reason why;
    assert_int_equal(service_product_add(e->svc, "emonesp", PLATFORM_ESP8266, NULL, NULL, &why),
                     -EEXIST);
    const char *bad[] = {"",
                         "Upper",
                         "-dash",
                         ".dot",
                         "sp ace",
                         "a/b",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(service_product_add(e->svc, bad[i], PLATFORM_ESP8266, NULL, NULL, &why),
                         -EINVAL);
    assert_int_equal(service_product_add(e->svc, "door-2.x_b", PLATFORM_ESP32, "beta", NULL, &why),
                     0);
    struct product p;
    assert_int_equal(service_product_get(e->svc, "door-2.x_b", &p, &why), 0);
    assert_string_equal(p.default_channel, "beta");
    assert_int_equal(p.platform, PLATFORM_ESP32);
    assert_int_equal(service_product_get(e->svc, "nope", &p, &why), -ENOENT);
}

static void test_publish_idempotent_and_conflict(void **state)
{
    struct env *e = *state;
    uint8_t a[4096], b[4096];
    fixture_esp8266_image(a, sizeof(a), 4, 1);
    fixture_esp8266_image(b, sizeof(b), 4, 2);
    struct reason why;
    bool created = false;
    assert_int_equal(publish(e, "1.0.1", a, sizeof(a), &created, &why), 0);
    assert_true(created);
    assert_int_equal(publish(e, "1.0.1", a, sizeof(a), &created, &why), 0);
    assert_false(created);
    assert_int_equal(publish(e, "1.0.1", b, sizeof(b), &created, &why), -EEXIST);
    assert_non_null(strstr(why.text, "different bytes"));
    assert_int_equal(release_count(e), 1);
    assert_int_equal(publish(e, "1.0.2", b, sizeof(b), &created, &why), 0);
    assert_int_equal(release_count(e), 2);
}

static void test_refusals_store_nothing(void **state)
{
    struct env *e = *state;
    uint8_t img[4096];
    fixture_esp8266_image(img, sizeof(img), 4, 3);
    struct reason why;
    bool created;
    assert_int_equal(publish_notes(e, "1.0.0", img, sizeof(img), "bad\xff byte", &why), -EINVAL);
    assert_int_equal(publish_notes(e, "1.0.0", img, sizeof(img), "\x1b[2J", &why), -EINVAL);
    uint8_t junk[4096];
    memset(junk, 0x7f, sizeof(junk));
    assert_int_equal(publish(e, "2.0.0", junk, sizeof(junk), &created, &why), -EBADMSG);
    assert_non_null(strstr(why.text, "0xE9"));
    const char *bad_versions[] = {"", "1.0 beta", "a/b", "x?y", "50%"};
    for (size_t i = 0; i < ARRAY_SIZE(bad_versions); i++)
        assert_int_equal(publish(e, bad_versions[i], img, sizeof(img), &created, &why), -EINVAL);
    struct publish_request req = {
        .product = "ghost", .version = "1", .image = img, .image_len = sizeof(img)};
    assert_int_equal(service_publish(e->svc, &req, NULL, NULL, &why), -ENOENT);
    req.product = "emonesp";
    req.image_len = (size_t)e->config.max_upload_bytes + 1;
    assert_int_equal(service_publish(e->svc, &req, NULL, NULL, &why), -EFBIG);
    assert_int_equal(release_count(e), 0);
    /* The refused junk never reached the blob store. */
    char sha[65], path[256];
    digest_sha256_hex(junk, sizeof(junk), sha);
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", e->dir, sha, sha);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void checkin(struct env *e, const char *version, const char *md5, struct decision *d)
{
    struct device_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.has_sta_mac = true;
    memcpy(rep.sta_mac, "\x18\xfe\xaa\xaa\xaa\xaa", 6);
    if (version) {
        strcpy(rep.version, version);
        rep.version_source = VERSION_SOURCE_HEADER;
    }
    if (md5)
        strcpy(rep.sketch_md5, md5);
    struct checkin_context ctx = {.remote_addr = "127.0.0.1"};
    service_checkin(e->svc, "emonesp", &rep, &ctx, d);
}

/*
 * An ESP32 image (SIZE bytes, one segment) into OUT whose first segment
 * starts with an app descriptor of PROJECT and VERSION (no descriptor when
 * PROJECT is NULL); SEED varies the rest.
 */
static void esp32_image(uint8_t *out, size_t size, const char *project, const char *version,
                        uint32_t seed)
{
    fixture_esp8266_image(out, size, 2, seed);
    memset(out + 8, 0, 16); /* the extended header: chip 0 (ESP32), no hash appended */
    out[8] = 0xEE;
    out[17] = out[18] = 0xFF; /* no maximum chip revision */
    uint32_t seg = (uint32_t)(size - 24 - 8 - 16);
    memset(out + 24, 0, 8);
    out[28] = (uint8_t)seg, out[29] = (uint8_t)(seg >> 8), out[30] = (uint8_t)(seg >> 16);
    if (!project)
        return;
    memset(out + 32, 0, 256);
    out[32] = 0x32, out[33] = 0x54, out[34] = 0xCD, out[35] = 0xAB;
    out[36] = 2; /* secure_version */
    memcpy(out + 32 + 16, version, strlen(version));
    memcpy(out + 32 + 48, project, strlen(project));
    memcpy(out + 32 + 112, "v5.2.1", 6);
}

static int publish32(struct env *e, const char *version, const uint8_t *img, size_t len, bool force,
                     struct release *ret, struct reason *why)
{
    struct publish_request req = {.product = "door32",
                                  .version = version,
                                  .mode = FW_MODE_SKETCH,
                                  .image = img,
                                  .image_len = len,
                                  .source = "test",
                                  .force_version = force,
                                  /* secure_version 2 over no earlier release: a confirmed bump */
                                  .allow_secure_version_bump = true};
    struct release rel;
    memset(why, 0, sizeof(*why));
    int r = service_publish(e->svc, &req, &rel, NULL, why);
    if (r == 0) {
        free(rel.notes);
        if (ret)
            *ret = rel;
    }
    return r;
}

/* door32's image VERSION with secure_version SV, published with ALLOW; the bump into *RET_BUMP. */
static int publish_sv(struct env *e, const char *version, uint32_t sv, bool allow,
                      struct secure_version_bump *ret_bump, struct reason *why)
{
    static uint8_t img[4096];
    esp32_image(img, sizeof(img), "door", version, sv + 7);
    img[36] = (uint8_t)sv, img[37] = (uint8_t)(sv >> 8);
    img[38] = (uint8_t)(sv >> 16), img[39] = (uint8_t)(sv >> 24);
    struct publish_request req = {.product = "door32",
                                  .version = version,
                                  .mode = FW_MODE_SKETCH,
                                  .image = img,
                                  .image_len = sizeof(img),
                                  .source = "test",
                                  .allow_secure_version_bump = allow,
                                  .ret_bump = ret_bump};
    struct release rel;
    memset(why, 0, sizeof(*why));
    int r = service_publish(e->svc, &req, &rel, NULL, why);
    if (r == 0)
        free(rel.notes);
    return r;
}

/*
 * docs/SECURITY.md, "Anti-rollback", through the service: a release raising
 * secure_version is refused without the flag (nothing recorded), with the
 * figures; accepted with it, the same figures as a warning; the same value
 * again needs nothing. A device reporting secure_version 3 is refused the
 * release with 2 (403, below_secure_version, recorded in the registry with
 * its secure_version) and offered the one with 3.
 */
static void test_publish_secure_version_bump_and_floor(void **state)
{
    struct env *e = *state;
    struct reason why;
    assert_int_equal(service_product_add(e->svc, "door32", PLATFORM_ESP32, NULL, NULL, &why), 0);
    struct secure_version_bump bump;

    /* The first release with 2: a bump from 0. */
    assert_int_equal(publish_sv(e, "1.0.0", 2, false, &bump, &why), -EDQUOT);
    assert_true(bump.raised);
    assert_non_null(strstr(why.text, "secure_version 0 -> 2"));
    assert_non_null(strstr(why.text, "ESP32 (32 bits): 32 bumps left, 30 after"));
    struct release *list;
    size_t n;
    assert_int_equal(service_release_list(e->svc, "door32", &list, &n, &why), 0);
    assert_int_equal(n, 0); /* refused: nothing recorded */
    release_list_free(list, n);
    assert_int_equal(publish_sv(e, "1.0.0", 2, true, &bump, &why), 0);
    assert_true(bump.raised);
    assert_int_equal(bump.left_after, 30);
    assert_non_null(strstr(bump.warning, "secure_version 0 -> 2"));

    /* The same value again, or a lower one: nothing to confirm. */
    assert_int_equal(publish_sv(e, "1.0.1", 2, false, &bump, &why), 0);
    assert_false(bump.raised);

    /* Refused before the budget is judged (an unknown product): the bump is cleared, never
     * left as the caller's stack had it (the API read .raised after any refusal). */
    static const struct secure_version_bump zero;
    memset(&bump, 0xA5, sizeof(bump));
    struct publish_request unknown = {.product = "nosuch",
                                      .version = "1.0.0",
                                      .image = (const uint8_t *)"x",
                                      .image_len = 1,
                                      .source = "test",
                                      .ret_bump = &bump};
    struct release ignored;
    assert_int_equal(service_publish(e->svc, &unknown, &ignored, NULL, &why), -ENOENT);
    assert_memory_equal(&bump, &zero, sizeof(bump));

    /* A device on secure_version 3: the releases with 2 are below its eFuse. */
    struct device_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.has_sta_mac = true;
    memcpy(rep.sta_mac, "\x24\x0a\xc4\x00\x00\x03", 6);
    rep.platform = PLATFORM_ESP32;
    rep.platform_known = true;
    rep.idf = true;
    strcpy(rep.version, "0.9.0");
    rep.version_source = VERSION_SOURCE_HEADER;
    rep.has_secure_version = true;
    rep.secure_version = 3;
    struct checkin_context ctx = {.remote_addr = "127.0.0.1"};
    struct decision d;
    service_checkin(e->svc, "door32", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_REFUSED);
    assert_int_equal(d.issue, DELIVERY_BELOW_SECURE_VERSION);

    /* 3 raises it again: refused with the devices' highest counted, then confirmed. */
    assert_int_equal(service_registry_flush(e->svc), 0);
    assert_int_equal(publish_sv(e, "1.1.0", 3, false, &bump, &why), -EDQUOT);
    assert_non_null(strstr(why.text, "secure_version 2 -> 3"));
    assert_non_null(strstr(why.text, "29 bumps left, 29 after (highest known: releases 2, "
                                     "devices 3)"));
    assert_int_equal(publish_sv(e, "1.1.0", 3, true, &bump, &why), 0);
    assert_true(bump.devices_known);
    assert_int_equal(bump.highest_device, 3);
    service_checkin(e->svc, "door32", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
    assert_string_equal(d.version, "1.1.0");
    service_delivery_done(e->svc, &d.ticket, true);
}

static void test_publish_app_desc_version(void **state)
{
    struct env *e = *state;
    struct reason why;
    assert_int_equal(service_product_add(e->svc, "door32", PLATFORM_ESP32, NULL, NULL, &why), 0);
    uint8_t img[4096];
    struct release rel;

    /* no version: the descriptor's, stored with the release */
    esp32_image(img, sizeof(img), "door", "2.1.0", 1);
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), 0);
    assert_string_equal(rel.version, "2.1.0");
    assert_true(rel.app.present);
    assert_string_equal(rel.app.project, "door");
    assert_int_equal(rel.app.secure_version, 2);
    struct release stored;
    struct release *list;
    size_t n;
    assert_int_equal(service_release_list(e->svc, "door32", &list, &n, &why), 0);
    assert_int_equal(n, 1);
    stored = list[0];
    assert_string_equal(stored.app.version, "2.1.0");
    assert_string_equal(stored.app.idf_version, "v5.2.1");
    assert_int_equal(stored.app.secure_version, 2);
    release_list_free(list, n);
    /* "" is no version too; the same bytes again are the same release */
    assert_int_equal(publish32(e, "", img, sizeof(img), false, &rel, &why), 0);
    assert_string_equal(rel.version, "2.1.0");

    /* both, agreeing: equal, or equal once one leading v/V before a digit is dropped */
    static const struct {
        const char *given, *in_image;
        int expected;
    } cases[] = {
        {"2.2.0", "2.2.0", 0},        {"v2.3.0", "2.3.0", 0},  {"2.4.0", "V2.4.0", 0},
        {"V2.5.0", "v2.5.0", 0},      {"2.6", "2.6.0", -EDOM}, {"2.7.0", "2.7.1", -EDOM},
        {"vv2.8.0", "v2.8.0", -EDOM}, {"Beta", "beta", -EDOM}, {"v-1", "-1", -EDOM},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        esp32_image(img, sizeof(img), "door", cases[i].in_image, (uint32_t)(10 + i));
        int r = publish32(e, cases[i].given, img, sizeof(img), false, &rel, &why);
        if (r != cases[i].expected)
            fail_msg("%s against %s: %d (%s)", cases[i].given, cases[i].in_image, r, why.text);
        if (r == 0) {
            assert_string_equal(rel.version, cases[i].given); /* the given one is kept */
            continue;
        }
        char expect[200];
        snprintf(expect, sizeof(expect),
                 "version \"%s\" disagrees with the image's app descriptor, which says \"%s\"; "
                 "publish with force_version=true (otad release add --force-version)",
                 cases[i].given, cases[i].in_image);
        assert_non_null(strstr(why.text, expect));
        /* forced: published under the given version, the descriptor kept as it is */
        assert_int_equal(publish32(e, cases[i].given, img, sizeof(img), true, &rel, &why), 0);
        assert_string_equal(rel.version, cases[i].given);
        assert_string_equal(rel.app.version, cases[i].in_image);
    }

    /* the framework descriptor names no version: never taken, never compared */
    esp32_image(img, sizeof(img), "arduino-lib-builder", "esp-idf: v4.4.6 3572900934", 30);
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), -EINVAL);
    assert_non_null(strstr(why.text, "arduino-esp32's framework"));
    assert_int_equal(publish32(e, "3.0.0", img, sizeof(img), false, &rel, &why), 0);
    assert_true(rel.app.framework);

    /* no descriptor: a version is required, any is fine */
    esp32_image(img, sizeof(img), NULL, NULL, 31);
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), -EINVAL);
    assert_non_null(strstr(why.text, "no ESP-IDF app descriptor"));
    assert_int_equal(publish32(e, "3.1.0", img, sizeof(img), false, &rel, &why), 0);
    assert_false(rel.app.present);

    /* a descriptor version that is no valid release version must be replaced by one */
    esp32_image(img, sizeof(img), "door", "1.0 beta", 32);
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), -EINVAL);
    assert_non_null(strstr(why.text, "the app descriptor's version \"1.0 beta\" is not a valid"));
    assert_int_equal(publish32(e, "1.0-beta", img, sizeof(img), true, &rel, &why), 0);
    esp32_image(img, sizeof(img), "door", "", 33);
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), -EINVAL);
    assert_non_null(strstr(why.text, "empty version"));
    assert_int_equal(publish32(e, "3.2.0", img, sizeof(img), false, &rel, &why), 0);

    /* a malformed descriptor is an invalid image, forced or not, and nothing is stored */
    assert_int_equal(service_release_list(e->svc, "door32", &list, &n, &why), 0);
    release_list_free(list, n);
    esp32_image(img, sizeof(img), "door", "4.0.0", 34);
    memset(img + 32 + 16, 'x', 32);
    assert_int_equal(publish32(e, "4.0.0", img, sizeof(img), true, &rel, &why), -EBADMSG);
    assert_non_null(strstr(why.text, "the app descriptor's version has no NUL"));
    assert_int_equal(publish32(e, NULL, img, sizeof(img), false, &rel, &why), -EBADMSG);
    size_t before = n;
    assert_int_equal(service_release_list(e->svc, "door32", &list, &n, &why), 0);
    release_list_free(list, n);
    assert_int_equal(n, before);

    /* ESP8266 images: no descriptor is looked for, the version stays required */
    uint8_t e8[4096];
    fixture_esp8266_image(e8, sizeof(e8), 4, 40);
    assert_int_equal(publish(e, NULL, e8, sizeof(e8), NULL, &why), -EINVAL);
    assert_int_equal(publish(e, "1.0.0", e8, sizeof(e8), NULL, &why), 0);
}

static void test_installed_md5_ignores_flash_mode_byte(void **state)
{
    struct env *e = *state;
    uint8_t img[4096];
    fixture_esp8266_image(img, sizeof(img), 4, 4);
    struct reason why;
    bool created;
    assert_int_equal(publish(e, "1.0.0", img, sizeof(img), &created, &why), 0);
    struct decision d;
    checkin(e, "0.9.0", NULL, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
    char md5[33];
    digest_md5_hex(img, sizeof(img), md5);
    assert_string_equal(d.variant.md5, md5);
    /* The Updater rewrote byte 2 to the chip's flash mode (QIO): still current (§2). */
    img[2] = 0;
    digest_md5_hex(img, sizeof(img), md5);
    checkin(e, NULL, md5, &d);
    assert_int_equal(d.kind, DECISION_CURRENT);
    img[5] ^= 1; /* any other byte differs: something else runs */
    digest_md5_hex(img, sizeof(img), md5);
    checkin(e, NULL, md5, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
}

static void test_missing_signing_key_is_a_server_problem(void **state)
{
    struct env *e = *state;
    struct reason why;
    /* A product that signs with a key whose files then disappear (not copied to this server). */
    char keys[128];
    snprintf(keys, sizeof(keys), "%s/keys", e->dir);
    struct signing_key *k;
    assert_int_equal(signing_key_generate(keys, "fleet", SIGNING_KEY_RSA_2048, &k, &why), 0);
    signing_key_free(k);
    struct product_signing s = {.required = true};
    strcpy(s.key, "fleet");
    assert_int_equal(service_product_set_signing(e->svc, "emonesp", &s, &why), 0);
    char path[160];
    snprintf(path, sizeof(path), "%s/fleet.key", keys);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/fleet.pub", keys);
    assert_int_equal(unlink(path), 0);
    uint8_t img[4096];
    fixture_esp8266_image(img, sizeof(img), 4, 11);
    bool created;
    assert_int_equal(publish(e, "1.0.0", img, sizeof(img), &created, &why), -ENOKEY);
    assert_non_null(strstr(why.text, "fleet"));
    assert_int_equal(release_count(e), 0);
}

static void test_republish_signs_a_release_from_before_signing(void **state)
{
    struct env *e = *state;
    struct reason why;
    uint8_t img[4096];
    fixture_esp8266_image(img, sizeof(img), 4, 12);
    bool created;
    assert_int_equal(publish(e, "1.0.0", img, sizeof(img), &created, &why), 0);
    char keys[128];
    snprintf(keys, sizeof(keys), "%s/keys", e->dir);
    struct signing_key *k;
    assert_int_equal(signing_key_generate(keys, "fleet", SIGNING_KEY_RSA_2048, &k, &why), 0);
    signing_key_free(k);
    struct product_signing s = {.required = true};
    strcpy(s.key, "fleet");
    assert_int_equal(service_product_set_signing(e->svc, "emonesp", &s, &why), 0);

    struct decision d;
    checkin(e, "0.9.0", NULL, &d);
    assert_int_equal(d.kind, DECISION_REFUSED); /* never the unsigned form */

    assert_int_equal(publish(e, "1.0.0", img, sizeof(img), &created, &why), 0);
    assert_false(created);
    checkin(e, "0.9.0", NULL, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
    assert_int_equal(d.variant.kind, VARIANT_SIGNED);
    assert_int_equal(d.variant.size, sizeof(img) + 256 + 4);
    assert_int_equal(strlen(d.signed_by), 64);
    assert_int_equal(release_count(e), 1);
}

static void test_tokens(void **state)
{
    struct env *e = *state;
    char secret[SERVICE_TOKEN_LEN + 1], header[128];
    int64_t id;
    struct reason why;
    assert_int_equal(service_token_create(e->svc, "ci", TOKEN_SCOPE_PUBLISH, secret, &id, &why), 0);
    assert_int_equal(strlen(secret), SERVICE_TOKEN_LEN);
    assert_int_equal(strncmp(secret, "otad_", 5), 0);
    snprintf(header, sizeof(header), "Bearer %s", secret);
    assert_int_equal(service_token_check(e->svc, header, TOKEN_SCOPE_READ, &why), 0);
    assert_int_equal(service_token_check(e->svc, header, TOKEN_SCOPE_PUBLISH, &why), 0);
    assert_int_equal(service_token_check(e->svc, header, TOKEN_SCOPE_ADMIN, &why), -EACCES);
    assert_int_equal(service_token_check(e->svc, NULL, TOKEN_SCOPE_READ, &why), -EPERM);
    assert_int_equal(service_token_check(e->svc, "Basic abc", TOKEN_SCOPE_READ, &why), -EPERM);
    header[20] ^= 1; /* a different, unknown token of the right shape */
    assert_int_equal(service_token_check(e->svc, header, TOKEN_SCOPE_READ, &why), -EPERM);
    header[20] ^= 1;
    assert_int_equal(service_token_revoke(e->svc, id, &why), 0);
    assert_int_equal(service_token_check(e->svc, header, TOKEN_SCOPE_READ, &why), -EPERM);
    assert_int_equal(service_token_revoke(e->svc, id, &why), -ENOENT);
    /* Only the hash is stored: the secret is nowhere in the database file. */
    char path[128];
    snprintf(path, sizeof(path), "%s/otad.db", e->dir);
    uint8_t *db;
    size_t len;
    assert_int_equal(file_read_all(path, 64 << 20, &db, &len), 0);
    assert_null(memmem(db, len, secret + 5, 64));
    free(db);
}

static void test_registry_records_every_checkin(void **state)
{
    struct env *e = *state;
    struct decision d;
    for (int i = 0; i < 5; i++)
        checkin(e, "0.1.0", NULL, &d);
    assert_int_equal(service_registry_flush(e->svc), 0);
    struct device_record *list;
    size_t n;
    uint64_t total;
    struct reason why;
    assert_int_equal(service_device_list(e->svc, "emonesp", 10, 0, &list, &n, &total, &why), 0);
    assert_int_equal(total, 1);
    assert_int_equal(list[0].checkins, 5);
    assert_string_equal(list[0].report.version, "0.1.0");
    assert_string_equal(list[0].remote_addr, "127.0.0.1");
    assert_int_equal(list[0].last_status, 304);
    free(list);
}

static void test_other_process_publish_reaches_catalog(void **state)
{
    struct env *e = *state;
    struct service *cli;
    assert_int_equal(service_open(&e->config, SERVICE_LOCAL, &cli), 0);
    uint8_t img[4096];
    fixture_esp8266_image(img, sizeof(img), 4, 9);
    struct publish_request req = {.product = "emonesp",
                                  .version = "3.0.0",
                                  .image = img,
                                  .image_len = sizeof(img),
                                  .source = "cli"};
    struct reason why;
    assert_int_equal(service_publish(cli, &req, NULL, NULL, &why), 0);
    service_close(cli);
    struct variant v;
    int r = -ENOENT;
    /* A product added by another process reaches the serving catalog too. */
    assert_int_equal(service_open(&e->config, SERVICE_LOCAL, &cli), 0);
    assert_int_equal(service_product_add(cli, "door", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    service_close(cli);
    struct device_report rep;
    memset(&rep, 0, sizeof(rep));
    struct checkin_context ctx = {.remote_addr = ""};
    struct decision d = {.kind = DECISION_UNKNOWN};
    /* What the refresher does every 500 ms, now: the other process's writes are seen. */
    assert_int_equal(service_catalog_poll(e->svc), 0);
    service_checkin(e->svc, "door", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_CURRENT); /* known, nothing published: 304 */
    r = service_image_find(e->svc, "emonesp", "3.0.0", FW_MODE_SKETCH, &v);
    assert_int_equal(r, 0);
    assert_int_equal(v.size, sizeof(img));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_product_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_idempotent_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_app_desc_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_secure_version_bump_and_floor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_installed_md5_ignores_flash_mode_byte, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_signing_key_is_a_server_problem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_republish_signs_a_release_from_before_signing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_records_every_checkin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_process_publish_reaches_catalog, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
