/*
 * The head of a server's answer, read one byte at a time as the stock
 * updaters read it (include/otac/response.h has the rules;
 * docs/reference/stock-clients.md §4 the clients' own). The state is the
 * struct alone: the status line and each header line go through one line
 * buffer, and a line is acted on when its LF arrives, so an answer cut into
 * pieces anywhere parses exactly as the whole. Every count is bounded: the
 * head by OTAC_HEAD_MAX, a kept value by the line buffer (a longer one is
 * "too long", never an overrun), a skipped header by nothing but the head.
 *
 * It reads the head only: what a status or a missing header means for an
 * update is the session's (lib/session.c).
 */
#include "otac/response.h"

#include <string.h>

/* Where the parser is. */
enum {
    STATE_STATUS = 0, /* in the status line; LEN bytes of it read */
    STATE_LINE_START, /* at the start of a header line, or in its leading blanks */
    STATE_NAME,       /* in a header name; LEN bytes of it read */
    STATE_VALUE_LEAD, /* after the colon, in the blanks before the value */
    STATE_VALUE,      /* in a kept header's value; LEN bytes of it kept */
    STATE_VALUE_LONG, /* in a kept header's value too long for the line buffer */
    STATE_SKIP,       /* in a header this parser does not keep */
    STATE_DONE,       /* the empty line was read */
    STATE_FAILED,     /* malformed; nothing more is read */
};

/* The headers kept; also their bits in SEEN. */
enum {
    HEADER_NONE = 0,
    HEADER_CONTENT_LENGTH,
    HEADER_CONTENT_RANGE,
    HEADER_TRANSFER_ENCODING,
    HEADER_MD5,
    HEADER_VERSION,
    HEADER_ETAG,
    HEADER_LOCATION,
    HEADER_RETRY_AFTER,
    HEADER_CONNECTION,
};

/* SEEN bits that are not a header: tokens of Connection. */
#define SEEN_CLOSE      (1u << 14)
#define SEEN_KEEP_ALIVE (1u << 15)

static const struct {
    const char *name;
    uint8_t header;
} kept_headers[] = {
    {"Content-Length", HEADER_CONTENT_LENGTH},
    {"Content-Range", HEADER_CONTENT_RANGE},
    {"Transfer-Encoding", HEADER_TRANSFER_ENCODING},
    {"x-MD5", HEADER_MD5},
    {"x-version", HEADER_VERSION},
    {"ETag", HEADER_ETAG},
    {"Location", HEADER_LOCATION},
    {"Retry-After", HEADER_RETRY_AFTER},
    {"Connection", HEADER_CONNECTION},
};

/* Bytes of a header name kept to compare: one more than the longest kept name. */
#define NAME_KEPT 18u
#define VALUE_CAP (sizeof(((struct otac_response *)0)->line))

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Whether the N bytes at A equal the NUL-terminated B, without regard to ASCII case. */
static int equal_nocase(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n; i++) {
        if (!b[i] || lower(a[i]) != lower(b[i]))
            return 0;
    }
    return b[i] == '\0';
}

static uint8_t header_named(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++) {
        if (equal_nocase(name, n, kept_headers[i].name))
            return kept_headers[i].header;
    }
    return HEADER_NONE;
}

/*
 * The decimal number in the N bytes at TEXT (digits only, at least one),
 * at most MAX, into *RET_VALUE. Returns 0 when TEXT is not such a number.
 */
static int parse_decimal(const char *text, size_t n, uint64_t max, uint64_t *ret_value)
{
    uint64_t value = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned digit = (unsigned)(text[i] - '0');
        if (digit > 9 || value > (max - digit) / 10)
            return 0;
        value = value * 10 + digit;
    }
    *ret_value = value;
    return 1;
}

/* Whether the N bytes at TEXT are one or more decimal digits. */
static int all_digits(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
    }
    return n > 0;
}

/* Calls TOKEN for each comma-separated element of the N bytes at TEXT, blanks trimmed. */
static void each_token(struct otac_response *r, const char *text, size_t n,
                       void (*token)(struct otac_response *, const char *, size_t))
{
    size_t start = 0;
    while (start <= n) {
        size_t end = start;
        while (end < n && text[end] != ',')
            end++;
        size_t first = start, last = end;
        while (first < last && is_blank(text[first]))
            first++;
        while (last > first && is_blank(text[last - 1]))
            last--;
        token(r, text + first, last - first);
        start = end + 1;
    }
}

static void transfer_coding(struct otac_response *r, const char *token, size_t n)
{
    if (equal_nocase(token, n, "chunked"))
        r->chunked = 1;
}

static void connection_option(struct otac_response *r, const char *token, size_t n)
{
    if (equal_nocase(token, n, "close"))
        r->seen |= SEEN_CLOSE;
    else if (equal_nocase(token, n, "keep-alive"))
        r->seen |= SEEN_KEEP_ALIVE;
}

