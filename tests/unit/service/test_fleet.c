/*
 * Fleet control end to end inside the service, with an injected clock
 * (docs/FLEET.md): a simulated fleet of 10,000 devices checks in at
 * jittered intervals through service_checkin, downloads what it is offered
 * (service_delivery_done) and behaves as the release makes it: boots the
 * new version, falls back to the old one, or goes silent. The registry
 * and the rollout controller are the real ones, on a real data folder;
 * the test only moves the clock and calls the controller's tick. With the
 * fast-time settings, a fleet checking in every 2 s plays a rollout out in
 * well under a minute.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/util.h"
#include "model/fleet.h"
#include "service/audit.h"
#include "service/rollout.h"
#include "service/service.h"
#include "service/service_fleet.h"

#define FLEET       10000u
#define MINUTE      60000ll
#define HOUR        (60 * MINUTE)
#define START_MS    1796083200000ll /* 2026-12-01 00:00 UTC */
#define MAC_BASE    0x18FE34000000ull
#define IMAGE_BYTES 4096u

/* What a release does to a device that installs it. */
enum behaviour { BOOTS = 0, FALLS_BACK, BRICKS };

/* A release that hurts PERMILLE of the devices (by MAC) the way HOW says. */
struct bad_release {
    const char *version;
    unsigned permille;
    enum behaviour how;
};

struct device {
    uint64_t mac;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1];
    int64_t next_ms;
    int64_t interval_ms;
    unsigned offers[8];         /* per release index: how often offered */
    unsigned rollout_offers[8]; /* of those, by a rollout */
    bool bricked;
};

struct sim {
    char dir[64];
    struct config config;
    struct service *svc;
    int64_t now;
    struct device *dev;
    size_t count;
    /* Per version: which share of devices (per mille, by MAC) the release hurts, and how. */
    struct bad_release bad[4];
    unsigned bad_count;
    uint64_t checkins, offers, cut;
    bool cut_downloads; /* cut every body off */
    int64_t reboot_ms;  /* from a served body to the device's next check-in */
};

static int64_t sim_clock(void *ctx)
{
    return ((struct sim *)ctx)->now;
}

static const char *versions[] = {"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.1.1"};

static unsigned version_index(const char *v)
{
    for (unsigned i = 0; i < sizeof(versions) / sizeof(*versions); i++)
        if (strcmp(versions[i], v) == 0)
            return i;
    return 7;
}

static void publish(struct sim *s, const char *version)
{
    static uint8_t img[IMAGE_BYTES];
    fixture_esp8266_image(img, sizeof(img), 4, version_index(version) + 100);
    struct publish_request req = {.product = "demo",
                                  .version = version,
                                  .mode = FW_MODE_SKETCH,
                                  .image = img,
                                  .image_len = sizeof(img),
                                  .source = "test"};
    struct reason why = {""};
    int r = service_publish(s->svc, &req, NULL, NULL, &why);
    if (r < 0)
        fail_msg("publish %s: %s", version, why.text);
}

static void add_devices(struct sim *s, size_t n, const char *version)
{
    s->dev = realloc(s->dev, (s->count + n) * sizeof(*s->dev));
    assert_non_null(s->dev);
    for (size_t i = 0; i < n; i++) {
        struct device *d = &s->dev[s->count + i];
        memset(d, 0, sizeof(*d));
        d->mac = MAC_BASE + s->count + i;
        snprintf(d->version, sizeof(d->version), "%s", version);
        /* Hourly, with +-10 % jitter per device, first check-ins spread over the hour. */
        d->interval_ms = HOUR - 6 * MINUTE + (int64_t)(hash_mix64(d->mac) % (12 * MINUTE));
        d->next_ms = s->now + (int64_t)(hash_mix64(d->mac ^ 0x5555) % HOUR);
    }
    s->count += n;
}

