/*
 * Tokens and webhook secrets (secrets.h): reading one from where a source
 * names it, and the cache of webhook secrets that deliveries are checked
 * against. The cache is a sorted array of entries, one per distinct
 * reference (a file name, or a variable name), each holding the secret it
 * read, the identity of the file it read it from, and, during one
 * verification, whether that secret verifies the delivery.
 */
#include "sources/secrets.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/webhook.h"

int sources_secret_read(const struct config *config, const char *file, const char *env, bool token,
                        char *out, size_t size, const char *what, struct reason *why)
{
    uint8_t *data = NULL;
    size_t data_len = 0, len;
    const char *value;
    char where[LIMIT_SOURCE_PATH_BYTES + 32];
    if (file[0]) {
        snprintf(where, sizeof(where), "file \"%s\"", file);
        int r = file_read_all(file, LIMIT_SOURCE_SECRET_BYTES, &data, &data_len);
        if (r < 0)
            return reason_set(why, r, "cannot read the %s %s: %s", what, where,
                              r == -EFBIG ? "too large" : strerror(-r));
        value = (const char *)data;
        len = data_len;
    } else if (env[0]) {
        snprintf(where, sizeof(where), "variable %s", env);
        value = config_getenv(config, env);
        if (!value)
            return reason_set(why, -EINVAL, "the %s %s is not set", what, where);
        len = strlen(value);
    } else {
        return -ENOENT;
    }
    while (len > 0 && strchr(" \t\r\n", value[len - 1]))
        len--;
    int r = (int)len;
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        printable = printable && value[i] > 0x20 && value[i] < 0x7f;
    if (len == 0)
        r = reason_set(why, -EINVAL, "the %s in %s is empty", what, where);
    else if (len >= size)
        r = reason_set(why, -E2BIG, "the %s in %s is longer than %zu bytes", what, where, size - 1);
    else if (token && !printable)
        r = reason_set(why, -EINVAL, "the %s in %s has blanks or control characters", what, where);
    if (r >= 0) {
        memcpy(out, value, len);
        out[len] = 0;
    }
    if (data) {
        explicit_bzero(data, data_len);
        free(data);
    }
    return r;
}

/* What identifies the contents of a file without reading it. */
struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct secret_entry {
    bool from_file; /* else from the environment */
    char *where;    /* owned: the file name or the variable name */
    struct file_id id;
    bool tried;     /* a read was attempted (of the file as ID says, for a file) */
    int error;      /* < 0: that read failed (logged once) */
    uint8_t *value; /* owned, wiped when freed; NULL when not read */
    size_t len;
    bool seen;   /* in this verification: named by a source */
    int verdict; /* in this verification: -1 not computed yet, 0 no match, 1 match */
};

struct secret_cache {
    const struct config *config;
    pthread_mutex_t lock;          /* guards everything below */
    struct secret_entry **entries; /* sorted by (from_file, where) */
    size_t count, cap;
    uint64_t loads, hmacs;
};

int secret_cache_new(const struct config *config, struct secret_cache **ret_cache)
{
    struct secret_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int r = -pthread_mutex_init(&c->lock, NULL);
    if (r < 0) {
        free(c);
        return r;
    }
    c->config = config;
    *ret_cache = c;
    return 0;
}

static void value_forget(struct secret_entry *e)
{
    if (e->value) {
        explicit_bzero(e->value, e->len);
        free(e->value);
    }
    e->value = NULL;
    e->len = 0;
}

static void entry_free(struct secret_entry *e)
{
    if (!e)
        return;
    value_forget(e);
    free(e->where);
    free(e);
}

void secret_cache_free(struct secret_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        entry_free(c->entries[i]);
    free(c->entries);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int entry_cmp(bool from_file, const char *where, const struct secret_entry *e)
{
    if (from_file != e->from_file)
        return from_file ? 1 : -1;
    return strcmp(where, e->where);
}

/* The entry for (FROM_FILE, WHERE), added (empty) when missing; NULL when out of memory. */
static struct secret_entry *entry_get(struct secret_cache *c, bool from_file, const char *where)
{
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = entry_cmp(from_file, where, c->entries[mid]);
        if (cmp == 0)
            return c->entries[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (c->count == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct secret_entry **n = realloc(c->entries, ncap * sizeof(*n));
        if (!n)
            return NULL;
        c->entries = n;
        c->cap = ncap;
    }
    struct secret_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->where = strdup(where))) {
        free(e);
        return NULL;
    }
    e->from_file = from_file;
    e->verdict = -1;
    memmove(&c->entries[lo + 1], &c->entries[lo], (c->count - lo) * sizeof(*c->entries));
    c->entries[lo] = e;
    c->count++;
    return e;
}