static void set_range_absent(struct otac_response *r)
{
    r->range_first = r->range_last = r->range_total = -1;
}

/* "bytes A-B/T" with A <= B < T, or a 416's "bytes * /T" (without the blank). */
static void parse_content_range(struct otac_response *r, const char *v, size_t n)
{
    const uint64_t max = INT64_MAX;
    uint64_t first, last, total;
    size_t i = 5;
    if (n < 6 || !equal_nocase(v, 5, "bytes") || v[5] != ' ')
        return;
    while (i < n && v[i] == ' ')
        i++;
    const char *slash = memchr(v + i, '/', n - i);
    if (!slash || !parse_decimal(slash + 1, (size_t)(v + n - slash - 1), max, &total))
        return;
    if ((size_t)(slash - (v + i)) == 1 && v[i] == '*') {
        r->range_total = (int64_t)total;
        return;
    }
    const char *dash = memchr(v + i, '-', (size_t)(slash - (v + i)));
    if (!dash || !parse_decimal(v + i, (size_t)(dash - (v + i)), max, &first) ||
        !parse_decimal(dash + 1, (size_t)(slash - dash - 1), max, &last))
        return;
    if (first > last || last >= total)
        return;
    r->range_first = (int64_t)first;
    r->range_last = (int64_t)last;
    r->range_total = (int64_t)total;
}

/*
 * Whether the N bytes at V are a field value's text: no control byte but the
 * tab (RFC 9110 field-content). A CR or NUL inside would cut or break the
 * line a kept value is written back on (x-version is the version the device
 * reports in its next request).
 */
static int text_is_field_content(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Copies the N bytes at V into FIELD of SIZE bytes when they fit with the NUL and are text. */
static void keep_text(char *field, size_t size, const char *v, size_t n)
{
    if (n < size && text_is_field_content(v, n)) {
        memcpy(field, v, n);
        field[n] = '\0';
    }
}

static void keep_md5(struct otac_response *r, const char *v, size_t n)
{
    if (n != 32)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = lower(v[i]);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return;
    }
    for (size_t i = 0; i < n; i++)
        r->md5[i] = lower(v[i]);
    r->md5[n] = '\0';
}

/*
 * Acts on the value of the kept header R->header: the N bytes at V, blanks
 * trimmed, or TOO_LONG for the line buffer. Returns OTAC_OK or OTAC_E_HTTP.
 */
static int apply_header(struct otac_response *r, const char *v, size_t n, int too_long)
{
    uint16_t bit = (uint16_t)(1u << r->header);
    int repeated = (r->seen & bit) != 0;
    r->seen |= bit;
    uint64_t value;

    switch (r->header) {
    case HEADER_CONTENT_LENGTH:
        if (too_long || !parse_decimal(v, n, INT64_MAX, &value))
            return OTAC_E_HTTP;
        if (repeated && (uint64_t)r->content_length != value)
            return OTAC_E_HTTP;
        r->content_length = (int64_t)value;
        break;
    case HEADER_CONTENT_RANGE:
        set_range_absent(r);
        if (!repeated && !too_long)
            parse_content_range(r, v, n);
        break;
    case HEADER_TRANSFER_ENCODING:
        /* A coding list too long to read is no raw body either. */
        if (too_long)
            r->chunked = 1;
        else
            each_token(r, v, n, transfer_coding);
        break;
    case HEADER_MD5:
        /* An empty x-MD5 is none: the updaters act on it only when it has a length. */
        if (n == 0 && !too_long && !repeated && !r->md5_present)
            break;
        r->md5_present = 1;
        r->md5[0] = '\0';
        if (!repeated && !too_long)
            keep_md5(r, v, n);
        break;
    case HEADER_VERSION:
        r->version[0] = '\0';
        if (!repeated && !too_long)
            keep_text(r->version, sizeof(r->version), v, n);
        break;
    case HEADER_ETAG:
        r->etag[0] = '\0';
        if (!repeated && !too_long)
            keep_text(r->etag, sizeof(r->etag), v, n);
        break;
    case HEADER_LOCATION:
        r->location[0] = '\0';
        if (!repeated && !too_long)
            keep_text(r->location, sizeof(r->location), v, n);
        break;
    case HEADER_RETRY_AFTER:
        /* Delta-seconds only; an HTTP-date is left at 0, and a huge delta is the longest wait. */
        r->retry_after_s = 0;
        if (!repeated && !too_long && all_digits(v, n))
            r->retry_after_s =
                parse_decimal(v, n, UINT32_MAX, &value) ? (uint32_t)value : UINT32_MAX;
        break;
    case HEADER_CONNECTION:
        if (!too_long)
            each_token(r, v, n, connection_option);
        break;
    }
    return OTAC_OK;
}

