/*
 * Publishing (service.h): the one write path for releases. Validates and
 * makes the forms (variants.c), hashes what a device will report once it
 * installed the image, looks for a product key in it, stores each form as a
 * blob and records the release in one transaction; the same bytes again are
 * idempotent and add the forms the settings now call for.
 */
#include "service/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/events.h"
#include "service/image.h"
#include "service/service_internal.h"
#include "service/variants.h"
#include "signing/signing.h"
#include "store/store.h"

/* Versions are printable ASCII without blanks and without characters that break URLs. */
static bool version_valid(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > LIMIT_RELEASE_VERSION_BYTES)
        return false;
    for (const char *p = v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("/\\?#%\"<>^`{}|[]", *p))
            return false;
    return true;
}

/* V without one leading 'v' or 'V' before a digit: tag v1.2.0 is version 1.2.0. */
static const char *version_unprefixed(const char *v)
{
    return (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' ? v + 1 : v;
}

/*
 * The version REQ publishes, into *RET_VERSION (REQ's, or BUF, which holds
 * the descriptor's): the version rules of service_publish for an ESP32
 * sketch's app descriptor (docs/PROTOCOL.md, "The app descriptor"). Reads
 * the upload's descriptor with image_inspect, whose refusal (-EBADMSG) is
 * the one making the forms would give. Never looks at a framework
 * descriptor's version: it is arduino-esp32's, not the sketch's.
 */
static int publish_version(const struct product *product, const struct publish_request *req,
                           char buf[APP_DESC_STRING_BYTES + 1], const char **ret_version,
                           struct reason *why)
{
    bool given = req->version && *req->version;
    struct app_desc app = {0};
    if (product->platform == PLATFORM_ESP32 && req->mode == FW_MODE_SKETCH) {
        struct image_info info;
        int r =
            image_inspect(PLATFORM_ESP32, FW_MODE_SKETCH, req->image, req->image_len, &info, why);
        if (r < 0)
            return r;
        app = info.app;
    }
    bool names_version = app.present && !app.framework && app.version[0];
    if (!given) {
        if (!names_version)
            return reason_set(
                why, -EINVAL, "a version is required: %s",
                !app.present    ? "the image has no ESP-IDF app descriptor to take it from"
                : app.framework ? "the image's app descriptor is arduino-esp32's framework "
                                  "(arduino-lib-builder), whose version is not the sketch's"
                                : "the image's app descriptor has an empty version");
        if (!version_valid(app.version))
            return reason_set(why, -EINVAL,
                              "the app descriptor's version \"%s\" is not a valid release "
                              "version (no blanks or / \\ ? # %% \" < > ^ ` { } | [ ]): give one",
                              app.version);
        str_copy(buf, APP_DESC_STRING_BYTES + 1, app.version);
        *ret_version = buf;
        return 0;
    }
    if (names_version && !req->force_version &&
        strcmp(version_unprefixed(req->version), version_unprefixed(app.version)) != 0)
        return reason_set(why, -EDOM,
                          "version \"%.64s\" disagrees with the image's app descriptor, which "
                          "says \"%s\"; publish with force_version=true (otad release add "
                          "--force-version) to keep yours",
                          req->version, app.version);
    *ret_version = req->version;
    return 0;
}

/*
 * The digests a device reports once RELEASE's image is installed (§2 notes):
 * the MD5 of the image with each flash-mode value in byte 2 (the Updater
 * rewrites it to the chip's mode), of the inflated image for gzip uploads,
 * and for ESP32 images with an appended hash, that SHA-256.
 */
#define MAX_INSTALLED_DIGESTS 6
static int installed_digests(const uint8_t *content, size_t content_len,
                             const struct buf *secure_boot, const struct image_info *info,
                             char digests[MAX_INSTALLED_DIGESTS][SHA256_HEX_LEN + 1],
                             size_t *ret_count)
{
    size_t n = 0;
    uint8_t *copy = malloc(content_len ? content_len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, content, content_len);
    if (content_len > 3 && content[0] == 0xE9) {
        for (uint8_t mode = 0; mode < 4; mode++) {
            copy[2] = mode;
            digest_md5_hex(copy, content_len, digests[n++]);
        }
    } else {
        digest_md5_hex(copy, content_len, digests[n++]);
    }
    /* x-ESP32-sketch-sha256 is the SHA-256 esptool appended after the padded segments (§2). */
    if (info->platform == PLATFORM_ESP32 && info->esp32_hash_appended &&
        info->esp32_hash_offset + 32 <= content_len)
        hex_encode(content + info->esp32_hash_offset, 32, digests[n++]);
    /* A device with secure boot v2 hashes its app with the padding and sector (SIGNING.md). */
    if (secure_boot->len)
        digest_md5_hex(secure_boot->data, secure_boot->len, digests[n++]);
    free(copy);
    *ret_count = n;
    return 0;
}

/* Stores the blobs of SET's variants and describes them in OUT (OUT->variant_count of them). */
static int store_variants(struct service *svc, const struct variant_set *set, struct release *out,
                          struct reason *why)
{
    for (unsigned i = 0; i < set->count; i++) {
        struct variant *v = &out->variants[out->variant_count++];
        const struct buf *bytes = &set->items[i].bytes;
        v->kind = set->items[i].kind;
        v->size = bytes->len;
        digest_md5_hex(bytes->data, bytes->len, v->md5);
        int r = store_put(svc->store, bytes->data, bytes->len, v->sha256);
        if (r < 0)
            return reason_set(why, r, "cannot store the image: %s", strerror(-r));
        /* Several nodes: the blob goes into the database before the release names it. */
        if (db_is_postgresql(svc->db) &&
            (r = db_blob_put(svc->db, v->sha256, bytes->data, bytes->len)) < 0)
            return reason_set(why, r, "cannot store the image in the database: %s", strerror(-r));
    }
    return 0;
}

/*
 * The fingerprint of a key of PRODUCT that IMAGE (uncompressed) carries,
 * into RET_FINGERPRINT ("" when none): firmware built with it checks every
 * update (compat.h). ESP8266 only; a key that cannot be loaded is skipped.
 */
static void image_verifier_key(struct service *svc, const struct product *product,
                               const struct buf *image,
                               char ret_fingerprint[KEY_FINGERPRINT_HEX + 1])
{
    ret_fingerprint[0] = 0;
    struct product_key *keys = NULL;
    size_t count = 0;
    if (product->platform != PLATFORM_ESP8266 ||
        db_product_key_list(svc->db, product->id, &keys, &count) < 0)
        return;
    for (size_t i = 0; i < count && !ret_fingerprint[0]; i++) {
        struct signing_key *key;
        struct reason ignored;
        if (service_key_load(svc, keys[i].name, &key, &ignored) < 0)
            continue;
        if (signing_key_embedded_in(key, image->data, image->len))
            memcpy(ret_fingerprint, keys[i].fingerprint, KEY_FINGERPRINT_HEX + 1);
        signing_key_free(key);
    }
    free(keys);
}

/* Which forms EXISTING has. */
static bool release_has(const struct release *existing, enum variant_kind kind)
{
    for (unsigned i = 0; i < existing->variant_count; i++)
        if (existing->variants[i].kind == kind)
            return true;
    return false;
}

/*
 * True when EXISTING has no signed form while PRODUCT signs: it cannot be
 * served at all until republished.
 */
static bool release_unsigned_for(const struct product *product, const struct release *existing)
{
    /* A secure-boot product serves its ESP32 sketches only in the secure-boot form. */
    if (product->platform == PLATFORM_ESP32 && product->signing.secure_boot_keys[0] &&
        existing->mode == FW_MODE_SKETCH && !release_has(existing, VARIANT_SECURE_BOOT))
        return true;
    return product->signing.required && !release_has(existing, VARIANT_SIGNED) &&
           !release_has(existing, VARIANT_SIGNED_GZIP) &&
           !release_has(existing, VARIANT_SIGNED_LEGACY) &&
           !release_has(existing, VARIANT_SIGNED_ESP32);
}

/*
 * True when PRODUCT's settings call for a form EXISTING lacks: it was
 * published before signing, the 2.5.x form or gzip was turned on. A gzip
 * upload has its gzip form alone, and an incompressible image never gets
 * one: asking again only costs the attempt.
 */
static bool release_lacks_forms(const struct product *product, const struct release *existing)
{
    bool sketch = existing->mode == FW_MODE_SKETCH;
    if (release_unsigned_for(product, existing))
        return true;
    if (product->platform != PLATFORM_ESP8266)
        return false;
    if (!product->signing.required)
        return product->signing.gzip && sketch && release_has(existing, VARIANT_PLAIN) &&
               !release_has(existing, VARIANT_GZIP);
    if (!release_has(existing, VARIANT_SIGNED))
        return false; /* a gzip upload, or one signed offline in the 2.5.x form */
    return (product->signing.legacy && !release_has(existing, VARIANT_SIGNED_LEGACY)) ||
           (product->signing.gzip && sketch && !release_has(existing, VARIANT_SIGNED_GZIP));
}

/*
 * Makes the forms of REQ's image for PRODUCT (variants.c) with the
 * product's active key when it signs. Fills *SET (variant_set_release it).
 * -ENOKEY when the key cannot be loaded here (the server's configuration,
 * not the image: WHY says what), or the error of variants_make.
 */
static int make_forms(struct service *svc, const struct product *product,
                      const struct publish_request *req, struct variant_set *set,
                      struct reason *why)
{
    struct signing_key *key = NULL, *sb_keys[SECURE_BOOT_KEYS_MAX];
    size_t sb_count = 0;
    if (product->signing.required && service_key_load(svc, product->signing.key, &key, why) < 0)
        return -ENOKEY;
    if (product->platform == PLATFORM_ESP32 && req->mode == FW_MODE_SKETCH &&
        service_secure_boot_keys_load(svc, product->signing.secure_boot_keys, sb_keys, &sb_count,
                                      why) < 0) {
        signing_key_free(key);
        return -ENOKEY;
    }
    int r = variants_make_secure(product, key, (const struct signing_key *const *)sb_keys, sb_count,
                                 req->presigned, req->mode, req->image, req->image_len,
                                 LIMIT_GUNZIP_BYTES, set, why);
    for (size_t i = 0; i < sb_count; i++)
        signing_key_free(sb_keys[i]);
    signing_key_free(key);
    return r;
}

/*
 * EXISTING (same version, same bytes) lacks forms PRODUCT's settings now
 * call for: makes them from the upload and adds those it lacks (the others
 * are identical and kept), so republishing a version is how an operator
 * moves it to new settings. A release signed with another key than the
 * active one keeps its forms: one release is signed by one key.
 */
static int release_add_forms(struct service *svc, const struct publish_request *req,
                             const struct product *product, const struct release *existing,
                             struct reason *why)
{
    struct variant_set set;
    int r = make_forms(svc, product, req, &set, why);
    if (r < 0)
        return r;
    if (product->signing.required && existing->signed_by[0] &&
        strcmp(existing->signed_by, set.signed_by) != 0) {
        log_info("%s %s %s was signed by another key than the active one: its forms are kept",
                 product->name, fw_mode_name(existing->mode), existing->version);
        variant_set_release(&set);
        return 0;
    }
    /* Keep only the forms it lacks: the same bytes again change nothing else. */
    unsigned kept = 0;
    for (unsigned i = 0; i < set.count; i++) {
        if (release_has(existing, set.items[i].kind))
            buf_release(&set.items[i].bytes);
        else
            set.items[kept++] = set.items[i];
    }
    set.count = kept;
    if (kept == 0) {
        variant_set_release(&set);
        return 0;
    }
    struct release added = {0};
    r = store_variants(svc, &set, &added, why);
    if (r == 0 && (r = db_release_add_variants(svc->db, existing->id, added.variants,
                                               added.variant_count, set.signed_by)) < 0)
        reason_set(why, r, "cannot record the new forms");
    variant_set_release(&set);
    if (r == 0) {
        log_info("%s %s %s published again: %u form(s) the product's settings call for added",
                 product->name, fw_mode_name(existing->mode), existing->version, kept);
        service_refresh_after_write(svc, "adding forms");
    }
    return r;
}

/*
 * The anti-rollback guard (docs/SECURITY.md, "Anti-rollback"): REL, a new
 * ESP32 release whose app descriptor says a secure_version above the
 * highest of PRODUCT's earlier releases of its mode, burns eFuse bits on
 * every device that installs it, so it is refused unless REQ allows it.
 * The budget counts the devices' reported highest too (the registry). Fills
 * REQ->ret_bump when given. Returns 0, -EDQUOT, -EINVAL, or the database's
 * error, WHY set.
 */
static int secure_version_guard(struct service *svc, const struct product *product,
                                const struct publish_request *req, const struct release *rel,
                                struct reason *why)
{
    if (product->platform != PLATFORM_ESP32 || !rel->app.present)
        return 0;
    struct release *list = NULL;
    size_t n = 0;
    int r = db_release_list(svc->db, product->id, &list, &n);
    if (r < 0)
        return reason_set(why, r, "cannot read releases");
    uint32_t releases_max = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].mode == rel->mode && list[i].app.present &&
            list[i].app.secure_version > releases_max)
            releases_max = list[i].app.secure_version;
    release_list_free(list, n);
    bool devices_known = false;
    uint32_t devices_max = 0;
    if ((r = db_device_secure_version_max(svc->db, product->id, &devices_known, &devices_max)) < 0)
        return reason_set(why, r, "cannot read the devices' secure_version");
    struct secure_version_bump bump;
    r = antirollback_judge(rel->app.chip_id, rel->app.secure_version, releases_max, devices_known,
                           devices_max, req->allow_secure_version_bump, &bump, why);
    if (r != -EINVAL && req->ret_bump)
        *req->ret_bump = bump;
    return r;
}

