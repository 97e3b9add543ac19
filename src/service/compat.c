/* What each form does on each ESP8266 core, and the choice of form (compat.h). */
#include "service/compat.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "core/util.h"

/* What one core does with one form. */
enum outcome {
    BOOTS = 0,     /* installs it and boots it */
    REFUSES,       /* refuses it and keeps running (an HTTP_UE_* or Update error) */
    BOOTS_ALIGNED, /* boots it when the signed payload's length is a multiple of 4, else refuses */
    BRICKS,        /* installs it and never boots again */
};

/*
 * The table behind docs/SIGNING.md's "core × form" table, which cites the
 * core's source line for each cell. Per form and generation: the outcome on
 * a build without a signature check, then on one with it (2.4 has none).
 * - Before 2.7 ESP8266httpUpdate takes only a 0xE9 first byte: gzip is
 *   refused (HTTP_UE_BIN_VERIFY_HEADER_FAILED).
 * - A build with a key refuses anything that does not verify with it
 *   (Update error 12): unsigned forms, the legacy form from 2.6 on, the
 *   current form on 2.5.x.
 * - A build without a key hashes every byte received and ignores a
 *   trailer; the boot loader copies the trailer after a raw image
 *   harmlessly, but reads a gzip image's inflated size from its last four
 *   bytes: behind a signature trailer that is the length word, and the
 *   device inflates 256 bytes over its application.
 * - 2.7.x verifies a signed gzip image, then stages it with the trailer
 *   (the size fix arrived in 3.0.0): the same failure with a key.
 */
static const enum outcome outcomes[VARIANT_KIND_COUNT][CORE_GEN_COUNT][2] =
    {
        [VARIANT_PLAIN] =
            {
                [CORE_GEN_2_4] = {BOOTS, BOOTS},
                [CORE_GEN_2_5] = {BOOTS, REFUSES},
                [CORE_GEN_2_6] = {BOOTS, REFUSES},
                [CORE_GEN_2_7] = {BOOTS, REFUSES},
                [CORE_GEN_3_0] = {BOOTS, REFUSES},
                [CORE_GEN_3_1] = {BOOTS, REFUSES},
                [CORE_GEN_LATER] = {BOOTS, REFUSES},
            },
        [VARIANT_GZIP] =
            {
                [CORE_GEN_2_4] = {REFUSES, REFUSES},
                [CORE_GEN_2_5] = {REFUSES, REFUSES},
                [CORE_GEN_2_6] = {REFUSES, REFUSES},
                [CORE_GEN_2_7] = {BOOTS, REFUSES},
                [CORE_GEN_3_0] = {BOOTS, REFUSES},
                [CORE_GEN_3_1] = {BOOTS, REFUSES},
                [CORE_GEN_LATER] = {BOOTS, REFUSES},
            },
        [VARIANT_SIGNED] =
            {
                [CORE_GEN_2_4] = {BOOTS, BOOTS},
                [CORE_GEN_2_5] = {BOOTS, REFUSES},
                [CORE_GEN_2_6] = {BOOTS, BOOTS},
                [CORE_GEN_2_7] = {BOOTS, BOOTS},
                [CORE_GEN_3_0] = {BOOTS, BOOTS},
                [CORE_GEN_3_1] = {BOOTS, BOOTS_ALIGNED},
                [CORE_GEN_LATER] = {BOOTS, BOOTS},
            },
        [VARIANT_SIGNED_LEGACY] =
            {
                [CORE_GEN_2_4] = {BOOTS, BOOTS},
                [CORE_GEN_2_5] = {BOOTS, BOOTS},
                [CORE_GEN_2_6] = {BOOTS, REFUSES},
                [CORE_GEN_2_7] = {BOOTS, REFUSES},
                [CORE_GEN_3_0] = {BOOTS, REFUSES},
                [CORE_GEN_3_1] = {BOOTS, REFUSES},
                [CORE_GEN_LATER] = {BOOTS, REFUSES},
            },
        [VARIANT_SIGNED_GZIP] =
            {
                [CORE_GEN_2_4] = {REFUSES, REFUSES},
                [CORE_GEN_2_5] = {REFUSES, REFUSES},
                [CORE_GEN_2_6] = {REFUSES, REFUSES},
                [CORE_GEN_2_7] = {BRICKS, BRICKS},
                [CORE_GEN_3_0] = {BRICKS, BOOTS},
                [CORE_GEN_3_1] = {BRICKS, BOOTS_ALIGNED},
                [CORE_GEN_LATER] = {BRICKS, BOOTS},
            },
        /* arduino-esp32's form: an ESP8266 refuses its 512-byte block (wrong length word). */
        [VARIANT_SIGNED_ESP32] =
            {
                [CORE_GEN_2_4] = {REFUSES, REFUSES},
                [CORE_GEN_2_5] = {REFUSES, REFUSES},
                [CORE_GEN_2_6] = {REFUSES, REFUSES},
                [CORE_GEN_2_7] = {REFUSES, REFUSES},
                [CORE_GEN_3_0] = {REFUSES, REFUSES},
                [CORE_GEN_3_1] = {REFUSES, REFUSES},
                [CORE_GEN_LATER] = {REFUSES, REFUSES},
            },
        [VARIANT_SECURE_BOOT] = /* an ESP32 image: an ESP8266 core refuses its chip */
        {
            [CORE_GEN_2_4] = {REFUSES, REFUSES},
            [CORE_GEN_2_5] = {REFUSES, REFUSES},
            [CORE_GEN_2_6] = {REFUSES, REFUSES},
            [CORE_GEN_2_7] = {REFUSES, REFUSES},
            [CORE_GEN_3_0] = {REFUSES, REFUSES},
            [CORE_GEN_3_1] = {REFUSES, REFUSES},
            [CORE_GEN_LATER] = {REFUSES, REFUSES},
        },
};