static void file_id_of(const struct stat *st, struct file_id *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->dev = st->st_dev;
    ret->ino = st->st_ino;
    ret->size = st->st_size;
    ret->mtime = st->st_mtim;
    ret->ctime = st->st_ctim;
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Records that E cannot be used (R, said by TEXT); logs when that is news. */
static void entry_failed(struct secret_entry *e, int r, const char *text)
{
    value_forget(e);
    if (e->error != r)
        log_warn("webhook: %s", text);
    e->error = r;
}

/*
 * Brings E up to date: a variable is read once (the environment does not
 * change); a file again only when its identity changed since it was read,
 * whether that read succeeded or not.
 */
static void entry_refresh(struct secret_cache *c, struct secret_entry *e)
{
    struct file_id id;
    memset(&id, 0, sizeof(id));
    if (e->from_file) {
        struct stat st;
        if (stat(e->where, &st) < 0) {
            char text[LIMIT_SOURCE_PATH_BYTES + 96];
            int r = -errno;
            snprintf(text, sizeof(text), "cannot read the webhook secret file \"%s\": %s", e->where,
                     strerror(errno));
            e->tried = false; /* whatever appears there next is read */
            entry_failed(e, r, text);
            return;
        }
        file_id_of(&st, &id);
        if (e->tried && file_id_equal(&id, &e->id))
            return;
    } else if (e->tried) {
        return;
    }
    char secret[LIMIT_SOURCE_SECRET_BYTES + 1];
    struct reason why = {""};
    int len =
        sources_secret_read(c->config, e->from_file ? e->where : "", e->from_file ? "" : e->where,
                            false, secret, sizeof(secret), "webhook secret", &why);
    e->tried = true;
    e->id = id;
    c->loads++;
    uint8_t *value = len > 0 ? malloc((size_t)len) : NULL;
    if (len > 0 && !value)
        len = reason_set(&why, -ENOMEM, "out of memory for a webhook secret");
    if (len < 0) {
        entry_failed(e, len, why.text);
    } else {
        value_forget(e);
        memcpy(value, secret, (size_t)len);
        e->value = value;
        e->len = (size_t)len;
        e->error = 0;
    }
    explicit_bzero(secret, sizeof(secret));
}

/* Whether E's secret verifies SIGNATURE over BODY: one HMAC per distinct secret per verification.
 */
static bool entry_verifies(struct secret_cache *c, struct secret_entry *e, const uint8_t *body,
                           size_t len, const char *signature)
{
    if (e->verdict >= 0)
        return e->verdict;
    for (size_t i = 0; i < c->count; i++) {
        const struct secret_entry *o = c->entries[i];
        if (o != e && o->verdict >= 0 && o->value && o->len == e->len &&
            memcmp(o->value, e->value, e->len) == 0) {
            e->verdict = o->verdict;
            return e->verdict;
        }
    }
    c->hmacs++;
    e->verdict = github_signature_valid(e->value, e->len, body, len, signature) ? 1 : 0;
    return e->verdict;
}

/* Forgets the entries no source named in this verification. */
static void cache_sweep(struct secret_cache *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (c->entries[i]->seen)
            c->entries[kept++] = c->entries[i];
        else
            entry_free(c->entries[i]);
    }
    c->count = kept;
}

int secret_cache_verify(struct secret_cache *c, const struct source_row *rows, size_t n,
                        const uint8_t *body, size_t len, const char *signature, bool *matched,
                        struct secret_verdict *ret_verdict)
{
    struct secret_verdict v = {0, 0};
    int r = 0;
    memset(matched, 0, n * sizeof(*matched));
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        c->entries[i]->seen = false;
        c->entries[i]->verdict = -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct source *src = &rows[i].source;
        bool from_file = src->secret_file[0] != 0;
        const char *where = from_file ? src->secret_file : src->secret_env;
        if (!*where)
            continue;
        v.with_secret++;
        struct secret_entry *e = entry_get(c, from_file, where);
        if (!e) {
            r = -ENOMEM;
            break;
        }
        if (!e->seen) {
            e->seen = true;
            entry_refresh(c, e);
        }
        if (e->value && signature && entry_verifies(c, e, body, len, signature)) {
            matched[i] = true;
            v.matched++;
        }
    }
    if (r == 0)
        cache_sweep(c);
    pthread_mutex_unlock(&c->lock);
    if (r < 0) {
        memset(matched, 0, n * sizeof(*matched));
        return r;
    }
    *ret_verdict = v;
    return 0;
}

void secret_cache_stats(struct secret_cache *c, struct secret_cache_stats *ret_stats)
{
    pthread_mutex_lock(&c->lock);
    ret_stats->loads = c->loads;
    ret_stats->hmacs = c->hmacs;
    ret_stats->held = 0;
    for (size_t i = 0; i < c->count; i++)
        ret_stats->held += c->entries[i]->value != NULL;
    pthread_mutex_unlock(&c->lock);
}
