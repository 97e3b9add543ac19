/*
 * The catalog: an immutable in-memory view of every product and release,
 * built from the database and replaced whole when releases change. Check-ins
 * decide from it without touching the database. Readers hold a reference
 * (catalog_ref / catalog_unref) so a replaced catalog lives until the last
 * reader lets go.
 *
 * Threads: a built catalog is never written again (but for the atomic
 * issues_logged bits), so any number of threads read it at once without a
 * lock; catalog_ref and catalog_unref are atomic. catalog_build reads the
 * database (blocking) and is called by one thread at a time per service.
 * Nothing here allocates or blocks on a lookup.
 */
#ifndef OTAD_SERVICE_CATALOG_H
#define OTAD_SERVICE_CATALOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "db/db.h"
#include "model/fleet.h"
#include "model/model.h"

struct tz;

struct catalog_release {
    struct release release; /* notes are not kept (NULL) */
    bool semver;            /* the version is a semantic version */
    bool withdrawn;         /* a rollback or revert took it back (docs/FLEET.md) */
};

/* An installed digest (MD5 or SHA-256, lowercase hex) and the release it identifies. */
struct catalog_digest {
    char digest[SHA256_HEX_LEN + 1];
    const struct catalog_release *release;
};

/*
 * What one (channel, mode) offers outside a rollout: its deployed release
 * (docs/FLEET.md), which is its greatest release unless the database says
 * otherwise; NULL when nothing is deployed yet.
 */
struct catalog_target {
    const char *channel; /* points into a release or a deployment */
    enum fw_mode mode;
    const struct catalog_release *release;  /* deployed */
    const struct catalog_release *greatest; /* greatest published to the channel, or NULL */
};

/* A channel's settings, and its window's zone loaded. */
struct catalog_channel {
    struct channel channel;
    bool configured;     /* a row of its own; else the defaults */
    const struct tz *tz; /* NULL: UTC */
};

struct catalog_group {
    struct group group;
    const struct tz *tz;  /* of its own window; NULL: UTC */
    uint64_t mac_prefix;  /* GROUP_MATCH_MAC_PREFIX: the octets, high bits of the 48 */
    unsigned prefix_bits; /* 8 per octet; 0 for other kinds */
    uint64_t chip_size;   /* GROUP_MATCH_CHIP_SIZE: bytes */
};

/*
 * Parses a MAC prefix ("18:FE:34", 1 to 5 octets, ':' or '-' between, any
 * case) into its value as the high bits of a 48-bit MAC and its length in
 * bits. -EINVAL.
 */
int catalog_mac_prefix_parse(const char *text, uint64_t *ret_prefix, unsigned *ret_bits);

/* One MAC of a MAC-list group. */
struct catalog_group_mac {
    uint64_t mac;
    const struct catalog_group *group;
};

/* A pin (RELEASE set) or a hold (RELEASE NULL) on one device. */
struct catalog_pin {
    uint64_t mac;
    const struct catalog_release *release;
};

/* An active rollout (running, paused or halted) and the releases it names. */
struct catalog_rollout {
    struct rollout rollout;
    const struct catalog_release *release;
    const struct catalog_release *from; /* REVERT: the halted release; else NULL */
};

struct catalog_product {
    struct product product;
    struct catalog_release *releases; /* ascending by seq */
    size_t release_count;
    struct catalog_digest *digests; /* sorted by digest for bsearch */
    size_t digest_count;
    struct catalog_target *targets; /* one per (channel, mode) with a release; by catalog_index */
    size_t target_count;
    /* Fleet control (docs/FLEET.md); all empty for a product that uses none of it. */
    struct catalog_channel *channels; /* configured ones, by name */
    size_t channel_count;
    struct catalog_group *groups; /* by kind, priority, name */
    size_t group_count;
    struct catalog_group_mac *group_macs; /* by MAC, then group order */
    size_t group_mac_count;
    struct catalog_pin *pins; /* by MAC */
    size_t pin_count;
    struct catalog_rollout *rollouts; /* active ones */
    size_t rollout_count;
    struct deployment *deployments; /* as stored; targets are derived from them */
    size_t deployment_count;
    bool fleet_rules; /* any group, pin, rollout or window: check-ins must look */
    /*
     * Image bodies of this product in flight: service-owned (it outlives
     * catalogs), set once after the build. NULL in products built by hand.
     */
    atomic_uint *downloads;
    /*
     * The one mutable part, through a pointer: bit N is set once delivery
     * issue N has been logged for this product (service.c). NULL in
     * products built by hand.
     */
    atomic_uint *issues_logged;
};

