/*
 * Fleet control on the data folder (docs/FLEET.md), through the same
 * service calls as the API (service/service_fleet.h), with "cli" as the
 * actor recorded with a rollout:
 *   otad channel list|show|set|reset     a channel's policy, plan and window
 *   otad group list|show|add|set|delete|add-macs|remove-macs
 *   otad pin set|hold|clear|list         one device, one release (or nothing new)
 *   otad rollout start|pause|resume|abort|promote|halt|revert|status|list|tick
 *   otad device show PRODUCT MAC         why a device gets what it gets
 *   otad product fleet PRODUCT ...       what devices may choose, the download cap
 *                                        (--download-cap: --max-downloads is the node's
 *                                        setting, taken anywhere on the command line)
 * A plan is given with flags (--stages 1,10,50,100 --soak 1h ...) or
 * --plan key=value (repeatable), read whole through rollout_plan_parse.
 * --json prints the API's shapes (http/fleet_json.h). A running server sees the
 * changes within a second, as with every local command.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/subcommands.h"
#include "core/util.h"
#include "http/fleet_json.h"
#include "service/service_fleet.h"

#define CLI_ACTOR "cli"

/* The plan flags, each one key of the plan syntax (docs/FLEET.md, "Plan syntax"). */
static const struct {
    const char *flag, *key;
} plan_flags[] = {
    {"--stages", "stages"},
    {"--soak", "soak"},
    {"--ramp", "ramp"},
    {"--interval", "interval"},
    {"--fail-max", "fail_max"},
    {"--fail-percent", "fail_percent"},
    {"--min-served", "min_served"},
    {"--count-silent", "count_silent"},
    {"--promote-min", "promote_min"},
    {"--promote-percent", "promote_percent"},
    {"--revert-on-halt", "revert_on_halt"},
};
#define PLAN_FLAG_COUNT ARRAY_SIZE(plan_flags)
/*
 * The options of every fleet subcommand: the named ones below, then
 * --plan, then the plan flags. One table; a subcommand reads what it takes.
 */
enum {
    OPT_JSON,
    OPT_DEPLOY,
    OPT_ON_NEW,
    OPT_WINDOW,
    OPT_TZ,
    OPT_CHANNEL,
    OPT_MACS,
    OPT_MAC_PREFIX,
    OPT_QUERY,
    OPT_CHIP_SIZE,
    OPT_SDK,
    OPT_CORE,
    OPT_PRIORITY,
    OPT_NO_WINDOW,
    OPT_MODE,
    OPT_NOTE,
    OPT_ROLLBACK,
    OPT_REASON,
    OPT_ACTIVE,
    OPT_CHANNEL_QUERY,
    OPT_GROUP_QUERY,
    OPT_MAX_DOWNLOADS,
    OPT_HTTPS,
    OPT_PLAN,
    OPT_PLAN_FIRST,
    OPT_COUNT = OPT_PLAN_FIRST + PLAN_FLAG_COUNT
};

struct fleet_args {
    struct args_option opts[OPT_COUNT];
    const char *pos[ARGS_MAX_POSITIONAL];
    unsigned npos;
    int argc;
    char **argv;
};

static int fleet_args_parse(int argc, char **argv, struct fleet_args *a)
{
    static const struct {
        const char *name;
        bool takes_value;
    } names[OPT_PLAN_FIRST] = {
        [OPT_JSON] = {"--json", false},
        [OPT_DEPLOY] = {"--deploy", true},
        [OPT_ON_NEW] = {"--on-new", true},
        [OPT_WINDOW] = {"--window", true},
        [OPT_TZ] = {"--tz", true},
        [OPT_CHANNEL] = {"--channel", true},
        [OPT_MACS] = {"--macs", true},
        [OPT_MAC_PREFIX] = {"--mac-prefix", true},
        [OPT_QUERY] = {"--query", true},
        [OPT_CHIP_SIZE] = {"--chip-size", true},
        [OPT_SDK] = {"--sdk", true},
        [OPT_CORE] = {"--core", true},
        [OPT_PRIORITY] = {"--priority", true},
        [OPT_NO_WINDOW] = {"--no-window", false},
        [OPT_MODE] = {"--mode", true},
        [OPT_NOTE] = {"--note", true},
        [OPT_ROLLBACK] = {"--rollback", false},
        [OPT_REASON] = {"--reason", true},
        [OPT_ACTIVE] = {"--active", false},
        [OPT_CHANNEL_QUERY] = {"--channel-query", true},
        [OPT_GROUP_QUERY] = {"--group-query", true},
        [OPT_MAX_DOWNLOADS] = {"--download-cap", true},
        [OPT_HTTPS] = {"--https", true},
        [OPT_PLAN] = {"--plan", true},
    };
    memset(a, 0, sizeof(*a));
    for (unsigned i = 0; i < OPT_PLAN_FIRST; i++)
        a->opts[i] = (struct args_option){names[i].name, names[i].takes_value, NULL};
    for (unsigned i = 0; i < PLAN_FLAG_COUNT; i++)
        a->opts[OPT_PLAN_FIRST + i] = (struct args_option){plan_flags[i].flag, true, NULL};
    a->argc = argc;
    a->argv = argv;
    return args_parse(argc, argv, a->opts, OPT_COUNT, a->pos, &a->npos);
}

