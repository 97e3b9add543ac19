/*
 * Named time zones: the TZif reader, the POSIX TZ string of its footer, and
 * the offset at an instant (tz.h). The file layout (RFC 8536, section 3):
 *
 *   header      "TZif", version (0, '2', '3', '4'), 15 unused bytes, six
 *               big-endian 32-bit counts: isut, isstd, leap, time, type, char
 *   data        time x transition time (4 bytes in version 1, 8 after),
 *               time x type index (1 byte), type x (utoff 4, isdst 1,
 *               desigidx 1), char x abbreviation bytes, leap x (occurrence
 *               4 or 8, correction 4), isstd x 1, isut x 1
 *   version 2+  a second header and data block with 64-bit times, then the
 *               footer: '\n', a POSIX TZ string (maybe empty), '\n'
 *
 * Everything a count says is checked against the bytes left before it is
 * read, and against LIMIT_TZ_* before anything is allocated.
 */
#include "core/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/util.h"

#define TZIF_HEADER_BYTES 44u
/* RFC 8536: a UT offset SHOULD lie in [-89999, 93599] (-25 h .. +26 h, exclusive). */
#define TZ_UTOFF_MIN (-89999)
#define TZ_UTOFF_MAX 93599
/* POSIX TZ strings: offsets up to 24:59:59; RFC 8536 rule times -167..167 hours. */
#define TZ_OFFSET_HOURS_MAX    24
#define TZ_RULE_HOURS_MAX      167
#define TZ_RULE_TIME_DEFAULT_S (2 * 3600)
#define SECONDS_PER_DAY        86400
/* The Gregorian calendar repeats, weekdays included, every 400 years (146097 days). */
#define GREGORIAN_CYCLE_S ((int64_t)146097 * SECONDS_PER_DAY)

/* A day of the year in a POSIX TZ rule, and the local time of day it changes at. */
struct tz_rule_date {
    char kind;      /* 'J': Julian day 1..365, Feb 29 never counted; 'D': day 0..365; 'M' */
    int16_t day;    /* kind 'J' and 'D' */
    int16_t month;  /* kind 'M': 1..12 */
    int16_t week;   /* kind 'M': 1..4, or 5 for the last such weekday of the month */
    int16_t wday;   /* kind 'M': 0 (Sunday) .. 6 */
    int32_t time_s; /* local time of day, -167 h .. 167 h */
};

/* A footer's TZ string: standard time, and DST with its two changes if it has one. */
struct tz_rule {
    int32_t std_utoff; /* seconds east of UTC (POSIX writes the sign the other way) */
    int32_t dst_utoff;
    bool has_dst;
    struct tz_rule_date start; /* standard -> DST, at a time in standard time */
    struct tz_rule_date end;   /* DST -> standard, at a time in DST */
};

struct tz_transition {
    int64_t at;    /* seconds since the epoch; strictly ascending */
    int32_t utoff; /* in force from AT on */
};

struct tz {
    char name[LIMIT_TZ_NAME_BYTES + 1];
    int32_t first_utoff; /* before the first transition: time type 0 */
    bool has_rule;       /* after the last transition (or always, with none): RULE */
    struct tz_rule rule;
    size_t n;
    struct tz_transition trans[];
};

/* The counts of one TZif header. */
struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len > LIMIT_TZ_NAME_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '+' || c == '/';
        if (!ok)
            return false;
        /* No leading, trailing or doubled '/': every part names something. */
        if (c == '/' && (i == 0 || i + 1 == len || name[i + 1] == '/'))
            return false;
    }
    return true;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A mod B in [0, B) for B > 0; without floor_div, which INT64_MIN would overflow here. */