static void sim_setup(struct sim *s, const char *channel_deploy)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(fixture_tmpdir(s->dir), 0);
    assert_int_equal(fixture_config(&s->config, s->dir), 0);
    s->config.registry_new_devices_per_ip_per_minute =
        0; /* the whole fleet comes from one address */
    assert_int_equal(service_open(&s->config, SERVICE_SERVING, &s->svc), 0);
    s->now = START_MS;
    service_set_clock(s->svc, sim_clock, s);
    s->reboot_ms = 30000;
    struct reason why;
    assert_int_equal(service_product_add(s->svc, "demo", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    publish(s, "1.0.0");
    add_devices(s, FLEET, "1.0.0");
    if (channel_deploy) {
        struct channel_view v;
        assert_int_equal(service_channel_get(s->svc, "demo", "stable", &v, &why), 0);
        assert_int_equal(deploy_policy_parse(channel_deploy, &v.channel.deploy), 0);
        assert_int_equal(service_channel_set(s->svc, "demo", &v.channel, &why), 0);
    }
}

static void sim_teardown(struct sim *s)
{
    service_close(s->svc);
    fixture_rmdir(s->dir);
    free(s->dev);
}

static enum behaviour behaviour_of(const struct sim *s, const struct device *d, const char *version)
{
    for (unsigned i = 0; i < s->bad_count; i++)
        if (strcmp(s->bad[i].version, version) == 0 &&
            hash_mix64(d->mac ^ 0xbad) % 1000 < s->bad[i].permille)
            return s->bad[i].how;
    return BOOTS;
}

static struct decision checkin(struct sim *s, struct device *d)
{
    struct device_report rep = {0};
    rep.platform = PLATFORM_ESP8266;
    rep.platform_known = true;
    rep.has_sta_mac = true;
    mac_from_u64(d->mac, rep.sta_mac);
    snprintf(rep.version, sizeof(rep.version), "%s", d->version);
    rep.version_source = VERSION_SOURCE_HEADER;
    rep.has_free_space = true;
    rep.free_space = 1 << 20;
    struct checkin_context ctx = {.remote_addr = "127.0.0.1"};
    struct decision dec;
    service_checkin(s->svc, "demo", &rep, &ctx, &dec);
    s->checkins++;
    return dec;
}

/* One device's check-in and what it does with the answer. */
static void device_turn(struct sim *s, struct device *d)
{
    struct decision dec = checkin(s, d);
    d->next_ms = s->now + d->interval_ms;
    if (dec.kind != DECISION_UPDATE)
        return;
    s->offers++;
    d->offers[version_index(dec.version)]++;
    if (dec.ticket.rollout_id)
        d->rollout_offers[version_index(dec.version)]++;
    if (s->cut_downloads) {
        service_delivery_done(s->svc, &dec.ticket, false);
        s->cut++;
        return;
    }
    service_delivery_done(s->svc, &dec.ticket, true);
    switch (behaviour_of(s, d, dec.version)) {
    case BOOTS:
        snprintf(d->version, sizeof(d->version), "%.15s",
                 dec.version);              /* the fleet's versions are short */
        d->next_ms = s->now + s->reboot_ms; /* reboots and checks in */
        break;
    case FALLS_BACK:
        d->next_ms = s->now + s->reboot_ms; /* the old version boots again */
        break;
    case BRICKS:
        d->bricked = true;
        d->next_ms = INT64_MAX;
        break;
    }
}

/* Runs the fleet until UNTIL in steps of STEP_MS: check-ins, a registry commit, a controller tick.
 */
static void sim_run_every(struct sim *s, int64_t until, int64_t step_ms)
{
    while (s->now < until) {
        s->now += step_ms;
        for (size_t i = 0; i < s->count; i++)
            if (s->dev[i].next_ms <= s->now)
                device_turn(s, &s->dev[i]);
        assert_int_equal(service_registry_flush(s->svc), 0);
        assert_int_equal(service_fleet_tick(s->svc), 0);
    }
}

/* sim_run_every a minute. */
static void sim_run(struct sim *s, int64_t until)
{
    sim_run_every(s, until, MINUTE);
}

static struct rollout_status latest_rollout(struct sim *s)
{
    struct rollout_status *st = NULL;
    size_t n = 0;
    struct reason why;
    assert_int_equal(service_rollout_list(s->svc, "demo", false, &st, &n, &why), 0);
    assert_true(n > 0);
    struct rollout_status r = st[0]; /* newest first */
    free(st);
    return r;
}

static size_t on_version(const struct sim *s, const char *version)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += strcmp(s->dev[i].version, version) == 0;
    return n;
}

/* --- healthy: every stage, no operator --- */

/*
 * How many audit entries the controller wrote by itself with ACTION (via
 * system, named "controller"); the first one's parameters into PARAMS
 * (may be NULL; JSON text, freed by the caller).
 */
