/*
 * Unit tests for src/service/compat.c: the form each device shape gets
 * under each product setting, and the safety rule behind it, checked
 * exhaustively: no product setting and no release makes otad serve a form
 * that a core the device may run cannot boot, or one every such core refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "service/compat.h"

static void test_core_gen_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int result;
        enum core_gen gen;
    } cases[] = {
        {"2.3.0", 0, CORE_GEN_2_4},     {"2_4_2", 0, CORE_GEN_2_4}, {"2.5.2", 0, CORE_GEN_2_5},
        {"2.6", 0, CORE_GEN_2_6},       {"2_6_3", 0, CORE_GEN_2_6}, {"2.7.4", 0, CORE_GEN_2_7},
        {"3.0", 0, CORE_GEN_3_0},       {"3_0_2", 0, CORE_GEN_3_0}, {"3.1.0", 0, CORE_GEN_3_1},
        {"3.1.2", 0, CORE_GEN_3_1},     {"3_1_2", 0, CORE_GEN_3_1}, {"3.1.3", 0, CORE_GEN_LATER},
        {"3.2.0", 0, CORE_GEN_LATER},   {"4.0", 0, CORE_GEN_LATER}, {"3.1.0-dev", 0, CORE_GEN_3_0},
        {"3.0.0-rc1", 0, CORE_GEN_2_7}, {"", -EINVAL, 0},           {"3", -EINVAL, 0},
        {"2843a5ac", -EINVAL, 0},       {"2.8.0", -EINVAL, 0},      {"1.6.5", -EINVAL, 0},
        {"3.1.2x", -EINVAL, 0},         {"3..1", -EINVAL, 0},       {"v3.1.2", -EINVAL, 0},
        {"3.1.2.4", -EINVAL, 0},        {"99999.1", -EINVAL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        enum core_gen gen = (enum core_gen)99;
        int r = core_gen_parse(cases[i].text, &gen);
        if (r != cases[i].result)
            fail_msg("core_gen_parse(\"%s\") = %d, expected %d", cases[i].text, r, cases[i].result);
        if (r == 0 && gen != cases[i].gen)
            fail_msg("core_gen_parse(\"%s\") gave %s, expected %s", cases[i].text,
                     core_gen_name(gen), core_gen_name(cases[i].gen));
        if (r < 0 && gen != (enum core_gen)99)
            fail_msg("core_gen_parse(\"%s\") wrote its result on failure", cases[i].text);
    }
}

/* A product as `otad product set` leaves it. */
static struct product esp8266_product(bool signing, bool legacy, bool gzip, const char *core_min)
{
    struct product p;
    memset(&p, 0, sizeof(p));
    p.platform = PLATFORM_ESP8266;
    p.signing.required = signing;
    p.signing.legacy = legacy;
    p.signing.gzip = gzip;
    strcpy(p.signing.core_min, core_min);
    return p;
}

/* A release holding the forms KINDS; its payload is SIZE bytes. */
static struct release release_of(const enum variant_kind *kinds, unsigned n, uint64_t size)
{
    struct release r;
    memset(&r, 0, sizeof(r));
    r.size = size;
    for (unsigned i = 0; i < n; i++) {
        r.variants[i].kind = kinds[i];
        r.variants[i].size = size + 16 * i;
    }
    r.variant_count = n;
    return r;
}

/* What ingest makes for the product (variants.c), from an uncompressed upload. */
static struct release release_made_for(const struct product *p)
{
    enum variant_kind kinds[VARIANT_KIND_COUNT];
    unsigned n = 0;
    if (!p->signing.required) {
        kinds[n++] = VARIANT_PLAIN;
        if (p->signing.gzip)
            kinds[n++] = VARIANT_GZIP;
    } else {
        kinds[n++] = VARIANT_SIGNED;
        if (p->signing.legacy)
            kinds[n++] = VARIANT_SIGNED_LEGACY;
        if (p->signing.gzip)
            kinds[n++] = VARIANT_SIGNED_GZIP;
    }
    return release_of(kinds, n, 373952);
}