static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* ---- The calendar (proleptic Gregorian), days counted from 1970-01-01. ---- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to Y-M-D (M 1..12), after H. Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year that day DAYS (from 1970-01-01) falls in. */
static int64_t year_of_days(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The day (from 1970-01-01) that rule date D names in year Y. */
static int64_t rule_day(const struct tz_rule_date *d, int64_t y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (d->kind) {
    case 'J':
        return jan1 + d->day - 1 + (is_leap(y) && d->day >= 60);
    case 'D':
        return jan1 + d->day;
    default: {
        int64_t first = days_from_civil(y, d->month, 1);
        int first_wday = (int)floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday */
        int64_t day = first + (d->wday - first_wday + 7) % 7 + 7 * (d->week - 1);
        if (day >= first + month_days(y, d->month))
            day -= 7; /* week 5: the last one */
        return day;
    }
    }
}

/*
 * The offset RULE gives at T. The changes of T's year and its neighbours
 * are laid out in order and the last one at or before T wins; a rule time
 * may move a change up to a week into the next or the previous year.
 */
static int32_t rule_offset(const struct tz_rule *rule, int64_t t)
{
    if (!rule->has_dst)
        return rule->std_utoff;
    /* Any T maps to the same point of a 400-year cycle in 1970..2369: no overflow. */
    t = floor_mod(t, GREGORIAN_CYCLE_S);
    int64_t year = year_of_days(t / SECONDS_PER_DAY);
    int64_t best_at = INT64_MIN;
    int32_t best = rule->std_utoff;
    for (int64_t y = year - 2; y <= year + 1; y++) {
        int64_t start =
            rule_day(&rule->start, y) * SECONDS_PER_DAY + rule->start.time_s - rule->std_utoff;
        int64_t end =
            rule_day(&rule->end, y) * SECONDS_PER_DAY + rule->end.time_s - rule->dst_utoff;
        /*
         * Later changes win ties: "DST all year" ends one year at the very
         * second it starts the next.
         */
        if (start <= t && start >= best_at) {
            best_at = start;
            best = rule->dst_utoff;
        }
        if (end <= t && end >= best_at) {
            best_at = end;
            best = rule->std_utoff;
        }
    }
    return best;
}

/* ---- The POSIX TZ string (RFC 8536, section 3.3). ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads an unsigned decimal number in [MIN, MAX] at *P. */
static int parse_num(const char **p, int min, int max, int *ret)
{
    const char *s = *p;
    int v = 0;
    if (!is_digit(*s))
        return -EBADMSG;
    while (is_digit(*s)) {
        v = v * 10 + (*s - '0');
        if (v > max)
            return -EBADMSG;
        s++;
    }
    if (v < min)
        return -EBADMSG;
    *p = s;
    *ret = v;
    return 0;
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, '+', '-'. */
static int parse_abbr(const char **p)
{
    const char *s = *p;
    size_t len = 0;
    if (*s == '<') {
        s++;
        while (is_alpha(s[len]) || is_digit(s[len]) || s[len] == '+' || s[len] == '-')
            len++;
        if (s[len] != '>')
            return -EBADMSG;
        *p = s + len + 1;
    } else {
        while (is_alpha(s[len]))
            len++;
        *p = s + len;
    }
    return len >= 3 ? 0 : -EBADMSG;
}

/* [+-]hh[:mm[:ss]] with hh at most MAX_HOURS, as signed seconds. */
static int parse_hms(const char **p, int max_hours, int32_t *ret_s)
{
    const char *s = *p;
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (parse_num(&s, 0, max_hours, &h) < 0)
        return -EBADMSG;
    if (*s == ':') {
        s++;
        if (parse_num(&s, 0, 59, &m) < 0)
            return -EBADMSG;
        if (*s == ':') {
            s++;
            if (parse_num(&s, 0, 59, &sec) < 0)
                return -EBADMSG;
        }
    }
    *p = s;
    *ret_s = sign * (h * 3600 + m * 60 + sec);
    return 0;
}

/* A POSIX offset (hours west, "-1" is UTC+1) as seconds east of UTC. */
static int parse_offset(const char **p, int32_t *ret_utoff)
{
    int32_t west;
    if (parse_hms(p, TZ_OFFSET_HOURS_MAX, &west) < 0)
        return -EBADMSG;
    *ret_utoff = -west;
    return 0;
}

/* ",date[/time]": Jn, n or Mm.w.d, then the time of day (default 02:00). */
static int parse_rule_date(const char **p, struct tz_rule_date *d)
{
    const char *s = *p;
    int a, b, c;
    if (*s++ != ',')
        return -EBADMSG;
    memset(d, 0, sizeof(*d));
    if (*s == 'J') {
        s++;
        if (parse_num(&s, 1, 365, &a) < 0)
            return -EBADMSG;
        d->kind = 'J';
        d->day = (int16_t)a;
    } else if (*s == 'M') {
        s++;
        if (parse_num(&s, 1, 12, &a) < 0 || *s++ != '.' || parse_num(&s, 1, 5, &b) < 0 ||
            *s++ != '.' || parse_num(&s, 0, 6, &c) < 0)
            return -EBADMSG;
        d->kind = 'M';
        d->month = (int16_t)a;
        d->week = (int16_t)b;
        d->wday = (int16_t)c;
    } else {
        if (parse_num(&s, 0, 365, &a) < 0)
            return -EBADMSG;
        d->kind = 'D';
        d->day = (int16_t)a;
    }
    d->time_s = TZ_RULE_TIME_DEFAULT_S;
    if (*s == '/') {
        s++;
        if (parse_hms(&s, TZ_RULE_HOURS_MAX, &d->time_s) < 0)
            return -EBADMSG;
    }
    *p = s;
    return 0;
}

/*
 * "std offset [dst [offset] ,start[/time],end[/time]]". A DST name without
 * its rule is refused: POSIX leaves the dates to the implementation, and
 * zic always writes them.
 */
static int parse_rule(const char *s, struct tz_rule *rule)
{
    memset(rule, 0, sizeof(*rule));
    if (parse_abbr(&s) < 0 || parse_offset(&s, &rule->std_utoff) < 0)
        return -EBADMSG;
    if (*s == 0)
        return 0;
    if (parse_abbr(&s) < 0)
        return -EBADMSG;
    rule->has_dst = true;
    rule->dst_utoff = rule->std_utoff + 3600;
    if (*s != ',' && parse_offset(&s, &rule->dst_utoff) < 0)
        return -EBADMSG;
    if (parse_rule_date(&s, &rule->start) < 0 || parse_rule_date(&s, &rule->end) < 0)
        return -EBADMSG;
    return *s == 0 ? 0 : -EBADMSG;
}

/* ---- The TZif file. ---- */

/* Reads a header at DATA[*POS]: magic, version, counts; checks them against the limits. */
static int parse_header(const uint8_t *data, size_t len, size_t *pos, char *ret_version,
                        struct tzif_counts *c)
{
    if (len - *pos < TZIF_HEADER_BYTES)
        return -EBADMSG;
    const uint8_t *h = data + *pos;
    if (memcmp(h, "TZif", 4) != 0)
        return -EBADMSG;
    char v = (char)h[4];
    if (v != 0 && v != '2' && v != '3' && v != '4')
        return -EBADMSG; /* a later version may change what the data means */
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chars = be32(h + 40);
    if (c->time > LIMIT_TZ_TRANSITIONS || c->type > LIMIT_TZ_TYPES || c->chars > LIMIT_TZ_CHARS ||
        c->leap > LIMIT_TZ_LEAPS || c->isut > c->type || c->isstd > c->type)
        return -EBADMSG;
    *pos += TZIF_HEADER_BYTES;
    *ret_version = v;
    return 0;
}

/* The bytes of the data block that counts C describe, with TIME_BYTES-byte times. */
static size_t block_bytes(const struct tzif_counts *c, size_t time_bytes)
{
    return (size_t)c->time * (time_bytes + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (time_bytes + 4) + c->isstd + c->isut;
}

/*
 * Checks the data block at DATA[POS] (all of it present, as block_bytes
 * says) and fills TZ's transitions and first offset from it.
 */
static int parse_block(const uint8_t *data, size_t pos, const struct tzif_counts *c,
                       size_t time_bytes, struct tz *tz)
{
    if (c->type == 0 || c->chars == 0 || (c->isut != 0 && c->isut != c->type) ||
        (c->isstd != 0 && c->isstd != c->type))
        return -EBADMSG;
    const uint8_t *times = data + pos;
    const uint8_t *idx = times + (size_t)c->time * time_bytes;
    const uint8_t *types = idx + c->time;
    const uint8_t *isstd =
        types + (size_t)c->type * 6 + c->chars + (size_t)c->leap * (time_bytes + 4);
    const uint8_t *isut = isstd + c->isstd;

    int32_t utoff[LIMIT_TZ_TYPES];
    for (uint32_t i = 0; i < c->type; i++) {
        const uint8_t *t = types + (size_t)i * 6;
        int32_t off = (int32_t)be32(t);
        if (off < TZ_UTOFF_MIN || off > TZ_UTOFF_MAX || t[4] > 1 || t[5] >= c->chars)
            return -EBADMSG;
        utoff[i] = off;
    }
    for (uint32_t i = 0; i < c->isstd; i++)
        if (isstd[i] > 1 || (c->isut && isut[i] > isstd[i]))
            return -EBADMSG; /* UT implies standard (RFC 8536, 3.2) */
    for (uint32_t i = 0; i < c->isut; i++)
        if (isut[i] > 1 || (isut[i] && c->isstd == 0))
            return -EBADMSG;
    for (uint32_t i = 0; i < c->time; i++) {
        const uint8_t *t = times + (size_t)i * time_bytes;
        int64_t at = time_bytes == 8 ? be64(t) : (int64_t)(int32_t)be32(t);
        if (idx[i] >= c->type || (i > 0 && at <= tz->trans[i - 1].at))
            return -EBADMSG;
        tz->trans[i].at = at;
        tz->trans[i].utoff = utoff[idx[i]];
    }
    tz->n = c->time;
    tz->first_utoff = utoff[0];
    return 0;
}

int tz_parse(const uint8_t *data, size_t len, const char *name, struct tz **ret)
{
    if (!name_valid(name))
        return -EINVAL;
    size_t pos = 0;
    char version;
    struct tzif_counts c;
    if (parse_header(data, len, &pos, &version, &c) < 0)
        return -EBADMSG;
    size_t time_bytes = 4;
    if (version != 0) {
        /* Version 2+: skip the 32-bit block to the second header and 64-bit block. */
        char version2;
        size_t skip = block_bytes(&c, 4);
        if (len - pos < skip)
            return -EBADMSG;
        pos += skip;
        if (parse_header(data, len, &pos, &version2, &c) < 0 || version2 != version)
            return -EBADMSG;
        time_bytes = 8;
    }
    size_t block = block_bytes(&c, time_bytes);
    if (len - pos < block)
        return -EBADMSG;

    /* The footer: "\n" TZ-string "\n", and nothing after it. Version 1 has none. */
    const char *footer = NULL;
    size_t footer_len = 0;
    size_t end = pos + block;
    if (version != 0) {
        const uint8_t *f = data + end;
        size_t left = len - end;
        if (left < 2 || f[0] != '\n' || f[left - 1] != '\n')
            return -EBADMSG;
        footer = (const char *)f + 1;
        footer_len = left - 2;
        if (footer_len > LIMIT_TZ_FOOTER_BYTES || memchr(footer, '\n', footer_len) ||
            memchr(footer, 0, footer_len))
            return -EBADMSG;
    } else if (len != end) {
        return -EBADMSG;
    }

    struct tz *tz = calloc(1, sizeof(*tz) + (size_t)c.time * sizeof(tz->trans[0]));
    if (!tz)
        return -ENOMEM;
    int r = -EBADMSG;
    if (parse_block(data, pos, &c, time_bytes, tz) < 0)
        goto fail;
    if (footer_len > 0) {
        char s[LIMIT_TZ_FOOTER_BYTES + 1];
        memcpy(s, footer, footer_len);
        s[footer_len] = 0;
        if (parse_rule(s, &tz->rule) < 0)
            goto fail;
        tz->has_rule = true;
    }
    (void)str_copy(tz->name, sizeof(tz->name), *name ? name : "UTC");
    *ret = tz;
    return 0;
fail:
    free(tz);
    return r;
}

int tz_load_from(const char *dir, const char *name, struct tz **ret)
{
    if (!name_valid(name))
        return -EINVAL;
    if (*name == 0 || strcmp(name, "UTC") == 0) {
        struct tz *tz = calloc(1, sizeof(*tz));
        if (!tz)
            return -ENOMEM;
        (void)str_copy(tz->name, sizeof(tz->name), "UTC");
        *ret = tz;
        return 0;
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    uint8_t *data = NULL;
    size_t len = 0;
    int r = file_read_all(path, LIMIT_TZ_FILE_BYTES, &data, &len);
    if (r == -ENOTDIR || r == -EISDIR)
        return -ENOENT; /* "UTC/x", or a folder such as "Europe": no such zone */
    if (r == -EFBIG)
        return -EBADMSG;
    if (r < 0)
        return r;
    r = tz_parse(data, len, name, ret);
    free(data);
    return r;
}

int tz_load(const char *name, struct tz **ret)
{
    return tz_load_from(TZ_DEFAULT_DIR, name, ret);
}

int32_t tz_offset_s(const struct tz *tz, int64_t utc_s)
{
    if (!tz)
        return 0;
    if (tz->n == 0)
        return tz->has_rule ? rule_offset(&tz->rule, utc_s) : tz->first_utoff;
    if (utc_s < tz->trans[0].at)
        return tz->first_utoff;
    if (utc_s > tz->trans[tz->n - 1].at && tz->has_rule)
        return rule_offset(&tz->rule, utc_s);
    /* The last transition at or before UTC_S: trans[lo].at <= utc_s < trans[hi].at. */
    size_t lo = 0, hi = tz->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid].at <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    return tz->trans[lo].utoff;
}

int tz_local_minute(const struct tz *tz, int64_t utc_ms)
{
    int64_t utc_s = floor_div(utc_ms, 1000);
    int64_t local = utc_s + tz_offset_s(tz, utc_s); /* |utc_s| < 2^54: no overflow */
    return (int)(floor_mod(local, SECONDS_PER_DAY) / 60);
}

const char *tz_name(const struct tz *tz)
{
    return tz->name;
}

void tz_free(struct tz *tz)
{
    free(tz);
}