static int publish_locked(struct service *svc, const struct publish_request *req,
                          const struct product *product, struct release *rel, bool *ret_created,
                          struct reason *why)
{
    char sha[SHA256_HEX_LEN + 1];
    digest_sha256_hex(req->image, req->image_len, sha);
    struct release existing;
    int r = db_release_get(svc->db, product->id, req->mode, req->version, &existing);
    if (r == 0) {
        if (strcmp(existing.sha256, sha) != 0) {
            free(existing.notes);
            return reason_set(
                why, -EEXIST,
                "%s already has %s version \"%s\" with different bytes (sha256 %.12s…)",
                product->name, fw_mode_name(req->mode), req->version, existing.sha256);
        }
        *ret_created = false;
        /* Settings changed since: the same bytes again add the forms they call for. */
        if (release_lacks_forms(product, &existing)) {
            struct reason detail = {""};
            r = release_add_forms(svc, req, product, &existing, &detail);
            bool servable = !release_unsigned_for(product, &existing);
            free(existing.notes);
            if (r < 0 && !servable) {
                *why = detail;
                return r;
            }
            if (r < 0) /* its forms still serve: the republish itself succeeds */
                log_warn("%s %s: new forms not added: %s", product->name, req->version,
                         detail.text);
            return db_release_get(svc->db, product->id, req->mode, req->version, rel) < 0
                       ? reason_set(why, -EIO, "cannot read releases")
                       : 0;
        }
        *rel = existing;
        return 0;
    }
    if (r != -ENOENT)
        return reason_set(why, r, "cannot read releases");

