/*
 * The text forms of fleet control's types (model/fleet.h): the names of its
 * enumerations, a rollout plan as "key=value;..." (the one syntax of the
 * CLI, the API and the database column), a maintenance window's hours and
 * a MAC address as a 48-bit number. Parsers refuse with a reason naming
 * what is wrong and leave their output untouched; none of them allocates.
 */
#include "model/fleet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

/* The name at index I of NAMES (COUNT of them), or "unknown" past them. */
static const char *name_of(const char *const *names, unsigned count, unsigned i)
{
    return i < count ? names[i] : "unknown";
}

/* The index of S in NAMES into *RET; -EINVAL when it is none of them. */
static int parse_name(const char *const *names, unsigned count, const char *s, unsigned *ret)
{
    for (unsigned i = 0; s && i < count; i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -EINVAL;
}

static const char *const deploy_names[] = {"immediate", "rollout", "manual"};
static const char *const on_new_names[] = {"supersede", "queue"};
static const char *const match_names[GROUP_MATCH_COUNT] = {
    "macs", "mac-prefix", "query", "chip-size", "sdk", "core",
};
static const char *const state_names[ROLLOUT_STATE_COUNT] = {
    "running", "paused", "halted", "aborted", "completed", "superseded", "queued",
};
static const char *const kind_names[] = {"normal", "rollback", "revert"};
static const char *const outcome_names[OUTCOME_COUNT] = {
    "offered", "served", "interrupted", "succeeded", "failed", "silent",
};
static const char *const event_names[] = {"offer", "served", "cut", "outcome"};

const char *deploy_policy_name(enum deploy_policy p)
{
    return name_of(deploy_names, ARRAY_SIZE(deploy_names), (unsigned)p);
}

int deploy_policy_parse(const char *s, enum deploy_policy *ret)
{
    unsigned i;
    int err = parse_name(deploy_names, ARRAY_SIZE(deploy_names), s, &i);
    if (err == 0)
        *ret = (enum deploy_policy)i;
    return err;
}

const char *supersede_policy_name(enum supersede_policy p)
{
    return name_of(on_new_names, ARRAY_SIZE(on_new_names), (unsigned)p);
}

int supersede_policy_parse(const char *s, enum supersede_policy *ret)
{
    unsigned i;
    int err = parse_name(on_new_names, ARRAY_SIZE(on_new_names), s, &i);
    if (err == 0)
        *ret = (enum supersede_policy)i;
    return err;
}

const char *group_match_name(enum group_match m)
{
    return name_of(match_names, GROUP_MATCH_COUNT, (unsigned)m);
}

int group_match_parse(const char *s, enum group_match *ret)
{
    unsigned i;
    int err = parse_name(match_names, GROUP_MATCH_COUNT, s, &i);
    if (err == 0)
        *ret = (enum group_match)i;
    return err;
}

const char *rollout_state_name(enum rollout_state s)
{
    return name_of(state_names, ROLLOUT_STATE_COUNT, (unsigned)s);
}

const char *rollout_kind_name(enum rollout_kind k)
{
    return name_of(kind_names, ARRAY_SIZE(kind_names), (unsigned)k);
}

const char *device_outcome_name(enum device_outcome o)
{
    return name_of(outcome_names, OUTCOME_COUNT, (unsigned)o);
}

const char *fleet_event_kind_name(enum fleet_event_kind k)
{
    return name_of(event_names, ARRAY_SIZE(event_names), (unsigned)k);
}

bool rollout_state_active(enum rollout_state s)
{
    return s == ROLLOUT_RUNNING || s == ROLLOUT_PAUSED || s == ROLLOUT_HALTED;
}

void rollout_plan_default(struct rollout_plan *ret_plan)
{
    /* docs/FLEET.md, "Defaults, and why": keep the two in step. */
    *ret_plan = (struct rollout_plan){
        .stages_bp = {100, 1000, 5000, FLEET_BP_ALL},
        .stage_count = 4,
        .soak_s = 3600,
        .ramp_s = 900,
        .fail_max = 50,
        .fail_bp = 500,
        .fail_min_served = 20,
        .count_silent = true,
        .promote_min = 10,
        .promote_bp = 9000,
        .interval_s = 3600,
        .revert_on_halt = false,
    };
}

/* A percentage with up to two decimals ("1", "0.5", "12.25"), 0 to 100, in basis points. */
static int percent_parse(const char *s, uint16_t *ret_bp)
{
    unsigned whole = 0, frac = 0, digits = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 3)
            return -EINVAL;
        whole = whole * 10 + (unsigned)(*p - '0');
    }
    if (digits == 0)
        return -EINVAL;
    if (*p == '.') {
        unsigned decimals = 0;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (++decimals > 2)
                return -EINVAL;
            frac = frac * 10 + (unsigned)(*p - '0');
        }
        if (decimals == 0)
            return -EINVAL;
        if (decimals == 1)
            frac *= 10;
    }
    if (*p)
        return -EINVAL;
    unsigned bp = whole * 100 + frac;
    if (bp > FLEET_BP_ALL)
        return -ERANGE;
    *ret_bp = (uint16_t)bp;
    return 0;
}