/* The device shapes the headers (and the firmware's ?core=) can give. */
enum shape {
    NO_CHIP_ID,          /* cores before 2.6 */
    CHIP_ID,             /* 2.6 or newer, nothing more said */
    CHIP_ID_CORE_2_7_4,  /* ?core=2_7_4 */
    CHIP_ID_CORE_3_1_2,  /* ?core=3_1_2 */
    NO_CHIP_ID_CORE_2_5, /* ?core=2_5_2 */
    SHAPE_COUNT
};

static struct device_report report_of(enum shape shape)
{
    struct device_report r;
    memset(&r, 0, sizeof(r));
    r.platform = PLATFORM_ESP8266;
    r.platform_known = true;
    r.has_chip_id = shape != NO_CHIP_ID && shape != NO_CHIP_ID_CORE_2_5;
    if (shape == CHIP_ID_CORE_2_7_4)
        strcpy(r.core_version, "2_7_4");
    if (shape == CHIP_ID_CORE_3_1_2)
        strcpy(r.core_version, "3_1_2");
    if (shape == NO_CHIP_ID_CORE_2_5)
        strcpy(r.core_version, "2_5_2");
    return r;
}

/* Chooses for a device of SHAPE on product P with the release ingest makes for it. */
static struct form_choice choose(const struct product *p, enum shape shape, bool runs_signed,
                                 const struct release *r)
{
    struct device_report rep = report_of(shape);
    struct device_capability cap;
    struct form_choice choice;
    compat_capability(p, &rep, runs_signed, &cap);
    compat_choose(p, r, &cap, &choice);
    return choice;
}

#define NONE ((enum variant_kind) - 1)

static void expect_form(const struct product *p, enum shape shape, bool runs_signed,
                        enum variant_kind kind, enum delivery_issue issue, const char *what)
{
    struct release r = release_made_for(p);
    struct form_choice c = choose(p, shape, runs_signed, &r);
    enum variant_kind got = c.variant ? c.variant->kind : NONE;
    if (got != kind || c.issue != issue)
        fail_msg("%s: served %s (issue %s), expected %s (issue %s)", what,
                 got == NONE ? "nothing" : variant_kind_name(got), delivery_issue_code(c.issue),
                 kind == NONE ? "nothing" : variant_kind_name(kind), delivery_issue_code(issue));
}

/* The issue's table: each device shape × each product setting → the form served. */
static void test_form_per_device_and_setting(void **state)
{
    (void)state;
    /* Signing, legacy on (the default), gzip on, nothing declared. */
    struct product p = esp8266_product(true, true, true, "");
    expect_form(&p, NO_CHIP_ID, false, VARIANT_SIGNED_LEGACY, DELIVERY_OK, "2.5-shaped, legacy on");
    expect_form(&p, CHIP_ID, false, VARIANT_SIGNED, DELIVERY_OK, "2.7-shaped, undeclared");
    expect_form(&p, CHIP_ID, true, VARIANT_SIGNED, DELIVERY_OK,
                "2.7-shaped running a signed release, undeclared: never signed-gzip");
    /* Declared >= 3.0: signed-gzip, once the device is known to check signatures. */
    strcpy(p.signing.core_min, "3.0");
    expect_form(&p, CHIP_ID, true, VARIANT_SIGNED_GZIP, DELIVERY_OK, "declared 3.0, verifies");
    expect_form(&p, CHIP_ID, false, VARIANT_SIGNED, DELIVERY_OK,
                "declared 3.0, runs unknown firmware (may not verify: gzip + trailer bricks)");
    expect_form(&p, CHIP_ID_CORE_2_7_4, true, VARIANT_SIGNED, DELIVERY_OK,
                "declared 3.0, but the device says 2.7.4");
    expect_form(&p, NO_CHIP_ID, false, VARIANT_SIGNED_LEGACY, DELIVERY_OK,
                "no Chip-ID, declared 3.0 (headers win)");
    /* The device's own word is enough without a declaration. */
    strcpy(p.signing.core_min, "");
    expect_form(&p, CHIP_ID_CORE_3_1_2, true, VARIANT_SIGNED_GZIP, DELIVERY_OK,
                "?core=3_1_2, verifies, aligned payload");

    /* Signing, legacy off: the 2.5-shaped device still gets the current form, with a warning. */
    p = esp8266_product(true, false, false, "");
    expect_form(&p, NO_CHIP_ID, false, VARIANT_SIGNED, DELIVERY_NO_LEGACY_FORM,
                "2.5-shaped, legacy off");
    expect_form(&p, NO_CHIP_ID_CORE_2_5, false, VARIANT_SIGNED, DELIVERY_NO_LEGACY_FORM,
                "?core=2_5_2, legacy off");
    expect_form(&p, CHIP_ID, false, VARIANT_SIGNED, DELIVERY_OK, "2.7-shaped, legacy off");

    /* Signing, legacy on, gzip off. */
    p = esp8266_product(true, true, false, "3.0");
    expect_form(&p, CHIP_ID, true, VARIANT_SIGNED, DELIVERY_OK, "declared 3.0, gzip off");
    expect_form(&p, NO_CHIP_ID, true, VARIANT_SIGNED_LEGACY, DELIVERY_OK, "2.5-shaped, gzip off");

    /* Unsigned products: plain gzip to Chip-ID devices when gzip is on, never before 2.6. */
    p = esp8266_product(false, true, true, "");
    expect_form(&p, CHIP_ID, false, VARIANT_GZIP, DELIVERY_OK, "unsigned, gzip on, Chip-ID");
    expect_form(&p, NO_CHIP_ID, false, VARIANT_PLAIN, DELIVERY_OK, "unsigned, gzip on, no Chip-ID");
    expect_form(&p, CHIP_ID_CORE_2_7_4, false, VARIANT_GZIP, DELIVERY_OK, "unsigned, 2.7.4");
    p = esp8266_product(false, true, false, "");
    expect_form(&p, CHIP_ID, false, VARIANT_PLAIN, DELIVERY_OK, "unsigned, gzip off");
}

