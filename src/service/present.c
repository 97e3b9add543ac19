/* JSON shapes of model types (present.h). Times are RFC 3339 UTC strings. */
#include "service/present.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "db/db.h"
#include "service/antirollback.h"
#include "service/compat.h"

static json_t *time_json(int64_t ms)
{
    if (!ms)
        return json_null();
    char text[21];
    time_format_rfc3339(ms, text);
    return json_string(text);
}

static json_t *string_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* "k1,k2" as ["k1", "k2"]; "" as []. */
static json_t *name_list(const char *names)
{
    json_t *list = json_array();
    for (const char *at = names; list && *at;) {
        size_t len = strcspn(at, ",");
        json_array_append_new(list, json_stringn(at, len));
        at += len + (at[len] == ',');
    }
    return list;
}

json_t *present_product(const struct product *p)
{
    const struct product_signing *s = &p->signing;
    return json_pack("{s:s,s:s,s:s,s:o,s:{s:b,s:o,s:b,s:b,s:s,s:o,s:o}}", "name", p->name,
                     "platform", platform_name(p->platform), "default_channel", p->default_channel,
                     "created", time_json(p->created_ms), "signing", "required", s->required, "key",
                     string_or_null(s->key), "legacy", s->legacy, "gzip", s->gzip, "esp32_hash",
                     s->esp32_hash[0] ? s->esp32_hash : "sha256", "core_min",
                     string_or_null(s->core_min), "secure_boot_keys",
                     name_list(s->secure_boot_keys));
}

void delivery_issue_fix_for(enum delivery_issue issue, const char *product_name, char *out,
                            size_t size)
{
    /* The fixes name the product as PRODUCT: one placeholder, at most once. */
    const char *fix = delivery_issue_fix(issue);
    const char *at = strstr(fix, "PRODUCT");
    if (at)
        snprintf(out, size, "%.*s%s%s", (int)(at - fix), fix, product_name, at + strlen("PRODUCT"));
    else
        snprintf(out, size, "%s", fix);
}

json_t *present_delivery_issues(const uint64_t counts[DELIVERY_ISSUE_COUNT],
                                const char *product_name)
{
    json_t *list = json_array();
    for (int i = 1; list && i < DELIVERY_ISSUE_COUNT; i++) {
        if (!counts[i])
            continue;
        char fix[512];
        delivery_issue_fix_for((enum delivery_issue)i, product_name, fix, sizeof(fix));
        json_array_append_new(list, json_pack("{s:s,s:I,s:s,s:s}", "code",
                                              delivery_issue_code((enum delivery_issue)i),
                                              "devices", (json_int_t)counts[i], "message",
                                              delivery_issue_message((enum delivery_issue)i), "fix",
                                              fix));
    }
    return list;
}

/*
 * Who published a release and from where. A release stored before otad kept
 * it reads as "unknown", with nothing else claimed.
 */
static json_t *published_json(const struct release *r)
{
    return json_pack(
        "{s:s,s:o,s:s,s:o,s:o}", "via", r->published_via[0] ? r->published_via : "unknown", "by",
        string_or_null(r->published_by), "from", r->source, "tag", string_or_null(r->published_tag),
        "source_id",
        r->published_source_id ? json_integer((json_int_t)r->published_source_id) : json_null());
}

/*
 * A release's app descriptor (docs/API.md, "Releases"), null without one.
 * Unbounded chip revisions (0) are null.
 */
static json_t *app_desc_json(const struct app_desc *app)
{
    if (!app->present)
        return json_null();
    const char *chip = esp_chip_name(app->chip_id);
    return json_pack("{s:s,s:s,s:b,s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "project", app->project,
                     "version", app->version, "framework", app->framework, "secure_version",
                     (json_int_t)app->secure_version, "idf_version", app->idf_version, "build_date",
                     app->build_date, "build_time", app->build_time, "elf_sha256", app->elf_sha256,
                     "chip", chip ? json_string(chip) : json_null(), "min_chip_rev",
                     app->min_chip_rev ? json_integer(app->min_chip_rev) : json_null(),
                     "max_chip_rev",
                     app->max_chip_rev ? json_integer(app->max_chip_rev) : json_null());
}

json_t *present_release(const struct release *r, const char *product_name)
{
    json_t *variants = json_array();
    for (unsigned i = 0; variants && i < r->variant_count; i++) {
        const struct variant *v = &r->variants[i];
        json_array_append_new(
            variants, json_pack("{s:s,s:I,s:s,s:s}", "kind", variant_kind_name(v->kind), "size",
                                (json_int_t)v->size, "md5", v->md5, "sha256", v->sha256));
    }
    return json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:I,s:s,s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
                     (json_int_t)r->id, "product", product_name, "version", r->version, "seq",
                     (json_int_t)r->seq, "channel", r->channel, "mode", fw_mode_name(r->mode),
                     "size", (json_int_t)r->size, "md5", r->md5, "sha256", r->sha256, "created",
                     time_json(r->created_ms), "source", r->source, "notes",
                     string_or_null(r->notes), "variants", variants ? variants : json_array(),
                     "signed_by", string_or_null(r->signed_by), "verifier_key",
                     string_or_null(r->verifier_key), "published", published_json(r), "app",
                     app_desc_json(&r->app));
}