    struct variant_set set;
    if ((r = make_forms(svc, product, req, &set, why)) < 0)
        return r;

    /* What the device runs once it installed this: the image, inflated if it came as gzip. */
    const struct buf *image = set.info.gzip ? &set.inflated : &set.payload;
    char digests[MAX_INSTALLED_DIGESTS][SHA256_HEX_LEN + 1];
    size_t digest_count = 0;
    if ((r = installed_digests(image->data, image->len, &set.secure_boot, &set.info, digests,
                               &digest_count)) < 0) {
        variant_set_release(&set);
        return reason_set(why, r, "cannot hash the image");
    }
    char verifier_key[KEY_FINGERPRINT_HEX + 1];
    image_verifier_key(svc, product, image, verifier_key);

    memset(rel, 0, sizeof(*rel));
    /* Blobs first, row last: a crash in between leaves an unused blob, never a row without bytes.
     */
    if ((r = store_variants(svc, &set, rel, why)) < 0) {
        variant_set_release(&set);
        return r;
    }
    rel->product_id = product->id;
    str_copy(rel->version, sizeof(rel->version), req->version);
    str_copy(rel->channel, sizeof(rel->channel),
             req->channel ? req->channel : product->default_channel);
    rel->mode = req->mode;
    rel->size = req->image_len;
    digest_md5_hex(req->image, req->image_len, rel->md5);
    memcpy(rel->sha256, sha, sizeof(rel->sha256));
    rel->flash_size = req->mode == FW_MODE_SKETCH ? set.info.flash_size : 0;
    rel->created_ms = time_now_ms();
    str_copy(rel->source, sizeof(rel->source), req->source ? req->source : "upload");
    if (req->actor) { /* who published it (docs/AUDIT.md); cut rather than refused */
        snprintf(rel->published_via, sizeof(rel->published_via), "%s",
                 actor_via_name(req->actor->via));
        snprintf(rel->published_by, sizeof(rel->published_by), "%s", req->actor->name);
    }
    snprintf(rel->published_tag, sizeof(rel->published_tag), "%s", req->tag ? req->tag : "");
    rel->published_source_id = req->source_id;
    rel->app = set.info.app; /* zero (present false) for all but ESP32 sketches */
    memcpy(rel->signed_by, set.signed_by, sizeof(rel->signed_by));
    memcpy(rel->verifier_key, verifier_key, sizeof(rel->verifier_key));
    rel->notes = req->notes && *req->notes ? (char *)req->notes : NULL;
    variant_set_release(&set);

