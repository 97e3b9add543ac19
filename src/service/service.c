/*
 * The service facade (service.h): wires the database, the blob store, the
 * catalog and the registry together and keeps the rules of each operation.
 * Publishing is the one write path for releases; check-ins read only the
 * catalog.
 */
#include "service/service.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/gzip.h"
#include "core/log.h"
#include "core/mono.h"
#include "core/util.h"
#include "db/db.h"
#include "service/catalog.h"
#include "service/compat.h"
#include "service/decide.h"
#include "service/present.h"
#include "service/image.h"
#include "service/registry.h"
#include "service/variants.h"
#include "signing/signing.h"
#include "core/digest.h"
#include "store/store.h"

#define CATALOG_POLL_MS 500

static int product_key_load(struct service *svc, const char *key_name, struct signing_key **ret_key,
                            struct reason *why);

struct service {
    struct config config;
    enum service_mode mode;
    char db_path[PATH_MAX];
    struct db *db;
    struct store *store;
    struct registry *registry; /* SERVICE_SERVING only */

    pthread_mutex_t catalog_lock; /* guards the catalog pointer, not its contents */
    struct catalog *catalog;
    pthread_mutex_t publish_lock; /* one publish at a time: idempotency checks stay true */

    pthread_t refresher;
    bool refresher_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

static struct catalog *catalog_get(struct service *svc)
{
    pthread_mutex_lock(&svc->catalog_lock);
    struct catalog *c = catalog_ref(svc->catalog);
    pthread_mutex_unlock(&svc->catalog_lock);
    return c;
}

/* Rebuilds the catalog when the database's generation moved (or FORCE). */
MUST_USE static int catalog_refresh(struct service *svc, bool force)
{
    int64_t gen;
    int r = db_generation(svc->db, &gen);
    if (r < 0)
        return r;
    struct catalog *cur = catalog_get(svc);
    bool fresh = cur && cur->generation == gen;
    catalog_unref(cur);
    if (fresh && !force)
        return 0;
    struct catalog *next;
    if ((r = catalog_build(svc->db, gen, &next)) < 0)
        return r;
    pthread_mutex_lock(&svc->catalog_lock);
    struct catalog *old = svc->catalog;
    /* A slow rebuild must not replace a newer catalog another thread installed meanwhile. */
    if (old && old->generation > next->generation) {
        old = next;
    } else {
        svc->catalog = next;
    }
    pthread_mutex_unlock(&svc->catalog_lock);
    catalog_unref(old);
    return 0;
}

/*
 * After a write this process made: shows it to check-ins now. When the
 * rebuild fails, the write stands and the refresher thread (or the next
 * command) sees the generation move and retries: say so, once.
 */
static void refresh_after_write(struct service *svc, const char *what)
{
    int r = catalog_refresh(svc, true);
    if (r < 0)
        log_warn("catalog: reload after %s failed (the next poll retries): %s", what, strerror(-r));
}

int service_catalog_poll(struct service *svc)
{
    return catalog_refresh(svc, false);
}

static void *refresher_main(void *arg)
{
    struct service *svc = arg;
    pthread_mutex_lock(&svc->stop_lock);
    while (!svc->stopping) {
        struct timespec ts;
        mono_deadline_ms(&ts, CATALOG_POLL_MS);
        pthread_cond_timedwait(&svc->stop_cond, &svc->stop_lock, &ts);
        if (svc->stopping)
            break;
        pthread_mutex_unlock(&svc->stop_lock);
        int r = catalog_refresh(svc, false);
        if (r < 0)
            log_warn("catalog: reload failed: %s", strerror(-r));
        pthread_mutex_lock(&svc->stop_lock);
    }
    pthread_mutex_unlock(&svc->stop_lock);
    return NULL;
}

int service_open(const struct config *config, enum service_mode mode, struct service **ret_service)
{
    struct service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return -ENOMEM;
    svc->config = *config;
    svc->mode = mode;
    int r;
    if ((r = -pthread_mutex_init(&svc->catalog_lock, NULL)) < 0)
        goto free_svc;
    if ((r = -pthread_mutex_init(&svc->publish_lock, NULL)) < 0)
        goto destroy_catalog_lock;
    if ((r = -pthread_mutex_init(&svc->stop_lock, NULL)) < 0)
        goto destroy_publish_lock;
    if ((r = mono_cond_init(&svc->stop_cond)) < 0) {
        pthread_mutex_destroy(&svc->stop_lock);
    destroy_publish_lock:
        pthread_mutex_destroy(&svc->publish_lock);
    destroy_catalog_lock:
        pthread_mutex_destroy(&svc->catalog_lock);
    free_svc:
        log_error("cannot initialize the service's locks: %s", strerror(-r));
        free(svc);
        return r;
    }

    r = dir_create_all(config->data_dir, 0750);
    if (r < 0) {
        log_error("cannot create data folder \"%s\": %s", config->data_dir, strerror(-r));
        goto fail;
    }
    if (snprintf(svc->db_path, sizeof(svc->db_path), "%s/" DB_FILE_NAME, config->data_dir) >=
        (int)sizeof(svc->db_path)) {
        r = -ENAMETOOLONG;
        goto fail;
    }
    if ((r = db_open(svc->db_path, DB_DURABLE, &svc->db)) < 0)
        goto fail;
    if ((r = store_open(config->data_dir, &svc->store)) < 0)
        goto fail;
    if ((r = catalog_refresh(svc, true)) < 0)
        goto fail;
    if (mode == SERVICE_SERVING) {
        struct registry_limits limits = {
            .new_devices_per_addr_per_minute = config->registry_new_devices_per_ip_per_minute,
            .max_devices_per_product = config->registry_max_devices_per_product,
        };
        r = registry_start(svc->db_path, (unsigned)config->registry_flush_ms, LIMIT_REGISTRY_QUEUE,
                           &limits, &svc->registry);
        if (r < 0)
            goto fail;
        if ((r = -pthread_create(&svc->refresher, NULL, refresher_main, svc)) < 0)
            goto fail;
        svc->refresher_running = true;
    }
    *ret_service = svc;
    return 0;
fail:
    service_close(svc);
    return r;
}

void service_close(struct service *svc)
{
    if (!svc)
        return;
    if (svc->refresher_running) {
        pthread_mutex_lock(&svc->stop_lock);
        svc->stopping = true;
        pthread_cond_signal(&svc->stop_cond);
        pthread_mutex_unlock(&svc->stop_lock);
        pthread_join(svc->refresher, NULL);
    }
    registry_stop(svc->registry);
    catalog_unref(svc->catalog);
    store_free(svc->store);
    db_close(svc->db);
    pthread_cond_destroy(&svc->stop_cond);
    pthread_mutex_destroy(&svc->stop_lock);
    pthread_mutex_destroy(&svc->publish_lock);
    pthread_mutex_destroy(&svc->catalog_lock);
    free(svc);
}

bool service_name_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-'))
            return false;
    return true;
}

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

