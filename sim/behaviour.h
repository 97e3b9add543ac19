/*
 * What a simulated device does when it installs a release: the failure
 * rules of --fail and the deterministic draws that pick which devices they
 * hit. A rule reads VERSION:KIND:PERCENT[:FILTER[,FILTER...]] (docs/SIMULATOR.md):
 *
 *   VERSION  the release being installed, as the server's x-version names it,
 *            or * for any
 *   KIND     boot   fails to boot: reset before confirming, the boot loader
 *                   falls back, the device comes back on its old version
 *            brick  never boots again and never checks in again
 *            cut    loses the link halfway through the image's body (drawn
 *                   again on each download)
 *            space  reports too little free space (VERSION must be *: the
 *                   device does not know what it will be offered)
 *   PERCENT  0 to 100 with up to two decimals, "%" optional
 *   FILTER   chip=1M|2M|4M|8M|16M (flash chip size), client=2.4|2.7|3.1|esp32
 *
 * boot and brick share one draw per (device, version): their rules that
 * match a device stack as bands in the order given, so "2.4.0:boot:20%" and
 * "2.4.0:brick:5%" hit 20 % and another 5 % of the devices. cut has a draw
 * per download, space one per device. The draws are a keyed hash of the
 * seed, so a run is the same with the same --seed. No I/O, no allocation.
 */
#ifndef SIM_BEHAVIOUR_H
#define SIM_BEHAVIOUR_H

#include <stddef.h>
#include <stdint.h>

#include "otac/request.h"

#define BEHAVIOUR_RULES_MAX 32u

enum fault {
    FAULT_NONE = 0, /* boots and confirms */
    FAULT_BOOT = 1,
    FAULT_BRICK = 2,
    FAULT_CUT = 3,
    FAULT_SPACE = 4,
};

struct fault_rule {
    char version[OTAC_VERSION_MAX + 1]; /* "*": any */
    enum fault kind;
    uint32_t basis_points;   /* 0 - 10000 */
    uint64_t chip_size;      /* 0: any */
    enum otac_client client; /* 0: any */
};

struct behaviour {
    uint64_t seed;
    size_t count;
    struct fault_rule rules[BEHAVIOUR_RULES_MAX];
};

/* What a rule's filters look at. */
struct device_traits {
    uint32_t index; /* the device's number in the fleet */
    enum otac_client client;
    uint64_t chip_size;
};

/* An empty set of rules drawing with SEED. */
void behaviour_init(struct behaviour *b, uint64_t seed);

/*
 * Parses one rule (TEXT borrowed) and appends it. Returns 0, or -EINVAL with
 * a one-line reason in ERR (ERR_CAP bytes), or -ENOSPC past BEHAVIOUR_RULES_MAX.
 */
int behaviour_add(struct behaviour *b, const char *text, char *err, size_t err_cap);

/* FAULT_NONE, FAULT_BOOT or FAULT_BRICK: what installing VERSION does to device D. */
enum fault behaviour_on_install(const struct behaviour *b, const struct device_traits *d,
                                const char *version);

/* Whether device D's download number ATTEMPT (from 0) of VERSION loses its link halfway. */
int behaviour_cuts(const struct behaviour *b, const struct device_traits *d, const char *version,
                   uint32_t attempt);

/* Whether device D reports too little free space. */
int behaviour_small_space(const struct behaviour *b, const struct device_traits *d);

/* "none", "boot", "brick", "cut", "space". */
const char *fault_name(enum fault f);

/* Parses "1M", "512K", "4194304" (bytes; K and M are 1024-based). Returns 0 or -EINVAL. */
int size_parse(const char *text, uint64_t *ret_bytes);

/* Parses a client name: "2.4", "2.7", "3.1", "esp32". Returns 0 or -EINVAL. */
int client_parse(const char *text, enum otac_client *ret_client);

/* The short name of a client, as client_parse takes it. */
const char *client_name(enum otac_client c);

/* A well-mixed 64-bit hash step (splitmix64's finaliser). */
uint64_t sim_mix64(uint64_t x);

#endif