static size_t controller_entries(struct sim *s, const char *action, char **params)
{
    struct audit_filter f = {.action_prefix = action, .actor = "controller"};
    struct audit_entry *got = NULL;
    size_t n = 0;
    struct reason why = {""};
    assert_int_equal(service_audit_list(s->svc, &f, 100, &got, &n, &why), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].action, action);
        assert_int_equal(got[i].actor.via, ACTOR_VIA_SYSTEM);
        assert_string_equal(got[i].product, "demo");
    }
    if (params)
        *params = n && got[n - 1].params ? strdup(got[n - 1].params) : NULL;
    audit_entry_list_free(got, n);
    return n;
}

static void test_healthy_release_reaches_everyone_on_schedule(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    publish(&s, "1.1.0"); /* the channel starts a rollout by itself */
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_RUNNING);
    assert_int_equal(st.rollout.stage, 0);
    uint64_t salt0 = st.rollout.salt[0];

    /* An hour in (ramp done, every device checked in once): about 1 % was offered it. */
    sim_run(&s, START_MS + 59 * MINUTE);
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.stage, 0);
    assert_in_range(st.total.offered, FLEET * 0 / 100, FLEET * 2 / 100);
    assert_in_range(on_version(&s, "1.1.0"), 1, FLEET * 2 / 100);

    /* Later stages: the buckets do not move, so who had it keeps being admitted. */
    sim_run(&s, START_MS + 3 * HOUR);
    st = latest_rollout(&s);
    assert_true(st.rollout.stage >= 1);
    assert_int_equal(st.rollout.salt[0], salt0);
    /* Nobody outside the buckets admitted so far got it. */
    for (size_t i = 0; i < s.count; i++)
        if (strcmp(s.dev[i].version, "1.1.0") == 0)
            assert_true(rollout_bucket(st.rollout.salt, 1, s.dev[i].mac) <
                        st.rollout.plan.stages_bp[st.rollout.stage]);

    /* Four stages of an hour's soak each, plus devices coming back: done within 8 h. */
    sim_run(&s, START_MS + 8 * HOUR);
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_COMPLETED);
    assert_int_equal(on_version(&s, "1.1.0"), FLEET);
    assert_int_equal(st.total.by_outcome[OUTCOME_FAILED], 0);
    assert_true(st.total.by_outcome[OUTCOME_SUCCEEDED] >= FLEET / 2);
    for (size_t i = 0; i < s.count; i++)
        assert_int_equal(s.dev[i].offers[1], 1); /* each offered once */
    struct channel_view v;
    struct reason why;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_string_equal(v.deployed, "1.1.0");
    /* Each move the controller made by itself is in the audit log, as the system's. */
    char *params = NULL;
    assert_int_equal(controller_entries(&s, "rollout.promote", &params), 3);
    assert_non_null(strstr(params, "\"stage\":2"));
    free(params);
    assert_int_equal(controller_entries(&s, "rollout.complete", NULL), 1);
    assert_int_equal(controller_entries(&s, "rollout.halt", NULL), 0);
    sim_teardown(&s);
}

/* --- the share admitted is the share the stage says, device for device --- */

static void test_stage_admits_its_share_within_one_percent(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "soak", "4h", &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "stages", "10,100", &why), 0);
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    publish(&s, "1.1.0");
    /* The 15 min ramp, then more than a check-in interval: every device asked at 10 %. */
    sim_run(&s, START_MS + 2 * HOUR);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.stage, 0);
    size_t offered = 0;
    for (size_t i = 0; i < s.count; i++) {
        bool in = rollout_bucket(st.rollout.salt, 1, s.dev[i].mac) < 1000;
        /* Exactly the devices whose bucket is below the share, each once. */
        assert_int_equal(s.dev[i].rollout_offers[1], in ? 1 : 0);
        offered += s.dev[i].rollout_offers[1];
    }
    assert_in_range(offered, FLEET * 9 / 100, FLEET * 11 / 100);
    assert_int_equal(st.total.offered, offered);
    sim_teardown(&s);
}

/* --- a bad release halts at the first stage and offers nothing more --- */