/* Releases that hold only some forms: uploaded gzip, signed offline, published before signing. */
static void test_partial_releases(void **state)
{
    (void)state;
    struct device_capability cap;
    struct form_choice c;
    struct device_report chip = report_of(CHIP_ID), old = report_of(NO_CHIP_ID);

    /* An image uploaded gzip to a signing product: signed-gzip only. */
    enum variant_kind signed_gzip[] = {VARIANT_SIGNED_GZIP};
    struct release r = release_of(signed_gzip, 1, 200000);
    struct product p = esp8266_product(true, true, false, "");
    compat_capability(&p, &chip, true, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant); /* a 2.7 core would verify it and not boot */
    assert_int_equal(c.issue, DELIVERY_NO_SAFE_FORM);
    compat_capability(&p, &old, true, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant);
    assert_int_equal(c.issue, DELIVERY_NO_SAFE_FORM);
    strcpy(p.signing.core_min, "3.0");
    compat_capability(&p, &chip, true, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_non_null(c.variant);
    assert_int_equal(c.variant->kind, VARIANT_SIGNED_GZIP);
    assert_int_equal(c.issue, DELIVERY_OK);

    /* An unsigned gzip upload: never to a core before 2.6; to Chip-ID devices with a warning
     * unless the product's gzip setting says they run >= 2.7. */
    enum variant_kind gzip_only[] = {VARIANT_GZIP};
    r = release_of(gzip_only, 1, 200000);
    p = esp8266_product(false, true, false, "");
    compat_capability(&p, &old, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant);
    assert_int_equal(c.issue, DELIVERY_NO_SAFE_FORM);
    compat_capability(&p, &chip, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_GZIP);
    assert_int_equal(c.issue, DELIVERY_REFUSED_BY_SOME); /* 2.6.x: -106 */
    p.signing.gzip = true;
    compat_capability(&p, &chip, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_GZIP);
    assert_int_equal(c.issue, DELIVERY_OK);

    /* Published before the product signed: nothing, and the reason says so. */
    enum variant_kind unsigned_only[] = {VARIANT_PLAIN, VARIANT_GZIP};
    r = release_of(unsigned_only, 2, 200000);
    p = esp8266_product(true, true, true, "3.0");
    compat_capability(&p, &chip, true, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant);
    assert_int_equal(c.issue, DELIVERY_NOT_SIGNED);

    /* Signed offline in the 2.5.x form only: Chip-ID devices with a key refuse it. */
    enum variant_kind legacy_only[] = {VARIANT_SIGNED_LEGACY};
    r = release_of(legacy_only, 1, 200000);
    p = esp8266_product(true, true, false, "");
    compat_capability(&p, &chip, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_SIGNED_LEGACY);
    assert_int_equal(c.issue, DELIVERY_REFUSED_BY_SOME);
    compat_capability(&p, &chip, true, &cap); /* known to verify: every core refuses it */
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant);
    assert_int_equal(c.issue, DELIVERY_NO_SAFE_FORM);
}

