/*
 * The blob store through the service (service.h): opening a form's blob to
 * send it, checked the first time this process opens it, and the scrub
 * behind `otad store verify`. On PostgreSQL the store is this node's cache
 * of the database's blobs, and this file keeps it: filled before a catalog
 * is offered, a damaged file dropped and fetched again, unused blobs
 * removed (here and, on the leader, in the database). On SQLite the store
 * is the only copy: a damaged blob is refused, never dropped.
 */
#include "service/service.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/catalog.h"
#include "service/service_internal.h"
#include "store/store.h"

/*
 * On PostgreSQL the store is a cache of the database's blobs: a blob that
 * cannot be opened intact (damaged on disk, of the wrong size, or not
 * fetched yet) is dropped when damaged and fetched again by the refresher
 * at its next poll, and the device asks again later (-EAGAIN). ERROR is why
 * the open failed (-EBADMSG, -EIO for a wrong size, -ENOENT).
 */
static int blob_refetch(struct service *svc, const struct variant *variant, int error)
{
    if (error != -EBADMSG && error != -EIO && error != -ENOENT)
        return error;
    if (error != -ENOENT) {
        int r = store_drop_damaged(svc->store, variant->sha256, variant->size, true);
        if (r == 1)
            log_warn("store: cached blob %s is damaged: removed, fetched again from the database",
                     variant->sha256);
        else if (r < 0 && r != -ENOENT)
            return error; /* logged by the store; stays refused until removed by hand */
    }
    atomic_store(&svc->blobs_missing, true);
    return -EAGAIN;
}

int service_blob_open(struct service *svc, const struct variant *variant, int *ret_fd)
{
    uint64_t size;
    int fd;
    int r = store_open_blob(svc->store, variant->sha256, &fd, &size);
    if (r < 0 && r != -EBADMSG && !(r == -ENOENT && db_is_postgresql(svc->db)))
        log_error("store: blob %s of a published release cannot be opened: %s", variant->sha256,
                  strerror(-r)); /* -EBADMSG: the store logged it, once per damaged file */
    if (r == 0 && size != variant->size) {
        log_error("store: blob %s has %llu bytes, the database says %llu", variant->sha256,
                  (unsigned long long)size, (unsigned long long)variant->size);
        close(fd);
        r = -EIO;
    }
    if (r < 0)
        return db_is_postgresql(svc->db) ? blob_refetch(svc, variant, r) : r;
    *ret_fd = fd;
    return 0;
}

/*
 * Fetches blob SHA256 of SIZE bytes from the database into the store,
 * checked against its name before it is stored. Logs a failure unless
 * QUIET (a blob whose failure was logged at an earlier poll).
 */
static int blob_fetch(struct service *svc, const char *sha256, uint64_t size, bool quiet)
{
    uint8_t *data;
    size_t len;
    int r = db_blob_get(svc->db, sha256, LIMIT_BLOB_BYTES, &data, &len);
    if (r < 0) {
        if (!quiet)
            log_error("store: blob %s cannot be had from the database: %s (%s); its release is "
                      "not served by this node until it can, retried at every poll",
                      sha256, strerror(-r),
                      r == -ENOENT ? "no such blob"
                      : r == -EIO  ? "its rows are damaged: a chunk missing or of the wrong size"
                                   : "the database failed");
        return r;
    }
    char got[SHA256_HEX_LEN + 1];
    digest_sha256_hex(data, len, got);
    if (len != size || strcmp(got, sha256) != 0) {
        if (!quiet)
            log_error("store: blob %s from the database is damaged (%zu bytes hashing to %s, its "
                      "release says %llu bytes): not used; its release is not served by this "
                      "node until it is repaired, retried at every poll",
                      sha256, len, got, (unsigned long long)size);
        r = -EBADMSG;
    } else {
        r = store_put(svc->store, data, len, got); /* logs its own failure */
    }
    free(data);
    return r;
}

/* Whether SHA256 is among the COUNT blobs of LIST. */
static bool blob_listed(char (*list)[SHA256_HEX_LEN + 1], size_t count, const char *sha256)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], sha256) == 0)
            return true;
    return false;
}

