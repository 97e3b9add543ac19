/*
 * Daemon logging: one line per event on stderr, "time level message", with
 * user data quoted by the caller; or, when stderr is the journal (log_to_journal),
 * one native journal entry per event with PRIORITY, MESSAGE,
 * SYSLOG_IDENTIFIER=otad, CODE_FILE/LINE/FUNC and the event's structured
 * fields (struct log_fields). Only the daemon logs; libraries report errors
 * to their caller. Never pass a key or a token to these functions.
 *
 * Threads: log_write may be called from any thread at once; each line is
 * written whole by one fprintf under stdio's lock, each journal entry by one
 * send. It may block while stderr is slow (a full pipe to journald).
 * log_set_level may be called at any time (a SIGHUP reload does); it is
 * seen by other threads' next lines.
 */
#ifndef OTAD_CORE_LOG_H
#define OTAD_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * What an event is about, for the journal's structured fields (OTAD_PRODUCT,
 * OTAD_DEVICE_MAC, OTAD_RELEASE, OTAD_ROLLOUT) so `journalctl
 * OTAD_PRODUCT=door` finds them. Every member is borrowed for the call and
 * optional (NULL or "", ROLLOUT_ID 0: not written). On stderr they are not
 * printed: the message says what it is about in words, as before.
 */
struct log_fields {
    const char *product;    /* a product's name */
    const char *device_mac; /* a device's MAC as the device sent it */
    const char *release;    /* a release's version */
    int64_t rollout_id;     /* a rollout's id */
};

/* Sets the lowest level that is written. Any thread, any time. */
void log_set_level(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret_level);

/*
 * Sends every later line to the journal's native socket at PATH (borrowed;
 * NULL: /run/systemd/journal/socket) instead of stderr. Call before other
 * threads start, only when JOURNAL_STREAM says stderr is the journal
 * (journal_stream_is). Returns 0, or -errno with lines staying on stderr.
 * A line whose send fails later goes to stderr, as a plain line.
 */
int log_to_journal(const char *path);

/* Prints one line at LEVEL; a trailing newline is added. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * log_write with where it was written (FILE, LINE, FUNC: the macros below
 * pass them) and the event's FIELDS (borrowed, may be NULL) for the journal.
 */
void log_write_at(enum log_level level, const char *file, int line, const char *func,
                  const struct log_fields *fields, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define log_error(...)                                                                             \
    log_write_at(LOG_LEVEL_ERROR, __FILE__, __LINE__, __func__, NULL, __VA_ARGS__)
#define log_warn(...) log_write_at(LOG_LEVEL_WARN, __FILE__, __LINE__, __func__, NULL, __VA_ARGS__)
#define log_info(...) log_write_at(LOG_LEVEL_INFO, __FILE__, __LINE__, __func__, NULL, __VA_ARGS__)
#define log_debug(...)                                                                             \
    log_write_at(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __func__, NULL, __VA_ARGS__)

/*
 * The same with the event's fields first:
 * log_warn_about(&(struct log_fields){.product = p, .release = v}, "format", ...).
 */
#define log_error_about(...)                                                                       \
    log_write_at(LOG_LEVEL_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn_about(...) log_write_at(LOG_LEVEL_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info_about(...) log_write_at(LOG_LEVEL_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug_about(...)                                                                       \
    log_write_at(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
