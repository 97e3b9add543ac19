/*
 * The simulator's timeline: one line per check-in, answer and outcome, as
 * JSON lines or, when the file's name ends in ".csv", as CSV with a header
 * row. Lines are written through a buffer of fixed size and flushed on
 * close, so a run stopped by a signal still leaves every line it made. The
 * columns (docs/SIMULATOR.md, "Timeline"):
 *
 *   time            seconds since the run began (real time, millisecond precision)
 *   mac             the device's STA MAC
 *   event           checkin, answer, served, staged, failed, booted, fell-back,
 *                   bricked, cut, refused, error
 *   version_before  the version the device ran when it checked in
 *   status          the answer's HTTP status (0: none)
 *   version_after   the answer's x-version, or what the device runs after the event
 *   server          which of --servers it talked to (from 0)
 *   detail          a few words (an error's name, "stopped")
 */
#ifndef SIM_TIMELINE_H
#define SIM_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

enum timeline_event {
    EVENT_CHECKIN,
    EVENT_ANSWER,
    EVENT_SERVED,
    EVENT_STAGED,
    EVENT_FAILED,
    EVENT_BOOTED,
    EVENT_FELL_BACK,
    EVENT_BRICKED,
    EVENT_CUT,
    EVENT_REFUSED,
    EVENT_ERROR,
};

struct timeline_line {
    uint64_t time_ms;
    const uint8_t *mac; /* six bytes */
    enum timeline_event event;
    const char *version_before; /* NULL: "" */
    int status;
    const char *version_after; /* NULL: "" */
    unsigned server;
    const char *detail; /* NULL: "" */
};

struct timeline {
    FILE *file; /* NULL: a timeline that writes nothing */
    int csv;
    uint64_t lines;
    int error; /* the first write error, -errno */
};

/* Opens PATH for writing (truncated), CSV when it ends in ".csv". Returns 0 or -errno. */
int timeline_open(struct timeline *t, const char *path);

/* A timeline on an open stream F (borrowed), CSV when CSV is nonzero. */
void timeline_attach(struct timeline *t, FILE *f, int csv);

/* Writes one line; a write error is kept in t->error and later lines are dropped. */
void timeline_write(struct timeline *t, const struct timeline_line *line);

/* Flushes, closes a file timeline_open opened, and returns 0 or the first write error. */
int timeline_close(struct timeline *t, int close_file);

/* The event's name as written. */
const char *timeline_event_name(enum timeline_event e);

#endif
