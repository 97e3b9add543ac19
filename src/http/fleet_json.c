/* JSON shapes of fleet control (fleet_json.h). */
#include "http/fleet_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "service/present.h"

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char text[21];
    time_format_rfc3339(ms, text);
    return json_string(text);
}

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *percent(uint32_t bp)
{
    return json_real((double)bp / 100.0);
}

static json_t *mac_json(uint64_t mac)
{
    char text[18];
    mac_u64_format(mac, text);
    return json_string(text);
}

/* A window's hours as "HH:MM-HH:MM", or "always". */
static json_t *window_hours(const struct fleet_window *w)
{
    if (w->start_min == w->end_min)
        return json_string("always");
    char text[16];
    snprintf(text, sizeof(text), "%02u:%02u-%02u:%02u", w->start_min / 60u % 100u,
             w->start_min % 60u, w->end_min / 60u % 100u, w->end_min % 60u);
    return json_string(text);
}

json_t *fleet_json_plan(const struct rollout_plan *plan)
{
    /* The stored text form, so the JSON says exactly what the plan syntax would. */
    char text[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(plan, text, sizeof(text));
    json_t *obj = json_object();
    json_t *stages = json_array();
    for (unsigned i = 0; stages && i < plan->stage_count && i < FLEET_STAGES_MAX; i++)
        json_array_append_new(stages, percent(plan->stages_bp[i]));
    json_object_set_new(obj, "stages", stages);
    char *save = NULL;
    for (char *pair = strtok_r(text, ";", &save); obj && pair; pair = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq || strncmp(pair, "stages=", 7) == 0)
            continue;
        *eq = 0;
        const char *value = eq + 1;
        uint64_t n;
        /* Counts are numbers; durations, percentages and yes/no stay in the plan syntax. */
        if (strstr(pair, "percent") == NULL && parse_u64(value, UINT32_MAX, &n) == 0)
            json_object_set_new(obj, pair, json_integer((json_int_t)n));
        else if (strstr(pair, "percent"))
            json_object_set_new(obj, pair, json_real(strtod(value, NULL)));
        else
            json_object_set_new(obj, pair, json_string(value));
    }
    return obj;
}

json_t *fleet_json_product_fleet(const struct product_fleet *f)
{
    return json_pack("{s:b,s:b,s:I,s:b}", "channel_query", f->channel_query, "group_query",
                     f->group_query, "max_downloads", (json_int_t)f->max_downloads, "require_https",
                     f->require_https);
}

json_t *fleet_json_channel(const struct channel_view *v)
{
    const struct channel *c = &v->channel;
    return json_pack("{s:s,s:b,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o}", "name", c->name, "configured",
                     v->configured, "deploy", deploy_policy_name(c->deploy), "on_new",
                     supersede_policy_name(c->on_new), "plan", fleet_json_plan(&c->plan), "window",
                     window_hours(&c->window), "tz", c->window.tz[0] ? c->window.tz : "UTC",
                     "deployed", text_or_null(v->deployed), "latest", text_or_null(v->latest),
                     "active_rollout",
                     v->active_rollout_id ? json_integer(v->active_rollout_id) : json_null());
}

json_t *fleet_json_group(const struct group *g, const uint64_t *macs, size_t mac_count)
{
    json_t *obj = json_pack(
        "{s:s,s:s,s:s,s:o,s:i,s:o,s:o,s:I,s:o}", "name", g->name, "channel", g->channel, "match",
        group_match_name(g->match), "value", text_or_null(g->value), "priority", (int)g->priority,
        "window", g->has_window ? window_hours(&g->window) : json_null(), "tz",
        g->has_window ? json_string(g->window.tz[0] ? g->window.tz : "UTC") : json_null(),
        "mac_count", (json_int_t)mac_count, "created", time_or_null(g->created_ms));
    if (obj && macs) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < mac_count; i++)
            json_array_append_new(list, mac_json(macs[i]));
        json_object_set_new(obj, "macs", list);
    }
    return obj;
}

json_t *fleet_json_pin(const struct pin *p)
{
    bool hold = p->release_id == 0;
    return json_pack("{s:o,s:b,s:o,s:s,s:o,s:o}", "mac", mac_json(p->mac), "hold", hold, "version",
                     hold ? json_null() : json_string(p->version), "mode", fw_mode_name(p->mode),
                     "note", text_or_null(p->note), "created", time_or_null(p->created_ms));
}