static const char *opt(const struct fleet_args *a, unsigned i)
{
    return a->opts[i].value;
}

/* Whether any plan flag or --plan was given. */
static bool plan_given(const struct fleet_args *a)
{
    for (unsigned i = OPT_PLAN; i < OPT_COUNT; i++)
        if (a->opts[i].value)
            return true;
    return false;
}

/*
 * The options given, for the audit log (docs/AUDIT.md): every fleet option
 * is a setting, never a secret; --macs is kept as its count past a few.
 */
static json_t *given_options(const struct fleet_args *a, uint64_t mac_count)
{
    json_t *params = json_object();
    for (unsigned i = 0; params && i < OPT_COUNT; i++) {
        if (i == OPT_JSON || i == OPT_MACS || !a->opts[i].value)
            continue;
        json_object_set_new(params, a->opts[i].name + 2,
                            a->opts[i].takes_value ? json_string(a->opts[i].value) : json_true());
    }
    if (params && mac_count)
        json_object_set_new(params, "mac_count", json_integer((json_int_t)mac_count));
    return params;
}

/* Appends KEY=VALUE to the plan text ALL (USED bytes so far). -EINVAL with WHY. */
static int plan_text_add(char *all, size_t size, size_t *used, const char *key, const char *value,
                         struct reason *why)
{
    if (strchr(key, ';') || strchr(value, ';'))
        return reason_set(why, -EINVAL, "plan %.32s: no ';' in a key or a value", key);
    int n = snprintf(all + *used, size - *used, "%s%s=%s", *used ? ";" : "", key, value);
    if (n < 0 || (size_t)n >= size - *used)
        return reason_set(why, -EINVAL, "plan: too long");
    *used += (size_t)n;
    return 0;
}

/*
 * Applies the plan flags, then every --plan key=value, over PLAN, read
 * whole as the stored form (rollout_plan_parse), as the API reads a plan:
 * the keys may come in any order, so "--soak 5s --ramp 0" is fine over a
 * 15 min ramp. -EINVAL with WHY.
 */
static int plan_apply(const struct fleet_args *a, struct rollout_plan *plan, struct reason *why)
{
    char all[ROLLOUT_PLAN_TEXT_BYTES * 2] = "";
    size_t used = 0;
    for (unsigned i = 0; i < PLAN_FLAG_COUNT; i++) {
        const char *v = opt(a, OPT_PLAN_FIRST + i);
        int r = v ? plan_text_add(all, sizeof(all), &used, plan_flags[i].key, v, why) : 0;
        if (r < 0)
            return r;
    }
    const char *pairs[ARGS_MAX_POSITIONAL * 2];
    unsigned n = args_values(a->argc, a->argv, "--plan", pairs, ARRAY_SIZE(pairs));
    if (n > ARRAY_SIZE(pairs))
        return reason_set(why, -EINVAL, "--plan at most %zu times", ARRAY_SIZE(pairs));
    for (unsigned i = 0; i < n; i++) {
        char key[32];
        const char *eq = strchr(pairs[i], '=');
        if (!eq || (size_t)(eq - pairs[i]) >= sizeof(key))
            return reason_set(why, -EINVAL, "--plan takes key=value, not \"%s\"", pairs[i]);
        memcpy(key, pairs[i], (size_t)(eq - pairs[i]));
        key[eq - pairs[i]] = 0;
        int r = plan_text_add(all, sizeof(all), &used, key, eq + 1, why);
        if (r < 0)
            return r;
    }
    return rollout_plan_parse(plan, all, why);
}

/* --window HH:MM-HH:MM|always and --tz ZONE over W; whether either was given in *RET_GIVEN. */
static int window_apply(const struct fleet_args *a, struct fleet_window *w, bool *ret_given,
                        struct reason *why)
{
    *ret_given = opt(a, OPT_WINDOW) || opt(a, OPT_TZ);
    int r = opt(a, OPT_WINDOW) ? fleet_window_parse_hours(opt(a, OPT_WINDOW), w, why) : 0;
    if (r == 0 && opt(a, OPT_TZ) && str_copy(w->tz, sizeof(w->tz), opt(a, OPT_TZ)) < 0)
        r = reason_set(why, -EINVAL, "time zone names are up to %u bytes", FLEET_TZ_BYTES);
    return r;
}