static void test_failing_release_halts_at_first_stage(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 200, FALLS_BACK};
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 2 * HOUR);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_HALTED);
    assert_int_equal(st.rollout.stage, 0);
    assert_non_null(strstr(st.rollout.reason, "failed"));
    assert_true(st.total.by_outcome[OUTCOME_FAILED] > 0);
    uint64_t offers = s.offers;
    size_t on_new = on_version(&s, "1.1.0");
    /* Halted: a day later nobody else was offered it, and no device was offered it twice. */
    sim_run(&s, START_MS + 26 * HOUR);
    assert_int_equal(s.offers, offers);
    assert_int_equal(on_version(&s, "1.1.0"), on_new);
    for (size_t i = 0; i < s.count; i++)
        assert_true(s.dev[i].offers[1] <= 1);
    assert_true(on_new < FLEET * 3 / 100);
    char *params = NULL;
    assert_int_equal(controller_entries(&s, "rollout.halt", &params), 1);
    assert_non_null(strstr(params, "failed"));
    free(params);
    assert_int_equal(controller_entries(&s, "rollout.promote", NULL), 0);
    sim_teardown(&s);
}

/* --- silence is a failure sign: bricked devices never report --- */

static void test_silent_devices_count_after_their_deadline(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 300, BRICKS};
    publish(&s, "1.1.0");
    /* Served at most an hour in; silent 3 intervals + 5 min after: halted within 5 h. */
    sim_run(&s, START_MS + 6 * HOUR);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_HALTED);
    assert_true(st.total.by_outcome[OUTCOME_SILENT] > 0);
    assert_non_null(strstr(st.rollout.reason, "silent"));
    sim_teardown(&s);
}

/* --- fast time: a night's rollout in a minute (docs/FLEET.md, "Defaults, and why") --- */

#define FAST_FLEET       500u
#define FAST_INTERVAL_MS 2000
#define FAST_STEP_MS     500
#define FAST_PLAN        "stages=10,50,100;soak=5s;ramp=0;interval=2s"

/*
 * A fleet of FAST_FLEET devices that check in every 2 s (+-10 %) and
 * reboot in a second, and a channel that starts a rollout of FAST_PLAN on
 * each release; with interval_min_gap_ms at 1 s (the 2 s gaps are
 * intervals) and rollout_deadline_margin_ms as given.
 */
static void sim_setup_fast(struct sim *s, uint64_t deadline_margin_ms)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(fixture_tmpdir(s->dir), 0);
    assert_int_equal(fixture_config(&s->config, s->dir), 0);
    s->config.registry_new_devices_per_ip_per_minute = 0;
    s->config.rollout_deadline_margin_ms = deadline_margin_ms;
    s->config.interval_min_gap_ms = 1000;
    assert_int_equal(service_open(&s->config, SERVICE_SERVING, &s->svc), 0);
    s->now = START_MS;
    service_set_clock(s->svc, sim_clock, s);
    s->reboot_ms = 1000;
    struct reason why;
    assert_int_equal(service_product_add(s->svc, "demo", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    publish(s, "1.0.0");
    add_devices(s, FAST_FLEET, "1.0.0");
    for (size_t i = 0; i < s->count; i++) {
        struct device *d = &s->dev[i];
        d->interval_ms = FAST_INTERVAL_MS * 9 / 10 + (int64_t)(hash_mix64(d->mac) % 400);
        d->next_ms = s->now + (int64_t)(hash_mix64(d->mac ^ 0x5555) % FAST_INTERVAL_MS);
    }
    struct channel_view v;
    assert_int_equal(service_channel_get(s->svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(deploy_policy_parse("rollout", &v.channel.deploy), 0);
    assert_int_equal(rollout_plan_parse(&v.channel.plan, FAST_PLAN, &why), 0);
    assert_int_equal(service_channel_set(s->svc, "demo", &v.channel, &why), 0);
}

/*
 * Every stage soaks its 5 s and is promoted on devices that came back,
 * and the rollout completes within a minute of simulated time: nothing
 * but the plan and the settings bounds how fast it goes.
 */
static void test_fast_time_plays_a_rollout_out_in_a_minute(void **state)
{
    struct sim s;
    sim_setup_fast(&s, 2000);
    publish(&s, "1.1.0");
    int64_t start = s.now, stage_since = s.now;
    unsigned stage = 0;
    struct rollout_status st = latest_rollout(&s);
    while (st.rollout.state == ROLLOUT_RUNNING && s.now < start + MINUTE) {
        sim_run_every(&s, s.now + FAST_STEP_MS, FAST_STEP_MS);
        st = latest_rollout(&s);
        if (st.rollout.stage != stage || st.rollout.state == ROLLOUT_COMPLETED) {
            /* No stage moves on before its soak, nor much after it (devices come back in 2 s). */
            assert_in_range(s.now - stage_since, 5000, 12000);
            stage = st.rollout.stage;
            stage_since = s.now;
        }
    }
    assert_int_equal(st.rollout.state, ROLLOUT_COMPLETED);
    assert_true(s.now - start <= 40000);
    assert_int_equal(on_version(&s, "1.1.0"), FAST_FLEET);
    assert_int_equal(st.total.by_outcome[OUTCOME_FAILED], 0);
    assert_int_equal(st.total.by_outcome[OUTCOME_SILENT], 0);
    assert_int_equal(controller_entries(&s, "rollout.promote", NULL), 2);
    assert_int_equal(controller_entries(&s, "rollout.complete", NULL), 1);
    sim_teardown(&s);
}

/*
 * A release that bricks 30 % of the devices: with a 2 s margin their
 * silence (3 x 2 s + 2 s after served) halts the rollout within seconds;
 * with the default 5 min margin nobody is silent yet at that time, and the
 * stage waits for the devices to come back.
 */
static void test_fast_time_marks_silent_devices_within_seconds(void **state)
{
    struct sim s;
    sim_setup_fast(&s, 2000);
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 300, BRICKS};
    publish(&s, "1.1.0");
    sim_run_every(&s, s.now + 20000, FAST_STEP_MS);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_HALTED);
    assert_int_equal(st.rollout.stage, 0);
    assert_true(st.total.by_outcome[OUTCOME_SILENT] > 0);
    assert_non_null(strstr(st.rollout.reason, "silent"));
    sim_teardown(&s);

    sim_setup_fast(&s, 300000);
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 300, BRICKS};
    publish(&s, "1.1.0");
    sim_run_every(&s, s.now + 20000, FAST_STEP_MS);
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_RUNNING);
    assert_int_equal(st.rollout.stage, 0);
    assert_int_equal(st.total.by_outcome[OUTCOME_SILENT], 0);
    assert_true(st.total.by_outcome[OUTCOME_SERVED] > 0); /* bricked, not silent yet */
    sim_teardown(&s);
}

