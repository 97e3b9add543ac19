/*
 * Fleet control's plain data types (docs/FLEET.md): channels and their
 * settings, groups that put devices in a channel, pins and holds, rollouts
 * with their stages and thresholds, what became of each device a rollout
 * offered something to, and a device's history. Types only, like
 * model.h; the rules are in service/rollout.h and service/targeting.h.
 *
 * Stored as these numbers: never renumber an enum here.
 */
#ifndef OTAD_MODEL_FLEET_H
#define OTAD_MODEL_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/reason.h"
#include "model/model.h"

/* Percentages are kept in basis points: 10000 is 100 %. */
#define FLEET_BP_ALL 10000u

#define FLEET_STAGES_MAX       8u
#define FLEET_GROUP_NAME_BYTES LIMIT_CHANNEL_NAME_BYTES
#define FLEET_MATCH_BYTES      64u  /* a group's match value */
#define FLEET_TZ_BYTES         64u  /* an IANA time zone name, "UTC" */
#define FLEET_REASON_BYTES     200u /* why a rollout halted, a device's "why" */
#define FLEET_ACTOR_BYTES      64u  /* who started a rollout: a token name, "cli", "github" */
#define FLEET_HISTORY_MAX      32u  /* events kept per device */

/* What a new release on a channel does. */
enum deploy_policy {
    DEPLOY_IMMEDIATE = 0, /* every device of the channel is offered it at once (the default) */
    DEPLOY_ROLLOUT = 1,   /* a rollout with the channel's plan starts by itself */
    DEPLOY_MANUAL = 2,    /* it waits until someone starts a rollout */
};

/* What a new rollout does to one still active on its channel. */
enum supersede_policy {
    ON_NEW_SUPERSEDE = 0, /* the running one stops (superseded), the new one starts */
    ON_NEW_QUEUE = 1,     /* the new one waits until the running one ends */
};

/*
 * Hours of the day during which devices may be offered something new,
 * in a named time zone. START_MIN == END_MIN means always open. END before
 * START crosses midnight ("22:00-04:00").
 */
struct fleet_window {
    uint16_t start_min;          /* minutes after local midnight, 0..1439 */
    uint16_t end_min;            /* exclusive */
    char tz[FLEET_TZ_BYTES + 1]; /* "" or "UTC": UTC */
};

/* How a rollout moves: its stages, pacing and the thresholds that stop it. */
struct rollout_plan {
    uint16_t stages_bp[FLEET_STAGES_MAX]; /* ascending, the last 10000 */
    unsigned stage_count;
    int64_t soak_s; /* a stage is held this long before it may be promoted */
    int64_t ramp_s; /* within a stage, admission grows over this long */
    /* Halt when failed (+ silent) >= fail_max, or >= fail_bp of served once served >= min_served.
     */
    uint32_t fail_max;
    uint16_t fail_bp;
    uint32_t fail_min_served;
    bool count_silent;
    /* Promote when soaked and succeeded >= min(promote_min, served) and >= promote_bp of served. */
    uint32_t promote_min;
    uint16_t promote_bp;
    /* A device that has not checked in by this long after being served is silent ... */
    int64_t interval_s;  /* ... taken as its check-in interval until its own is learned */
    bool revert_on_halt; /* a halt offers the previous release back to those who took it */
};

struct channel {
    int64_t product_id;
    char name[LIMIT_CHANNEL_NAME_BYTES + 1];
    enum deploy_policy deploy;
    enum supersede_policy on_new;
    struct rollout_plan plan; /* used by rollouts the channel starts itself, and as defaults */
    struct fleet_window window;
    int64_t created_ms;
};

/* How a group picks its devices; tried in this order (docs/FLEET.md, precedence). */
enum group_match {
    GROUP_MATCH_MACS = 0,       /* an explicit list of STA MACs (group_mac rows) */
    GROUP_MATCH_MAC_PREFIX = 1, /* VALUE: "18:fe:34" (1 to 5 octets) */
    GROUP_MATCH_QUERY = 2,      /* the device sends ?group=VALUE (product allows it) */
    GROUP_MATCH_CHIP_SIZE = 3,  /* x-ESP8266-chip-size equals VALUE bytes */
    GROUP_MATCH_SDK = 4,        /* the SDK version starts with VALUE */
    GROUP_MATCH_CORE = 5,       /* ?core= (the Arduino core) starts with VALUE */
};
#define GROUP_MATCH_COUNT 6