/* Runs the MAC text list TEXT ("18:FE:34:00:00:01,18:FE:...") into MACS[*N...], at most MAX. */
static int macs_append(const char *text, uint64_t *macs, size_t *n, size_t max, struct reason *why)
{
    char item[40];
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ", ");
        if (len && len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = 0;
        }
        if (len && (len >= sizeof(item) || mac_text_parse(item, &macs[*n]) < 0))
            return reason_set(why, -EINVAL, "\"%.*s\" is not a MAC like 18:FE:34:00:00:01",
                              (int)(len < 40 ? len : 40), p);
        if (len && ++*n == max)
            return reason_set(why, -EINVAL, "at most %zu MACs at once", max);
        p += len;
        p += *p ? 1 : 0;
    }
    return 0;
}

static void print_json_or_refuse(json_t *j)
{
    if (j)
        cli_print_json(j);
    else
        fprintf(stderr, "otad: out of memory\n");
}

/* --- channels --- */

static void print_channel(const struct channel_view *v, bool full)
{
    const struct channel *c = &v->channel;
    char window[FLEET_TZ_BYTES + 24];
    fleet_window_format(&c->window, window, sizeof(window));
    printf("%-16s deploy %-9s on new %-9s deployed %-12s latest %-12s window %s", c->name,
           deploy_policy_name(c->deploy), supersede_policy_name(c->on_new),
           v->deployed[0] ? v->deployed : "-", v->latest[0] ? v->latest : "-", window);
    if (v->active_rollout_id)
        printf("  rollout %lld", (long long)v->active_rollout_id);
    printf("%s\n", v->configured ? "" : "  (defaults)");
    if (full) {
        char plan[ROLLOUT_PLAN_TEXT_BYTES];
        rollout_plan_format(&c->plan, plan, sizeof(plan));
        printf("  plan %s\n", plan);
    }
}

static int channel_cmd(const struct config *config, const struct fleet_args *a)
{
    const char *sub = a->pos[0];
    bool list = strcmp(sub, "list") == 0 && a->npos == 2;
    bool show = strcmp(sub, "show") == 0 && a->npos == 3;
    bool set = strcmp(sub, "set") == 0 && a->npos == 3;
    bool reset = strcmp(sub, "reset") == 0 && a->npos == 3;
    if (!list && !show && !set && !reset)
        return -1;
    const char *product = a->pos[1], *name = a->npos > 2 ? a->pos[2] : NULL;
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    int r = 0;
    if (list) {
        struct channel_view *views = NULL;
        size_t n = 0;
        r = service_channel_list(svc, product, &views, &n, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        if (opt(a, OPT_JSON)) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, fleet_json_channel(&views[i]));
            print_json_or_refuse(json_pack("{s:o}", "channels", arr));
        } else {
            for (size_t i = 0; i < n; i++)
                print_channel(&views[i], false);
        }
        free(views);
        return CLI_EXIT_OK;
    }
    struct channel_view v;
    if (reset)
        r = service_channel_reset(svc, product, name, &why);
    if (r == 0)
        r = service_channel_get(svc, product, name, &v, &why);
    if (r == 0 && set) {
        struct channel c = v.channel;
        bool window_given;
        if (opt(a, OPT_DEPLOY) && deploy_policy_parse(opt(a, OPT_DEPLOY), &c.deploy) < 0)
            r = reason_set(&why, -EINVAL, "--deploy takes immediate, rollout or manual");
        if (r == 0 && opt(a, OPT_ON_NEW) &&
            supersede_policy_parse(opt(a, OPT_ON_NEW), &c.on_new) < 0)
            r = reason_set(&why, -EINVAL, "--on-new takes supersede or queue");
        if (r == 0)
            r = plan_apply(a, &c.plan, &why);
        if (r == 0)
            r = window_apply(a, &c.window, &window_given, &why);
        if (r == 0)
            r = service_channel_set(svc, product, &c, &why);
        if (r == 0)
            r = service_channel_get(svc, product, name, &v, &why);
    }
    if (set || reset)
        cli_audit(svc, set ? "channel.put" : "channel.reset", product, name, given_options(a, 0), r,
                  &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    if (opt(a, OPT_JSON))
        print_json_or_refuse(json_pack("{s:o}", "channel", fleet_json_channel(&v)));
    else
        print_channel(&v, true);
    return CLI_EXIT_OK;
}

/* --- groups --- */

static void print_group(const struct group *g, uint64_t mac_count)
{
    printf("%-16s -> %-12s %-10s ", g->name, g->channel, group_match_name(g->match));
    if (g->match == GROUP_MATCH_MACS)
        printf("%llu MAC%s", (unsigned long long)mac_count, mac_count == 1 ? "" : "s");
    else
        printf("%s", g->value);
    printf("  priority %d", (int)g->priority);
    if (g->has_window) {
        char window[FLEET_TZ_BYTES + 24];
        fleet_window_format(&g->window, window, sizeof(window));
        printf("  window %s", window);
    }
    printf("\n");
}

