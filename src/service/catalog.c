/*
 * Building and querying the catalog snapshot (catalog.h). Built rarely (at
 * start and when a release is added), queried on every check-in: the build
 * sorts so that queries are binary searches.
 */
#include "service/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"
#include "core/version.h"

static void product_release(struct catalog_product *p)
{
    catalog_fleet_free(p);
    free(p->releases);
    free(p->digests);
    free(p->targets);
}

int release_order(const struct catalog_release *a, const struct catalog_release *b)
{
    if (a->semver && b->semver) {
        int cmp = 0;
        if (version_compare(a->release.version, b->release.version, &cmp) == 0 && cmp != 0)
            return cmp;
    }
    return a->release.seq < b->release.seq ? -1 : a->release.seq > b->release.seq;
}

static void catalog_free(struct catalog *c)
{
    for (size_t i = 0; i < c->product_count; i++)
        product_release(&c->products[i]);
    free(c->products);
    free(c->issues_logged);
    for (size_t i = 0; i < c->zone_count; i++)
        tz_free(c->zones[i]);
    free(c->zones);
    free(c);
}

struct catalog *catalog_new_empty(void)
{
    struct catalog *c = calloc(1, sizeof(*c));
    if (c)
        atomic_init(&c->refs, 1);
    return c;
}

struct catalog *catalog_ref(struct catalog *catalog)
{
    if (catalog)
        atomic_fetch_add_explicit(&catalog->refs, 1, memory_order_relaxed);
    return catalog;
}

void catalog_unref(struct catalog *catalog)
{
    if (catalog && atomic_fetch_sub_explicit(&catalog->refs, 1, memory_order_acq_rel) == 1)
        catalog_free(catalog);
}

static int digest_cmp(const void *a, const void *b)
{
    return strcmp(((const struct catalog_digest *)a)->digest,
                  ((const struct catalog_digest *)b)->digest);
}

static int product_cmp(const void *a, const void *b)
{
    return strcmp(((const struct catalog_product *)a)->product.name,
                  ((const struct catalog_product *)b)->product.name);
}

const struct catalog_release *catalog_release_by_id(const struct catalog_product *p, int64_t id)
{
    /* Releases ascend by id too (both grow with each publish): a binary search. */
    size_t lo = 0, hi = p->release_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t m = p->releases[mid].release.id;
        if (m == id)
            return &p->releases[mid];
        if (id < m)
            hi = mid;
        else
            lo = mid + 1;
    }
    for (size_t i = 0; i < p->release_count; i++) /* built by hand in another order */
        if (p->releases[i].release.id == id)
            return &p->releases[i];
    return NULL;
}

static int product_load(struct catalog *cat, struct db *db, struct catalog_product *cp)
{
    struct release *list = NULL;
    size_t count = 0;
    int r = db_release_list(db, cp->product.id, &list, &count);
    if (r < 0)
        return r;
    cp->releases = calloc(count ? count : 1, sizeof(*cp->releases));
    if (!cp->releases) {
        release_list_free(list, count);
        return -ENOMEM;
    }
    /* db_release_list is newest first; the catalog keeps ascending sequence. */
    for (size_t i = 0; i < count; i++) {
        struct catalog_release *cr = &cp->releases[count - 1 - i];
        cr->release = list[i];
        cr->release.notes = NULL;
        cr->semver = version_is_semver(cr->release.version);
    }
    cp->release_count = count;
    release_list_free(list, count);

    struct release_digest *digests = NULL;
    size_t ndigests = 0;
    r = db_digest_list(db, cp->product.id, &digests, &ndigests);
    if (r < 0)
        return r;
    cp->digests = calloc(ndigests ? ndigests : 1, sizeof(*cp->digests));
    if (!cp->digests) {
        free(digests);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < ndigests; i++) {
        const struct catalog_release *rel = catalog_release_by_id(cp, digests[i].release_id);
        if (!rel)
            continue;
        memcpy(cp->digests[n].digest, digests[i].digest, sizeof(cp->digests[n].digest));
        cp->digests[n].release = rel;
        n++;
    }
    free(digests);
    cp->digest_count = n;
    if ((r = catalog_fleet_load(cat, db, cp)) < 0)
        return r;
    return catalog_index(cp);
}

