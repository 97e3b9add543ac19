/*
 * Dashboard sessions (service.h; docs/SECURITY.md, "Dashboard sign-in").
 * A browser signs in with an API token and gets a cookie instead: 256
 * random bits, stored only as their SHA-256, standing for that token (its
 * scope, its name as the actor) until the session is unused for
 * session_idle_s, is older than session_max_s, is signed out or revoked, or
 * its token is revoked. The token's row is read with the session's on every
 * check, so a revocation anywhere (the API, the CLI, another node) holds on
 * the next request: there is no cache to go stale, and a check is one
 * indexed read, the same cost as a bearer token's. Check-ins never come
 * here.
 *
 * The CSRF token is derived, not stored: an HMAC-SHA256 keyed by the cookie
 * itself. Only the holder of the cookie can compute it, a restart or
 * another node gives the same one, and knowing it reveals nothing of the
 * cookie.
 *
 * Bad sign-ins are counted per source address and minute (the sign-in
 * guard): past LIMIT_SIGNIN_FAILURES_PER_MINUTE the form answers 429
 * without looking at the token, so it cannot be used to test guesses.
 */
#include "service/service.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/service_internal.h"

/* What the CSRF token's HMAC covers: fixed, so it depends only on the cookie. */
#define CSRF_LABEL "otad dashboard csrf v1"

/* A session's last use is written at most this often (and an eighth of the idle timeout). */
#define TOUCH_EVERY_MS_MAX 60000

struct signin_failures {
    char address[LIMIT_SESSION_ADDRESS_BYTES + 1];
    int64_t minute; /* wall-clock minute of the failures; 0: a free place */
    unsigned count;
};

struct signin_guard {
    pthread_mutex_t lock;
    struct signin_failures places[LIMIT_SIGNIN_ADDRESSES];
};

int signin_guard_new(struct signin_guard **ret_guard)
{
    struct signin_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    int r = -pthread_mutex_init(&g->lock, NULL);
    if (r < 0) {
        free(g);
        return r;
    }
    *ret_guard = g;
    return 0;
}

void signin_guard_free(struct signin_guard *guard)
{
    if (!guard)
        return;
    pthread_mutex_destroy(&guard->lock);
    free(guard);
}

/*
 * ADDRESS's place for MINUTE, or NULL. CLAIM: when it has none, take a free
 * or stale one (reset); still NULL when every place holds another address
 * that failed within MINUTE. Call with the lock held.
 */
static struct signin_failures *guard_place(struct signin_guard *g, const char *address,
                                           int64_t minute, bool claim)
{
    struct signin_failures *spare = NULL;
    for (size_t i = 0; i < LIMIT_SIGNIN_ADDRESSES; i++) {
        struct signin_failures *p = &g->places[i];
        if (p->minute == minute && strcmp(p->address, address) == 0)
            return p;
        if (!spare && p->minute != minute)
            spare = p;
    }
    if (spare && claim) {
        str_copy(spare->address, sizeof(spare->address), address);
        spare->minute = minute;
        spare->count = 0;
        return spare;
    }
    return NULL;
}

/*
 * Whether ADDRESS may try a token now; FAILED: count one bad attempt first.
 * Only a failure takes a place: addresses that sign in well never fill the
 * table, so many of them cannot lock the others out. When every place holds
 * an address that failed this minute, a new one's failure is not counted
 * (the guard fails open: tokens are 256 random bits; it keeps guessing
 * noisy, it is not what makes them unguessable).
 */
static bool guard_allows(struct signin_guard *g, const char *address, int64_t now_ms, bool failed)
{
    int64_t minute = now_ms / 60000 + 1; /* never 0, which marks a free place */
    pthread_mutex_lock(&g->lock);
    struct signin_failures *p = guard_place(g, address, minute, failed);
    bool allowed = !p || p->count < LIMIT_SIGNIN_FAILURES_PER_MINUTE;
    if (p && failed)
        p->count++;
    pthread_mutex_unlock(&g->lock);
    return allowed;
}

/* base64url without padding of LEN bytes into OUT (4 * ceil(LEN / 3) + 1 bytes at most). */
static void base64url_encode(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = alphabet[v & 63];
    }
    out[o] = 0;
}

