/*
 * The public calls of sources.h that are not a sync or a delivery:
 * opening and closing the module, and adding, listing, removing and
 * presenting sources. Adding is where a source's settings are checked
 * (names as GitHub allows them, an https API URL, at most one token and one
 * secret reference); presenting is the one JSON shape of the API and of
 * `otad source list --json`. The rest of the module, in reading order:
 * sync.c, poller.c, dispatch.c, secrets.c (internal.h says what each owns).
 */
#include "sources/sources.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "sources/fetch.h"
#include "sources/github.h"
#include "sources/internal.h"

int sources_open(const struct config *config, struct service *svc, enum sources_mode mode,
                 struct sources **ret_sources)
{
    struct sources *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->config = *config;
    s->svc = svc;
    s->mode = mode;
    sources_metrics_register();
    atomic_init(&s->cancel, false);
    atomic_init(&s->hook_bytes, 0);
    atomic_init(&s->hook_busy, false);
    int r = fetch_global_init();
    if (r < 0) {
        log_error("sources: cannot initialize libcurl");
        goto fail;
    }
    s->curl_ready = true;
    if ((r = secret_cache_new(&s->config, &s->secrets)) < 0)
        goto fail;
    char path[PATH_MAX];
    if ((r = db_location(config->database, config->data_dir, path, sizeof(path))) < 0) {
        log_error("sources: database location too long");
        goto fail;
    }
    if ((r = db_open_timed(path, DB_DURABLE, (unsigned)config->database_statement_timeout_ms,
                           DB_TIMEOUT_STATEMENTS, &s->db)) < 0)
        goto fail;
    if ((r = sources_poller_start(s)) < 0)
        goto fail;
    *ret_sources = s;
    return 0;
fail:
    sources_close(s);
    return r;
}

void sources_close(struct sources *s)
{
    if (!s)
        return;
    sources_poller_stop(s);
    db_close(s->db);
    secret_cache_free(s->secrets);
    if (s->curl_ready)
        fetch_global_cleanup();
    free(s);
}

/* Copies an optional setting TEXT (NULL = "") into OUT; checks its size and that JSON can carry it.
 */
