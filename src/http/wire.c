/* Request-head checks (wire.h). */
#include "http/wire.h"

#include <string.h>

#include "core/util.h"

/*
 * RFC 9110 §5.6.2: a tchar is a letter, a digit or one of !#$%&'*+-.^_`|~.
 * A table, so that the check costs a load per byte: every header name of
 * every check-in goes through here.
 */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool wire_is_token(const char *s, size_t len)
{
    unsigned char all = len > 0;
    for (size_t i = 0; i < len; i++)
        all &= tchar[(unsigned char)s[i]];
    return all;
}

bool wire_percent_decode(const char *in, size_t len, char *out, size_t *ret_len)
{
    bool nul = false;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int hi, lo;
        if (in[i] == '%' && len - i >= 3 && (hi = hex_digit_value(in[i + 1])) >= 0 &&
            (lo = hex_digit_value(in[i + 2])) >= 0) {
            out[o] = (char)(hi << 4 | lo);
            nul |= out[o] == 0;
            o++;
            i += 3;
        } else {
            out[o++] = in[i++];
        }
    }
    out[o] = 0;
    *ret_len = o;
    return !nul;
}

/*
 * Whether [FROM, TO) lies inside the head, holds only NUL bytes (separators
 * the parser consumed) and is MIN to MAX bytes long.
 */
static bool nul_gap(const struct wire_head *head, uintptr_t from, uintptr_t to, size_t min,
                    size_t max)
{
    if (from < head->start || to > head->end || to < from || to - from < min || to - from > max)
        return false;
    for (uintptr_t p = from; p < to; p++)
        if (*(const char *)p != 0)
            return false;
    return true;
}

void wire_head_begin(struct wire_head *head, const char *method, const char *target,
                     size_t head_size)
{
    head->start = (uintptr_t)method;
    head->end = head->start + head_size;
    head->at = head->start;
    head->broken = true;
    size_t method_len = strlen(method);
    if (head_size == 0 || !wire_is_token(method, method_len))
        return;
    /* One space (now a NUL) between method and target: a NUL inside the method shows here. */
    uintptr_t t = (uintptr_t)target;
    if (!nul_gap(head, head->start + method_len, t, 1, 1) || t >= head->end)
        return;
    head->at = t + strlen(target);
    head->broken = head->at >= head->end;
}

void wire_head_argument(struct wire_head *head, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    uintptr_t n = (uintptr_t)name;
    /* The '?' or '&' before it. */
    if (head->broken || !nul_gap(head, head->at, n, 1, 1) || name_len >= head->end - n) {
        head->broken = true;
        return;
    }
    head->at = n + name_len;
    if (!value)
        return;
    uintptr_t v = (uintptr_t)value;
    /* The '='. */
    if (!nul_gap(head, head->at, v, 1, 1) || value_len >= head->end - v) {
        head->broken = true;
        return;
    }
    head->at = v + value_len;
}

void wire_head_version(struct wire_head *head, const char *version)
{
    uintptr_t v = (uintptr_t)version;
    /* The space before the version, after an empty query ("/x?") or a trailing '&' if any. */
    if (head->broken || !nul_gap(head, head->at, v, 1, 2) || v >= head->end) {
        head->broken = true;
        return;
    }
    head->at = v + strlen(version);
    head->broken = head->at >= head->end;
}

void wire_head_field(struct wire_head *head, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    uintptr_t n = (uintptr_t)name, v = (uintptr_t)value;
    /* The line end before it (CRLF or LF), then the ':' after the name. */
    if (head->broken || !value || !nul_gap(head, head->at, n, 1, 2) || name_len >= head->end - n ||
        !nul_gap(head, n + name_len, n + name_len + 1, 1, 1) || v < n + name_len + 1 ||
        v > head->end || value_len >= head->end - v) {
        head->broken = true;
        return;
    }
    /* Only the blanks the parser skips may lie between the ':' and the value. */
    for (uintptr_t p = n + name_len + 1; p < v; p++) {
        char c = *(const char *)p;
        if (c != ' ' && c != '\t') {
            head->broken = true;
            return;
        }
    }
    head->at = v + value_len;
}

bool wire_head_intact(struct wire_head *head)
{
    /* The last line's end and the blank line: two to four NULs, and nothing after them. */
    if (!head->broken && !nul_gap(head, head->at, head->end, 2, 4))
        head->broken = true;
    return !head->broken;
}