/* Whether COOKIE has the shape of one of ours: 43 base64url characters. */
static bool cookie_well_formed(const char *cookie)
{
    if (!cookie || strlen(cookie) != SERVICE_SESSION_COOKIE_LEN)
        return false;
    for (const char *c = cookie; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    return true;
}

static void csrf_for(const char *cookie, char out[SERVICE_SESSION_CSRF_LEN + 1])
{
    uint8_t mac[DIGEST_SHA256_BYTES];
    digest_hmac_sha256(cookie, strlen(cookie), CSRF_LABEL, strlen(CSRF_LABEL), mac);
    base64url_encode(mac, sizeof(mac), out);
}

bool service_session_csrf_ok(const char *cookie, const char *csrf)
{
    if (!cookie_well_formed(cookie) || !csrf || strlen(csrf) != SERVICE_SESSION_CSRF_LEN)
        return false;
    char want[SERVICE_SESSION_CSRF_LEN + 1];
    csrf_for(cookie, want);
    return digest_equal(want, csrf, SERVICE_SESSION_CSRF_LEN);
}

static int64_t idle_ms(const struct service *svc)
{
    return (int64_t)svc->config.session_idle_s * 1000;
}

static int64_t max_ms(const struct service *svc)
{
    return (int64_t)svc->config.session_max_s * 1000;
}

/* The sooner of the session's two ends, were it used at NOW_MS. */
static int64_t expiry(const struct service *svc, int64_t created_ms, int64_t now_ms)
{
    int64_t idle_end = now_ms + idle_ms(svc), max_end = created_ms + max_ms(svc);
    return idle_end < max_end ? idle_end : max_end;
}

static void info_fill(const struct service *svc, const struct session_record *rec,
                      const char *cookie, int64_t now_ms, struct session_info *ret_info)
{
    memset(ret_info, 0, sizeof(*ret_info));
    ret_info->id = rec->id;
    ret_info->token_id = rec->token_id;
    str_copy(ret_info->token_name, sizeof(ret_info->token_name), rec->token_name);
    ret_info->scope = rec->scope;
    ret_info->expires_ms = expiry(svc, rec->created_ms, now_ms);
    csrf_for(cookie, ret_info->csrf);
}

int service_session_create(struct service *svc, const char *token, const char *address,
                           const char *user_agent, char ret_cookie[SERVICE_SESSION_COOKIE_LEN + 1],
                           struct session_info *ret_info, struct reason *why)
{
    int64_t now = service_now_ms(svc);
    if (!address)
        address = "";
    if (!guard_allows(svc->signin_guard, address, now, false))
        return reason_set(why, -EBUSY,
                          "too many bad sign-ins from this address; try again in a minute");
    struct token t;
    int r = service_token_find_secret(svc, token ? token : "", &t, why);
    if (r == -EPERM) {
        guard_allows(svc->signin_guard, address, now, true);
        return reason_set(why, r, "the token is malformed, unknown or revoked");
    }
    if (r < 0)
        return r;
    uint8_t raw[32];
    if ((r = random_bytes(raw, sizeof(raw))) < 0)
        return reason_set(why, r, "no randomness available");
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    base64url_encode(raw, sizeof(raw), cookie);
    char hash[SHA256_HEX_LEN + 1];
    digest_sha256_hex(cookie, SERVICE_SESSION_COOKIE_LEN, hash);

    /* Sessions past their end are deleted at sign-in, so the table only holds live ones. */
    if (db_session_prune(svc->db, now - idle_ms(svc), now - max_ms(svc)) < 0)
        log_warn("sessions: cannot delete the expired ones; they stay refused");
    struct session_record rec = {
        .token_id = t.id, .scope = t.scope, .created_ms = now, .last_used_ms = now};
    str_copy(rec.token_name, sizeof(rec.token_name), t.name);
    str_copy(rec.address, sizeof(rec.address), address);
    /* A longer User-Agent is cut to fit: it is a hint for the admin's list, not identity. */
    size_t ua_len = user_agent ? strlen(user_agent) : 0;
    if (ua_len > LIMIT_USER_AGENT_BYTES)
        ua_len = LIMIT_USER_AGENT_BYTES;
    if (ua_len)
        memcpy(rec.user_agent, user_agent, ua_len);
    rec.user_agent[ua_len] = 0;
    str_printable(rec.user_agent); /* cut anywhere, and the peer's own bytes: shown later */
    if ((r = db_session_insert(svc->db, &rec, hash, LIMIT_SESSIONS_PER_TOKEN, &rec.id)) < 0)
        return reason_set(why, r == -ENOENT ? -EPERM : r, "cannot start the session");
    log_info("sessions: token \"%s\" signed in from %s (session %lld)", t.name,
             address[0] ? address : "an unknown address", (long long)rec.id);
    memcpy(ret_cookie, cookie, sizeof(cookie));
    info_fill(svc, &rec, cookie, now, ret_info);
    return 0;
}

/* The stored session of COOKIE, live or not. -EPERM when there is none. */
static int session_find(struct service *svc, const char *cookie, struct session_record *ret,
                        struct reason *why)
{
    if (!cookie_well_formed(cookie))
        return reason_set(why, -EPERM, "no valid session: sign in");
    char hash[SHA256_HEX_LEN + 1];
    digest_sha256_hex(cookie, SERVICE_SESSION_COOKIE_LEN, hash);
    int r = db_session_find(svc->db, hash, ret);
    if (r == -ENOENT)
        return reason_set(why, -EPERM, "no valid session: sign in");
    return r < 0 ? reason_set(why, r, "cannot check the session") : 0;
}

int service_session_check(struct service *svc, const char *cookie, enum token_scope needed,
                          struct session_info *ret_info, struct reason *why)
{
    struct session_record rec;
    int r = session_find(svc, cookie, &rec, why);
    if (r < 0)
        return r;
    int64_t now = service_now_ms(svc);
    const char *ended = rec.token_revoked_ms                     ? "its token was revoked"
                        : now - rec.last_used_ms >= idle_ms(svc) ? "it was unused too long"
                        : now - rec.created_ms >= max_ms(svc)    ? "it reached its maximum age"
                                                                 : NULL;
    if (ended) {
        db_session_delete(svc->db, rec.id); /* gone already (a race with sign-out) is fine */
        return reason_set(why, -EPERM, "the session ended (%s): sign in again", ended);
    }
    if (rec.scope < needed) {
        /* A live session of too small a scope is still someone: the audit log names them. */
        info_fill(svc, &rec, cookie, rec.last_used_ms, ret_info);
        return reason_set(why, -EACCES, "token \"%s\" has scope %s; this needs %s", rec.token_name,
                          token_scope_name(rec.scope), token_scope_name(needed));
    }
    int64_t touch_every = idle_ms(svc) / 8;
    if (touch_every > TOUCH_EVERY_MS_MAX)
        touch_every = TOUCH_EVERY_MS_MAX;
    if (now - rec.last_used_ms >= touch_every && db_session_touch(svc->db, rec.id, now) == 0)
        rec.last_used_ms = now;
    info_fill(svc, &rec, cookie, rec.last_used_ms, ret_info);
    return 0;
}

int service_session_end(struct service *svc, const char *cookie)
{
    struct session_record rec;
    struct reason why = {""};
    int r = session_find(svc, cookie, &rec, &why);
    if (r == -EPERM)
        return -ENOENT;
    if (r == 0)
        r = db_session_delete(svc->db, rec.id);
    if (r == 0)
        log_info("sessions: token \"%s\" signed out (session %lld)", rec.token_name,
                 (long long)rec.id);
    return r;
}

int service_session_list(struct service *svc, struct session_record **ret_sessions,
                         size_t *ret_count)
{
    int64_t now = service_now_ms(svc);
    /* Only live sessions are listed: the ended ones go first. */
    int r = db_session_prune(svc->db, now - idle_ms(svc), now - max_ms(svc));
    return r < 0 ? r : db_session_list(svc->db, ret_sessions, ret_count);
}

int service_session_revoke(struct service *svc, int64_t id, struct reason *why)
{
    int r = db_session_delete(svc->db, id);
    if (r == -ENOENT)
        return reason_set(why, r, "no session with id %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot end the session");
    log_info("sessions: session %lld revoked", (long long)id);
    return 0;
}
