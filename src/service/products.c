/*
 * Products and their settings (service.h): names, creation, the signing and
 * delivery settings with their keys, and how many devices could not be
 * updated safely.
 */
#include "service/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/compat.h"
#include "service/service_internal.h"
#include "signing/secure_boot.h"
#include "signing/signing.h"

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
    service_refresh_after_write(svc, "adding a product");
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
    if (s.secure_boot_keys[0]) {
        struct signing_key *sb[SECURE_BOOT_KEYS_MAX];
        size_t count = 0;
        if (p.platform != PLATFORM_ESP32)
            return reason_set(why, -EINVAL, "secure boot keys are for ESP32 products only");
        if ((r = service_secure_boot_keys_load(svc, s.secure_boot_keys, sb, &count, why)) < 0)
            return r;
        for (size_t i = 0; i < count; i++)
            signing_key_free(sb[i]);
    }
    if (s.key[0]) {
        struct signing_key *key;
        if ((r = service_key_load(svc, s.key, &key, why)) < 0)
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
    service_refresh_after_write(svc, "a settings change");
    log_info("product %s: signing %s, key \"%s\", legacy form %s, gzip %s, declared core %s, "
             "secure boot keys \"%s\"",
             p.name, s.required ? "required" : "off", s.key, s.legacy ? "on" : "off",
             s.gzip ? "on" : "off", s.core_min[0] ? s.core_min : "none", s.secure_boot_keys);
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

/* Loads PRODUCT's active key: the private half when this server has it, else the public one. */
int service_key_load(struct service *svc, const char *key_name, struct signing_key **ret_key,
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

int service_secure_boot_keys_load(struct service *svc, const char *names,
                                  struct signing_key *ret_keys[SECURE_BOOT_KEYS_MAX],
                                  size_t *ret_count, struct reason *why)
{
    char digests[SECURE_BOOT_KEYS_MAX][SECURE_BOOT_DIGEST_HEX];
    size_t count = 0;
    int r = 0;
    for (const char *at = names; *at && r == 0;) {
        size_t len = strcspn(at, ",");
        char name[KEY_NAME_BYTES + 1];
        if (count == SECURE_BOOT_KEYS_MAX) {
            r = reason_set(why, -EINVAL,
                           "secure boot v2 takes at most %d keys (3 signature blocks)",
                           SECURE_BOOT_KEYS_MAX);
            break;
        }
        if (len == 0 || len > KEY_NAME_BYTES) {
            r = reason_set(why, -EINVAL,
                           "secure boot keys \"%.64s\" must be 1 to %d key names "
                           "separated by commas",
                           names, SECURE_BOOT_KEYS_MAX);
            break;
        }
        memcpy(name, at, len);
        name[len] = 0;
        at += len + (at[len] == ',');
        if (at[-1] == ',' && !*at) { /* "k1," */
            r = reason_set(why, -EINVAL, "secure boot keys \"%.64s\" end in a comma", names);
            break;
        }
        if ((r = service_key_load(svc, name, &ret_keys[count], why)) < 0)
            break;
        struct signing_key_info info;
        signing_key_info(ret_keys[count], &info);
        count++;
        if (!secure_boot_key_usable(ret_keys[count - 1])) {
            r = reason_set(why, -EINVAL,
                           "key \"%s\" is %s; secure boot v2 verifies rsa-3072, ecdsa-p256 and "
                           "ecdsa-p384 (otad key generate --type rsa-3072)",
                           name, info.type);
            break;
        }
        if ((r = secure_boot_key_digest(ret_keys[count - 1], digests[count - 1], why)) < 0)
            break;
        for (size_t i = 0; i + 1 < count && r == 0; i++)
            if (strcmp(digests[i], digests[count - 1]) == 0)
                r = reason_set(why, -EINVAL,
                               "key \"%s\" is named twice among the secure boot "
                               "keys",
                               name);
    }
    if (r < 0) {
        for (size_t i = 0; i < count; i++)
            signing_key_free(ret_keys[i]);
        return r;
    }
    *ret_count = count;
    return 0;
}