/* The match flag given (--macs, --mac-prefix, --query, ...) into G; -EINVAL for two of them. */
static int group_match_apply(const struct fleet_args *a, struct group *g, bool adding,
                             struct reason *why)
{
    static const struct {
        unsigned opt;
        enum group_match match;
    } kinds[] = {
        {OPT_MAC_PREFIX, GROUP_MATCH_MAC_PREFIX},
        {OPT_QUERY, GROUP_MATCH_QUERY},
        {OPT_CHIP_SIZE, GROUP_MATCH_CHIP_SIZE},
        {OPT_SDK, GROUP_MATCH_SDK},
        {OPT_CORE, GROUP_MATCH_CORE},
    };
    unsigned given = adding && opt(a, OPT_MACS) ? 1 : 0;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        const char *v = opt(a, kinds[i].opt);
        if (!v)
            continue;
        given++;
        g->match = kinds[i].match;
        if (str_copy(g->value, sizeof(g->value), v) < 0)
            return reason_set(why, -EINVAL, "a match value is up to %u bytes", FLEET_MATCH_BYTES);
    }
    if (given > 1)
        return reason_set(why, -EINVAL,
                          "a group matches one way: --macs, --mac-prefix, --query, --chip-size, "
                          "--sdk or --core");
    if (adding && opt(a, OPT_MACS)) {
        g->match = GROUP_MATCH_MACS;
        g->value[0] = 0;
    }
    return 0;
}

/* The common settings of group add and set over G. */
static int group_settings(const struct fleet_args *a, struct group *g, bool adding,
                          struct reason *why)
{
    int r = group_match_apply(a, g, adding, why);
    if (r == 0 && opt(a, OPT_CHANNEL) &&
        str_copy(g->channel, sizeof(g->channel), opt(a, OPT_CHANNEL)) < 0)
        r = reason_set(why, -EINVAL, "channel names are up to %u bytes", LIMIT_CHANNEL_NAME_BYTES);
    if (r == 0 && opt(a, OPT_PRIORITY)) {
        char *end = NULL;
        long p = strtol(opt(a, OPT_PRIORITY), &end, 10);
        if (!*opt(a, OPT_PRIORITY) || *end || p < INT32_MIN || p > INT32_MAX)
            r = reason_set(why, -EINVAL, "--priority takes a whole number");
        g->priority = (int32_t)p;
    }
    bool window_given = false;
    if (r == 0)
        r = window_apply(a, &g->window, &window_given, why);
    if (window_given)
        g->has_window = true;
    if (opt(a, OPT_NO_WINDOW)) {
        g->has_window = false;
        memset(&g->window, 0, sizeof(g->window));
    }
    return r;
}

/* Every MAC of --macs and of the positional arguments from FIRST; free() *RET. */
static int group_macs_of(const struct fleet_args *a, unsigned first, uint64_t **ret, size_t *ret_n,
                         struct reason *why)
{
    uint64_t *macs = calloc(LIMIT_GROUP_MACS_PER_CALL, sizeof(*macs));
    size_t n = 0;
    if (!macs)
        return reason_set(why, -ENOMEM, "out of memory");
    const char *lists[ARGS_MAX_POSITIONAL * 2];
    unsigned nl = args_values(a->argc, a->argv, "--macs", lists, ARRAY_SIZE(lists));
    int r = nl > ARRAY_SIZE(lists) ? reason_set(why, -EINVAL, "--macs given too often") : 0;
    for (unsigned i = 0; r == 0 && i < nl; i++)
        r = macs_append(lists[i], macs, &n, LIMIT_GROUP_MACS_PER_CALL, why);
    for (unsigned i = first; r == 0 && i < a->npos; i++)
        r = macs_append(a->pos[i], macs, &n, LIMIT_GROUP_MACS_PER_CALL, why);
    if (r < 0) {
        free(macs);
        return r;
    }
    *ret = macs;
    *ret_n = n;
    return 0;
}