struct catalog {
    atomic_long refs;
    int64_t generation;
    struct catalog_product *products; /* sorted by name for bsearch */
    size_t product_count;
    atomic_uint *issues_logged; /* one per product, pointed to by each */
    struct tz **zones;          /* the windows' time zones, loaded once per catalog */
    size_t zone_count;
};

/*
 * Builds a catalog of everything in DB at the generation GENERATION.
 * Returns 0 with a new catalog holding one reference, or -errno.
 */
int catalog_build(struct db *db, int64_t generation, struct catalog **ret_catalog);

/*
 * Release order: two semantic versions compare as semver (ties by publish
 * sequence); anything else by publish sequence. <0, 0, >0 as A sorts below,
 * equal to, above B.
 */
int release_order(const struct catalog_release *a, const struct catalog_release *b);

/*
 * Computes PRODUCT's derived indexes from its releases and digests: digests
 * sorted for lookup, and the target of every (channel, mode), so a check-in
 * does not order releases. Called by catalog_build (and by tests that build
 * a product by hand). Returns 0 or -ENOMEM (PRODUCT unchanged but targets).
 */
int catalog_index(struct catalog_product *product);

/* The deployed release of CHANNEL and MODE (catalog_target), or NULL when it has none. */
const struct catalog_release *catalog_target(const struct catalog_product *product,
                                             const char *channel, enum fw_mode mode);

/* The (channel, mode) entry, or NULL. */
const struct catalog_target *catalog_target_entry(const struct catalog_product *product,
                                                  const char *channel, enum fw_mode mode);

/* The release with ID, or NULL. */
const struct catalog_release *catalog_release_by_id(const struct catalog_product *product,
                                                    int64_t id);

/* Channel NAME's settings, or NULL when it has none of its own (defaults apply). */
const struct catalog_channel *catalog_channel(const struct catalog_product *product,
                                              const char *name);

/* The first MAC-list group (in group order) that lists MAC, or NULL. */
const struct catalog_group *catalog_group_by_mac(const struct catalog_product *product,
                                                 uint64_t mac);

/* The pin or hold of MAC, or NULL. */
const struct catalog_pin *catalog_pin(const struct catalog_product *product, uint64_t mac);

/* The active rollout of CHANNEL and MODE, or NULL. */
const struct catalog_rollout *catalog_rollout(const struct catalog_product *product,
                                              const char *channel, enum fw_mode mode);

/*
 * Loads PRODUCT's fleet control (channels, groups, pins, rollouts,
 * deployments, withdrawn releases) from DB into CAT's product, after its
 * releases (catalog_fleet.c). -errno.
 */
int catalog_fleet_load(struct catalog *cat, struct db *db, struct catalog_product *product);

/* Frees what catalog_fleet_load added to PRODUCT. */
void catalog_fleet_free(struct catalog_product *product);

/* An empty catalog (no products), one reference. NULL on allocation failure. */
struct catalog *catalog_new_empty(void);

/* Takes / drops a reference; the last catalog_unref frees. Both NULL-safe. */
struct catalog *catalog_ref(struct catalog *catalog);
void catalog_unref(struct catalog *catalog);

/* The product named NAME, or NULL. The result lives as long as the catalog. */
const struct catalog_product *catalog_product(const struct catalog *catalog, const char *name);

/* The release of PRODUCT with VERSION and MODE, or NULL. */
const struct catalog_release *catalog_release_by_version(const struct catalog_product *product,
                                                         enum fw_mode mode, const char *version);

/* The release whose installed image has DIGEST (lowercase hex), or NULL. */
const struct catalog_release *catalog_release_by_digest(const struct catalog_product *product,
                                                        const char *digest);

#endif