/* --- pause, resume, abort --- */

static void test_pause_resume_abort(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 30 * MINUTE);
    struct rollout_status st = latest_rollout(&s);
    struct reason why;
    int64_t id = st.rollout.id;
    assert_int_equal(
        service_rollout_act(s.svc, "demo", id, ROLLOUT_ACTION_PAUSE, "test", "look", NULL, &why),
        0);
    assert_int_equal(
        service_rollout_act(s.svc, "demo", id, ROLLOUT_ACTION_PAUSE, "test", NULL, NULL, &why),
        -EALREADY);
    uint64_t offers = s.offers;
    sim_run(&s, START_MS + 5 * HOUR); /* paused: no offers, no promotion */
    assert_int_equal(s.offers, offers);
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_PAUSED);
    assert_int_equal(st.rollout.stage, 0);
    assert_int_equal(
        service_rollout_act(s.svc, "demo", id, ROLLOUT_ACTION_RESUME, "test", NULL, NULL, &why), 0);
    /* The soak stood still while paused: 30 min were left, so no promotion 20 min after. */
    sim_run(&s, START_MS + 5 * HOUR + 20 * MINUTE);
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.stage, 0);
    sim_run(&s, START_MS + 6 * HOUR + 30 * MINUTE);
    st = latest_rollout(&s);
    assert_true(st.rollout.stage >= 1);
    assert_int_equal(
        service_rollout_act(s.svc, "demo", id, ROLLOUT_ACTION_ABORT, "test", "enough", NULL, &why),
        0);
    size_t on_new = on_version(&s, "1.1.0");
    offers = s.offers;
    sim_run(&s, START_MS + 9 * HOUR);
    assert_int_equal(s.offers, offers);                /* nothing more offered */
    assert_int_equal(on_version(&s, "1.1.0"), on_new); /* devices keep what they have */
    st = latest_rollout(&s);
    assert_int_equal(st.rollout.state, ROLLOUT_ABORTED);
    sim_teardown(&s);
}

/* --- a rollback: an older release past downgrade protection --- */