    const char *digest_ptrs[MAX_INSTALLED_DIGESTS];
    for (size_t i = 0; i < digest_count; i++)
        digest_ptrs[i] = digests[i];
    /* rel->app is the image's descriptor by now: a bump is confirmed before the row exists. */
    if ((r = secure_version_guard(svc, product, req, rel, why)) < 0) {
        rel->notes = NULL;
        return r;
    }
    /* A staged channel keeps offering what it offers now: the new release waits for its rollout. */
    if ((r = fleet_before_publish(svc, product->id, rel->channel, rel->mode)) < 0) {
        rel->notes = NULL;
        return reason_set(why, r, "cannot record what channel %s offers now", rel->channel);
    }
    r = db_release_insert(svc->db, rel, digest_ptrs, digest_count);
    if (r == -EEXIST) {
        /* Another process (the CLI, another node) published this version first. */
        rel->notes = NULL;
        if (db_release_get(svc->db, product->id, req->mode, req->version, &existing) < 0)
            return reason_set(why, -EIO, "cannot read releases");
        if (strcmp(existing.sha256, sha) != 0) {
            free(existing.notes);
            return reason_set(why, -EEXIST,
                              "%s %s version \"%s\" was just published with different bytes",
                              product->name, fw_mode_name(req->mode), req->version);
        }
        *rel = existing;
        *ret_created = false;
        return 0;
    }
    if (r < 0) {
        rel->notes = NULL;
        return reason_set(why, r, "cannot record the release");
    }
    rel->notes = rel->notes ? strdup(rel->notes) : NULL;
    *ret_created = true;
    return 0;
}

