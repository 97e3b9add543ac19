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
#include "model/model.h"

struct catalog_release {
    struct release release; /* notes are not kept (NULL) */
    bool semver;            /* the version is a semantic version */
};

/* An installed digest (MD5 or SHA-256, lowercase hex) and the release it identifies. */
struct catalog_digest {
    char digest[SHA256_HEX_LEN + 1];
    const struct catalog_release *release;
};

/* The greatest release of one (channel, mode): what its devices are offered. */
struct catalog_target {
    const char *channel; /* points into the release */
    enum fw_mode mode;
    const struct catalog_release *release;
};

struct catalog_product {
    struct product product;
    struct catalog_release *releases; /* ascending by seq */
    size_t release_count;
    struct catalog_digest *digests; /* sorted by digest for bsearch */
    size_t digest_count;
    struct catalog_target *targets; /* one per (channel, mode) with a release; by catalog_index */
    size_t target_count;
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

/* The target of CHANNEL and MODE (its greatest release), or NULL when it has none. */
const struct catalog_release *catalog_target(const struct catalog_product *product,
                                             const char *channel, enum fw_mode mode);

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