static void test_rollback_offers_the_older_release(void **state)
{
    struct sim s;
    sim_setup(&s, NULL); /* immediate: everyone gets 1.1.0 at once */
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 2 * HOUR);
    assert_int_equal(on_version(&s, "1.1.0"), FLEET);
    struct reason why;
    struct rollout_plan plan;
    rollout_plan_default(&plan);
    assert_int_equal(rollout_plan_set(&plan, "stages", "100", &why), 0);
    assert_int_equal(rollout_plan_set(&plan, "ramp", "0", &why), 0);
    struct rollout_request req = {
        .product = "demo", .version = "1.0.0", .plan = &plan, .actor = "test"};
    assert_int_equal(service_rollout_start(s.svc, &req, NULL, &why), -EINVAL);
    assert_non_null(strstr(why.text, "rollback"));
    req.rollback = true;
    struct rollout ro;
    assert_int_equal(service_rollout_start(s.svc, &req, &ro, &why), 0);
    sim_run(&s, START_MS + 5 * HOUR);
    assert_int_equal(on_version(&s, "1.0.0"), FLEET);
    struct rollout_status st;
    assert_int_equal(service_rollout_get(s.svc, "demo", ro.id, &st, &why), 0);
    assert_int_equal(st.rollout.state, ROLLOUT_COMPLETED);
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_string_equal(v.deployed, "1.0.0");
    /* 1.1.0 is withdrawn: a device that comes back on it is offered 1.0.0. */
    snprintf(s.dev[0].version, sizeof(s.dev[0].version), "1.1.0");
    struct decision d = checkin(&s, &s.dev[0]);
    assert_int_equal(d.kind, DECISION_UPDATE);
    assert_string_equal(d.version, "1.0.0");
    service_delivery_done(s.svc, &d.ticket, false);
    sim_teardown(&s);
}

/* --- a revert after a halt: the bad night undone by morning --- */

static void test_revert_after_halt(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    v.channel.plan.revert_on_halt = true;
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 200, FALLS_BACK};
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 8 * HOUR);
    /* The devices that took 1.1.0 (it booted on them) are back on 1.0.0; the rest never moved. */
    assert_int_equal(on_version(&s, "1.1.0"), 0);
    assert_int_equal(on_version(&s, "1.0.0"), FLEET);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.rollout.kind, ROLLOUT_REVERT);
    assert_int_equal(st.rollout.state, ROLLOUT_COMPLETED);
    char *params = NULL;
    assert_int_equal(controller_entries(&s, "rollout.revert", &params), 1);
    char want[48];
    snprintf(want, sizeof(want), "\"revert_id\":%lld", (long long)st.rollout.id);
    assert_non_null(strstr(params, want));
    free(params);
    sim_teardown(&s);
}

/* --- new devices join a running rollout by their bucket --- */

static void test_new_devices_join_a_running_rollout(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 90 * MINUTE);
    size_t before = s.count;
    add_devices(&s, 2000, "1.0.0");
    sim_run(&s, START_MS + 4 * HOUR);
    struct rollout_status st = latest_rollout(&s);
    size_t joined_new = 0;
    for (size_t i = before; i < s.count; i++) {
        bool in = rollout_bucket(st.rollout.salt, 1, s.dev[i].mac) <
                  st.rollout.plan.stages_bp[st.rollout.stage];
        if (strcmp(s.dev[i].version, "1.1.0") == 0) {
            assert_true(in); /* only by its bucket */
            joined_new++;
        }
    }
    assert_true(joined_new > 0);
    sim_teardown(&s);
}

/* --- maintenance windows --- */

static void test_nothing_new_outside_the_window(void **state)
{
    struct sim s;
    sim_setup(&s, NULL);
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(fleet_window_parse_hours("02:00-04:00", &v.channel.window, &why), 0);
    snprintf(v.channel.window.tz, sizeof(v.channel.window.tz), "Europe/Berlin");
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    publish(&s, "1.1.0");
    /* 00:00 UTC is 01:00 in Berlin in December: closed until 01:00 UTC. */
    sim_run(&s, START_MS + 59 * MINUTE);
    assert_int_equal(s.offers, 0);
    sim_run(&s, START_MS + 3 * HOUR); /* open 01:00-03:00 UTC: everyone checks in once in it */
    assert_int_equal(on_version(&s, "1.1.0"), FLEET);
    sim_teardown(&s);
}

/* --- a new tag supersedes the running rollout --- */

