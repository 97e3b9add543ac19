/*
 * Which form of a release a device can take without harm (docs/SIGNING.md,
 * "Which form a device gets"). Two halves:
 *
 * - what each form does on every ESP8266 core generation, as one table:
 *   installed and booted, refused (the device keeps running its firmware
 *   and reports an error), or installed and never booted again (a bricked
 *   device cannot check in to be rescued);
 * - what is known of one device: the range of core generations it may run
 *   (from its headers, the product's declaration, its own ?core=), and
 *   whether it checks signatures.
 *
 * A form's verdict for a device is the worst outcome over everything the
 * device may be; the choice is the best verdict among the forms the product
 * may serve, and never a form some possible core cannot boot. Pure: no I/O,
 * no allocation, no clock.
 */
#ifndef OTAD_SERVICE_COMPAT_H
#define OTAD_SERVICE_COMPAT_H

#include <stdbool.h>

#include "model/model.h"

/* The ESP8266 Arduino core generations whose update path differs. Ordered oldest first. */
enum core_gen {
    CORE_GEN_2_4 = 0, /* 2.0-2.4.x: no signature check, no gzip */
    CORE_GEN_2_5,     /* 2.5.x: signatures over the raw digest (the legacy form) */
    CORE_GEN_2_6,     /* 2.6.x: sends Chip-ID; DigestInfo signatures; no gzip yet */
    CORE_GEN_2_7,     /* 2.7.x: gzip; boots the staged size, signature trailer included */
    CORE_GEN_3_0,     /* 3.0.x: drops the trailer after verifying */
    CORE_GEN_3_1,     /* 3.1.0-3.1.2: verifies only payloads whose length is a multiple of 4 */
    CORE_GEN_LATER,   /* after 3.1.2 */
};
#define CORE_GEN_COUNT 7

/* "2.4", "2.5" ... "3.1", "later": the name docs and messages use. */
const char *core_gen_name(enum core_gen gen);

/*
 * The generation of an Arduino core version as ESP.getCoreVersion() gives
 * it ("3.1.2", "3_1_2") or an operator writes it ("3.0", "2.7.4"). Returns
 * 0, or -EINVAL for anything else (a git build's hex id, a version before
 * 2.0). A pre-release ("3.0.0-dev") is taken as the generation before it,
 * which it may predate the fixes of. *RET_GEN written on success only.
 */
int core_gen_parse(const char *version, enum core_gen *ret_gen);

/* What is known of one device. */
struct device_capability {
    bool esp8266;         /* false: an ESP32 (no table: every form of its product is taken) */
    bool idf;             /* an ESP-IDF app's esp_https_ota: the plain or secure-boot form only */
    enum core_gen oldest; /* the range of core generations the device may run */
    enum core_gen newest; /* (inclusive) */
    bool may_verify;      /* it may check signatures (a signing build) */
    bool may_skip_verify; /* it may not check them (an unsigned build) */
};

/*
 * What PRODUCT's device that sent REPORT can be assumed to be. REPORT NULL
 * stands for a device that said nothing (the image URL): an ESP8266 that
 * sends Chip-ID. FIRMWARE_VERIFIES: the device runs a release whose image
 * carries a key of the product (release.verifier_key), so its Updater
 * checks every update; signing a release does not make it so.
 *
 * The range: no x-ESP8266-Chip-ID means a core before 2.6 (2.6.0 added
 * it), otherwise 2.6 or newer; a product with gzip on says its Chip-ID
 * devices run 2.7 or newer, and SIGNING.core_min raises that floor; a
 * ?core= the device sent that agrees with its headers names its generation
 * exactly (a pre-release, "3.0.0-dev", as the generation before). A
 * signing product's devices may or may not verify unless FIRMWARE_VERIFIES;
 * an unsigned product's are taken not to unless FIRMWARE_VERIFIES.
 * A report of the ESP-IDF check-in (report->idf) is an ESP32 app that
 * writes every byte it is sent to its OTA partition: it takes the plain
 * image, or the Secure Boot v2 form, never the Arduino 512-byte block.
 */
void compat_capability(const struct product *product, const struct device_report *report,
                       bool firmware_verifies, struct device_capability *ret_cap);

/* Ordered best first. */
enum form_verdict {
    FORM_ACCEPTED = 0,    /* every core the device may run installs and boots it */
    FORM_REFUSED_BY_SOME, /* some refuse it and keep running; none fails to boot */
    FORM_REFUSED,         /* every core it may run refuses it */
    FORM_BRICKS,          /* some core it may run installs it and never boots again */
};

/*
 * The verdict on serving VARIANT to a device of CAP. Its size tells the
 * signed payload's alignment (cores 3.1.0-3.1.2 refuse a signed payload
 * whose length is not a multiple of 4; every signature length is one).
 */
enum form_verdict compat_verdict(const struct device_capability *cap,
                                 const struct variant *variant);

struct form_choice {
    const struct variant *variant; /* borrowed from the release; NULL when none may be served */
    enum form_verdict verdict;     /* of the variant chosen */
    enum delivery_issue issue;     /* DELIVERY_OK, or why the device may not be updated */
};

/*
 * Chooses the form of RELEASE that PRODUCT serves a device of CAP: among
 * the forms the product may serve (only signed ones when it signs), the
 * best verdict, then the smallest transfer (gzip first), never one that is
 * refused by every core or that bricks one. Fills *RET_CHOICE; never fails.
 */
void compat_choose(const struct product *product, const struct release *release,
                   const struct device_capability *cap, struct form_choice *ret_choice);

/* The stable code of ISSUE ("no_legacy_form"), as the API and the CLI show it. */
const char *delivery_issue_code(enum delivery_issue issue);

/* One sentence on what happens to such devices, and one on what fixes it (docs/SIGNING.md). */
const char *delivery_issue_message(enum delivery_issue issue);
const char *delivery_issue_fix(enum delivery_issue issue);

#endif