/* Cores 3.1.0-3.1.2 verify only payloads whose length is a multiple of 4. */
static void test_unaligned_payload(void **state)
{
    (void)state;
    /* The served form's size: payload + 256-byte signature + 4-byte length. */
    struct variant v = {.kind = VARIANT_SIGNED, .size = 200002 + 260};
    struct product p = esp8266_product(true, true, false, "");
    struct device_report rep = report_of(CHIP_ID_CORE_3_1_2);
    struct device_capability cap;
    compat_capability(&p, &rep, true, &cap);
    assert_int_equal(compat_verdict(&cap, &v), FORM_REFUSED);
    v.size = 200004 + 260;
    assert_int_equal(compat_verdict(&cap, &v), FORM_ACCEPTED);
    v.kind = VARIANT_SIGNED_GZIP; /* otad pads the gzip payload it makes to a multiple of 4 */
    assert_int_equal(compat_verdict(&cap, &v), FORM_ACCEPTED);
    rep = report_of(CHIP_ID);
    v.kind = VARIANT_SIGNED;
    v.size = 200002 + 260;
    compat_capability(&p, &rep, false, &cap);
    assert_int_equal(compat_verdict(&cap, &v), FORM_REFUSED_BY_SOME);
}

/* Verdicts straight from the table, one per row of docs/SIGNING.md that decides something. */
static void test_verdicts(void **state)
{
    (void)state;
    struct device_capability cap = {.esp8266 = true, .may_verify = true, .may_skip_verify = true};
    static const struct {
        enum core_gen gen;
        bool verify, skip;
        enum variant_kind kind;
        enum form_verdict verdict;
    } cases[] = {
        {CORE_GEN_2_7, true, false, VARIANT_SIGNED_GZIP, FORM_BRICKS}, /* trailer staged */
        {CORE_GEN_2_7, false, true, VARIANT_SIGNED_GZIP, FORM_BRICKS}, /* no key: same */
        {CORE_GEN_3_0, false, true, VARIANT_SIGNED_GZIP, FORM_BRICKS}, /* no key: no strip */
        {CORE_GEN_3_0, true, false, VARIANT_SIGNED_GZIP, FORM_ACCEPTED},
        {CORE_GEN_2_6, true, true, VARIANT_SIGNED_GZIP, FORM_REFUSED}, /* 0xE9 only */
        {CORE_GEN_2_6, false, true, VARIANT_GZIP, FORM_REFUSED},
        {CORE_GEN_2_7, false, true, VARIANT_GZIP, FORM_ACCEPTED},
        {CORE_GEN_2_5, true, false, VARIANT_SIGNED, FORM_REFUSED}, /* raw digest only */
        {CORE_GEN_2_5, true, false, VARIANT_SIGNED_LEGACY, FORM_ACCEPTED},
        {CORE_GEN_2_6, true, false, VARIANT_SIGNED_LEGACY, FORM_REFUSED},
        {CORE_GEN_2_4, true, true, VARIANT_SIGNED, FORM_ACCEPTED}, /* 2.4 cannot verify */
        {CORE_GEN_2_4, true, true, VARIANT_PLAIN, FORM_ACCEPTED},
        {CORE_GEN_LATER, true, false, VARIANT_PLAIN, FORM_REFUSED},
        {CORE_GEN_LATER, true, false, VARIANT_SIGNED, FORM_ACCEPTED},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cap.oldest = cap.newest = cases[i].gen;
        cap.may_verify = cases[i].verify;
        cap.may_skip_verify = cases[i].skip;
        struct variant variant = {.kind = cases[i].kind, .size = 4096};
        enum form_verdict v = compat_verdict(&cap, &variant);
        if (v != cases[i].verdict)
            fail_msg("case %zu: %s on core %s: verdict %d, expected %d", i,
                     variant_kind_name(cases[i].kind), core_gen_name(cases[i].gen), v,
                     cases[i].verdict);
    }
}