static int group_cmd(const struct config *config, const struct fleet_args *a)
{
    const char *sub = a->pos[0];
    bool list = strcmp(sub, "list") == 0 && a->npos == 2;
    bool show = strcmp(sub, "show") == 0 && a->npos == 3;
    bool add = strcmp(sub, "add") == 0 && a->npos == 3;
    bool set = strcmp(sub, "set") == 0 && a->npos == 3;
    bool del = strcmp(sub, "delete") == 0 && a->npos == 3;
    bool add_macs = strcmp(sub, "add-macs") == 0 && a->npos >= 3;
    bool remove_macs = strcmp(sub, "remove-macs") == 0 && a->npos >= 3;
    if (!list && !show && !add && !set && !del && !add_macs && !remove_macs)
        return -1;
    if (add && !opt(a, OPT_CHANNEL)) {
        fprintf(stderr, "otad: group add needs --channel\n");
        return CLI_EXIT_USAGE;
    }
    const char *product = a->pos[1], *name = a->npos > 2 ? a->pos[2] : NULL;
    struct reason why = {""};
    uint64_t *macs = NULL;
    size_t nmacs = 0;
    int r = 0;
    if ((add || add_macs || remove_macs) &&
        (r = group_macs_of(a, add ? 3 : 3, &macs, &nmacs, &why)) < 0)
        return cli_refused(&why, r);
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK) {
        free(macs);
        return CLI_EXIT_FAILURE;
    }
    if (list) {
        struct group *groups = NULL;
        uint64_t *counts = NULL;
        size_t n = 0;
        r = service_group_list(svc, product, &groups, &counts, &n, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        json_t *arr = opt(a, OPT_JSON) ? json_array() : NULL;
        for (size_t i = 0; i < n; i++) {
            if (arr)
                json_array_append_new(arr, fleet_json_group(&groups[i], NULL, counts[i]));
            else
                print_group(&groups[i], counts[i]);
        }
        if (arr)
            print_json_or_refuse(json_pack("{s:o}", "groups", arr));
        free(groups);
        free(counts);
        return CLI_EXIT_OK;
    }
    struct group g = {.match = GROUP_MATCH_MACS};
    if (add) {
        str_copy(g.name, sizeof(g.name), name);
        r = group_settings(a, &g, true, &why);
        if (r == 0 && nmacs && g.match != GROUP_MATCH_MACS)
            r = reason_set(&why, -EINVAL, "only a MAC-list group takes MACs");
        if (r == 0)
            r = service_group_add(svc, product, &g, &why);
        if (r == 0 && nmacs &&
            (r = service_group_macs(svc, product, name, macs, nmacs, true, &why)) < 0) {
            struct reason ignored = {""};
            service_group_delete(svc, product, name, &ignored); /* all or nothing */
        }
    } else if (set) {
        r = service_group_get(svc, product, name, &g, NULL, NULL, &why);
        if (r == 0 && opt(a, OPT_MACS))
            r = reason_set(&why, -EINVAL, "MACs change with group add-macs or remove-macs");
        if (r == 0)
            r = group_settings(a, &g, false, &why);
        if (r == 0)
            r = service_group_update(svc, product, &g, &why);
    } else if (del) {
        r = service_group_delete(svc, product, name, &why);
        cli_audit(svc, "group.delete", product, name, NULL, r, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        printf("group %s of %s deleted\n", name, product);
        return CLI_EXIT_OK;
    } else if (add_macs || remove_macs) {
        r = nmacs ? 0
                  : reason_set(&why, -EINVAL, "name the MACs: a list like 18:FE:34:00:00:01,...");
        if (r == 0)
            r = service_group_macs(svc, product, name, macs, nmacs, add_macs, &why);
    }
    if (!show)
        cli_audit(svc,
                  add        ? "group.create"
                  : set      ? "group.update"
                  : add_macs ? "group.macs.add"
                             : "group.macs.remove",
                  product, name, given_options(a, nmacs), r, &why);
    free(macs);
    macs = NULL;
    nmacs = 0;
    if (r == 0)
        r = service_group_get(svc, product, name, &g, &macs, &nmacs, &why);
    cli_close_service(config, svc);
    if (r < 0) {
        free(macs);
        return cli_refused(&why, r);
    }
    if (opt(a, OPT_JSON)) {
        print_json_or_refuse(
            json_pack("{s:o}", "group", fleet_json_group(&g, macs ? macs : &(uint64_t){0}, nmacs)));
    } else {
        print_group(&g, nmacs);
        for (size_t i = 0; show && i < nmacs; i++) {
            char m[18];
            mac_u64_format(macs[i], m);
            printf("  %s\n", m);
        }
    }
    free(macs);
    return CLI_EXIT_OK;
}

/* --- pins --- */

static void print_pin(const struct pin *p)
{
    char m[18];
    mac_u64_format(p->mac, m);
    if (p->release_id)
        printf("%s  pinned to %s (%s)", m, p->version, fw_mode_name(p->mode));
    else
        printf("%s  held", m);
    printf("%s%s\n", p->note[0] ? "  " : "", p->note);
}

static int pin_cmd(const struct config *config, const struct fleet_args *a)
{
    const char *sub = a->pos[0];
    bool set = strcmp(sub, "set") == 0 && a->npos == 4;
    bool hold = strcmp(sub, "hold") == 0 && a->npos == 3;
    bool clear = strcmp(sub, "clear") == 0 && a->npos == 3;
    bool list = strcmp(sub, "list") == 0 && a->npos == 2;
    if (!set && !hold && !clear && !list)
        return -1;
    const char *product = a->pos[1];
    uint64_t mac = 0;
    enum fw_mode mode = FW_MODE_SKETCH;
    if (!list && mac_text_parse(a->pos[2], &mac) < 0) {
        fprintf(stderr, "otad: \"%s\" is not a MAC like 18:FE:34:00:00:01\n", a->pos[2]);
        return CLI_EXIT_USAGE;
    }
    if (opt(a, OPT_MODE) && fw_mode_parse(opt(a, OPT_MODE), &mode) < 0) {
        fprintf(stderr, "otad: --mode must be sketch or fs\n");
        return CLI_EXIT_USAGE;
    }
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    int r;
    if (list) {
        struct pin *pins = NULL;
        size_t n = 0;
        r = service_pin_list(svc, product, &pins, &n, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        json_t *arr = opt(a, OPT_JSON) ? json_array() : NULL;
        for (size_t i = 0; i < n; i++) {
            if (arr)
                json_array_append_new(arr, fleet_json_pin(&pins[i]));
            else
                print_pin(&pins[i]);
        }
        if (arr)
            print_json_or_refuse(json_pack("{s:o}", "pins", arr));
        free(pins);
        return CLI_EXIT_OK;
    }
    if (clear)
        r = service_pin_clear(svc, product, mac, &why);
    else
        r = service_pin_set(svc, product, mac, set ? a->pos[3] : NULL, mode, opt(a, OPT_NOTE),
                            &why);
    json_t *params = given_options(a, 0);
    if (set)
        json_object_set_new(params, "version", json_string(a->pos[3]));
    else if (hold)
        json_object_set_new(params, "hold", json_true());
    cli_audit(svc, clear ? "pin.delete" : "pin.put", product, a->pos[2], params, r, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    char m[18];
    mac_u64_format(mac, m);
    if (clear)
        printf("%s of %s: pin or hold cleared\n", m, product);
    else if (set)
        printf("%s of %s pinned to %s (%s)\n", m, product, a->pos[3], fw_mode_name(mode));
    else
        printf("%s of %s held: it is offered nothing\n", m, product);
    return CLI_EXIT_OK;
}

/* --- rollouts --- */

static void print_counts(const char *label, const struct rollout_counts *c)
{
    printf("  %-10s offered %llu, served %llu, succeeded %llu, failed %llu, silent %llu, "
           "interrupted %llu\n",
           label, (unsigned long long)c->offered, (unsigned long long)c->by_outcome[OUTCOME_SERVED],
           (unsigned long long)c->by_outcome[OUTCOME_SUCCEEDED],
           (unsigned long long)c->by_outcome[OUTCOME_FAILED],
           (unsigned long long)c->by_outcome[OUTCOME_SILENT], (unsigned long long)c->interruptions);
}

static void print_rollout(const struct rollout_status *s, bool full)
{
    const struct rollout *r = &s->rollout;
    printf("%-4lld %-10s %-12s on %-10s %-9s stage %u/%u, %.2f%% admitted", (long long)r->id,
           rollout_kind_name(r->kind), r->version, r->channel, rollout_state_name(r->state),
           r->stage + 1, r->plan.stage_count, s->admitted_bp / 100.0);
    if (s->soak_left_ms)
        printf(", soak %llds left", (long long)((s->soak_left_ms + 999) / 1000));
    printf("\n");
    if (!full)
        return;
    char plan[ROLLOUT_PLAN_TEXT_BYTES], when[21];
    rollout_plan_format(&r->plan, plan, sizeof(plan));
    time_format_rfc3339(r->created_ms, when);
    printf("  started %s by %s\n  plan %s\n", when, r->actor, plan);
    if (r->reason[0])
        printf("  reason %s\n", r->reason);
    printf("  next   %s\n", s->next);
    print_counts("total", &s->total);
    for (unsigned i = 0; i < r->plan.stage_count && i < FLEET_STAGES_MAX; i++) {
        char label[16];
        snprintf(label, sizeof(label), "stage %u", i + 1);
        print_counts(label, &s->stages[i]);
    }
}

/* ID as a rollout id; -EINVAL with a message when it is not one. */
static int rollout_id_parse(const char *text, int64_t *ret)
{
    uint64_t v;
    if (parse_u64(text, INT64_MAX, &v) < 0 || v == 0) {
        fprintf(stderr, "otad: rollout id \"%s\" is not a number\n", text);
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

static int rollout_cmd(const struct config *config, const struct fleet_args *a)
{
    const char *sub = a->pos[0];
    enum rollout_action action;
    bool start = strcmp(sub, "start") == 0 && a->npos == 3;
    bool act = rollout_action_parse(sub, &action) == 0 && a->npos == 3;
    bool status = strcmp(sub, "status") == 0 && a->npos == 3;
    bool list = strcmp(sub, "list") == 0 && a->npos == 2;
    bool tick = strcmp(sub, "tick") == 0 && a->npos == 1;
    if (!start && !act && !status && !list && !tick)
        return -1;
    const char *product = a->npos > 1 ? a->pos[1] : NULL;
    int64_t id = 0;
    if ((act || status) && rollout_id_parse(a->pos[2], &id) < 0)
        return CLI_EXIT_USAGE;
    struct rollout_request req = {
        .product = product,
        .version = start ? a->pos[2] : NULL,
        .mode = FW_MODE_SKETCH,
        .channel = opt(a, OPT_CHANNEL),
        .rollback = opt(a, OPT_ROLLBACK) != NULL,
        .actor = CLI_ACTOR,
    };
    if (opt(a, OPT_MODE) && fw_mode_parse(opt(a, OPT_MODE), &req.mode) < 0) {
        fprintf(stderr, "otad: --mode must be sketch or fs\n");
        return CLI_EXIT_USAGE;
    }
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    int r = 0;
    if (tick) {
        r = service_fleet_tick(svc);
        cli_audit(svc, "rollout.tick", NULL, NULL, NULL, r, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        printf("rollouts: the controller ran once\n");
        return CLI_EXIT_OK;
    }
    if (list) {
        struct rollout_status *rows = NULL;
        size_t n = 0;
        r = service_rollout_list(svc, product, opt(a, OPT_ACTIVE) != NULL, &rows, &n, &why);
        cli_close_service(config, svc);
        if (r < 0)
            return cli_refused(&why, r);
        json_t *arr = opt(a, OPT_JSON) ? json_array() : NULL;
        for (size_t i = 0; i < n; i++) {
            if (arr)
                json_array_append_new(arr, fleet_json_rollout(&rows[i]));
            else
                print_rollout(&rows[i], false);
        }
        if (arr)
            print_json_or_refuse(json_pack("{s:o}", "rollouts", arr));
        free(rows);
        return CLI_EXIT_OK;
    }
    struct rollout after;
    if (start) {
        struct rollout_plan plan;
        if (plan_given(a) && (r = fleet_plan_base(svc, product, req.channel, req.version, req.mode,
                                                  &plan, &why)) == 0)
            r = plan_apply(a, &plan, &why);
        req.plan = plan_given(a) ? &plan : NULL;
        if (r == 0)
            r = service_rollout_start(svc, &req, &after, &why);
    } else if (act) {
        r = service_rollout_act(svc, product, id, action, CLI_ACTOR, opt(a, OPT_REASON), &after,
                                &why);
    }
    if (start || act) {
        char action_name[LIMIT_AUDIT_ACTION_BYTES + 1], object[24] = "";
        snprintf(action_name, sizeof(action_name), "rollout.%s",
                 start ? "start" : rollout_action_name(action));
        json_t *params = given_options(a, 0);
        if (start) {
            json_object_set_new(params, "version", json_string(req.version));
            if (r == 0)
                snprintf(object, sizeof(object), "%lld", (long long)after.id);
        } else {
            snprintf(object, sizeof(object), "%lld", (long long)id);
            if (r == 0 && action == ROLLOUT_ACTION_REVERT)
                json_object_set_new(params, "revert_id", json_integer((json_int_t)after.id));
        }
        cli_audit(svc, action_name, product, object, params, r, &why);
        if (r == 0)
            id = after.id;
    }
    struct rollout_status s;
    if (r == 0)
        r = service_rollout_get(svc, product, id, &s, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    if (opt(a, OPT_JSON))
        print_json_or_refuse(json_pack("{s:o}", "rollout", fleet_json_rollout(&s)));
    else
        print_rollout(&s, true);
    return CLI_EXIT_OK;
}

/* --- the entry points --- */

/*
 * Parses ARGV and runs CMD, which returns a CLI_EXIT_* status, or -1 when
 * the arguments name no form of it: then subcommand NAME's usage is printed
 * (exit 2).
 */
static int run(int argc, char **argv, const struct config *config,
               int (*cmd)(const struct config *config, const struct fleet_args *a),
               const char *name)
{
    struct fleet_args a;
    int r = -1;
    if (fleet_args_parse(argc, argv, &a) == 0 && a.npos >= 1)
        r = cmd(config, &a);
    return r >= 0 ? r : cli_usage(name);
}

int cli_channel(int argc, char **argv, const struct config *config)
{
    return run(argc, argv, config, channel_cmd, "channel");
}

int cli_group(int argc, char **argv, const struct config *config)
{
    return run(argc, argv, config, group_cmd, "group");
}

int cli_pin(int argc, char **argv, const struct config *config)
{
    return run(argc, argv, config, pin_cmd, "pin");
}

int cli_rollout(int argc, char **argv, const struct config *config)
{
    return run(argc, argv, config, rollout_cmd, "rollout");
}

int cli_device_show(int argc, char **argv, const struct config *config)
{
    struct fleet_args a;
    if (fleet_args_parse(argc, argv, &a) < 0 || a.npos != 3 || strcmp(a.pos[0], "show") != 0)
        return cli_usage("device");
    uint64_t mac;
    if (mac_text_parse(a.pos[2], &mac) < 0) {
        fprintf(stderr, "otad: \"%s\" is not a MAC like 18:FE:34:00:00:01\n", a.pos[2]);
        return CLI_EXIT_USAGE;
    }
    struct device_why *d = malloc(sizeof(*d));
    struct service *svc;
    if (!d || cli_open_service(config, &svc) != CLI_EXIT_OK) {
        free(d);
        return CLI_EXIT_FAILURE;
    }
    struct reason why = {""};
    int r = service_device_show(svc, a.pos[1], mac, d, &why);
    cli_close_service(config, svc);
    if (r < 0) {
        free(d);
        return cli_refused(&why, r);
    }
    if (opt(&a, OPT_JSON)) {
        print_json_or_refuse(json_pack("{s:o}", "device", fleet_json_device(d)));
        free(d);
        return CLI_EXIT_OK;
    }
    char m[18];
    mac_u64_format(mac, m);
    printf("%s of %s%s\n", m, a.pos[1], d->known ? "" : " (no check-in recorded)");
    if (d->known)
        printf("  runs       %s\n", d->device.report.version[0] ? d->device.report.version : "-");
    if (d->known && d->device.has_secure_version_max)
        printf("  secure_version %u (highest reported; last reported %u)\n",
               d->device.secure_version_max, d->device.report.secure_version);
    printf("  channel    %s (%s)\n", d->channel, d->channel_rule);
    if (d->pinned || d->held)
        printf("  %s\n", d->held ? "held: offered nothing" : "pinned");
    if (d->rollout_id)
        printf("  rollout    %lld, stage %u, bucket %u, %s\n", (long long)d->rollout_id,
               d->stage + 1, (unsigned)d->bucket, d->admitted ? "admitted" : "not admitted");
    printf("  window     %s\n  target     %s\n  next       %s\n",
           d->window_open ? "open" : "closed", d->target[0] ? d->target : "-", d->decision);
    if (d->has_standing)
        printf("  standing   rollout %lld: %s\n", (long long)d->standing.rollout_id,
               device_outcome_name(d->standing.outcome));
    for (size_t i = 0; i < d->history_count && i < FLEET_HISTORY_MAX; i++) {
        char when[21];
        time_format_rfc3339(d->history[i].at_ms, when);
        printf("  %s %-8s %s", when, fleet_event_kind_name(d->history[i].kind),
               d->history[i].version);
        if (d->history[i].kind == FLEET_EVENT_OUTCOME)
            printf(" %s", device_outcome_name(d->history[i].outcome));
        printf("\n");
    }
    free(d);
    return CLI_EXIT_OK;
}

/* VALUE "on" or "off" into *RET; -EINVAL naming FLAG. */
static int on_off(const char *value, const char *flag, bool *ret, struct reason *why)
{
    if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
        return reason_set(why, -EINVAL, "%s takes on or off", flag);
    *ret = strcmp(value, "on") == 0;
    return 0;
}

int cli_product_fleet(int argc, char **argv, const struct config *config)
{
    struct fleet_args a;
    if (fleet_args_parse(argc, argv, &a) < 0 || a.npos != 2 || strcmp(a.pos[0], "fleet") != 0)
        return cli_usage("product");
    struct service *svc;
    if (cli_open_service(config, &svc) != CLI_EXIT_OK)
        return CLI_EXIT_FAILURE;
    struct reason why = {""};
    struct product p;
    int r = service_product_get(svc, a.pos[1], &p, &why);
    struct product_fleet f = p.fleet;
    uint64_t max = f.max_downloads;
    if (r == 0 && opt(&a, OPT_CHANNEL_QUERY))
        r = on_off(opt(&a, OPT_CHANNEL_QUERY), "--channel-query", &f.channel_query, &why);
    if (r == 0 && opt(&a, OPT_GROUP_QUERY))
        r = on_off(opt(&a, OPT_GROUP_QUERY), "--group-query", &f.group_query, &why);
    if (r == 0 && opt(&a, OPT_MAX_DOWNLOADS) &&
        parse_u64(opt(&a, OPT_MAX_DOWNLOADS), UINT32_MAX, &max) < 0)
        r = reason_set(&why, -EINVAL, "--download-cap takes a whole number (0: no cap)");
    f.max_downloads = (uint32_t)max;
    const char *https = opt(&a, OPT_HTTPS);
    if (r == 0 && https) {
        if (strcmp(https, "required") != 0 && strcmp(https, "optional") != 0)
            r = reason_set(&why, -EINVAL, "--https takes required or optional");
        f.require_https = strcmp(https, "required") == 0;
    }
    if (r == 0)
        r = service_product_set_fleet(svc, a.pos[1], &f, &why);
    cli_audit(svc, "product.update", a.pos[1], NULL, given_options(&a, 0), r, &why);
    cli_close_service(config, svc);
    if (r < 0)
        return cli_refused(&why, r);
    if (opt(&a, OPT_JSON)) {
        print_json_or_refuse(json_pack("{s:o}", "fleet", fleet_json_product_fleet(&f)));
        return CLI_EXIT_OK;
    }
    printf("product %s: ?channel= %s, ?group= %s, HTTPS %s, downloads at once %s", a.pos[1],
           f.channel_query ? "on" : "off", f.group_query ? "on" : "off",
           f.require_https ? "required" : "optional", f.max_downloads ? "" : "no cap");
    if (f.max_downloads)
        printf("%u", (unsigned)f.max_downloads);
    printf("\n");
    return CLI_EXIT_OK;
}
