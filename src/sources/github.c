/*
 * The pure rules of GitHub release sources (github.h): which release of a
 * page each channel gets, which asset is the firmware, which version a tag
 * becomes, which API URLs and repository names are acceptable.
 */
#include "sources/github.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "core/util.h"

static const char *string_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool true_field(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

void github_ascii_safe(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

/* Copies TEXT into OUT cut to SIZE - 1 bytes (never fails; for messages and over-long tags). */
static void copy_cut(char *out, size_t size, const char *text)
{
    size_t n = strlen(text);
    if (n >= size)
        n = size - 1;
    memcpy(out, text, n);
    out[n] = 0;
}

int github_tag_version(const char *tag, char *out, size_t size)
{
    if (!tag || !*tag)
        return -EINVAL;
    const char *p = tag;
    if ((p[0] == 'v' || p[0] == 'V') && p[1] >= '0' && p[1] <= '9')
        p++;
    size_t n = strlen(p);
    if (n > LIMIT_RELEASE_VERSION_BYTES || n >= size)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        out[i] = c <= 0x20 || c >= 0x7f || strchr("/\\?#%\"<>^`{}|[]", c) ? '-' : (char)c;
    }
    out[n] = 0;
    return 0;
}

/*
 * Finds the firmware among RELEASE's assets: fills PICK's asset and returns
 * READY, or NO_ASSET / AMBIGUOUS with a detail.
 */
static enum github_pick_status match_asset(const json_t *release, const char *glob,
                                           struct github_pick *pick)
{
    const json_t *assets = json_object_get(release, "assets");
    const char *first = NULL;
    size_t matches = 0, i;
    const json_t *a;
    json_array_foreach(assets, i, a)
    {
        const char *name = string_field(a, "name");
        const char *state = string_field(a, "state");
        const json_t *id = json_object_get(a, "id");
        const json_t *size = json_object_get(a, "size");
        if (!name || !json_is_integer(id) || !json_is_integer(size) ||
            json_integer_value(id) <= 0 || json_integer_value(size) < 0 ||
            strlen(name) > LIMIT_GITHUB_ASSET_NAME_BYTES)
            continue;
        if (state && strcmp(state, "uploaded") != 0)
            continue; /* an upload in progress is not there yet */
        if (fnmatch(glob, name, 0) != 0)
            continue;
        if (++matches == 1) {
            first = name;
            pick->asset.id = json_integer_value(id);
            str_copy(pick->asset.name, sizeof(pick->asset.name), name);
            pick->asset.size = (uint64_t)json_integer_value(size);
        } else if (matches == 2) {
            snprintf(pick->detail, sizeof(pick->detail),
                     "assets \"%.60s\" and \"%.60s\" both match \"%.40s\"", first, name, glob);
        }
    }
    if (matches == 0) {
        snprintf(pick->detail, sizeof(pick->detail), "no uploaded asset matches \"%.60s\" yet",
                 glob);
        return GITHUB_PICK_NO_ASSET;
    }
    if (matches > 1)
        return GITHUB_PICK_AMBIGUOUS;
    return GITHUB_PICK_READY;
}

static void pick_fill(const json_t *release, const char *tag, const char *channel,
                      const struct github_rules *rules, struct github_pick *pick)
{
    memset(pick, 0, sizeof(*pick));
    copy_cut(pick->tag, sizeof(pick->tag), tag);
    pick->channel = channel;
    pick->prerelease = true_field(release, "prerelease");
    pick->notes = string_field(release, "body");
    if (strlen(tag) > LIMIT_GITHUB_TAG_BYTES) {
        snprintf(pick->detail, sizeof(pick->detail), "tag \"%.40s...\" is longer than %u bytes",
                 tag, LIMIT_GITHUB_TAG_BYTES);
        pick->status = GITHUB_PICK_BAD_TAG;
    } else if (github_tag_version(tag, pick->version, sizeof(pick->version)) < 0) {
        snprintf(pick->detail, sizeof(pick->detail),
                 "tag \"%.60s\" does not fit a version of at most %u bytes", tag,
                 LIMIT_RELEASE_VERSION_BYTES);
        pick->status = GITHUB_PICK_BAD_TAG;
    } else {
        pick->status = match_asset(release, rules->asset_glob, pick);
    }
    github_ascii_safe(pick->detail);
}

int github_plan(const json_t *root, const struct github_rules *rules,
                struct github_pick picks[GITHUB_PICKS_MAX], size_t *ret_count, struct reason *why)
{
    size_t count = 0;
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    if (!json_is_array(root) && !json_is_object(root))
        return reason_set(why, -EBADMSG, "the API answered neither a release nor a list of them");
    for (size_t i = 0; i < n && count < GITHUB_PICKS_MAX; i++) {
        const json_t *release = json_is_array(root) ? json_array_get(root, i) : root;
        const char *tag = string_field(release, "tag_name");
        if (!tag || !*tag || true_field(release, "draft"))
            continue;
        const char *channel =
            true_field(release, "prerelease") ? rules->prerelease_channel : rules->default_channel;
        if (!channel || !*channel)
            continue;
        bool taken = false;
        for (size_t k = 0; k < count; k++)
            taken = taken || strcmp(picks[k].channel, channel) == 0;
        if (taken)
            continue; /* an older release of a channel already picked */
        pick_fill(release, tag, channel, rules, &picks[count++]);
    }
    *ret_count = count;
    return 0;
}

bool github_page_has_tag(const json_t *root, const char *tag)
{
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *release = json_is_array(root) ? json_array_get(root, i) : root;
        const char *t = string_field(release, "tag_name");
        if (t && strcmp(t, tag) == 0)
            return true;
    }
    return false;
}