/* The entry of (CHANNEL, MODE) among T[0..*N), added when missing. */
static struct catalog_target *target_slot(struct catalog_target *t, size_t *n, const char *channel,
                                          enum fw_mode mode)
{
    for (size_t k = 0; k < *n; k++)
        if (t[k].mode == mode && strcmp(t[k].channel, channel) == 0)
            return &t[k];
    t[*n] = (struct catalog_target){channel, mode, NULL, NULL};
    return &t[(*n)++];
}

int catalog_index(struct catalog_product *p)
{
    qsort(p->digests, p->digest_count, sizeof(*p->digests), digest_cmp);
    free(p->targets);
    p->targets = NULL;
    p->target_count = 0;
    if (p->release_count == 0 && p->deployment_count == 0)
        return 0;
    struct catalog_target *t = calloc(p->release_count + p->deployment_count, sizeof(*t));
    if (!t)
        return -ENOMEM;
    size_t n = 0;
    /* Releases ascend by sequence: the scan order is the same as a check-in's used to be. */
    for (size_t i = 0; i < p->release_count; i++) {
        const struct catalog_release *r = &p->releases[i];
        struct catalog_target *k = target_slot(t, &n, r->release.channel, r->release.mode);
        if (!k->greatest || release_order(r, k->greatest) > 0)
            k->greatest = r;
    }
    for (size_t k = 0; k < n; k++)
        t[k].release = t[k].greatest;
    /* A deployment row says what the channel offers, nothing included (docs/FLEET.md). */
    for (size_t i = 0; i < p->deployment_count; i++) {
        const struct deployment *d = &p->deployments[i];
        struct catalog_target *k = target_slot(t, &n, d->channel, d->mode);
        k->release = d->release_id ? catalog_release_by_id(p, d->release_id) : NULL;
    }
    p->targets = t;
    p->target_count = n;
    return 0;
}

const struct catalog_target *catalog_target_entry(const struct catalog_product *product,
                                                  const char *channel, enum fw_mode mode)
{
    for (size_t k = 0; k < product->target_count; k++)
        if (product->targets[k].mode == mode && strcmp(product->targets[k].channel, channel) == 0)
            return &product->targets[k];
    return NULL;
}

const struct catalog_release *catalog_target(const struct catalog_product *product,
                                             const char *channel, enum fw_mode mode)
{
    const struct catalog_target *t = catalog_target_entry(product, channel, mode);
    return t ? t->release : NULL;
}

int catalog_build(struct db *db, int64_t generation, struct catalog **ret_catalog)
{
    struct catalog *c = catalog_new_empty();
    if (!c)
        return -ENOMEM;
    c->generation = generation;
    struct product *products = NULL;
    size_t count = 0;
    int r = db_product_list(db, &products, &count);
    if (r < 0)
        goto fail;
    c->products = calloc(count ? count : 1, sizeof(*c->products));
    c->issues_logged = calloc(count ? count : 1, sizeof(*c->issues_logged));
    if (!c->products || !c->issues_logged) {
        r = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        c->products[i].product = products[i];
        c->product_count++;
        if ((r = product_load(c, db, &c->products[i])) < 0)
            goto fail;
    }
    qsort(c->products, c->product_count, sizeof(*c->products), product_cmp);
    for (size_t i = 0; i < c->product_count; i++)
        c->products[i].issues_logged = &c->issues_logged[i];
    free(products);
    *ret_catalog = c;
    return 0;
fail:
    free(products);
    catalog_free(c);
    return r;
}

const struct catalog_product *catalog_product(const struct catalog *catalog, const char *name)
{
    size_t lo = 0, hi = catalog->product_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, catalog->products[mid].product.name);
        if (c == 0)
            return &catalog->products[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct catalog_release *catalog_release_by_version(const struct catalog_product *product,
                                                         enum fw_mode mode, const char *version)
{
    for (size_t i = product->release_count; i-- > 0;) {
        const struct catalog_release *r = &product->releases[i];
        if (r->release.mode == mode && strcmp(r->release.version, version) == 0)
            return r;
    }
    return NULL;
}

const struct catalog_release *catalog_release_by_digest(const struct catalog_product *product,
                                                        const char *digest)
{
    struct catalog_digest key;
    if (strlen(digest) >= sizeof(key.digest))
        return NULL;
    strcpy(key.digest, digest);
    const struct catalog_digest *d =
        bsearch(&key, product->digests, product->digest_count, sizeof(key), digest_cmp);
    return d ? d->release : NULL;
}
