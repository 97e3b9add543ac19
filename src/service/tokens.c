/*
 * API tokens (service.h): created as 256 random bits shown once, stored as
 * their SHA-256, checked by scope (admin includes publish includes read),
 * revoked at once for every node.
 */
#include "service/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/service_internal.h"

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

int service_token_find_secret(struct service *svc, const char *secret, struct token *ret_token,
                              struct reason *why)
{
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
    *ret_token = t;
    return 0;
}

int service_token_check(struct service *svc, const char *authorization, enum token_scope needed,
                        struct reason *why)
{
    return service_token_check_actor(svc, authorization, needed, NULL, why);
}

int service_token_check_actor(struct service *svc, const char *authorization,
                              enum token_scope needed, struct actor *ret_actor, struct reason *why)
{
    if (!authorization)
        return reason_set(why, -EPERM, "a bearer token is required");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return reason_set(why, -EPERM, "the Authorization header must be \"Bearer <token>\"");
    const char *secret = authorization + 7;
    while (*secret == ' ')
        secret++;
    struct token t;
    int r = service_token_find_secret(svc, secret, &t, why);
    if (r < 0)
        return r;
    /* A valid token is someone even when its scope is too small: the audit log names them. */
    if (ret_actor) {
        ret_actor->token_id = t.id;
        memcpy(ret_actor->name, t.name, sizeof(t.name));
    }
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
