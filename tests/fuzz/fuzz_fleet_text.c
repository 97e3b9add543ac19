/*
 * libFuzzer target for the text parsers of src/model/fleet.c. The whole
 * input, as a string, is read as a rollout plan (over the defaults), a
 * window's hours and a MAC. Besides memory errors it checks their laws: a
 * refused input leaves the output as it was and gives a reason; a plan
 * that parses is valid (stages ascending to 100 %, ramp <= soak) and
 * reads back from its own stored form to the same plan; a window that
 * parses has hours within the day and formats; a MAC that parses has 48
 * bits and formats back to the same number.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/fleet.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool plan_same(const struct rollout_plan *a, const struct rollout_plan *b)
{
    if (a->stage_count != b->stage_count)
        return false;
    for (unsigned i = 0; i < FLEET_STAGES_MAX; i++)
        if (a->stages_bp[i] != b->stages_bp[i])
            return false;
    return a->soak_s == b->soak_s && a->ramp_s == b->ramp_s && a->fail_max == b->fail_max &&
           a->fail_bp == b->fail_bp && a->fail_min_served == b->fail_min_served &&
           a->count_silent == b->count_silent && a->promote_min == b->promote_min &&
           a->promote_bp == b->promote_bp && a->interval_s == b->interval_s &&
           a->revert_on_halt == b->revert_on_halt;
}

static void check_plan(const char *text)
{
    struct rollout_plan plan, before;
    rollout_plan_default(&plan);
    before = plan;
    struct reason why = {""};
    if (rollout_plan_parse(&plan, text, &why) != 0) {
        if (!plan_same(&plan, &before) || !why.text[0])
            abort();
        return;
    }
    if (plan.stage_count < 1 || plan.stage_count > FLEET_STAGES_MAX ||
        plan.stages_bp[plan.stage_count - 1] != FLEET_BP_ALL || plan.ramp_s > plan.soak_s ||
        plan.fail_bp > FLEET_BP_ALL || plan.promote_bp > FLEET_BP_ALL)
        abort();
    for (unsigned i = 1; i < plan.stage_count; i++)
        if (plan.stages_bp[i] <= plan.stages_bp[i - 1])
            abort();
    char stored[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&plan, stored, sizeof(stored));
    struct rollout_plan back;
    rollout_plan_default(&back);
    if (rollout_plan_parse(&back, stored, NULL) != 0 || !plan_same(&back, &plan))
        abort();
}

static void check_window(const char *text)
{
    struct fleet_window w = {.start_min = 7, .end_min = 9, .tz = "UTC"};
    struct reason why = {""};
    if (fleet_window_parse_hours(text, &w, &why) != 0) {
        if (w.start_min != 7 || w.end_min != 9 || !why.text[0])
            abort();
        return;
    }
    if (w.start_min >= 1440 || w.end_min >= 1440 || strcmp(w.tz, "UTC") != 0)
        abort();
    char out[96];
    fleet_window_format(&w, out, sizeof(out));
    struct fleet_window again = w;
    /* "always", or "HH:MM-HH:MM UTC": its first 11 characters parse to the same hours. */
    if (strcmp(out, "always") != 0) {
        out[11] = 0;
        if (fleet_window_parse_hours(out, &again, NULL) != 0 || again.start_min != w.start_min ||
            again.end_min != w.end_min)
            abort();
    } else if (w.start_min != w.end_min) {
        abort();
    }
}

static void check_mac(const char *text)
{
    uint64_t mac = 1;
    if (mac_text_parse(text, &mac) != 0) {
        if (mac != 1)
            abort();
        return;
    }
    if (mac >> 48)
        abort();
    char out[18];
    mac_u64_format(mac, out);
    uint64_t back = 0;
    if (mac_text_parse(out, &back) != 0 || back != mac)
        abort();
    uint8_t bytes[6];
    mac_from_u64(mac, bytes);
    if (mac_to_u64(bytes) != mac)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    /* An exact-size copy, so reading past the string's NUL is caught. */
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = 0;
    check_plan(text);
    check_window(text);
    check_mac(text);
    free(text);
    return 0;
}
