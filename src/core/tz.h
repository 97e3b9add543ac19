/*
 * Named time zones without the TZ environment variable: the offset from UTC
 * and the minute of the local day in a zone such as "Europe/Berlin" at any
 * instant. setenv and tzset are not thread-safe and every thread shares the
 * environment, so the daemon never touches them; it loads the zone's compiled
 * file (TZif, RFC 8536, versions 1 to 4) once into a struct tz and asks that.
 *
 * Up to the file's last transition the answer comes from its transitions (the
 * 64-bit block of a version 2+ file); after it, from the file's footer, a
 * POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" with RFC 8536's
 * extensions (rule times from -167 to 167 hours, DST all year). Before the
 * first transition the file's first time type holds. Leap-second records are
 * read past and not applied: the zones under "right/" are a few seconds off
 * near their transitions, which a minute of the day does not see.
 *
 * Owns nothing beyond its struct tz; reads files only in tz_load and
 * tz_load_from. A loaded struct tz is immutable: any number of threads may
 * ask it at once.
 */
#ifndef OTAD_CORE_TZ_H
#define OTAD_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Where the system keeps its compiled zones (Debian's tzdata package). */
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* A loaded zone: opaque, immutable, from tz_load / tz_parse, freed with tz_free. */
struct tz;

/*
 * Loads the zone NAME from TZ_DEFAULT_DIR into a new struct tz, which the
 * caller frees with tz_free. "UTC" and "" (UTC, the default) need no file.
 * Returns 0 and writes *RET, or:
 *   -EINVAL    NAME is not a plausible zone name: longer than
 *              LIMIT_TZ_NAME_BYTES, a character other than ASCII letters,
 *              digits, '/', '_', '-', '+', a leading or trailing '/', or an
 *              empty part ("a//b")
 *   -ENOENT    there is no such zone (no file, or a folder such as "Europe")
 *   -EBADMSG   the file is not a well-formed TZif file within the limits of
 *              core/limits.h (LIMIT_TZ_*), or its footer is not a TZ string
 *   -ENOMEM, or another -errno from reading the file (-EACCES ...)
 * *RET is written only on success.
 */
int tz_load(const char *name, struct tz **ret);

/*
 * As tz_load, but reads NAME below the folder DIR (borrowed) instead of
 * TZ_DEFAULT_DIR: for tests, and for systems that keep their zones elsewhere.
 */
int tz_load_from(const char *dir, const char *name, struct tz **ret);

/*
 * Parses the LEN bytes at DATA (borrowed) as a TZif file for the zone NAME
 * (borrowed, copied; it must pass the check of tz_load, but "UTC" and "" here
 * are parsed from DATA like any other name). tz_load_from reads the file and
 * calls this; the fuzz target calls it directly. Returns 0 and writes *RET,
 * or -EINVAL (NAME), -EBADMSG (DATA), -ENOMEM.
 */
int tz_parse(const uint8_t *data, size_t len, const char *name, struct tz **ret);

/*
 * The offset from UTC, in seconds east (Berlin in summer: 7200), that TZ
 * gives at UTC_S seconds since the epoch, for any UTC_S. A NULL TZ is UTC.
 * Pure: no allocation, no lock, no environment.
 */
int32_t tz_offset_s(const struct tz *tz, int64_t utc_s);

/*
 * The minute of the local day in TZ (0 for 00:00 .. 1439 for 23:59) at
 * UTC_MS milliseconds since the epoch. A NULL TZ is UTC. Pure, as tz_offset_s.
 */
int tz_local_minute(const struct tz *tz, int64_t utc_ms);

/* The name TZ was loaded under ("UTC" for ""); owned by TZ. TZ must not be NULL. */
const char *tz_name(const struct tz *tz);

/* Frees TZ; NULL is ignored. */
void tz_free(struct tz *tz);

#endif
