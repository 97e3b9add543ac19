/*
 * otad-sim's command line: one table of flags (name, argument, help) drives
 * parsing and --help, and yields the immutable struct sim_options the run
 * reads. Every value is checked here, with a message that names the flag and
 * says what it takes; nothing later refuses a flag. Durations are simulated
 * time (divided by --time-scale when the run waits), except --timeout and
 * --drain, which bound real sockets. docs/SIMULATOR.md lists every flag.
 */
#ifndef SIM_OPTIONS_H
#define SIM_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "behaviour.h"

#define SIM_SERVERS_MAX     16u
#define SIM_CHIPS_MAX       8u
#define SIM_DEVICES_MIN     10u
#define SIM_DEVICES_MAX     100000u
#define SIM_HOST_MAX        255u
#define SIM_TARGET_MAX      512u
#define SIM_PATH_MAX        4096u
#define SIM_CLIENT_KINDS    4u /* 2.4, 2.7, 3.1, esp32 */
#define SIM_CONNECTIONS_MAX 20000u

struct server_url {
    char host[SIM_HOST_MAX + 1]; /* a name or an address, as sent in Host */
    uint16_t port;
    char target[SIM_TARGET_MAX + 1]; /* the request-target: path and query */
    int tls;                         /* https */
};

/* --resolve NAME:ADDRESS: where to connect for a server named NAME, as curl's --resolve. */
struct name_address {
    char name[SIM_HOST_MAX + 1];
    char address[64];
};

struct chip_share {
    uint64_t size; /* bytes */
    uint32_t weight;
};

struct sim_options {
    struct server_url servers[SIM_SERVERS_MAX];
    size_t server_count;
    struct name_address resolve[SIM_SERVERS_MAX];
    size_t resolve_count;
    uint32_t devices;
    uint64_t seed;
    uint8_t mac_prefix[3];
    uint32_t client_weight[SIM_CLIENT_KINDS]; /* 2.4, 2.7, 3.1, esp32 */
    struct chip_share chips[SIM_CHIPS_MAX];
    size_t chip_count;
    char version[OTAC_VERSION_MAX + 1]; /* the factory image's version */
    uint64_t sketch_size;               /* the factory image's size */
    uint64_t interval_ms;               /* simulated */
    uint64_t first_ms; /* simulated: first check-ins spread over this; 0: interval */
    unsigned jitter_percent;
    double time_scale;
    uint64_t duration_ms; /* simulated */
    uint64_t reboot_ms;   /* simulated: staged to the next start */
    uint64_t timeout_ms;  /* real: every socket wait */
    uint64_t drain_ms;    /* real: open check-ins may finish after the end */
    uint32_t max_connections;
    int progress; /* -1: when stderr is a terminal, 0 off, 1 on */
    char timeline[SIM_PATH_MAX];
    char ca[SIM_PATH_MAX];
    struct behaviour behaviour;
};

/*
 * Parses ARGV into *RET (the defaults for what is not given). Returns 0, 1
 * when --help was printed on OUT, 2 when --version was asked for (the
 * caller prints it), or -EINVAL with a one-line message in ERR (ERR_CAP
 * bytes): the caller prints it and exits 2.
 */
int options_parse(struct sim_options *ret, int argc, char **argv, char *err, size_t err_cap,
                  FILE *out);

/* Parses a duration: "250ms", "30s", "5m", "1h", "2d", or a bare number of seconds. */
int duration_parse(const char *text, uint64_t *ret_ms);

/* Parses "http://HOST[:PORT][/TARGET]" or https. Returns 0 or -EINVAL. */
int server_url_parse(const char *text, struct server_url *ret);

#endif