struct group {
    int64_t id;
    int64_t product_id;
    char name[FLEET_GROUP_NAME_BYTES + 1];
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    enum group_match match;
    char value[FLEET_MATCH_BYTES + 1]; /* "" for GROUP_MATCH_MACS */
    int32_t priority;                  /* among groups of one kind: lower first, then name */
    struct fleet_window window;        /* overrides the channel's when set (tz or hours) */
    bool has_window;
    int64_t created_ms;
};

/* A device pinned to one release, or held (release_id 0: never offered anything). */
struct pin {
    int64_t product_id;
    uint64_t mac; /* STA MAC, 48 bits */
    int64_t release_id;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1]; /* of release_id; "" for a hold */
    enum fw_mode mode;
    char note[FLEET_REASON_BYTES + 1];
    int64_t created_ms;
};

enum rollout_state {
    ROLLOUT_RUNNING = 0,
    ROLLOUT_PAUSED = 1,     /* by hand: nobody new is offered it; soak time stands still */
    ROLLOUT_HALTED = 2,     /* by a threshold (or by hand): nobody new is offered it */
    ROLLOUT_ABORTED = 3,    /* ended by hand; devices keep what they have */
    ROLLOUT_COMPLETED = 4,  /* the last stage passed: the release is the channel's */
    ROLLOUT_SUPERSEDED = 5, /* a newer rollout on its channel replaced it */
    ROLLOUT_QUEUED = 6,     /* waits for the active one on its channel to end */
};
#define ROLLOUT_STATE_COUNT 7

enum rollout_kind {
    ROLLOUT_NORMAL = 0,
    ROLLOUT_ROLLBACK = 1, /* an older release, offered past downgrade protection */
    ROLLOUT_REVERT = 2,   /* after a halt: the previous release, to those on the halted one */
};

struct rollout {
    int64_t id;
    int64_t product_id;
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    int64_t release_id;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1];
    enum fw_mode mode;
    enum rollout_kind kind;
    enum rollout_state state;
    struct rollout_plan plan;
    unsigned stage;                      /* index into plan.stages_bp */
    int64_t stage_started_ms;            /* moved forward by time spent paused */
    int64_t paused_ms;                   /* when it was paused or halted; 0 while running */
    uint64_t salt[2];                    /* the bucket key: different first devices per rollout */
    int64_t from_release_id;             /* REVERT: the halted release whose devices it serves */
    uint32_t ack_failed;                 /* failed devices acknowledged by a resume after a halt */
    uint32_t ack_silent;                 /* silent devices acknowledged by it */
    char reason[FLEET_REASON_BYTES + 1]; /* why it halted or ended, "" */
    char actor[FLEET_ACTOR_BYTES + 1];
    int64_t created_ms;
    int64_t updated_ms;
    /*
     * The state and stage the stored row held when this was read or last
     * written: db_rollout_update changes the row only while it still holds
     * them, so a change another node or command made meanwhile (a halt
     * while the controller promotes) is -ESTALE, never overwritten.
     */
    enum rollout_state read_state;
    unsigned read_stage;
};

/* What became of one device a rollout offered something to. */
enum device_outcome {
    OUTCOME_OFFERED = 0,     /* answered 200; the body has not finished */
    OUTCOME_SERVED = 1,      /* the whole body was sent; waiting for its next check-in */
    OUTCOME_INTERRUPTED = 2, /* the body was cut off; it will be offered again */
    OUTCOME_SUCCEEDED = 3,   /* came back on the new release */
    OUTCOME_FAILED = 4,      /* came back on something else: never offered it again */
    OUTCOME_SILENT = 5,      /* no check-in by its deadline */
};
#define OUTCOME_COUNT 6

/* A rollout's counters (devices by outcome, interrupted bodies), per stage or in all. */
struct rollout_counts {
    uint64_t offered; /* devices offered (each once) */
    uint64_t by_outcome[OUTCOME_COUNT];
    uint64_t interruptions; /* bodies cut off, every attempt */
};

/* One device's row in a rollout. */
struct rollout_device {
    int64_t rollout_id;
    int64_t product_id;
    uint64_t mac;
    unsigned stage; /* at its first offer */
    enum device_outcome outcome;
    int64_t from_release_id; /* what it ran when offered; 0 unknown */
    char from_version[LIMIT_DEVICE_VERSION_BYTES + 1];
    int64_t offered_ms, served_ms, outcome_ms, deadline_ms;
    uint32_t interruptions;
};

/* A device's row in a rollout as another node may have changed it (several nodes). */
struct rollout_device_change {
    struct rollout_device device;
    int64_t release_id; /* the rollout's */
    enum fw_mode mode;  /* of that release */
};

/*
 * A change to a device's standing in a rollout, queued by the check-in
 * path and committed with the registry's batch (service/registry.h).
 */