int service_product_add(struct service *svc, const char *name, enum platform platform,
                        const char *default_channel, struct product *ret_product,
                        struct reason *why)
{
    if (!default_channel)
        default_channel = "stable";
    if (!service_name_valid(name, LIMIT_PRODUCT_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "product name \"%.64s\" must be 1-%u characters of a-z 0-9 . _ -", name,
                          LIMIT_PRODUCT_NAME_BYTES);
    if (!service_name_valid(default_channel, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -",
                          default_channel, LIMIT_CHANNEL_NAME_BYTES);
    /* The 2.5.x form is on by default: it is what every core before 2.6 installs (SIGNING.md). */
    struct product p = {.platform = platform, .signing.legacy = platform == PLATFORM_ESP8266};
    str_copy(p.name, sizeof(p.name), name);
    str_copy(p.default_channel, sizeof(p.default_channel), default_channel);
    int r = db_product_insert(svc->db, &p);
    if (r == -EEXIST)
        return reason_set(why, r, "product \"%s\" already exists", name);
    if (r < 0)
        return reason_set(why, r, "cannot store the product");
    /* A product changes what check-ins see: refresh now rather than at the next poll. */
    refresh_after_write(svc, "adding a product");
    if (ret_product)
        *ret_product = p;
    return 0;
}

int service_product_get(struct service *svc, const char *name, struct product *ret_product,
                        struct reason *why)
{
    int r = db_product_get(svc->db, name, ret_product);
    if (r == -ENOENT)
        return reason_set(why, r, "no product \"%.64s\"", name);
    if (r < 0)
        return reason_set(why, r, "cannot read products");
    return 0;
}

int service_product_list(struct service *svc, struct product **ret_products, size_t *ret_count)
{
    return db_product_list(svc->db, ret_products, ret_count);
}

int service_product_set_signing(struct service *svc, const char *name,
                                const struct product_signing *settings, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, name, &p, why);
    if (r < 0)
        return r;
    struct product_signing s = *settings;
    if (!s.esp32_hash[0])
        strcpy(s.esp32_hash, "sha256");
    enum signing_hash hash;
    if (signing_hash_parse(s.esp32_hash, &hash) < 0 || hash == SIGNING_HASH_AUTO)
        return reason_set(why, -EINVAL, "esp32 hash must be sha256, sha384 or sha512");
    if (s.required && !s.key[0])
        return reason_set(why, -EINVAL, "signing needs a key (otad key generate, then --key NAME)");
    if (s.gzip && p.platform != PLATFORM_ESP8266)
        return reason_set(why, -EINVAL, "gzip delivery is for ESP8266 products only");
    if (s.core_min[0]) {
        enum core_gen gen;
        if (p.platform != PLATFORM_ESP8266)
            return reason_set(why, -EINVAL, "a declared core is for ESP8266 products only");
        if (core_gen_parse(s.core_min, &gen) < 0 || gen < CORE_GEN_2_6 || strchr(s.core_min, '-'))
            return reason_set(why, -EINVAL,
                              "core \"%s\" is not an ESP8266 Arduino core release from 2.6 on "
                              "(such as 3.0 or 3.1.2)",
                              s.core_min);
    }
    if (s.key[0]) {
        struct signing_key *key;
        if ((r = product_key_load(svc, s.key, &key, why)) < 0)
            return r;
        struct signing_key_info info;
        signing_key_info(key, &info);
        signing_key_free(key);
        if (p.platform == PLATFORM_ESP8266 && !info.rsa)
            return reason_set(why, -EINVAL,
                              "key \"%s\" is %s; the ESP8266 core verifies RSA signatures only",
                              s.key, info.type);
        if ((r = db_product_key_add(svc->db, p.id, s.key, info.fingerprint)) < 0)
            return reason_set(why, r, "cannot record the key");
    }
    if ((r = db_product_set_signing(svc->db, p.id, &s)) < 0)
        return reason_set(why, r, "cannot store the signing settings");
    refresh_after_write(svc, "a settings change");
    log_info("product %s: signing %s, key \"%s\", legacy form %s, gzip %s, declared core %s",
             p.name, s.required ? "required" : "off", s.key, s.legacy ? "on" : "off",
             s.gzip ? "on" : "off", s.core_min[0] ? s.core_min : "none");
    return 0;
}

int service_product_delivery_issues(struct service *svc, const struct product *product,
                                    uint64_t ret_counts[DELIVERY_ISSUE_COUNT])
{
    return db_device_issue_counts(svc->db, product->id, ret_counts);
}

int service_product_keys(struct service *svc, const char *name, struct product_key **ret_keys,
                         size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, name, &p, why);
    if (r < 0)
        return r;
    return db_product_key_list(svc->db, p.id, ret_keys, ret_count);
}