static json_t *u64_or_null(bool has, uint64_t v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

json_t *present_device(const struct device_record *d)
{
    const struct device_report *rep = &d->report;
    char mac[18] = "", ap[18] = "";
    mac_format(rep->sta_mac, mac);
    if (rep->has_ap_mac)
        mac_format(rep->ap_mac, ap);
    const char *mode = rep->mode == REPORT_MODE_FS        ? "spiffs"
                       : rep->mode == REPORT_MODE_VERSION ? "version"
                                                          : "sketch";
    json_t *obj = json_pack(
        "{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:I,s:o,s:o}", "mac",
        mac, "ap_mac", string_or_null(ap), "chip_id", u64_or_null(rep->has_chip_id, rep->chip_id),
        "sdk_version", string_or_null(rep->sdk_version), "sketch_size",
        u64_or_null(rep->has_sketch_size, rep->sketch_size), "sketch_md5",
        string_or_null(rep->sketch_md5), "free_space",
        u64_or_null(rep->has_free_space, rep->free_space), "chip_size",
        u64_or_null(rep->has_chip_size, rep->chip_size), "version", string_or_null(rep->version),
        "mode", mode, "user_agent", string_or_null(rep->user_agent), "remote_addr",
        string_or_null(d->remote_addr), "first_seen", time_json(d->first_seen_ms), "last_seen",
        time_json(d->last_seen_ms), "last_status", d->last_status, "last_offered_version",
        string_or_null(d->last_offered), "last_key", string_or_null(d->last_key), "checkins",
        (json_int_t)d->checkins, "core_version", string_or_null(rep->core_version),
        "delivery_issue", d->issue ? json_string(delivery_issue_code(d->issue)) : json_null());
    /* docs/SECURITY.md, "Anti-rollback": the highest ever reported rules. */
    if (obj) {
        json_object_set_new(obj, "secure_version",
                            u64_or_null(rep->has_secure_version, rep->secure_version));
        json_object_set_new(obj, "secure_version_max",
                            u64_or_null(d->has_secure_version_max, d->secure_version_max));
    }
    return obj;
}

json_t *present_device_listed(const struct device_record *d, int64_t now_ms)
{
    json_t *obj = present_device(d);
    const char *answer = checkin_answer_name(d->last_status);
    json_object_set_new(obj, "channel", string_or_null(d->channel));
    json_object_set_new(obj, "group", string_or_null(d->group));
    json_object_set_new(obj, "outcome", answer ? json_string(answer) : json_null());
    json_object_set_new(obj, "quiet", json_boolean(device_quiet(d, now_ms)));
    json_object_set_new(obj, "interval_s", json_integer(d->interval_ms / 1000));
    return obj;
}

json_t *present_token(const struct token *t)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)t->id, "name", t->name, "scope",
                     token_scope_name(t->scope), "created", time_json(t->created_ms), "revoked",
                     time_json(t->revoked_ms));
}

json_t *present_session(const struct session_record *s)
{
    return json_pack("{s:I,s:I,s:s,s:s,s:o,s:o,s:s,s:s}", "id", (json_int_t)s->id, "token_id",
                     (json_int_t)s->token_id, "token_name", s->token_name, "scope",
                     token_scope_name(s->scope), "created", time_json(s->created_ms), "last_used",
                     time_json(s->last_used_ms), "address", s->address, "user_agent",
                     s->user_agent);
}

json_t *present_product_key(const struct product_key *k, const char *active_name)
{
    return json_pack("{s:s,s:s,s:o,s:b}", "name", k->name, "fingerprint", k->fingerprint, "added",
                     time_json(k->added_ms), "active", strcmp(k->name, active_name) == 0);
}

json_t *present_audit_entry(const struct audit_entry *e)
{
    json_t *params = e->params ? json_loads(e->params, 0, NULL) : NULL;
    if (!json_is_object(params)) {
        json_decref(params);
        params = json_object();
    }
    return json_pack("{s:I,s:o,s:I,s:{s:s,s:o,s:s,s:s},s:s,s:o,s:o,s:o,s:{s:b,s:o,s:o,s:o}}", "id",
                     (json_int_t)e->id, "at", time_json(e->at_ms), "at_ms", (json_int_t)e->at_ms,
                     "actor", "via", actor_via_name(e->actor.via), "token_id",
                     e->actor.token_id ? json_integer((json_int_t)e->actor.token_id) : json_null(),
                     "name", e->actor.name, "address", e->actor.address, "action", e->action,
                     "product", string_or_null(e->product), "object", string_or_null(e->object),
                     "params", params, "outcome", "ok", e->ok, "status",
                     e->status ? json_integer(e->status) : json_null(), "error",
                     string_or_null(e->error), "reason", string_or_null(e->reason));
}

json_t *present_secure_version_bump(const struct secure_version_bump *b)
{
    return json_pack("{s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:o,s:s}", "from", (json_int_t)b->from, "to",
                     (json_int_t)b->to, "chip", b->chip, "efuse_bits", (json_int_t)b->efuse_bits,
                     "bumps_left", (json_int_t)b->left, "bumps_left_after",
                     (json_int_t)b->left_after, "highest_release", (json_int_t)b->highest_release,
                     "highest_device",
                     b->devices_known ? json_integer((json_int_t)b->highest_device) : json_null(),
                     "warning", b->warning);
}