/*
 * An oracle written from docs/SIGNING.md's tables, not from compat.c: the
 * only form that leaves a device unable to boot is signed-gzip on a core
 * from 2.7 on, unless the core is 3.0 or later and checks the signature
 * (its Updater then drops the trailer before the boot loader inflates).
 */
static bool bricks(enum variant_kind kind, enum core_gen gen, bool verifies)
{
    return kind == VARIANT_SIGNED_GZIP && gen >= CORE_GEN_2_7 && (gen == CORE_GEN_2_7 || !verifies);
}

/*
 * Every device that could truly be behind SHAPE (the declaration taken as
 * true, the firmware's own ?core= as exact, a verifying image as verifying,
 * anything else as either) survives KIND.
 */
static void assert_no_brick(const struct product *p, enum shape shape,
                            const struct device_report *rep, bool firmware_verifies,
                            enum variant_kind kind)
{
    enum core_gen lo = rep->has_chip_id ? CORE_GEN_2_6 : CORE_GEN_2_4;
    enum core_gen hi = rep->has_chip_id ? CORE_GEN_LATER : CORE_GEN_2_5;
    enum core_gen g;
    if (rep->has_chip_id && p->signing.gzip)
        lo = CORE_GEN_2_7;
    if (rep->has_chip_id && p->signing.core_min[0] &&
        core_gen_parse(p->signing.core_min, &g) == 0 && g > lo)
        lo = g;
    if (rep->core_version[0] && core_gen_parse(rep->core_version, &g) == 0 &&
        (g >= CORE_GEN_2_6) == rep->has_chip_id)
        lo = hi = g;
    for (int gen = lo; gen <= (int)hi; gen++)
        for (int verifies = 0; verifies <= 1; verifies++)
            if ((!firmware_verifies || verifies) && !(gen == CORE_GEN_2_4 && verifies) &&
                bricks(kind, (enum core_gen)gen, verifies))
                fail_msg("shape %d: %s served, but a %s core (%s a key) would not boot it", shape,
                         variant_kind_name(kind), core_gen_name((enum core_gen)gen),
                         verifies ? "with" : "without");
}

/*
 * The rule, exhaustively: every product setting (signing, legacy, gzip,
 * declared core), every device shape, verifying or not, every subset of
 * forms in a release and both payload alignments. Whatever is served is
 * never a form some possible core cannot boot (checked against an oracle
 * written from the docs), never one all of them refuse, never unsigned from
 * a signing product.
 */
static void test_never_serves_an_unbootable_form(void **state)
{
    (void)state;
    static const char *const declared[] = {"", "2.6", "2.7", "3.0", "3.1.2"};
    static const enum variant_kind kinds[] = {VARIANT_PLAIN, VARIANT_GZIP, VARIANT_SIGNED,
                                              VARIANT_SIGNED_LEGACY, VARIANT_SIGNED_GZIP};
    unsigned served = 0;
    for (unsigned setting = 0; setting < 8; setting++) {
        for (size_t d = 0; d < ARRAY_SIZE(declared); d++) {
            struct product p = esp8266_product(setting & 1, setting & 2, setting & 4, declared[d]);
            for (unsigned mask = 1; mask < 1u << ARRAY_SIZE(kinds); mask++) {
                enum variant_kind subset[ARRAY_SIZE(kinds)];
                unsigned n = 0;
                for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
                    if (mask & 1u << k)
                        subset[n++] = kinds[k];
                for (uint64_t size = 200000; size <= 200002; size += 2) {
                    struct release r = release_of(subset, n, size);
                    for (int shape = 0; shape < SHAPE_COUNT; shape++) {
                        for (int runs_signed = 0; runs_signed <= 1; runs_signed++) {
                            struct device_report rep = report_of((enum shape)shape);
                            struct device_capability cap;
                            struct form_choice c;
                            compat_capability(&p, &rep, runs_signed, &cap);
                            compat_choose(&p, &r, &cap, &c);
                            if (!c.variant) {
                                assert_int_not_equal(c.issue, DELIVERY_OK);
                                continue;
                            }
                            served++;
                            enum form_verdict v = compat_verdict(&cap, c.variant);
                            assert_true(v <= FORM_REFUSED_BY_SOME);
                            assert_int_equal(v, c.verdict);
                            assert_int_equal(c.issue == DELIVERY_OK, v == FORM_ACCEPTED);
                            if (p.signing.required)
                                assert_true(c.variant->kind != VARIANT_PLAIN &&
                                            c.variant->kind != VARIANT_GZIP);
                            else
                                assert_true(c.variant->kind == VARIANT_PLAIN ||
                                            c.variant->kind == VARIANT_GZIP);
                            assert_no_brick(&p, shape, &rep, runs_signed, c.variant->kind);
                        }
                    }
                }
            }
        }
    }
    assert_true(served > 1000); /* the loop did reach the choices it checks */
}