static const char *const gen_names[CORE_GEN_COUNT] = {"2.4", "2.5", "2.6",  "2.7",
                                                      "3.0", "3.1", "later"};

const char *core_gen_name(enum core_gen gen)
{
    return (unsigned)gen < CORE_GEN_COUNT ? gen_names[gen] : "?";
}

/* Reads a decimal number of 1-4 digits at *P, advancing it. -1 when there is none. */
static int read_number(const char **p)
{
    int n = 0, digits = 0;
    while (isdigit((unsigned char)**p) && digits < 4) {
        n = n * 10 + (**p - '0');
        (*p)++;
        digits++;
    }
    return digits ? n : -1;
}

int core_gen_parse(const char *version, enum core_gen *ret_gen)
{
    if (!version)
        return -EINVAL;
    const char *p = version;
    int part[3] = {0, 0, 0};
    int parts = 0;
    while (parts < 3) {
        if ((part[parts++] = read_number(&p)) < 0)
            return -EINVAL;
        if (*p != '.' && *p != '_')
            break;
        p++;
    }
    /* "3.1.2", "3_1_2", "3.0"; a pre-release ("3.0.0-dev") may predate its release's fixes. */
    if (parts < 2 || (*p && *p != '-'))
        return -EINVAL;
    bool prerelease = *p == '-';
    int major = part[0], minor = part[1], patch = part[2];
    enum core_gen gen;
    if (major == 2 && minor <= 4)
        gen = CORE_GEN_2_4;
    else if (major == 2 && minor <= 7)
        gen = (enum core_gen)(CORE_GEN_2_5 + (minor - 5));
    else if (major == 3 && minor == 0)
        gen = CORE_GEN_3_0;
    else if (major == 3 && minor == 1 && patch <= 2)
        gen = CORE_GEN_3_1;
    else if ((major == 3 && minor >= 1) || major > 3)
        gen = CORE_GEN_LATER;
    else
        return -EINVAL; /* 2.8+ never existed; 0.x and 1.x were not Arduino cores */
    if (prerelease && gen > CORE_GEN_2_4)
        gen = (enum core_gen)(gen - 1); /* taken to be the generation before */
    *ret_gen = gen;
    return 0;
}

void compat_capability(const struct product *product, const struct device_report *report,
                       bool firmware_verifies, struct device_capability *ret_cap)
{
    struct device_capability cap = {
        .esp8266 = product->platform == PLATFORM_ESP8266,
        .idf = report && report->idf,
        .oldest = CORE_GEN_2_6,
        .newest = CORE_GEN_LATER,
        .may_verify = product->signing.required || firmware_verifies,
        .may_skip_verify = !firmware_verifies,
    };
    /* Docs/PROTOCOL.md, "Request headers": cores before 2.6 send no x-ESP8266-Chip-ID. */
    if (report && !report->has_chip_id) {
        cap.oldest = CORE_GEN_2_4;
        cap.newest = CORE_GEN_2_5;
    } else {
        enum core_gen declared;
        if (product->signing.gzip && cap.oldest < CORE_GEN_2_7)
            cap.oldest = CORE_GEN_2_7;
        if (product->signing.core_min[0] &&
            core_gen_parse(product->signing.core_min, &declared) == 0 && declared > cap.oldest)
            cap.oldest = declared;
    }
    /* The device's own word, when its firmware sends it and its headers agree. */
    enum core_gen reported;
    if (report && report->core_version[0] && core_gen_parse(report->core_version, &reported) == 0 &&
        reported <= cap.newest && (reported >= CORE_GEN_2_6) == (cap.newest >= CORE_GEN_2_6))
        cap.oldest = cap.newest = reported;
    *ret_cap = cap;
}