int service_blobs_fill(struct service *svc, const struct catalog *catalog)
{
    int first_error = 0;
    size_t cap = 0, count = 0;
    for (size_t p = 0; p < catalog->product_count; p++)
        for (size_t i = 0; i < catalog->products[p].release_count; i++)
            cap += catalog->products[p].releases[i].release.variant_count;
    char(*failing)[SHA256_HEX_LEN + 1] = calloc(cap ? cap : 1, sizeof(*failing));
    if (!failing)
        return -ENOMEM;
    pthread_mutex_lock(&svc->blobs_lock);
    for (size_t p = 0; p < catalog->product_count; p++) {
        const struct catalog_product *cp = &catalog->products[p];
        for (size_t i = 0; i < cp->release_count; i++) {
            const struct release *rel = &cp->releases[i].release;
            for (unsigned v = 0; v < rel->variant_count; v++) {
                const struct variant *var = &rel->variants[v];
                /* A size check at every fill; the bytes are checked at first use (blob_open). */
                int r = store_drop_damaged(svc->store, var->sha256, var->size, false);
                if (r == 1)
                    log_warn("store: cached blob %s has the wrong size: removed, fetched again "
                             "from the database",
                             var->sha256);
                if (r == 1 || r == -ENOENT) {
                    bool quiet =
                        blob_listed(svc->blobs_failing, svc->blobs_failing_count, var->sha256) ||
                        blob_listed(failing, count, var->sha256);
                    r = blob_fetch(svc, var->sha256, var->size, quiet);
                    if (r == 0 && quiet)
                        log_info("store: blob %s fetched from the database: its release is "
                                 "served again",
                                 var->sha256);
                }
                if (r < 0 && !blob_listed(failing, count, var->sha256))
                    memcpy(failing[count++], var->sha256, sizeof(*failing));
                if (r < 0 && first_error == 0)
                    first_error = r;
            }
        }
    }
    free(svc->blobs_failing);
    svc->blobs_failing = failing;
    svc->blobs_failing_count = count;
    pthread_mutex_unlock(&svc->blobs_lock);
    return first_error;
}

/* The blobs a catalog needs, sorted, for service_blobs_trim's lookups. */
struct blob_set {
    char (*names)[SHA256_HEX_LEN + 1];
    size_t count;
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool blob_set_has(void *ctx, const char *sha256)
{
    const struct blob_set *set = ctx;
    return set->count && bsearch(sha256, set->names, set->count, sizeof(*set->names), name_cmp);
}

void service_blobs_prune(struct service *svc)
{
    if (!db_is_postgresql(svc->db))
        return;
    size_t deleted = 0;
    int64_t cutoff = time_now_ms() - (int64_t)SERVICE_BLOBS_UNUSED_AGE_S * 1000;
    int r = db_blob_prune(svc->db, cutoff, &deleted);
    if (r < 0)
        log_warn("store: cannot delete unused blobs from the database (the next pass retries): %s",
                 strerror(-r));
    else if (deleted)
        log_info("store: deleted %zu blob(s) no release names from the database", deleted);
}

void service_blobs_trim(struct service *svc, const struct catalog *catalog)
{
    if (!db_is_postgresql(svc->db))
        return;
    size_t cap = 0;
    for (size_t p = 0; p < catalog->product_count; p++)
        for (size_t i = 0; i < catalog->products[p].release_count; i++)
            cap += catalog->products[p].releases[i].release.variant_count;
    struct blob_set set = {calloc(cap ? cap : 1, sizeof(*set.names)), 0};
    if (!set.names)
        return;
    for (size_t p = 0; p < catalog->product_count; p++)
        for (size_t i = 0; i < catalog->products[p].release_count; i++) {
            const struct release *rel = &catalog->products[p].releases[i].release;
            for (unsigned v = 0; v < rel->variant_count; v++)
                memcpy(set.names[set.count++], rel->variants[v].sha256, sizeof(*set.names));
        }
    qsort(set.names, set.count, sizeof(*set.names), name_cmp);
    size_t removed = 0;
    /* Under blobs_lock: a fill is not storing a blob this pass would judge. */
    pthread_mutex_lock(&svc->blobs_lock);
    int r =
        store_remove_unused(svc->store, blob_set_has, &set, SERVICE_BLOBS_UNUSED_AGE_S, &removed);
    pthread_mutex_unlock(&svc->blobs_lock);
    if (r < 0)
        log_warn("store: cannot read the blob cache to remove unused blobs: %s", strerror(-r));
    else if (removed)
        log_info("store: removed %zu cached blob(s) no release needs", removed);
    free(set.names);
}

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

int service_blob_uses(struct db *db, struct blob_use **ret_uses, size_t *ret_count,
                      struct reason *why)
{
    struct product *products = NULL;
    size_t nproducts = 0, count = 0, cap = 0;
    struct blob_use *uses = NULL;
    int r = db_product_list(db, &products, &nproducts);
    for (size_t p = 0; r == 0 && p < nproducts; p++) {
        struct release *rels = NULL;
        size_t nrels = 0;
        if ((r = db_release_list(db, products[p].id, &rels, &nrels)) < 0)
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
    int r = service_blob_uses(svc->db, &sc.uses, &sc.count, why);
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
