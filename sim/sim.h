/*
 * One simulation run: the fleet of virtual devices, each a real otac client
 * (its identity, an A/B slot state through its own port, a session per
 * check-in), driven on one epoll loop with non-blocking sockets and one timer
 * per device (heap.h). Memory is fixed when the run starts: a few hundred
 * bytes per device (its slot state record and traits) and a pool of
 * --max-connections connections, each holding one session.
 *
 * A device's flash only counts bytes: the image streams through the
 * library's checks (size, magic, MD5, signature) into a port whose
 * flash_write keeps nothing. Its slot state record lives in memory.
 *
 * sim_run returns when the run's duration is over (or on SIGINT / SIGTERM)
 * and the open check-ins have finished or been cut (--drain), with the
 * timeline written whole and the final summary filled in.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdint.h>

#include "options.h"

struct sim_summary {
    uint64_t elapsed_ms;
    uint32_t devices;
    uint32_t seen; /* devices that had at least one answer */
    uint64_t checkins;
    uint64_t status_304, status_200, status_other;
    uint64_t served; /* images received whole */
    uint64_t staged;
    uint64_t booted; /* updates confirmed on the new version */
    uint64_t fell_back;
    uint64_t bricked;
    uint64_t failed;   /* images the library refused (MD5, magic, signature, flash) */
    uint64_t cut;      /* downloads that lost their link (--fail cut, timeouts, the end) */
    uint64_t refused;  /* 403 answers */
    uint64_t errors;   /* no answer: refused connection, timeout before the head, bad head */
    uint64_t deferred; /* check-ins that waited for a free connection */
    uint32_t downloading_peak; /* image bodies in flight at once, as the devices saw them */
    uint64_t timeline_lines;
    /* From connect() to the answer's head, over every answer (latency.h: within 3.2 %, high);
     * TLS handshakes included. 0 without answers. */
    uint64_t answer_p50_us, answer_p99_us;
};

/*
 * Runs the simulation OPT (borrowed) describes; fills *RET_SUMMARY.
 * Returns 0, or -errno when it could not start (memory, epoll, the timeline
 * file, a server name that does not resolve) or the timeline could not be
 * written; the reason is printed on stderr.
 */
int sim_run(const struct sim_options *opt, struct sim_summary *ret_summary);

#endif