/* A core's outcome, with BOOTS_ALIGNED resolved against the payload's length. */
static enum outcome outcome_of(enum variant_kind kind, enum core_gen gen, bool verifies,
                               bool aligned)
{
    enum outcome o = outcomes[kind][gen][verifies];
    if (o == BOOTS_ALIGNED)
        o = aligned ? BOOTS : REFUSES;
    return o;
}

enum form_verdict compat_verdict(const struct device_capability *cap, const struct variant *variant)
{
    enum variant_kind kind = variant->kind;
    if (cap->idf)
        return kind == VARIANT_PLAIN || kind == VARIANT_SECURE_BOOT ? FORM_ACCEPTED : FORM_REFUSED;
    if (!cap->esp8266)
        return kind == VARIANT_PLAIN || kind == VARIANT_SIGNED_ESP32 || kind == VARIANT_SECURE_BOOT
                   ? FORM_ACCEPTED
                   : FORM_REFUSED;
    /* payload ‖ signature ‖ 4-byte length, the signature a multiple of 4 (256, 384, 512 bytes). */
    bool aligned = variant->size % 4 == 0;
    bool boots = false, refused = false;
    for (int gen = cap->oldest; gen <= (int)cap->newest; gen++) {
        for (int verifies = 0; verifies <= 1; verifies++) {
            /* 2.4 has no signature check, whatever its firmware was built with. */
            if (verifies ? !cap->may_verify || gen == CORE_GEN_2_4
                         : !cap->may_skip_verify && gen != CORE_GEN_2_4)
                continue;
            switch (outcome_of(kind, (enum core_gen)gen, verifies, aligned)) {
            case BRICKS:
                return FORM_BRICKS;
            case REFUSES:
                refused = true;
                break;
            default:
                boots = true;
            }
        }
    }
    if (!refused)
        return FORM_ACCEPTED;
    return boots ? FORM_REFUSED_BY_SOME : FORM_REFUSED;
}

static const struct variant *find_kind(const struct release *r, enum variant_kind kind)
{
    for (unsigned i = 0; i < r->variant_count; i++)
        if (r->variants[i].kind == kind)
            return &r->variants[i];
    return NULL;
}

void compat_choose(const struct product *product, const struct release *release,
                   const struct device_capability *cap, struct form_choice *ret_choice)
{
    /* The forms a product may serve, smallest transfer first. */
    static const enum variant_kind signed_forms[] = {VARIANT_SIGNED_GZIP, VARIANT_SIGNED,
                                                     VARIANT_SIGNED_ESP32, VARIANT_SIGNED_LEGACY};
    static const enum variant_kind unsigned_forms[] = {VARIANT_GZIP, VARIANT_PLAIN};
    /*
     * A secure-boot product's ESP32 sketches: the secure-boot form, or the 512-byte form made
     * over it; a release without the secure-boot form predates the keys and is not served
     * (docs/SIGNING.md, "Secure Boot v2").
     */
    static const enum variant_kind secure_boot_forms[] = {VARIANT_SECURE_BOOT};
    static const enum variant_kind secure_boot_signed_forms[] = {VARIANT_SIGNED_ESP32};
    bool signing = product->signing.required;
    bool secure_boot = product->platform == PLATFORM_ESP32 &&
                       product->signing.secure_boot_keys[0] && release->mode == FW_MODE_SKETCH;
    const enum variant_kind *order = signing ? signed_forms : unsigned_forms;
    size_t n = signing ? ARRAY_SIZE(signed_forms) : ARRAY_SIZE(unsigned_forms);
    if (secure_boot && !find_kind(release, VARIANT_SECURE_BOOT)) {
        *ret_choice = (struct form_choice){NULL, FORM_BRICKS, DELIVERY_NOT_SIGNED};
        return;
    }
    if (secure_boot) {
        /* An ESP-IDF device takes the secure-boot form itself: its signature is what it checks. */
        order = signing && !cap->idf ? secure_boot_signed_forms : secure_boot_forms;
        n = 1;
    }

    struct form_choice best = {NULL, FORM_BRICKS, DELIVERY_OK};
    bool any_form = false;
    for (size_t i = 0; i < n; i++) {
        const struct variant *v = find_kind(release, order[i]);
        if (!v)
            continue;
        any_form = true;
        enum form_verdict verdict = compat_verdict(cap, v);
        if (verdict <= FORM_REFUSED_BY_SOME && verdict < best.verdict) {
            best.variant = v;
            best.verdict = verdict;
        }
    }
    if (!best.variant && signing && !any_form)
        best.issue = DELIVERY_NOT_SIGNED;
    else if (!best.variant && !signing && cap->esp8266 && !cap->may_skip_verify)
        best.issue = DELIVERY_UNSIGNED_TO_VERIFIER;
    else if (!best.variant)
        best.issue = DELIVERY_NO_SAFE_FORM;
    else if (best.verdict == FORM_REFUSED_BY_SOME)
        best.issue = best.variant->kind == VARIANT_SIGNED && cap->newest < CORE_GEN_2_6
                         ? DELIVERY_NO_LEGACY_FORM
                         : DELIVERY_REFUSED_BY_SOME;
    *ret_choice = best;
}