/* "HTTP/1.x SSS", then the end or a blank and the reason. */
static int apply_status_line(struct otac_response *r)
{
    const char *s = r->line;
    size_t n = r->len;
    if (n <= VALUE_CAP) {
        while (n > 0 && is_blank(s[n - 1]))
            n--;
    }
    if (n < 12 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
        return OTAC_E_HTTP;
    uint64_t status;
    if (!parse_decimal(s + 9, 3, 999, &status) || status < 100 || status > 599)
        return OTAC_E_HTTP;
    if (n > 12 && s[12] != ' ' && s[12] != '\t')
        return OTAC_E_HTTP;
    r->http_minor = s[7] - '0';
    r->status = (int)status;
    return OTAC_OK;
}

static void complete(struct otac_response *r)
{
    r->connection_close =
        (r->seen & SEEN_CLOSE) || (r->http_minor == 0 && !(r->seen & SEEN_KEEP_ALIVE));
    r->complete = 1;
    r->state = STATE_DONE;
}

/* One byte of the head. Returns OTAC_OK or OTAC_E_HTTP. */
static int feed_byte(struct otac_response *r, char c)
{
    static const char status_prefix[] = "HTTP/1.";

    if (++r->head_bytes > OTAC_HEAD_MAX)
        return OTAC_E_HTTP;
    switch (r->state) {
    case STATE_STATUS:
        if (c == '\n') {
            if (apply_status_line(r) < 0)
                return OTAC_E_HTTP;
            r->state = STATE_LINE_START;
            return OTAC_OK;
        }
        if (r->len < sizeof(status_prefix) - 1 && c != status_prefix[r->len])
            return OTAC_E_HTTP;
        if (r->len < VALUE_CAP)
            r->line[r->len] = c;
        if (r->len <= VALUE_CAP)
            r->len++; /* one past the buffer: the line is long */
        return OTAC_OK;
    case STATE_LINE_START:
        /* A line is trimmed before it is read: leading blanks, and a CR, are no name. */
        if (c == '\n') {
            complete(r);
        } else if (c == ':') {
            r->state = STATE_SKIP; /* an empty name is no header kept */
        } else if (!is_blank(c)) {
            r->line[0] = c;
            r->len = 1;
            r->state = STATE_NAME;
        }
        return OTAC_OK;
    case STATE_NAME:
        if (c == '\n') {
            r->state = STATE_LINE_START; /* no colon: no header, skipped as the updaters do */
            return OTAC_OK;
        }
        if (c == ':') {
            r->header = r->len < NAME_KEPT ? header_named(r->line, r->len) : HEADER_NONE;
            r->len = 0;
            r->state = r->header == HEADER_NONE ? STATE_SKIP : STATE_VALUE_LEAD;
        } else if (r->len < NAME_KEPT) {
            r->line[r->len++] = c;
        }
        return OTAC_OK;
    case STATE_VALUE_LEAD:
        if (is_blank(c) && c != '\r')
            return OTAC_OK;
        r->state = STATE_VALUE;
        /* fall through */
    case STATE_VALUE:
        if (c == '\n') {
            size_t n = r->len;
            while (n > 0 && is_blank(r->line[n - 1]))
                n--;
            r->state = STATE_LINE_START;
            return apply_header(r, r->line, n, 0);
        }
        if (r->len < VALUE_CAP)
            r->line[r->len++] = c;
        else if (!is_blank(c))
            r->state = STATE_VALUE_LONG; /* trailing blanks past the buffer are trimmed anyway */
        return OTAC_OK;
    case STATE_VALUE_LONG:
        if (c == '\n') {
            r->state = STATE_LINE_START;
            return apply_header(r, r->line, 0, 1);
        }
        return OTAC_OK;
    case STATE_SKIP:
        if (c == '\n')
            r->state = STATE_LINE_START;
        return OTAC_OK;
    }
    return OTAC_E_HTTP;
}

void otac_response_init(struct otac_response *r)
{
    if (!r)
        return;
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    set_range_absent(r);
    r->state = STATE_STATUS;
}

int otac_response_feed(struct otac_response *r, const void *data, size_t len, size_t *ret_used)
{
    if (!r || !ret_used || (!data && len > 0))
        return OTAC_E_INVAL;
    *ret_used = 0;
    if (r->state == STATE_DONE)
        return OTAC_OK;
    if (r->state == STATE_FAILED)
        return OTAC_E_HTTP;

    const char *bytes = data;
    size_t used = 0;
    while (used < len && r->state != STATE_DONE) {
        if (feed_byte(r, bytes[used++]) < 0) {
            r->state = STATE_FAILED;
            *ret_used = used;
            return OTAC_E_HTTP;
        }
    }
    *ret_used = used;
    return OTAC_OK;
}