static int setting_copy(char *out, size_t size, const char *text, const char *name,
                        struct reason *why)
{
    if (!text)
        text = "";
    if (str_copy(out, size, text) < 0)
        return reason_set(why, -EINVAL, "%s is longer than %zu bytes", name, size - 1);
    json_t *probe = json_string(text); /* NULL for text that is not UTF-8 */
    bool ok = probe != NULL;
    json_decref(probe);
    for (const char *p = text; ok && *p; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (!ok)
        return reason_set(why, -EINVAL, "%s has control characters or is not UTF-8", name);
    return 0;
}

static bool env_name_valid(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (p != name && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Checks one "file or variable" pair of SPEC into OUT_FILE / OUT_ENV. */
static int reference_copy(struct source *out, bool secret, const char *file, const char *env,
                          struct reason *why)
{
    const char *what = secret ? "webhook secret" : "token";
    if (file && *file && env && *env)
        return reason_set(why, -EINVAL, "give the %s as a file or a variable, not both", what);
    char *ofile = secret ? out->secret_file : out->token_file;
    char *oenv = secret ? out->secret_env : out->token_env;
    int r = setting_copy(ofile, secret ? sizeof(out->secret_file) : sizeof(out->token_file), file,
                         secret ? "the webhook secret file name" : "the token file name", why);
    if (r < 0)
        return r;
    if ((r = setting_copy(oenv, secret ? sizeof(out->secret_env) : sizeof(out->token_env), env,
                          "the variable name", why)) < 0)
        return r;
    if (!env_name_valid(oenv))
        return reason_set(why, -EINVAL, "\"%s\" is not a variable name", oenv);
    return 0;
}

int sources_add(struct sources *s, const struct source_spec *spec, struct source_row *ret_row,
                struct reason *why)
{
    struct source src;
    memset(&src, 0, sizeof(src));
    struct product product;
    int r = service_product_get(s->svc, spec->product ? spec->product : "", &product, why);
    if (r < 0)
        return r;
    src.product_id = product.id;
    if ((r = github_repository_parse(spec->repository ? spec->repository : "", src.owner, src.repo,
                                     why)) < 0)
        return r;
    const char *glob = spec->asset_glob ? spec->asset_glob : GITHUB_ASSET_GLOB_DEFAULT;
    if (!*glob || strchr(glob, '/'))
        return reason_set(why, -EINVAL, "asset pattern \"%.64s\" must be a file name glob", glob);
    if ((r = setting_copy(src.asset_glob, sizeof(src.asset_glob), glob, "the asset pattern", why)) <
            0 ||
        (r = reference_copy(&src, false, spec->token_file, spec->token_env, why)) < 0 ||
        (r = reference_copy(&src, true, spec->secret_file, spec->secret_env, why)) < 0)
        return r;
    const char *pre =
        spec->prerelease_channel ? spec->prerelease_channel : GITHUB_PRERELEASE_CHANNEL_DEFAULT;
    if (strcmp(pre, "none") == 0)
        pre = "";
    if (*pre && !service_name_valid(pre, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -", pre,
                          LIMIT_CHANNEL_NAME_BYTES);
    str_copy(src.prerelease_channel, sizeof(src.prerelease_channel), pre);
    if ((r = github_api_url_check(spec->api_url ? spec->api_url : GITHUB_API_URL_DEFAULT,
                                  src.api_url, sizeof(src.api_url), why)) < 0)
        return r;
    if (spec->poll_interval_s > LIMIT_GITHUB_POLL_INTERVAL_S_MAX)
        return reason_set(why, -EINVAL, "poll interval must be 1-%u seconds",
                          LIMIT_GITHUB_POLL_INTERVAL_S_MAX);
    src.poll_interval_s = spec->poll_interval_s;

    struct source_row *rows = NULL;
    size_t n = 0;
    if ((r = db_source_list(s->db, &rows, &n)) < 0)
        return reason_set(why, r, "cannot read the sources");
    free(rows);
    if (n >= LIMIT_SOURCES)
        return reason_set(why, -ENOSPC, "otad polls at most %u sources", LIMIT_SOURCES);
    r = db_source_insert(s->db, &src);
    if (r == -EEXIST)
        return reason_set(why, r, "product %s already has a source for %s/%s", product.name,
                          src.owner, src.repo);
    if (r < 0)
        return reason_set(why, r, "cannot store the source");
    log_info(SRC_FMT ": added for product %s", SRC_ARGS(&src), product.name);
    if (ret_row && (r = db_source_get(s->db, src.id, ret_row)) < 0)
        return reason_set(why, r, "cannot read the source back");
    if (s->mode == SOURCES_SERVING)
        sources_request_add(s, src.id, NULL); /* -ENOBUFS: the regular poll comes anyway */
    return 0;
}

int sources_remove(struct sources *s, int64_t id, struct reason *why)
{
    int r = db_source_delete(s->db, id);
    if (r == -ENOENT)
        return reason_set(why, r, "no source %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot remove the source");
    log_info("source %lld removed", (long long)id);
    return 0;
}

int sources_get(struct sources *s, int64_t id, struct source_row *ret_row, struct reason *why)
{
    int r = db_source_get(s->db, id, ret_row);
    if (r == -ENOENT)
        return reason_set(why, r, "no source %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot read the sources");
    return 0;
}

int sources_list(struct sources *s, struct source_row **ret_rows, size_t *ret_count)
{
    return db_source_list(s->db, ret_rows, ret_count);
}

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char text[21];
    time_format_rfc3339(ms, text);
    return json_string(text);
}

static json_t *text_or_null(const char *text)
{
    return text && *text ? json_string(text) : json_null();
}

static json_t *count_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *sources_present(const struct sources *s, const struct source_row *row)
{
    const struct source *src = &row->source;
    const struct source_state *st = &row->state;
    char repository[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2];
    snprintf(repository, sizeof(repository), "%s/%s", src->owner, src->repo);
    int64_t next = st->next_poll_ms > st->not_before_ms ? st->next_poll_ms : st->not_before_ms;
    json_t *rate =
        st->rate_limit >= 0 || st->rate_remaining >= 0
            ? json_pack("{s:o,s:o,s:o}", "limit", count_or_null(st->rate_limit), "remaining",
                        count_or_null(st->rate_remaining), "reset", time_or_null(st->rate_reset_ms))
            : json_null();
    const struct source_tag *refused = &row->last_refused;
    char refused_tag[sizeof(refused->tag)]; /* a refused tag may be cut inside a UTF-8 sequence */
    str_copy(refused_tag, sizeof(refused_tag), refused->tag);
    github_ascii_safe(refused_tag);
    json_t *last_refused = refused->tag[0]
                               ? json_pack("{s:s,s:s,s:o}", "tag", refused_tag, "reason",
                                           refused->detail, "at", time_or_null(refused->updated_ms))
                               : json_null();
    json_t *status = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:I,s:o}", "last_poll",
        time_or_null(st->last_poll_ms), "last_change", time_or_null(st->last_change_ms), "last_tag",
        text_or_null(st->last_tag), "last_error", text_or_null(st->last_error), "last_error_at",
        time_or_null(st->last_error_ms), "failures", (json_int_t)st->failures, "rate_limit",
        rate ? rate : json_null(), "next_poll", time_or_null(next), "not_before",
        time_or_null(st->not_before_ms > time_now_ms() ? st->not_before_ms : 0), "api_calls",
        (json_int_t)st->api_calls, "last_refused", last_refused ? last_refused : json_null());
    if (!status)
        return NULL;
    return json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:o,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)src->id,
        "kind", "github", "product", src->product, "repository", repository, "asset",
        src->asset_glob, "prerelease_channel", text_or_null(src->prerelease_channel), "api_url",
        src->api_url, "poll_interval_s", (json_int_t)sources_interval_s(s, src), "token_file",
        text_or_null(src->token_file), "token_env", text_or_null(src->token_env),
        "webhook_secret_file", text_or_null(src->secret_file), "webhook_secret_env",
        text_or_null(src->secret_env), "created", time_or_null(src->created_ms), "status", status);
}
