/*
 * GitHub releases, the pure part: from the REST API's JSON (a page of
 * `releases`, or `releases/latest`) to what a source should ingest, with no
 * I/O, no clock and no allocation beyond jansson's, so every rule has a unit
 * test (tests/unit/sources/test_github.c). Downloading is fetch.c's job;
 * deciding when to ask is backoff.c's; the webhook is webhook.c's.
 *
 * The rules, per poll: drafts are never ingested; a release goes to the
 * product's default channel, a pre-release to the source's pre-release
 * channel (or nowhere when that is ""). Of each channel only the newest
 * release in the page counts (the API lists newest first): devices are
 * offered the newest of their channel anyway, and each older download would
 * cost a request from a budget of 60 an hour. The firmware is the one asset
 * whose name matches the source's glob and whose upload is complete; none is
 * "not yet" (CI often uploads after creating the release), two or more is a
 * refusal, never a guess: `assets[0]` is not necessarily the firmware.
 */
#ifndef OTAD_SOURCES_GITHUB_H
#define OTAD_SOURCES_GITHUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/reason.h"

#define GITHUB_API_URL_DEFAULT            "https://api.github.com"
#define GITHUB_ASSET_GLOB_DEFAULT         "firmware*.bin"
#define GITHUB_PRERELEASE_CHANNEL_DEFAULT "beta"

/* The asset a release offers for download. */
struct github_asset {
    int64_t id; /* names the API asset URL /repos/{o}/{r}/releases/assets/{id} */
    char name[LIMIT_GITHUB_ASSET_NAME_BYTES + 1];
    uint64_t size; /* what the API says; the download must be exactly this long */
};

enum github_pick_status {
    GITHUB_PICK_READY,     /* exactly one uploaded asset matches: download it */
    GITHUB_PICK_NO_ASSET,  /* no uploaded asset matches yet: wait (nothing recorded) */
    GITHUB_PICK_AMBIGUOUS, /* several assets match: refused */
    GITHUB_PICK_BAD_TAG,   /* the tag cannot become a version: refused */
};

/* The newest release of one channel, and what to do with it. */
struct github_pick {
    enum github_pick_status status;
    char tag[LIMIT_GITHUB_TAG_BYTES + 1];          /* as GitHub has it (cut if longer: BAD_TAG) */
    char version[LIMIT_RELEASE_VERSION_BYTES + 1]; /* READY, NO_ASSET, AMBIGUOUS */
    const char *channel;                           /* borrowed from the rules */
    bool prerelease;
    const char *notes;         /* the release body, borrowed from the JSON; NULL when none */
    struct github_asset asset; /* READY */
    char detail[192];          /* why, for every status but READY: one line, ASCII */
};

/* What a source wants from a page. All strings borrowed. */
struct github_rules {
    const char *asset_glob;         /* fnmatch pattern for the asset name */
    const char *default_channel;    /* releases go here */
    const char *prerelease_channel; /* pre-releases go here; "" = ignored */
};

#define GITHUB_PICKS_MAX 2 /* one per channel */

/*
 * Reads ROOT (a releases array, newest first, or one release object) by
 * RULES into PICKS, newest first, at most one per channel; *RET_COUNT says
 * how many. Releases without a string tag_name are skipped, as are assets
 * without an id, a name and a size. Returns 0, or -EBADMSG with WHY when
 * ROOT is neither an array nor an object.
 */
int github_plan(const json_t *root, const struct github_rules *rules,
                struct github_pick picks[GITHUB_PICKS_MAX], size_t *ret_count, struct reason *why);

/* True when ROOT (as for github_plan) lists a release, draft or not, whose tag is TAG. */
bool github_page_has_tag(const json_t *root, const char *tag);

/*
 * The version otad publishes for TAG: without a leading 'v' or 'V' when a
 * digit follows ("v1.2.3" is "1.2.3", the form a build flag carries), each
 * byte a version cannot hold (blanks, controls, non-ASCII,
 * / \ ? # % " < > ^ ` { } | [ ]) replaced by '-'. Tags that are not semantic
 * versions stay as they are and order by publish sequence. Writes OUT (SIZE
 * bytes) and returns 0, or -EINVAL for an empty tag, -ENAMETOOLONG when the
 * result exceeds LIMIT_RELEASE_VERSION_BYTES or SIZE.
 */
int github_tag_version(const char *tag, char *out, size_t size);

/*
 * Checks and normalizes a source's API base URL into OUT (SIZE bytes): an
 * https:// URL without user info, query or fragment, its trailing '/'
 * removed; http:// only for a loopback host (127.0.0.1, localhost, [::1]):
 * the token and the image must not cross a network in clear. Returns 0, or
 * -EINVAL with WHY.
 */
int github_api_url_check(const char *url, char *out, size_t size, struct reason *why);

/* True when URL starts with "http://" (a loopback test API: its storage may be http too). */
bool github_url_is_http(const char *url);

/*
 * Checks "owner/repo" as GitHub allows them (owner: 1-39 of [A-Za-z0-9-],
 * not starting with '-'; repo: 1-100 of [A-Za-z0-9._-], not "." or "..") and
 * splits it into OWNER and REPO (sized by the limits). Returns 0, or -EINVAL
 * with WHY.
 */
int github_repository_parse(const char *text, char owner[LIMIT_GITHUB_OWNER_BYTES + 1],
                            char repo[LIMIT_GITHUB_REPO_BYTES + 1], struct reason *why);

/* Replaces each byte of S that is not printable ASCII with '?' (for stored and logged text). */
void github_ascii_safe(char *s);

#endif