/* The image URL (no report): an ESP8266 with Chip-ID that runs nothing known. */
static void test_no_report(void **state)
{
    (void)state;
    struct product p = esp8266_product(true, true, true, "3.0");
    struct release r = release_made_for(&p);
    struct device_capability cap;
    struct form_choice c;
    compat_capability(&p, NULL, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_SIGNED);
}

static void test_esp32(void **state)
{
    (void)state;
    struct product p;
    memset(&p, 0, sizeof(p));
    p.platform = PLATFORM_ESP32;
    p.signing.required = true;
    enum variant_kind kinds[] = {VARIANT_SIGNED_ESP32};
    struct release r = release_of(kinds, 1, 100001);
    struct device_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.platform = PLATFORM_ESP32;
    struct device_capability cap;
    struct form_choice c;
    compat_capability(&p, &rep, false, &cap);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_SIGNED_ESP32);
    assert_int_equal(c.issue, DELIVERY_OK);
    p.signing.required = false;
    enum variant_kind plain[] = {VARIANT_PLAIN};
    r = release_of(plain, 1, 100001);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_PLAIN);

    /* Secure boot: the secure-boot form, never the plain image (docs/SIGNING.md). */
    strcpy(p.signing.secure_boot_keys, "sb");
    enum variant_kind both[] = {VARIANT_PLAIN, VARIANT_SECURE_BOOT};
    r = release_of(both, 2, 100001);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_SECURE_BOOT);
    assert_int_equal(c.issue, DELIVERY_OK);
    r = release_of(plain, 1, 100001); /* published before the keys */
    compat_choose(&p, &r, &cap, &c);
    assert_null(c.variant);
    assert_int_equal(c.issue, DELIVERY_NOT_SIGNED);
    r.mode = FW_MODE_FS; /* filesystem images are not signed */
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_PLAIN);
    p.signing.required = true; /* the 512-byte form, made over the secure-boot image */
    enum variant_kind arduino[] = {VARIANT_SIGNED_ESP32, VARIANT_SECURE_BOOT};
    r = release_of(arduino, 2, 100001);
    compat_choose(&p, &r, &cap, &c);
    assert_int_equal(c.variant->kind, VARIANT_SIGNED_ESP32);
}

static void test_issue_texts(void **state)
{
    (void)state;
    for (int i = 1; i < DELIVERY_ISSUE_COUNT; i++) {
        assert_true(strlen(delivery_issue_code((enum delivery_issue)i)) > 2);
        assert_true(strlen(delivery_issue_message((enum delivery_issue)i)) > 20);
        assert_true(strlen(delivery_issue_fix((enum delivery_issue)i)) > 20);
    }
    assert_string_equal(delivery_issue_code(DELIVERY_NO_LEGACY_FORM), "no_legacy_form");
    assert_string_equal(delivery_issue_code((enum delivery_issue)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_gen_parse),
        cmocka_unit_test(test_form_per_device_and_setting),
        cmocka_unit_test(test_partial_releases),
        cmocka_unit_test(test_unaligned_payload),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_never_serves_an_unbootable_form),
        cmocka_unit_test(test_no_report),
        cmocka_unit_test(test_esp32),
        cmocka_unit_test(test_issue_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
