/*
 * Daemon logging: one line per event on stderr, "time level message", with
 * user data quoted by the caller. Only the daemon logs; libraries report
 * errors to their caller. Never pass a key or a token to these functions.
 *
 * Threads: log_write may be called from any thread at once; each line is
 * written whole by one fprintf under stdio's lock. It may block while
 * stderr is slow (a full pipe to journald). log_set_level is for startup,
 * before other threads run.
 */
#ifndef OTAD_CORE_LOG_H
#define OTAD_CORE_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the lowest level that is printed. Call before other threads start. */
void log_set_level(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret_level);

/* Prints one line at LEVEL; a trailing newline is added. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
