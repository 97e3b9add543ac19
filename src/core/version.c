/*
 * Semantic-version recognition and ordering (version.h). A string is parsed
 * in place into its three numbers and a pointer to its pre-release; nothing
 * is copied or allocated, so this runs on every check-in. This file decides
 * what counts as a semantic version, including the firmware-world strings
 * that look like one but do not order as one (dates, git describe output);
 * what to do with the others is the service's business.
 */
#include "core/version.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A parsed version: the numbers, and the pre-release text (not NUL-terminated). */
struct semver {
    uint64_t core[3];
    const char *pre; /* NULL when there is no pre-release */
    size_t pre_len;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/*
 * Reads a numeric identifier at *P: digits, no leading zero unless it is "0",
 * at most UINT64_MAX. Advances *P past it. Returns false when there is none.
 */
static bool read_number(const char **p, uint64_t *ret)
{
    const char *s = *p;
    if (!is_digit(*s))
        return false;
    if (s[0] == '0' && is_digit(s[1]))
        return false;
    uint64_t v = 0;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    *p = s;
    return true;
}

/* Value of an all-digit identifier already checked to fit in 64 bits. */
static uint64_t number_value(const char *s, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

/*
 * git describe appends "-<commits>-g<abbreviated hash>" (and maybe "-dirty")
 * to the tag. As a pre-release that would sort *below* the tag it follows, so
 * such a version is not treated as semver at all.
 */
static bool is_git_describe(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_digit(s[i]))
        i++;
    if (i == 0 || i + 2 > len || s[i] != '-' || s[i + 1] != 'g')
        return false;
    i += 2;
    size_t hex = 0;
    while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
        i++;
        hex++;
    }
    if (hex < 4)
        return false;
    return i == len || (len - i == 6 && memcmp(s + i, "-dirty", 6) == 0);
}

/*
 * Checks one pre-release identifier S[0, LEN). Besides semver's rules (not
 * empty, [0-9A-Za-z-], numeric ones without leading zeros and, here, within
 * 64 bits) it refuses identifiers made only of digits and hyphens ("01-05",
 * the tail of a date such as 2024-01-05): those are dates or counters whose
 * lexical order is not their real order.
 */
static bool pre_ident_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    bool letters = false, hyphens = false;
    for (size_t i = 0; i < len; i++) {
        if (!is_ident_char(s[i]))
            return false;
        if (s[i] == '-')
            hyphens = true;
        else if (!is_digit(s[i]))
            letters = true;
    }
    if (letters)
        return true;
    if (hyphens)
        return false; /* digits and hyphens: a date or a counter */
    uint64_t v;
    const char *p = s;
    /* All digits: read_number stops at the '.', '+' or NUL that ends it. */
    return read_number(&p, &v);
}

/* Checks a dot-separated list of identifiers up to '+' or the end; returns its length, or 0. */
static size_t read_identifiers(const char *s, bool pre)
{
    size_t n = 0;
    for (;;) {
        size_t len = 0;
        while (s[n + len] && s[n + len] != '.' && s[n + len] != '+')
            len++;
        if (len == 0)
            return 0;
        if (pre) {
            if (!pre_ident_ok(s + n, len))
                return 0;
        } else {
            for (size_t i = 0; i < len; i++)
                if (!is_ident_char(s[n + i]))
                    return 0;
        }
        n += len;
        if (s[n] != '.')
            return n;
        n++;
    }
}

static bool semver_parse(const char *s, struct semver *ret)
{
    struct semver v = {0};
    if (!s)
        return false;
    if (*s == 'v' || *s == 'V')
        s++;
    for (int i = 0; i < 3; i++) {
        if (!read_number(&s, &v.core[i]))
            return false;
        if (*s != '.' || i == 2)
            break;
        s++;
    }
    if (*s == '-') {
        s++;
        size_t n = read_identifiers(s, true);
        if (n == 0 || is_git_describe(s, n))
            return false;
        v.pre = s;
        v.pre_len = n;
        s += n;
    }
    if (*s == '+') {
        s++;
        size_t n = read_identifiers(s, false);
        if (n == 0)
            return false;
        s += n;
    }
    if (*s)
        return false;
    *ret = v;
    return true;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Compares one pre-release identifier with another (semver 2.0 §11.4.1-3). */
static int ident_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    bool anum = all_digits(a, alen), bnum = all_digits(b, blen);
    if (anum && bnum)
        return cmp_u64(number_value(a, alen), number_value(b, blen));
    if (anum != bnum)
        return anum ? -1 : 1;
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c < 0 ? -1 : 1;
    return cmp_u64(alen, blen);
}

/* Compares two pre-releases, identifier by identifier (§11.4). */
static int pre_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        size_t ai = i, bj = j;
        while (i < alen && a[i] != '.')
            i++;
        while (j < blen && b[j] != '.')
            j++;
        int c = ident_compare(a + ai, i - ai, b + bj, j - bj);
        if (c)
            return c;
        i += i < alen; /* past the dot */
        j += j < blen;
    }
    /* Equal so far: the one with identifiers left sorts higher. */
    return (i < alen) - (j < blen);
}

bool version_is_semver(const char *s)
{
    struct semver v;
    return semver_parse(s, &v);
}

int version_compare(const char *a, const char *b, int *ret_cmp)
{
    struct semver va, vb;
    if (!semver_parse(a, &va) || !semver_parse(b, &vb))
        return -EINVAL;
    int c = 0;
    for (int i = 0; i < 3 && c == 0; i++)
        c = cmp_u64(va.core[i], vb.core[i]);
    if (c == 0) {
        /* A release sorts above any of its pre-releases (§11.3). */
        if (va.pre && vb.pre)
            c = pre_compare(va.pre, va.pre_len, vb.pre, vb.pre_len);
        else if (va.pre || vb.pre)
            c = va.pre ? -1 : 1;
    }
    *ret_cmp = c;
    return 0;
}