bool github_url_is_http(const char *url)
{
    return strncmp(url, "http://", 7) == 0;
}

int github_api_url_check(const char *url, char *out, size_t size, struct reason *why)
{
    const char *host;
    bool http = false;
    if (strncmp(url, "https://", 8) == 0) {
        host = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        host = url + 7;
        http = true;
    } else {
        return reason_set(why, -EINVAL, "API URL \"%.80s\" must start with https://", url);
    }
    if (strpbrk(url, "?#@ \t\r\n"))
        return reason_set(why, -EINVAL,
                          "API URL \"%.80s\" must have no user, query, fragment or blanks", url);
    size_t host_len = strcspn(host, host[0] == '[' ? "]" : ":/");
    if (host[0] == '[')
        host_len++;
    if (host_len == 0 || (host[0] == '[' && host[host_len - 1] != ']'))
        return reason_set(why, -EINVAL, "API URL \"%.80s\" has no host", url);
    if (http) {
        static const char *const loopback[] = {"127.0.0.1", "localhost", "[::1]"};
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(loopback); i++)
            ok = ok ||
                 (strlen(loopback[i]) == host_len && strncmp(host, loopback[i], host_len) == 0);
        if (!ok)
            return reason_set(why, -EINVAL,
                              "API URL \"%.80s\": plain http only for a loopback host; use https",
                              url);
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= size || n > LIMIT_GITHUB_API_URL_BYTES)
        return reason_set(why, -EINVAL, "API URL longer than %u bytes", LIMIT_GITHUB_API_URL_BYTES);
    memcpy(out, url, n);
    out[n] = 0;
    return 0;
}

static bool owner_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int github_repository_parse(const char *text, char owner[LIMIT_GITHUB_OWNER_BYTES + 1],
                            char repo[LIMIT_GITHUB_REPO_BYTES + 1], struct reason *why)
{
    const char *slash = strchr(text, '/');
    size_t on = slash ? (size_t)(slash - text) : 0;
    const char *r = slash ? slash + 1 : "";
    size_t rn = strlen(r);
    bool ok = slash && on >= 1 && on <= LIMIT_GITHUB_OWNER_BYTES && text[0] != '-' && rn >= 1 &&
              rn <= LIMIT_GITHUB_REPO_BYTES && strcmp(r, ".") != 0 && strcmp(r, "..") != 0;
    for (size_t i = 0; ok && i < on; i++)
        ok = owner_char(text[i]);
    for (size_t i = 0; ok && i < rn; i++)
        ok = owner_char(r[i]) || r[i] == '.' || r[i] == '_';
    if (!ok)
        return reason_set(why, -EINVAL,
                          "repository \"%.80s\" is not OWNER/REPO as GitHub allows them", text);
    memcpy(owner, text, on);
    owner[on] = 0;
    memcpy(repo, r, rn + 1);
    return 0;
}
