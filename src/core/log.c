/*
 * Log lines go to stderr (a terminal or a pipe), or, once log_to_journal
 * found the journal behind stderr, as native journal entries with the
 * event's fields. One fprintf per line under stdio's own lock, or one
 * datagram per entry, keeps lines whole across threads.
 */
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/journal.h"

/* A line's message; longer ones are cut (as they always were). */
#define LOG_LINE_BYTES 1024
/* An entry: the message and a few short fields, far below a datagram's limit. */
#define LOG_ENTRY_BYTES 4096

static atomic_int log_threshold = LOG_LEVEL_INFO;
static int journal_fd = -1; /* set before other threads start, then only read */

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const char *const log_level_priorities[] = {"3", "4", "6", "7"};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *name, enum log_level *ret_level)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int log_to_journal(const char *path)
{
    int fd = journal_connect(path);
    if (fd < 0)
        return fd;
    journal_fd = fd;
    return 0;
}

static void write_plain(enum log_level level, const char *line)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
            log_level_names[level], line);
}

/* The source path from the tree's root: the compiler's may start with "../". */
static const char *source_path(const char *file)
{
    while (strncmp(file, "../", 3) == 0)
        file += 3;
    return file;
}

/* One journal entry for LINE; false when it could not be sent (the caller prints it). */
static bool write_journal(enum log_level level, const struct log_fields *fields, const char *file,
                          int line_no, const char *func, const char *line)
{
    char data[LOG_ENTRY_BYTES];
    struct journal_entry e;
    journal_entry_init(&e, data, sizeof(data));
    journal_entry_add(&e, "PRIORITY", log_level_priorities[level]);
    journal_entry_add(&e, "SYSLOG_IDENTIFIER", "otad");
    journal_entry_add(&e, "MESSAGE", line);
    if (file) {
        char number[16];
        snprintf(number, sizeof(number), "%d", line_no);
        journal_entry_add(&e, "CODE_FILE", source_path(file));
        journal_entry_add(&e, "CODE_LINE", number);
        journal_entry_add(&e, "CODE_FUNC", func);
    }
    if (fields) {
        if (fields->product && fields->product[0])
            journal_entry_add(&e, "OTAD_PRODUCT", fields->product);
        if (fields->device_mac && fields->device_mac[0])
            journal_entry_add(&e, "OTAD_DEVICE_MAC", fields->device_mac);
        if (fields->release && fields->release[0])
            journal_entry_add(&e, "OTAD_RELEASE", fields->release);
        if (fields->rollout_id) {
            char id[24];
            snprintf(id, sizeof(id), "%" PRId64, fields->rollout_id);
            journal_entry_add(&e, "OTAD_ROLLOUT", id);
        }
    }
    return journal_send(journal_fd, &e) == 0;
}

static void log_vwrite(enum log_level level, const struct log_fields *fields, const char *file,
                       int line_no, const char *func, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load_explicit(&log_threshold, memory_order_relaxed))
        return;
    char line[LOG_LINE_BYTES];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (journal_fd >= 0 && write_journal(level, fields, file, line_no, func, line))
        return;
    write_plain(level, line);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, NULL, NULL, 0, NULL, fmt, ap);
    va_end(ap);
}

void log_write_at(enum log_level level, const char *file, int line, const char *func,
                  const struct log_fields *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fields, file, line, func, fmt, ap);
    va_end(ap);
}