enum fleet_event_kind {
    FLEET_EVENT_OFFER = 0,   /* decided 200 with the rollout's release */
    FLEET_EVENT_SERVED = 1,  /* the body was sent whole */
    FLEET_EVENT_CUT = 2,     /* the body was cut off */
    FLEET_EVENT_OUTCOME = 3, /* its next check-in decided: succeeded or failed */
};

struct fleet_event {
    enum fleet_event_kind kind;
    int64_t product_id;
    uint64_t mac;
    int64_t rollout_id;
    int64_t release_id;
    unsigned stage;
    enum device_outcome outcome;                  /* FLEET_EVENT_OUTCOME */
    int64_t from_release_id;                      /* FLEET_EVENT_OFFER */
    char version[LIMIT_DEVICE_VERSION_BYTES + 1]; /* offered (OFFER) or reported (OUTCOME) */
    int64_t at_ms;
};

/* One line of a device's history (bounded to FLEET_HISTORY_MAX per device). */
struct device_event {
    int64_t at_ms;
    enum fleet_event_kind kind;
    int64_t rollout_id;
    char version[LIMIT_DEVICE_VERSION_BYTES + 1];
    enum device_outcome outcome;
};

/* Where a channel stands: the release every device of it is offered outside a rollout. */
struct deployment {
    int64_t product_id;
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    enum fw_mode mode;
    int64_t release_id; /* 0: nothing deployed yet */
    int64_t updated_ms;
};

const char *deploy_policy_name(enum deploy_policy p);
int deploy_policy_parse(const char *s, enum deploy_policy *ret);
const char *supersede_policy_name(enum supersede_policy p);
int supersede_policy_parse(const char *s, enum supersede_policy *ret);
const char *group_match_name(enum group_match m);
int group_match_parse(const char *s, enum group_match *ret);
const char *rollout_state_name(enum rollout_state s);
const char *rollout_kind_name(enum rollout_kind k);
const char *device_outcome_name(enum device_outcome o);
const char *fleet_event_kind_name(enum fleet_event_kind k);

/* True while a rollout may still offer or be resumed (running, paused, halted). */
bool rollout_state_active(enum rollout_state s);

/* The defaults of a new channel's plan (docs/FLEET.md, "Defaults"). */
void rollout_plan_default(struct rollout_plan *ret_plan);

/*
 * Sets one field of PLAN from text, the one syntax of the CLI flags, the
 * API's JSON strings and the database column (docs/FLEET.md, "Plan"):
 *   stages=1,10,50,100   percentages (up to two decimals), ascending, last 100
 *   soak=1h  ramp=15m  interval=1h   durations: N, Ns, Nm, Nh, Nd (0 allowed)
 *   fail_max=N  fail_percent=P  min_served=N  count_silent=yes|no
 *   promote_min=N  promote_percent=P  revert_on_halt=yes|no
 * Returns 0, or -EINVAL with WHY naming the key and what is wrong (PLAN
 * unchanged). A ramp longer than the soak is refused.
 */
int rollout_plan_set(struct rollout_plan *plan, const char *key, const char *value,
                     struct reason *why);
/* Applies "key=value;key=value" (the stored form) over PLAN. As above. */
int rollout_plan_parse(struct rollout_plan *plan, const char *text, struct reason *why);
/* Writes PLAN's every field as "key=value;..." (parsable by rollout_plan_parse). */
void rollout_plan_format(const struct rollout_plan *plan, char *buf, size_t size);
#define ROLLOUT_PLAN_TEXT_BYTES 512u

/*
 * Parses a window "HH:MM-HH:MM" (24 h, END exclusive; "" or "always":
 * always open) into *RET's hours, leaving its tz. -EINVAL with WHY.
 */
int fleet_window_parse_hours(const char *text, struct fleet_window *ret, struct reason *why);
/* "HH:MM-HH:MM TZ" or "always" into BUF. */
void fleet_window_format(const struct fleet_window *w, char *buf, size_t size);

/* "18:FE:34:00:00:01" (also '-' separators or none, any case) into a 48-bit MAC. -EINVAL. */
int mac_text_parse(const char *text, uint64_t *ret_mac);
/* A 48-bit MAC as "18:FE:34:00:00:01" (as the cores send it) into OUT. */
void mac_u64_format(uint64_t mac, char out[18]);
/* The STA MAC bytes as the registry's 48-bit number, and back. */
uint64_t mac_to_u64(const uint8_t mac[6]);
void mac_from_u64(uint64_t mac, uint8_t out[6]);

#endif