/* BP as the shortest percentage that reads back the same ("1", "0.5", "12.25"). */
static void percent_format(unsigned bp, char *buf, size_t size)
{
    if (bp % 100 == 0)
        snprintf(buf, size, "%u", bp / 100);
    else if (bp % 10 == 0)
        snprintf(buf, size, "%u.%u", bp / 100, bp % 100 / 10);
    else
        snprintf(buf, size, "%u.%02u", bp / 100, bp % 100);
}

/* A duration "N", "Ns", "Nm", "Nh" or "Nd" (N whole) in seconds, at most LIMIT_PLAN_DURATION_S. */
static int duration_parse(const char *s, int64_t *ret_s)
{
    char digits[24];
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n >= sizeof(digits))
        return -EINVAL;
    uint64_t unit = 1;
    switch (s[n]) {
    case 0:
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -EINVAL;
    }
    if (s[n] && s[n + 1])
        return -EINVAL;
    memcpy(digits, s, n);
    digits[n] = 0;
    uint64_t v;
    int err = parse_u64(digits, LIMIT_PLAN_DURATION_S / unit, &v);
    if (err < 0)
        return err;
    *ret_s = (int64_t)(v * unit);
    return 0;
}

/* SECONDS in the largest unit that divides it ("0", "90s", "15m", "1h", "2d"). */
static void duration_format(int64_t seconds, char *buf, size_t size)
{
    static const struct {
        int64_t s;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    if (seconds == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(units); i++)
        if (seconds % units[i].s == 0) {
            snprintf(buf, size, "%lld%c", (long long)(seconds / units[i].s), units[i].unit);
            return;
        }
    snprintf(buf, size, "%llds", (long long)seconds);
}

/* "stages=..." : ascending percentages, each above 0, the last 100. */
static int stages_parse(const char *s, struct rollout_plan *plan, struct reason *why)
{
    uint16_t stages[FLEET_STAGES_MAX];
    unsigned count = 0;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        char item[16];
        if (count == FLEET_STAGES_MAX)
            return reason_set(why, -EINVAL, "stages: at most %u stages", FLEET_STAGES_MAX);
        if (n == 0 || n >= sizeof(item))
            return reason_set(why, -EINVAL, "stages: '%.40s' is not a list of percentages", s);
        memcpy(item, p, n);
        item[n] = 0;
        if (percent_parse(item, &stages[count]) < 0)
            return reason_set(why, -EINVAL,
                              "stages: '%s' is not a percentage from 0 to 100 with up to two "
                              "decimals",
                              item);
        if (stages[count] == 0)
            return reason_set(why, -EINVAL, "stages: a stage of 0 %% admits nobody");
        if (count > 0 && stages[count] <= stages[count - 1])
            return reason_set(why, -EINVAL, "stages: must be ascending ('%s' after a larger one)",
                              item);
        count++;
        if (!p[n])
            break;
        p += n + 1;
    }
    if (stages[count - 1] != FLEET_BP_ALL)
        return reason_set(why, -EINVAL, "stages: the last stage must be 100 %%");
    memset(plan->stages_bp, 0, sizeof(plan->stages_bp));
    memcpy(plan->stages_bp, stages, count * sizeof(stages[0]));
    plan->stage_count = count;
    return 0;
}

static int yes_no_parse(const char *key, const char *value, bool *ret, struct reason *why)
{
    if (strcmp(value, "yes") == 0)
        *ret = true;
    else if (strcmp(value, "no") == 0)
        *ret = false;
    else
        return reason_set(why, -EINVAL, "%s: '%.40s' is not yes or no", key, value);
    return 0;
}

static int count_parse(const char *key, const char *value, uint32_t *ret, struct reason *why)
{
    uint64_t v;
    if (parse_u64(value, UINT32_MAX, &v) < 0)
        return reason_set(why, -EINVAL, "%s: '%.40s' is not a whole number up to %u", key, value,
                          UINT32_MAX);
    *ret = (uint32_t)v;
    return 0;
}