/*
 * The digests a device reports once RELEASE's image is installed (§2 notes):
 * the MD5 of the image with each flash-mode value in byte 2 (the Updater
 * rewrites it to the chip's mode), of the inflated image for gzip uploads,
 * and for ESP32 images with an appended hash, that SHA-256.
 */
#define MAX_INSTALLED_DIGESTS 5
static int installed_digests(const uint8_t *content, size_t content_len,
                             const struct image_info *info,
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
    free(copy);
    *ret_count = n;
    return 0;
}

/* Loads PRODUCT's active key: the private half when this server has it, else the public one. */
static int product_key_load(struct service *svc, const char *key_name, struct signing_key **ret_key,
                            struct reason *why)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/keys", svc->config.data_dir) >= (int)sizeof(dir))
        return reason_set(why, -ENAMETOOLONG, "the data folder's name is too long");
    int r = signing_key_path(path, sizeof(path), dir, key_name, true);
    if (r < 0)
        return reason_set(why, -EINVAL, "key name \"%.64s\" is not valid", key_name);
    if (access(path, F_OK) == 0)
        return signing_key_load_private(path, ret_key, why);
    if ((r = signing_key_path(path, sizeof(path), dir, key_name, false)) < 0)
        return reason_set(why, -EINVAL, "key name \"%.64s\" is not valid", key_name);
    r = signing_key_load_public(path, ret_key, why);
    if (r == -ENOENT)
        return reason_set(why, -EINVAL, "no key \"%s\" in %s (otad key generate --name %s)",
                          key_name, dir, key_name);
    return r;
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
        if (product_key_load(svc, keys[i].name, &key, &ignored) < 0)
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
    struct signing_key *key = NULL;
    int r;
    if (product->signing.required &&
        (r = product_key_load(svc, product->signing.key, &key, why)) < 0)
        return -ENOKEY;
    struct variant_set set;
    r = variants_make(product, key, req->presigned, req->mode, req->image, req->image_len,
                      LIMIT_GUNZIP_BYTES, &set, why);
    signing_key_free(key);
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
        refresh_after_write(svc, "adding forms");
    }
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

    struct signing_key *key = NULL;
    if (product->signing.required &&
        (r = product_key_load(svc, product->signing.key, &key, why)) < 0)
        return -ENOKEY; /* the server's configuration, not the image: WHY says what */
    struct variant_set set;
    r = variants_make(product, key, req->presigned, req->mode, req->image, req->image_len,
                      LIMIT_GUNZIP_BYTES, &set, why);
    signing_key_free(key);
    if (r < 0)
        return r;

    /* What the device runs once it installed this: the image, inflated if it came as gzip. */
    const struct buf *image = set.info.gzip ? &set.inflated : &set.payload;
    char digests[MAX_INSTALLED_DIGESTS][SHA256_HEX_LEN + 1];
    size_t digest_count = 0;
    if ((r = installed_digests(image->data, image->len, &set.info, digests, &digest_count)) < 0) {
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
    memcpy(rel->signed_by, set.signed_by, sizeof(rel->signed_by));
    memcpy(rel->verifier_key, verifier_key, sizeof(rel->verifier_key));
    rel->notes = req->notes && *req->notes ? (char *)req->notes : NULL;
    variant_set_release(&set);

    const char *digest_ptrs[MAX_INSTALLED_DIGESTS];
    for (size_t i = 0; i < digest_count; i++)
        digest_ptrs[i] = digests[i];
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

int service_publish(struct service *svc, const struct publish_request *req,
                    struct release *ret_release, bool *ret_created, struct reason *why)
{
    if (!req->version || !version_valid(req->version))
        return reason_set(why, -EINVAL,
                          "version \"%.64s\" must be 1-%u printable characters without blanks "
                          "or any of / \\ ? # %% \" < > ^ ` { } | [ ]",
                          req->version ? req->version : "", LIMIT_RELEASE_VERSION_BYTES);
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

    struct release rel;
    bool created = false;
    pthread_mutex_lock(&svc->publish_lock);
    r = publish_locked(svc, req, &product, &rel, &created, why);
    pthread_mutex_unlock(&svc->publish_lock);
    if (r < 0)
        return r;
    if (created) {
        log_info("published %s %s %s (seq %lld, %llu bytes, sha256 %s, from %s)", product.name,
                 fw_mode_name(rel.mode), rel.version, (long long)rel.seq,
                 (unsigned long long)rel.size, rel.sha256, rel.source);
        refresh_after_write(svc, "publish");
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

/*
 * Logs ISSUE once per product and catalog (so again after a release or a
 * setting changes): a stuck fleet must not flood the log, nor go unseen.
 */
static void warn_delivery_issue(const struct catalog_product *cp, enum delivery_issue issue)
{
    unsigned bit = 1u << issue;
    if (!cp->issues_logged || atomic_load_explicit(cp->issues_logged, memory_order_relaxed) & bit ||
        atomic_fetch_or_explicit(cp->issues_logged, bit, memory_order_relaxed) & bit)
        return;
    char fix[512];
    delivery_issue_fix_for(issue, cp->product.name, fix, sizeof(fix));
    log_warn("product %s: %s (%s); fix: %s", cp->product.name, delivery_issue_message(issue),
             delivery_issue_code(issue), fix);
}

void service_checkin(struct service *svc, const char *product, const struct device_report *report,
                     const struct checkin_context *ctx, struct decision *ret_decision)
{
    struct catalog *cat = catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    struct decide_request req = {
        .report = report,
        .channel = cp ? cp->product.default_channel : "",
        .legacy_alias = ctx->legacy_alias,
    };
    decide(cp, &req, ret_decision);
    if (cp && ret_decision->issue != DELIVERY_OK)
        warn_delivery_issue(cp, ret_decision->issue);

    if (cp && report->has_sta_mac && svc->registry) {
        struct device_record rec;
        rec.product_id = cp->product.id;
        rec.report = *report;
        str_copy(rec.remote_addr, sizeof(rec.remote_addr),
                 ctx->remote_addr ? ctx->remote_addr : "");
        rec.last_seen_ms = time_now_ms();
        rec.first_seen_ms = rec.last_seen_ms;
        rec.checkins = 1;
        switch (ret_decision->kind) {
        case DECISION_CURRENT:
            rec.last_status = 304;
            break;
        case DECISION_REFUSED:
            rec.last_status = 403;
            break;
        case DECISION_UNKNOWN:
            rec.last_status = 404;
            break;
        default:
            rec.last_status = 200;
        }
        rec.last_offered[0] = 0;
        rec.last_key[0] = 0;
        rec.issue = ret_decision->issue;
        if (ret_decision->kind == DECISION_UPDATE) {
            str_copy(rec.last_offered, sizeof(rec.last_offered), ret_decision->version);
            str_copy(rec.last_key, sizeof(rec.last_key), ret_decision->signed_by);
        }
        registry_record(svc->registry, &rec);
    }
    catalog_unref(cat);
}

int service_image_find(struct service *svc, const char *product, const char *version,
                       enum fw_mode mode, struct variant *ret_variant)
{
    struct catalog *cat = catalog_get(svc);
    int r = -ENOENT;
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    const struct catalog_release *rel = cp ? catalog_release_by_version(cp, mode, version) : NULL;
    if (rel) {
        /* No report: a device with Chip-ID that runs nothing known (compat.h). */
        struct device_capability cap;
        struct form_choice choice;
        compat_capability(&cp->product, NULL, false, &cap);
        compat_choose(&cp->product, &rel->release, &cap, &choice);
        if (choice.variant) {
            *ret_variant = *choice.variant;
            r = 0;
        }
    }
    catalog_unref(cat);
    return r;
}

int service_blob_open(struct service *svc, const struct variant *variant, int *ret_fd)
{
    uint64_t size;
    int fd;
    int r = store_open_blob(svc->store, variant->sha256, &fd, &size);
    if (r == -EBADMSG)
        return r; /* the store logged it, once per damaged file */
    if (r < 0) {
        log_error("store: blob %s of a published release cannot be opened: %s", variant->sha256,
                  strerror(-r));
        return r;
    }
    if (size != variant->size) {
        log_error("store: blob %s has %llu bytes, the database says %llu", variant->sha256,
                  (unsigned long long)size, (unsigned long long)variant->size);
        close(fd);
        return -EIO;
    }
    *ret_fd = fd;
    return 0;
}

/* A blob some release needs, for service_store_verify. */
struct blob_use {
    char sha256[SHA256_HEX_LEN + 1];
    char what[LIMIT_PRODUCT_NAME_BYTES + LIMIT_RELEASE_VERSION_BYTES + 32];
    bool present;
};

struct scrub {
    struct blob_use *uses; /* sorted by sha256 */
    size_t count;
    void (*fn)(void *ctx, const struct store_finding *finding);
    void *ctx;
    struct store_verify_totals totals;
};

static int use_cmp(const void *a, const void *b)
{
    return strcmp(((const struct blob_use *)a)->sha256, ((const struct blob_use *)b)->sha256);
}

/* Every blob the releases need, sorted. */
static int blob_uses(struct service *svc, struct blob_use **ret_uses, size_t *ret_count,
                     struct reason *why)
{
    struct product *products = NULL;
    size_t nproducts = 0, count = 0, cap = 0;
    struct blob_use *uses = NULL;
    int r = db_product_list(svc->db, &products, &nproducts);
    for (size_t p = 0; r == 0 && p < nproducts; p++) {
        struct release *rels = NULL;
        size_t nrels = 0;
        if ((r = db_release_list(svc->db, products[p].id, &rels, &nrels)) < 0)
            break;
        for (size_t i = 0; r == 0 && i < nrels; i++) {
            for (unsigned v = 0; v < rels[i].variant_count; v++) {
                if (count == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    struct blob_use *n = realloc(uses, ncap * sizeof(*n));
                    if (!n) {
                        r = -ENOMEM;
                        break;
                    }
                    uses = n;
                    cap = ncap;
                }
                struct blob_use *u = &uses[count++];
                memcpy(u->sha256, rels[i].variants[v].sha256, sizeof(u->sha256));
                snprintf(u->what, sizeof(u->what), "%s %s %s (%s)", products[p].name,
                         fw_mode_name(rels[i].mode), rels[i].version,
                         variant_kind_name(rels[i].variants[v].kind));
                u->present = false;
            }
        }
        release_list_free(rels, nrels);
    }
    free(products);
    if (r < 0) {
        free(uses);
        return reason_set(why, r, "cannot read the releases: %s", strerror(-r));
    }
    if (count)
        qsort(uses, count, sizeof(*uses), use_cmp);
    *ret_uses = uses;
    *ret_count = count;
    return 0;
}

static void scrub_found(void *ctx, const struct store_blob_check *check)
{
    struct scrub *sc = ctx;
    char used_by[512] = "";
    size_t len = 0;
    struct blob_use key;
    str_copy(key.sha256, sizeof(key.sha256), check->name);
    struct blob_use *u = sc->count && check->result != -EINVAL
                             ? bsearch(&key, sc->uses, sc->count, sizeof(key), use_cmp)
                             : NULL;
    while (u && u > sc->uses && strcmp(u[-1].sha256, key.sha256) == 0)
        u--;
    for (; u && u < sc->uses + sc->count && strcmp(u->sha256, key.sha256) == 0; u++) {
        u->present = true;
        if (len < sizeof(used_by))
            len += (size_t)snprintf(used_by + len, sizeof(used_by) - len, "%s%s", len ? ", " : "",
                                    u->what);
    }
    sc->totals.files++;
    if (check->result == 0 && !used_by[0])
        sc->totals.unused++;
    if (check->result == 0)
        sc->totals.good++;
    else if (check->result == -EINVAL)
        sc->totals.strays++;
    else
        sc->totals.bad++;
    struct store_finding f = {
        .blob = check->name, .size = check->size, .result = check->result, .used_by = used_by};
    sc->fn(sc->ctx, &f);
}

int service_store_verify(struct service *svc,
                         void (*fn)(void *ctx, const struct store_finding *finding), void *ctx,
                         struct store_verify_totals *ret_totals, struct reason *why)
{
    struct scrub sc = {.fn = fn, .ctx = ctx};
    int r = blob_uses(svc, &sc.uses, &sc.count, why);
    if (r < 0)
        return r;
    r = store_verify_all(svc->store, scrub_found, &sc);
    if (r < 0) {
        free(sc.uses);
        return reason_set(why, r, "cannot read the blob folder: %s", strerror(-r));
    }
    /* A blob a release needs that is not there at all (one use reported per blob). */
    for (size_t i = 0; i < sc.count; i++) {
        if (sc.uses[i].present || (i > 0 && strcmp(sc.uses[i - 1].sha256, sc.uses[i].sha256) == 0))
            continue;
        sc.totals.missing++;
        struct store_finding f = {
            .blob = sc.uses[i].sha256, .result = -ENOENT, .used_by = sc.uses[i].what};
        fn(ctx, &f);
    }
    free(sc.uses);
    *ret_totals = sc.totals;
    return 0;
}

int service_device_list(struct service *svc, const char *product, size_t limit, size_t offset,
                        struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total,
                        struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if (limit > LIMIT_API_PAGE_ROWS)
        limit = LIMIT_API_PAGE_ROWS;
    return db_device_list(svc->db, p.id, limit, offset, ret_devices, ret_count, ret_total);
}

int service_registry_flush(struct service *svc)
{
    return svc->registry ? registry_flush(svc->registry) : 0;
}

int service_token_create(struct service *svc, const char *name, enum token_scope scope,
                         char ret_secret[SERVICE_TOKEN_LEN + 1], int64_t *ret_id,
                         struct reason *why)
{
    if (!name || !*name)
        name = token_scope_name(scope);
    if (strlen(name) > LIMIT_TOKEN_NAME_BYTES)
        return reason_set(why, -EINVAL, "token name longer than %u bytes", LIMIT_TOKEN_NAME_BYTES);
    uint8_t raw[32];
    int r = random_bytes(raw, sizeof(raw));
    if (r < 0)
        return reason_set(why, r, "no randomness available");
    char secret[SERVICE_TOKEN_LEN + 1];
    memcpy(secret, SERVICE_TOKEN_PREFIX, 5);
    hex_encode(raw, sizeof(raw), secret + 5);
    char hash[SHA256_HEX_LEN + 1];
    digest_sha256_hex(secret, SERVICE_TOKEN_LEN, hash);
    int64_t id;
    if ((r = db_token_insert(svc->db, name, scope, hash, &id)) < 0)
        return reason_set(why, r, "cannot store the token");
    memcpy(ret_secret, secret, sizeof(secret));
    if (ret_id)
        *ret_id = id;
    return 0;
}

int service_token_check(struct service *svc, const char *authorization, enum token_scope needed,
                        struct reason *why)
{
    if (!authorization)
        return reason_set(why, -EPERM, "a bearer token is required");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return reason_set(why, -EPERM, "the Authorization header must be \"Bearer <token>\"");
    const char *secret = authorization + 7;
    while (*secret == ' ')
        secret++;
    if (strlen(secret) != SERVICE_TOKEN_LEN || strncmp(secret, SERVICE_TOKEN_PREFIX, 5) != 0 ||
        !is_hex(secret + 5, 64))
        return reason_set(why, -EPERM, "the bearer token is malformed");
    char hash[SHA256_HEX_LEN + 1];
    digest_sha256_hex(secret, SERVICE_TOKEN_LEN, hash);
    struct token t;
    int r = db_token_find(svc->db, hash, &t);
    if (r == -ENOENT || (r == 0 && t.revoked_ms))
        return reason_set(why, -EPERM, "the bearer token is unknown or revoked");
    if (r < 0)
        return reason_set(why, r, "cannot check the token");
    if (t.scope < needed)
        return reason_set(why, -EACCES, "token \"%s\" has scope %s; this needs %s", t.name,
                          token_scope_name(t.scope), token_scope_name(needed));
    return 0;
}

int service_token_list(struct service *svc, struct token **ret_tokens, size_t *ret_count)
{
    return db_token_list(svc->db, ret_tokens, ret_count);
}

int service_token_revoke(struct service *svc, int64_t id, struct reason *why)
{
    int r = db_token_revoke(svc->db, id);
    if (r == -ENOENT)
        return reason_set(why, r, "no valid token with id %lld", (long long)id);
    return r < 0 ? reason_set(why, r, "cannot revoke the token") : 0;
}

int service_check(struct service *svc, struct reason *why)
{
    return db_integrity_check(svc->db, why);
}
