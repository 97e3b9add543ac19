/*
 * The journal's native protocol (systemd's JOURNAL_NATIVE_PROTOCOL) without
 * libsystemd: one datagram per entry to /run/systemd/journal/socket, each
 * field "KEY=value\n", or "KEY\n", a 64-bit little-endian length, the value
 * and "\n" when the value holds a newline. This module formats entries,
 * tells whether stderr is the journal (JOURNAL_STREAM), and sends; core/log.c
 * decides what goes in an entry and falls back to stderr. It reads no
 * environment itself: the caller passes the variables' values.
 */
#ifndef OTAD_CORE_JOURNAL_H
#define OTAD_CORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Where journald listens for native entries. */
#define JOURNAL_NATIVE_SOCKET "/run/systemd/journal/socket"

/* An entry's fields being written: caller-owned storage over a fixed buffer. */
struct journal_entry {
    char *data; /* borrowed buffer of CAPACITY bytes */
    size_t capacity;
    size_t len;      /* bytes written so far */
    bool overflowed; /* a field did not fit: the entry must not be sent */
};

/* Starts an empty entry in DATA (borrowed, CAPACITY bytes). */
void journal_entry_init(struct journal_entry *e, char *data, size_t capacity);

/*
 * Appends the field KEY=VALUE (both borrowed; KEY upper-case letters,
 * digits and '_', not starting with '_' or a digit: asserted, a programmer
 * error). A VALUE with a newline takes the binary form. A field that does
 * not fit sets E->overflowed and leaves E->len as it was.
 */
void journal_entry_add(struct journal_entry *e, const char *key, const char *value);

/*
 * Whether JOURNAL_STREAM's VALUE ("DEV:INO", borrowed, NULL when unset)
 * names the file FD is open on: systemd connected that stream to the
 * journal. False on any mismatch or parse error.
 */
bool journal_stream_is(const char *value, int fd);

/*
 * Opens a datagram socket connected to PATH (borrowed; NULL means
 * JOURNAL_NATIVE_SOCKET). Returns the descriptor, or -errno.
 */
int journal_connect(const char *path);

/* Sends E's bytes on FD (from journal_connect). Returns 0, or -errno (-EMSGSIZE, -ENOBUFS ...). */
int journal_send(int fd, const struct journal_entry *e);

#endif