static int plan_percent_parse(const char *key, const char *value, uint16_t *ret, struct reason *why)
{
    if (percent_parse(value, ret) < 0)
        return reason_set(why, -EINVAL,
                          "%s: '%.40s' is not a percentage from 0 to 100 with up to two decimals",
                          key, value);
    return 0;
}

static int plan_duration_parse(const char *key, const char *value, int64_t *ret, struct reason *why)
{
    if (duration_parse(value, ret) < 0)
        return reason_set(why, -EINVAL,
                          "%s: '%.40s' is not a duration (N, Ns, Nm, Nh or Nd, at most 366d)", key,
                          value);
    return 0;
}

/* Sets KEY of PLAN from VALUE without the check across fields (ramp <= soak). */
static int plan_set_field(struct rollout_plan *plan, const char *key, const char *value,
                          struct reason *why)
{
    if (strcmp(key, "stages") == 0)
        return stages_parse(value, plan, why);
    if (strcmp(key, "soak") == 0)
        return plan_duration_parse(key, value, &plan->soak_s, why);
    if (strcmp(key, "ramp") == 0)
        return plan_duration_parse(key, value, &plan->ramp_s, why);
    if (strcmp(key, "interval") == 0)
        return plan_duration_parse(key, value, &plan->interval_s, why);
    if (strcmp(key, "fail_max") == 0)
        return count_parse(key, value, &plan->fail_max, why);
    if (strcmp(key, "fail_percent") == 0)
        return plan_percent_parse(key, value, &plan->fail_bp, why);
    if (strcmp(key, "min_served") == 0)
        return count_parse(key, value, &plan->fail_min_served, why);
    if (strcmp(key, "count_silent") == 0)
        return yes_no_parse(key, value, &plan->count_silent, why);
    if (strcmp(key, "promote_min") == 0)
        return count_parse(key, value, &plan->promote_min, why);
    if (strcmp(key, "promote_percent") == 0)
        return plan_percent_parse(key, value, &plan->promote_bp, why);
    if (strcmp(key, "revert_on_halt") == 0)
        return yes_no_parse(key, value, &plan->revert_on_halt, why);
    return reason_set(why, -EINVAL,
                      "unknown plan setting '%.40s' (stages, soak, ramp, interval, fail_max, "
                      "fail_percent, min_served, count_silent, promote_min, promote_percent, "
                      "revert_on_halt)",
                      key);
}

static int plan_check(const struct rollout_plan *plan, struct reason *why)
{
    if (plan->ramp_s > plan->soak_s) {
        char ramp[24], soak[24];
        duration_format(plan->ramp_s, ramp, sizeof(ramp));
        duration_format(plan->soak_s, soak, sizeof(soak));
        return reason_set(why, -EINVAL, "ramp (%s) is longer than soak (%s)", ramp, soak);
    }
    return 0;
}

int rollout_plan_set(struct rollout_plan *plan, const char *key, const char *value,
                     struct reason *why)
{
    struct rollout_plan p = *plan;
    int err = plan_set_field(&p, key, value, why);
    if (err == 0)
        err = plan_check(&p, why);
    if (err == 0)
        *plan = p;
    return err;
}

int rollout_plan_parse(struct rollout_plan *plan, const char *text, struct reason *why)
{
    /* Every field first, the check across fields last: "ramp=2h;soak=3h" is fine in any order. */
    struct rollout_plan p = *plan;
    const char *s = text;
    while (*s) {
        size_t n = strcspn(s, ";");
        const char *eq = memchr(s, '=', n);
        char key[24], value[ROLLOUT_PLAN_TEXT_BYTES];
        if (n > 0) {
            if (!eq)
                return reason_set(why, -EINVAL, "plan: '%.*s' is not key=value",
                                  (int)(n < 40 ? n : 40), s);
            size_t kn = (size_t)(eq - s), vn = n - kn - 1;
            if (kn == 0 || kn >= sizeof(key))
                return reason_set(why, -EINVAL, "plan: '%.*s' is not a plan setting",
                                  (int)(kn < 40 ? kn : 40), s);
            if (vn >= sizeof(value))
                return reason_set(why, -EINVAL, "plan: the value of '%.*s' is too long", (int)kn,
                                  s);
            memcpy(key, s, kn);
            key[kn] = 0;
            memcpy(value, eq + 1, vn);
            value[vn] = 0;
            int err = plan_set_field(&p, key, value, why);
            if (err < 0)
                return err;
        }
        s += n;
        if (*s == ';')
            s++;
    }
    int err = plan_check(&p, why);
    if (err == 0)
        *plan = p;
    return err;
}