static json_t *counts_json(const struct rollout_counts *c)
{
    json_t *obj = json_pack("{s:I,s:I}", "offered", (json_int_t)c->offered, "interruptions",
                            (json_int_t)c->interruptions);
    /* "offered" counts devices offered once; OUTCOME_OFFERED those whose body has not ended. */
    for (int o = 0; obj && o < OUTCOME_COUNT; o++)
        json_object_set_new(obj, o == OUTCOME_OFFERED ? "downloading" : device_outcome_name(o),
                            json_integer((json_int_t)c->by_outcome[o]));
    return obj;
}

json_t *fleet_json_rollout(const struct rollout_status *s)
{
    const struct rollout *r = &s->rollout;
    json_t *stages = json_array();
    for (unsigned i = 0; stages && i < r->plan.stage_count && i < FLEET_STAGES_MAX; i++) {
        json_t *one = counts_json(&s->stages[i]);
        json_object_set_new(one, "stage", json_integer(i + 1));
        json_object_set_new(one, "percent", percent(r->plan.stages_bp[i]));
        json_array_append_new(stages, one);
    }
    return json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:o,s:o,s:I,s:o,s:o,s:o,s:s,s:s,s:o,s:o,s:o}", "id",
        (json_int_t)r->id, "channel", r->channel, "version", r->version, "mode",
        fw_mode_name(r->mode), "kind", rollout_kind_name(r->kind), "state",
        rollout_state_name(r->state), "stage", (int)r->stage + 1, "stage_count",
        (int)r->plan.stage_count, "stage_percent",
        percent(r->stage < FLEET_STAGES_MAX ? r->plan.stages_bp[r->stage] : 0), "admitted_percent",
        percent(s->admitted_bp), "soak_left_s", (json_int_t)((s->soak_left_ms + 999) / 1000),
        "plan", fleet_json_plan(&r->plan), "counters", counts_json(&s->total), "per_stage",
        stages ? stages : json_array(), "reason", r->reason, "next", s->next, "actor",
        text_or_null(r->actor), "created", time_or_null(r->created_ms), "updated",
        time_or_null(r->updated_ms));
}

/* One line in words of what happened to the device (the history's "detail"). */
static void history_detail(const struct device_event *e, char *buf, size_t size)
{
    switch (e->kind) {
    case FLEET_EVENT_OFFER:
        snprintf(buf, size, "offered rollout %lld's release", (long long)e->rollout_id);
        break;
    case FLEET_EVENT_SERVED:
        snprintf(buf, size, "downloaded the image whole (rollout %lld)", (long long)e->rollout_id);
        break;
    case FLEET_EVENT_CUT:
        snprintf(buf, size, "download cut off (rollout %lld)", (long long)e->rollout_id);
        break;
    case FLEET_EVENT_OUTCOME:
        snprintf(buf, size, "%s: came back on %s (rollout %lld)", device_outcome_name(e->outcome),
                 e->version[0] ? e->version : "no version", (long long)e->rollout_id);
        break;
    default:
        snprintf(buf, size, "%s", fleet_event_kind_name(e->kind));
    }
}

static json_t *history_json(const struct device_event *e)
{
    char detail[160];
    history_detail(e, detail, sizeof(detail));
    return json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}", "detail", detail, "at", time_or_null(e->at_ms),
                     "event", fleet_event_kind_name(e->kind), "rollout",
                     e->rollout_id ? json_integer(e->rollout_id) : json_null(), "version",
                     text_or_null(e->version), "outcome",
                     e->kind == FLEET_EVENT_OUTCOME ? json_string(device_outcome_name(e->outcome))
                                                    : json_null());
}

static json_t *standing_json(const struct rollout_device *d)
{
    return json_pack("{s:I,s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:i}", "rollout", (json_int_t)d->rollout_id,
                     "stage", (int)d->stage + 1, "outcome", device_outcome_name(d->outcome),
                     "from_version", text_or_null(d->from_version), "offered",
                     time_or_null(d->offered_ms), "served", time_or_null(d->served_ms),
                     "outcome_at", time_or_null(d->outcome_ms), "deadline",
                     time_or_null(d->deadline_ms), "interruptions", (int)d->interruptions);
}