/*
 * Tells the notification layer about REL, just published: its version,
 * channel, forms and where it came from. Only queues (events.h).
 */
static void published_event(struct service *svc, const struct product *product,
                            const struct release *rel)
{
    json_t *forms = json_array();
    for (unsigned i = 0; forms && i < rel->variant_count; i++)
        json_array_append_new(forms, json_string(variant_kind_name(rel->variants[i].kind)));
    json_t *data = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:s,s:o,s:s,s:o}", "version", rel->version, "channel", rel->channel,
        "mode", fw_mode_name(rel->mode), "seq", (json_int_t)rel->seq, "size", (json_int_t)rel->size,
        "sha256", rel->sha256, "forms", forms ? forms : json_array(), "source", rel->source,
        "signed_by", rel->signed_by[0] ? json_string(rel->signed_by) : json_null());
    if (events_emit(svc->events, EVENT_RELEASE_PUBLISHED, product->name, data) < 0)
        log_warn("%s %s: the release.published event was dropped (the event queue is full)",
                 product->name, rel->version);
}

int service_publish(struct service *svc, const struct publish_request *req,
                    struct release *ret_release, bool *ret_created, struct reason *why)
{
    /* Read by every caller whatever the outcome: cleared before the first refusal. */
    if (req->ret_bump)
        memset(req->ret_bump, 0, sizeof(*req->ret_bump));
    if (req->version && *req->version && !version_valid(req->version))
        return reason_set(why, -EINVAL,
                          "version \"%.64s\" must be 1-%u printable characters without blanks "
                          "or any of / \\ ? # %% \" < > ^ ` { } | [ ]",
                          req->version, LIMIT_RELEASE_VERSION_BYTES);
    if (req->channel && !service_name_valid(req->channel, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -",
                          req->channel, LIMIT_CHANNEL_NAME_BYTES);
    if (req->notes && strlen(req->notes) > LIMIT_RELEASE_NOTES_BYTES)
        return reason_set(why, -EFBIG, "release notes longer than %u bytes",
                          LIMIT_RELEASE_NOTES_BYTES);
    if (req->notes && !text_valid_utf8(req->notes))
        return reason_set(why, -EINVAL,
                          "release notes must be UTF-8 text without control characters "
                          "(tabs and line breaks allowed)");
    if (req->image_len > svc->config.max_upload_bytes)
        return reason_set(why, -EFBIG, "image of %zu bytes is larger than the limit of %llu",
                          req->image_len, (unsigned long long)svc->config.max_upload_bytes);
    struct product product;
    int r = service_product_get(svc, req->product, &product, why);
    if (r < 0)
        return r;
    struct publish_request resolved = *req;
    char app_version[APP_DESC_STRING_BYTES + 1];
    if ((r = publish_version(&product, req, app_version, &resolved.version, why)) < 0)
        return r;

    struct release rel;
    bool created = false;
    pthread_mutex_lock(&svc->publish_lock);
    r = publish_locked(svc, &resolved, &product, &rel, &created, why);
    pthread_mutex_unlock(&svc->publish_lock);
    if (r < 0)
        return r;
    if (created) {
        log_info_about(&(struct log_fields){.product = product.name, .release = rel.version},
                       "published %s %s %s (seq %lld, %llu bytes, sha256 %s, from %s)",
                       product.name, fw_mode_name(rel.mode), rel.version, (long long)rel.seq,
                       (unsigned long long)rel.size, rel.sha256, rel.source);
        if (req->ret_bump && req->ret_bump->raised)
            log_warn("%s %s %s: %s (confirmed)", product.name, fw_mode_name(rel.mode), rel.version,
                     req->ret_bump->warning);
        service_refresh_after_write(svc, "publish");
        fleet_after_publish(svc, &rel, rel.source);
        published_event(svc, &product, &rel);
    }
    if (ret_created)
        *ret_created = created;
    if (ret_release)
        *ret_release = rel;
    else
        free(rel.notes);
    return 0;
}

int service_release_list(struct service *svc, const char *product, struct release **ret_releases,
                         size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    return db_release_list(svc->db, p.id, ret_releases, ret_count);
}