void rollout_plan_format(const struct rollout_plan *plan, char *buf, size_t size)
{
    char stages[FLEET_STAGES_MAX * 8] = "";
    size_t used = 0;
    for (unsigned i = 0; i < plan->stage_count && i < FLEET_STAGES_MAX; i++) {
        char one[8];
        percent_format(plan->stages_bp[i], one, sizeof(one));
        used += (size_t)snprintf(stages + used, sizeof(stages) - used, "%s%s", i ? "," : "", one);
    }
    char soak[24], ramp[24], interval[24], fail[8], promote[8];
    duration_format(plan->soak_s, soak, sizeof(soak));
    duration_format(plan->ramp_s, ramp, sizeof(ramp));
    duration_format(plan->interval_s, interval, sizeof(interval));
    percent_format(plan->fail_bp, fail, sizeof(fail));
    percent_format(plan->promote_bp, promote, sizeof(promote));
    snprintf(buf, size,
             "stages=%s;soak=%s;ramp=%s;interval=%s;fail_max=%u;fail_percent=%s;min_served=%u;"
             "count_silent=%s;promote_min=%u;promote_percent=%s;revert_on_halt=%s",
             stages, soak, ramp, interval, (unsigned)plan->fail_max, fail,
             (unsigned)plan->fail_min_served, plan->count_silent ? "yes" : "no",
             (unsigned)plan->promote_min, promote, plan->revert_on_halt ? "yes" : "no");
}

/* "HH:MM" at S into minutes after midnight; "24:00" only when END (the end of the day). */
static int clock_parse(const char *s, bool end, unsigned *ret_min)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -EINVAL;
    unsigned h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    unsigned m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (!end || m != 0)))
        return -EINVAL;
    *ret_min = h * 60 + m;
    return 0;
}

int fleet_window_parse_hours(const char *text, struct fleet_window *ret, struct reason *why)
{
    if (!*text || strcmp(text, "always") == 0) {
        ret->start_min = ret->end_min = 0;
        return 0;
    }
    unsigned start, end;
    if (strlen(text) != 11 || text[5] != '-' || clock_parse(text, false, &start) < 0 ||
        clock_parse(text + 6, true, &end) < 0)
        return reason_set(why, -EINVAL,
                          "window: '%.40s' is not HH:MM-HH:MM (24 h, end exclusive) or always",
                          text);
    if (start == end)
        return reason_set(why, -EINVAL, "window: '%s' is empty (for always open, say always)",
                          text);
    /* "22:00-24:00" ends at midnight: 0, as "22:00-00:00"; "00:00-24:00" is always open. */
    ret->start_min = (uint16_t)start;
    ret->end_min = (uint16_t)(end % (24 * 60));
    return 0;
}

void fleet_window_format(const struct fleet_window *w, char *buf, size_t size)
{
    if (w->start_min == w->end_min)
        snprintf(buf, size, "always");
    else
        snprintf(buf, size, "%02u:%02u-%02u:%02u %s", w->start_min / 60u, w->start_min % 60u,
                 w->end_min / 60u, w->end_min % 60u, w->tz[0] ? w->tz : "UTC");
}

int mac_text_parse(const char *text, uint64_t *ret_mac)
{
    /* Either five separators of one kind (':' or '-') between six pairs, or none at all. */
    size_t len = strlen(text);
    char sep = len == 17 ? text[2] : 0;
    if (!(len == 12 || (len == 17 && (sep == ':' || sep == '-'))))
        return -EINVAL;
    uint64_t mac = 0;
    const char *p = text;
    for (int i = 0; i < 6; i++) {
        if (i > 0 && sep && *p++ != sep)
            return -EINVAL;
        int hi = hex_digit_value(p[0]), lo = hi < 0 ? -1 : hex_digit_value(p[1]);
        if (lo < 0)
            return -EINVAL;
        mac = mac << 8 | (uint64_t)(hi << 4 | lo);
        p += 2;
    }
    *ret_mac = mac;
    return 0;
}

void mac_u64_format(uint64_t mac, char out[18])
{
    uint8_t bytes[6];
    mac_from_u64(mac, bytes);
    mac_format(bytes, out);
}

uint64_t mac_to_u64(const uint8_t mac[6])
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | mac[i];
    return v;
}

void mac_from_u64(uint64_t mac, uint8_t out[6])
{
    for (int i = 5; i >= 0; i--) {
        out[i] = (uint8_t)(mac & 0xff);
        mac >>= 8;
    }
}