json_t *fleet_json_device(const struct device_why *d)
{
    char mac[18];
    mac_format(d->device.report.sta_mac, mac);
    json_t *history = json_array();
    for (size_t i = 0; history && i < d->history_count && i < FLEET_HISTORY_MAX; i++)
        json_array_append_new(history, history_json(&d->history[i]));
    bool in_rollout = d->rollout_id != 0;
    return json_pack(
        "{s:s,s:b,s:o,s:I,s:s,s:s,s:b,s:b,s:o,s:o,s:o,s:b,s:b,s:o,s:s,s:o,s:o}", "mac", mac,
        "known", d->known, "last_checkin", d->known ? present_device(&d->device) : json_null(),
        "interval_s", (json_int_t)(d->interval_ms / 1000), "channel", d->channel, "channel_rule",
        d->channel_rule, "pinned", d->pinned, "held", d->held, "rollout",
        in_rollout ? json_integer(d->rollout_id) : json_null(), "stage",
        in_rollout ? json_integer(d->stage + 1) : json_null(), "bucket",
        in_rollout ? json_integer(d->bucket) : json_null(), "admitted", d->admitted, "window_open",
        d->window_open, "target", text_or_null(d->target), "decision", d->decision, "standing",
        d->has_standing ? standing_json(&d->standing) : json_null(), "history",
        history ? history : json_array());
}

int fleet_json_plan_apply(struct rollout_plan *plan, const json_t *obj, struct reason *why)
{
    if (!json_is_object(obj))
        return reason_set(why, -EINVAL, "plan must be an object of plan keys (docs/FLEET.md)");
    /*
     * The object becomes the stored form, "key=value;...", read whole by
     * rollout_plan_parse: the keys may come in any order (a ramp longer than
     * the old soak is fine when the same plan lengthens the soak).
     */
    char all[ROLLOUT_PLAN_TEXT_BYTES * 2] = "";
    size_t all_used = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char text[ROLLOUT_PLAN_TEXT_BYTES] = "";
        size_t used = 0;
        if (json_is_string(v)) {
            if (str_copy(text, sizeof(text), json_string_value(v)) < 0)
                return reason_set(why, -EINVAL, "plan %s: value too long", key);
        } else if (json_is_integer(v)) {
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            snprintf(text, sizeof(text), "%g", json_real_value(v));
        } else if (json_is_boolean(v)) {
            snprintf(text, sizeof(text), "%s", json_is_true(v) ? "yes" : "no");
        } else if (json_is_array(v) && strcmp(key, "stages") == 0) {
            size_t i;
            json_t *stage;
            json_array_foreach(v, i, stage)
            {
                if (!json_is_number(stage) || used + 24 > sizeof(text))
                    return reason_set(why, -EINVAL, "plan stages: a list of percentages");
                used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%g", i ? "," : "",
                                         json_number_value(stage));
            }
        } else {
            return reason_set(why, -EINVAL, "plan %s: a string, a number or a boolean", key);
        }
        if (strpbrk(key, "=;") || strchr(text, ';'))
            return reason_set(why, -EINVAL, "plan %.32s: no '=' in a key, no ';' anywhere", key);
        int n = snprintf(all + all_used, sizeof(all) - all_used, "%s%s=%s", all_used ? ";" : "",
                         key, text);
        if (n < 0 || (size_t)n >= sizeof(all) - all_used)
            return reason_set(why, -EINVAL, "plan: too long");
        all_used += (size_t)n;
    }
    return rollout_plan_parse(plan, all, why);
}

int fleet_plan_base(struct service *svc, const char *product, const char *channel,
                    const char *version, enum fw_mode mode, struct rollout_plan *ret,
                    struct reason *why)
{
    char name[LIMIT_CHANNEL_NAME_BYTES + 1] = "";
    if (channel) {
        str_copy(name, sizeof(name), channel);
    } else {
        struct release *list = NULL;
        size_t n = 0;
        int r = service_release_list(svc, product, &list, &n, why);
        if (r < 0)
            return r;
        for (size_t i = 0; i < n && !name[0]; i++)
            if (list[i].mode == mode && strcmp(list[i].version, version) == 0)
                str_copy(name, sizeof(name), list[i].channel);
        release_list_free(list, n);
        if (!name[0])
            return reason_set(why, -ENOENT, "%s has no %s release %s", product, fw_mode_name(mode),
                              version);
    }
    struct channel_view v;
    int r = service_channel_get(svc, product, name, &v, why);
    if (r == 0)
        *ret = v.channel.plan;
    return r;
}
