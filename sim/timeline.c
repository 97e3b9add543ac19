/*
 * The timeline writer (timeline.h). Text from the server (x-version) may hold
 * any byte, so JSON strings are escaped (control bytes as \u00XX, bytes
 * above 0x7e too, so every line is valid ASCII JSON) and CSV fields with a
 * comma, quote or line break are quoted with doubled quotes.
 */
#include "timeline.h"

#include <errno.h>
#include <string.h>

#define TIMELINE_BUFFER (1u << 20)

static const char *const names[] = {
    [EVENT_CHECKIN] = "checkin",     [EVENT_ANSWER] = "answer",   [EVENT_SERVED] = "served",
    [EVENT_STAGED] = "staged",       [EVENT_FAILED] = "failed",   [EVENT_BOOTED] = "booted",
    [EVENT_FELL_BACK] = "fell-back", [EVENT_BRICKED] = "bricked", [EVENT_CUT] = "cut",
    [EVENT_REFUSED] = "refused",     [EVENT_ERROR] = "error",
};

static const char csv_header[] =
    "time,mac,event,version_before,status,version_after,server,detail\n";

const char *timeline_event_name(enum timeline_event e)
{
    if ((unsigned)e < sizeof(names) / sizeof(names[0]) && names[e])
        return names[e];
    return "?";
}

void timeline_attach(struct timeline *t, FILE *f, int csv)
{
    memset(t, 0, sizeof(*t));
    t->file = f;
    t->csv = csv;
    if (f && csv && fputs(csv_header, f) == EOF)
        t->error = -EIO;
}

int timeline_open(struct timeline *t, const char *path)
{
    size_t n = strlen(path);
    int csv = n >= 4 && strcmp(path + n - 4, ".csv") == 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    setvbuf(f, NULL, _IOFBF, TIMELINE_BUFFER);
    timeline_attach(t, f, csv);
    return t->error;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p > 0x7e)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void csv_field(FILE *f, const char *s)
{
    s = s ? s : "";
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void timeline_write(struct timeline *t, const struct timeline_line *l)
{
    if (!t->file || t->error)
        return;
    char mac[18];
    snprintf(mac, sizeof(mac), "%02X:%02X:%02X:%02X:%02X:%02X", l->mac[0], l->mac[1], l->mac[2],
             l->mac[3], l->mac[4], l->mac[5]);
    FILE *f = t->file;
    unsigned long long sec = (unsigned long long)(l->time_ms / 1000);
    unsigned ms = (unsigned)(l->time_ms % 1000);
    int r;
    if (t->csv) {
        fprintf(f, "%llu.%03u,%s,%s,", sec, ms, mac, timeline_event_name(l->event));
        csv_field(f, l->version_before);
        fprintf(f, ",%d,", l->status);
        csv_field(f, l->version_after);
        fprintf(f, ",%u,", l->server);
        csv_field(f, l->detail);
        r = fputc('\n', f);
    } else {
        fprintf(f, "{\"time\":%llu.%03u,\"mac\":\"%s\",\"event\":\"%s\",\"version_before\":", sec,
                ms, mac, timeline_event_name(l->event));
        json_string(f, l->version_before);
        fprintf(f, ",\"status\":%d,\"version_after\":", l->status);
        json_string(f, l->version_after);
        fprintf(f, ",\"server\":%u,\"detail\":", l->server);
        json_string(f, l->detail);
        r = fputs("}\n", f);
    }
    if (r == EOF)
        t->error = -EIO;
    else
        t->lines++;
}

int timeline_close(struct timeline *t, int close_file)
{
    if (!t->file)
        return t->error;
    if (fflush(t->file) == EOF && !t->error)
        t->error = -errno;
    if (close_file && fclose(t->file) == EOF && !t->error)
        t->error = -errno;
    t->file = NULL;
    return t->error;
}