static const struct {
    const char *code;
    const char *message;
    const char *fix;
} issues[DELIVERY_ISSUE_COUNT] = {
    [DELIVERY_OK] = {"ok", "", ""},
    [DELIVERY_NO_LEGACY_FORM] =
        {"no_legacy_form",
         "devices without x-ESP8266-Chip-ID (cores before 2.6) were served the current signed "
         "form; those on 2.5.x built with a key refuse it (Update error 12) at every check-in",
         "turn the 2.5.x form on (otad product set PRODUCT --legacy-signature on), then publish "
         "the newest release again with the same bytes to add the form to it"},
    [DELIVERY_REFUSED_BY_SOME] =
        {"form_refused_by_some_cores",
         "devices were served the only form of the release they may install, which some of "
         "the cores they may run refuse",
         "publish the uncompressed, unsigned image (otad makes every form from it), or declare "
         "the fleet's core (otad product set PRODUCT --core-min VERSION); see docs/SIGNING.md"},
    [DELIVERY_NO_SAFE_FORM] =
        {"no_safe_form",
         "devices were refused the release (403): each of its forms is refused by their core, "
         "or could leave a device that installs it unable to boot",
         "publish the uncompressed, unsigned image so that otad makes the plain signed form, or "
         "declare the fleet's core (otad product set PRODUCT --core-min 3.0) if it is true"},
    [DELIVERY_NOT_SIGNED] =
        {"not_signed",
         "devices were refused the release (403): it was published before "
         "the product required signatures or secure boot and has no signed form",
         "publish the release again with the same bytes to sign it"},
    [DELIVERY_UNSIGNED_TO_VERIFIER] =
        {"unsigned_to_verifying_firmware",
         "devices were refused the release (403): their firmware carries the product's key and "
         "checks every update, but the product no longer signs, so they would refuse any image",
         "sign again (otad product set PRODUCT --signing required --key KEY), then publish the "
         "release again with the same bytes"},
    [DELIVERY_BELOW_SECURE_VERSION] =
        {"below_secure_version",
         "devices were refused the release (403): its secure_version is below the one their "
         "anti-rollback eFuse holds, so their boot loader would refuse it",
         "publish a release built with a secure_version at least the devices' (docs/SECURITY.md, "
         "\"Anti-rollback\")"},
    [DELIVERY_WRONG_CHIP] =
        {"wrong_chip",
         "devices were refused the release (403): the image is built for another chip or "
         "another range of chip revisions than the device reported",
         "publish the image built for the devices' chip as its own product, or widen the "
         "revisions the build accepts (CONFIG_ESP_REV_MIN_FULL / CONFIG_ESP_REV_MAX_FULL)"},
    [DELIVERY_NO_APP_DESC] =
        {"no_app_descriptor",
         "ESP-IDF devices were refused the release (403): its image has no app descriptor, "
         "which esp_https_ota requires (\"Incorrect app descriptor magic\")",
         "publish an image built by ESP-IDF (idf.py build), which carries esp_app_desc_t"},
};

const char *delivery_issue_code(enum delivery_issue issue)
{
    return (unsigned)issue < DELIVERY_ISSUE_COUNT ? issues[issue].code : "unknown";
}

const char *delivery_issue_message(enum delivery_issue issue)
{
    return (unsigned)issue < DELIVERY_ISSUE_COUNT ? issues[issue].message : "";
}

const char *delivery_issue_fix(enum delivery_issue issue)
{
    return (unsigned)issue < DELIVERY_ISSUE_COUNT ? issues[issue].fix : "";
}