static void test_new_tag_supersedes(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 2 * HOUR);
    struct rollout_status first = latest_rollout(&s);
    size_t on_first = on_version(&s, "1.1.0");
    assert_true(on_first > 0);
    publish(&s, "1.1.1");
    struct rollout_status second = latest_rollout(&s);
    assert_true(second.rollout.id != first.rollout.id);
    assert_int_equal(second.rollout.state, ROLLOUT_RUNNING);
    struct reason why;
    struct rollout_status old;
    assert_int_equal(service_rollout_get(s.svc, "demo", first.rollout.id, &old, &why), 0);
    assert_int_equal(old.rollout.state, ROLLOUT_SUPERSEDED);
    /* Devices already on 1.1.0 are still counted in its rollout. */
    assert_in_range(old.total.by_outcome[OUTCOME_SUCCEEDED], on_first * 9 / 10, on_first);
    sim_run(&s, START_MS + 12 * HOUR);
    assert_int_equal(on_version(&s, "1.1.1"), FLEET);
    sim_teardown(&s);
}

/* --- a channel that queues: the newer rollout waits for the running one --- */

static void test_queue_policy_waits_for_the_running_rollout(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    v.channel.on_new = ON_NEW_QUEUE;
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + HOUR / 2);
    publish(&s, "1.1.1");
    struct rollout_status second = latest_rollout(&s);
    assert_string_equal(second.rollout.version, "1.1.1");
    assert_int_equal(second.rollout.state, ROLLOUT_QUEUED);
    assert_int_equal(s.dev[0].offers[4], 0);
    sim_run(&s, START_MS + 7 * HOUR); /* 1.1.0 completes (~5 h), then 1.1.1 starts */
    struct rollout_status st;
    assert_int_equal(service_rollout_get(s.svc, "demo", second.rollout.id - 1, &st, &why), 0);
    assert_int_equal(st.rollout.state, ROLLOUT_COMPLETED);
    assert_int_equal(service_rollout_get(s.svc, "demo", second.rollout.id, &st, &why), 0);
    assert_int_equal(st.rollout.state, ROLLOUT_RUNNING);
    assert_true(st.total.offered > 0);
    sim_teardown(&s);
}

/* --- herd control: the download cap --- */

static void test_download_cap_answers_304_over_it(void **state)
{
    struct sim s;
    sim_setup(&s, NULL);
    struct reason why;
    struct product_fleet f = {.max_downloads = 2};
    assert_int_equal(service_product_set_fleet(s.svc, "demo", &f, &why), 0);
    publish(&s, "1.1.0");
    struct decision a = checkin(&s, &s.dev[0]), b = checkin(&s, &s.dev[1]),
                    c = checkin(&s, &s.dev[2]);
    assert_int_equal(a.kind, DECISION_UPDATE);
    assert_int_equal(b.kind, DECISION_UPDATE);
    assert_int_equal(c.kind, DECISION_CURRENT); /* over the cap: 304, never an error */
    service_delivery_done(s.svc, &a.ticket, true);
    c = checkin(&s, &s.dev[2]);
    assert_int_equal(c.kind, DECISION_UPDATE);
    service_delivery_done(s.svc, &b.ticket, false);
    service_delivery_done(s.svc, &c.ticket, true);
    sim_teardown(&s);
}

/* --- interrupted bodies are counted apart and offered again --- */

static void test_interrupted_is_not_served(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "stages", "100", &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "ramp", "0", &why), 0);
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    s.cut_downloads = true;
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 3 * HOUR);
    struct rollout_status st = latest_rollout(&s);
    assert_int_equal(st.total.by_outcome[OUTCOME_SERVED] + st.total.by_outcome[OUTCOME_SUCCEEDED] +
                         st.total.by_outcome[OUTCOME_FAILED],
                     0);
    assert_true(st.total.interruptions >= s.count);
    assert_int_equal(st.total.by_outcome[OUTCOME_INTERRUPTED], s.count);
    assert_int_equal(st.rollout.state, ROLLOUT_RUNNING); /* nothing failed: no halt */
    sim_teardown(&s);
}

/* --- a failure outlives the rollout: a later one never brings the release back --- */

static void test_failure_survives_later_rollouts_and_restarts(void **state)
{
    struct sim s;
    sim_setup(&s, "rollout");
    struct reason why;
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "fail_percent", "50", &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "fail_max", "0", &why), 0);
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    /* 1.1.0 fails on 3 % and completes anyway; 1.2.0 fails on the same devices, is aborted. */
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 30, FALLS_BACK};
    s.bad[s.bad_count++] = (struct bad_release){"1.2.0", 30, FALLS_BACK};
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 8 * HOUR);
    assert_int_equal(latest_rollout(&s).rollout.state, ROLLOUT_COMPLETED);
    publish(&s, "1.2.0");
    sim_run(&s, START_MS + 10 * HOUR);
    struct rollout_status second = latest_rollout(&s);
    assert_string_equal(second.rollout.version, "1.2.0");
    assert_int_equal(service_rollout_act(s.svc, "demo", second.rollout.id, ROLLOUT_ACTION_ABORT,
                                         "test", NULL, NULL, &why),
                     0);
    service_close(s.svc);
    assert_int_equal(service_open(&s.config, SERVICE_SERVING, &s.svc), 0);
    service_set_clock(s.svc, sim_clock, &s);
    sim_run(&s, START_MS + 14 * HOUR);
    size_t failed = 0;
    for (size_t i = 0; i < s.count; i++) {
        if (!s.dev[i].rollout_offers[1] || strcmp(s.dev[i].version, "1.0.0") != 0)
            continue;
        failed++;
        assert_int_equal(s.dev[i].offers[1], 1); /* 1.1.0 never again, as deployed or otherwise */
        assert_true(s.dev[i].offers[2] <= 1);
    }
    assert_true(failed > 0);
    sim_teardown(&s);
}

/* --- a restart in the middle keeps stage, counters and failures --- */

static void test_restart_keeps_the_rollout(void **state)
{
    struct reason why;
    struct sim s;
    sim_setup(&s, "rollout");
    /* 3 % fall back; the operator tolerates up to 50 %: it goes on, failures and all. */
    struct channel_view v;
    assert_int_equal(service_channel_get(s.svc, "demo", "stable", &v, &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "fail_percent", "50", &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "fail_max", "0", &why), 0);
    assert_int_equal(rollout_plan_set(&v.channel.plan, "promote_percent", "90", &why), 0);
    assert_int_equal(service_channel_set(s.svc, "demo", &v.channel, &why), 0);
    s.bad[s.bad_count++] = (struct bad_release){"1.1.0", 30, FALLS_BACK};
    publish(&s, "1.1.0");
    sim_run(&s, START_MS + 3 * HOUR);
    struct rollout_status before = latest_rollout(&s);
    assert_int_equal(before.rollout.state, ROLLOUT_RUNNING);
    assert_true(before.total.by_outcome[OUTCOME_FAILED] > 0);
    service_close(s.svc);
    assert_int_equal(service_open(&s.config, SERVICE_SERVING, &s.svc), 0);
    service_set_clock(s.svc, sim_clock, &s);
    struct rollout_status after = latest_rollout(&s);
    assert_int_equal(after.rollout.stage, before.rollout.stage);
    assert_int_equal(after.total.by_outcome[OUTCOME_FAILED],
                     before.total.by_outcome[OUTCOME_FAILED]);
    assert_int_equal(after.total.offered, before.total.offered);
    sim_run(&s, START_MS + 12 * HOUR);
    /*
     * Nobody is offered twice what it failed in the rollout, not after the
     * restart, not after the rollout completed and 1.1.0 became the channel's.
     */
    size_t failed = 0;
    for (size_t i = 0; i < s.count; i++) {
        if (!s.dev[i].rollout_offers[1] || strcmp(s.dev[i].version, "1.0.0") != 0)
            continue;
        failed++;
        assert_int_equal(s.dev[i].offers[1], 1);
    }
    assert_true(failed > 0);
    sim_teardown(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_release_reaches_everyone_on_schedule),
        cmocka_unit_test(test_stage_admits_its_share_within_one_percent),
        cmocka_unit_test(test_failing_release_halts_at_first_stage),
        cmocka_unit_test(test_silent_devices_count_after_their_deadline),
        cmocka_unit_test(test_fast_time_plays_a_rollout_out_in_a_minute),
        cmocka_unit_test(test_fast_time_marks_silent_devices_within_seconds),
        cmocka_unit_test(test_pause_resume_abort),
        cmocka_unit_test(test_rollback_offers_the_older_release),
        cmocka_unit_test(test_revert_after_halt),
        cmocka_unit_test(test_new_devices_join_a_running_rollout),
        cmocka_unit_test(test_nothing_new_outside_the_window),
        cmocka_unit_test(test_new_tag_supersedes),
        cmocka_unit_test(test_queue_policy_waits_for_the_running_rollout),
        cmocka_unit_test(test_download_cap_answers_304_over_it),
        cmocka_unit_test(test_interrupted_is_not_served),
        cmocka_unit_test(test_restart_keeps_the_rollout),
        cmocka_unit_test(test_failure_survives_later_rollouts_and_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
