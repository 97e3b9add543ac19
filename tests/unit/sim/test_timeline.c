/* Unit tests for sim/timeline.c: the exact JSON and CSV lines, escaping, and the file's kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "timeline.h"

static const uint8_t mac[6] = {0x5c, 0xcf, 0x7f, 0x00, 0x01, 0x0a};

/* Writes LINE to a memory stream as JSON or CSV and returns what came out (caller frees). */
static char *written(int csv, const struct timeline_line *l, size_t count)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct timeline t;
    timeline_attach(&t, f, csv);
    for (size_t i = 0; i < count; i++)
        timeline_write(&t, &l[i]);
    assert_int_equal(t.lines, count);
    assert_int_equal(timeline_close(&t, 0), 0);
    fclose(f);
    return buf;
}

static void test_json_lines(void **state)
{
    struct timeline_line l[2] = {
        {.time_ms = 1234,
         .mac = mac,
         .event = EVENT_ANSWER,
         .version_before = "1.0.0",
         .status = 200,
         .version_after = "1.1.0",
         .server = 2},
        {.time_ms = 5,
         .mac = mac,
         .event = EVENT_FELL_BACK,
         .version_before = "1.1.0",
         .version_after = "1.0.0",
         .detail = "boot"},
    };
    char *out = written(0, l, 2);
    assert_string_equal(out,
                        "{\"time\":1.234,\"mac\":\"5C:CF:7F:00:01:0A\",\"event\":\"answer\","
                        "\"version_before\":\"1.0.0\",\"status\":200,\"version_after\":\"1.1.0\","
                        "\"server\":2,\"detail\":\"\"}\n"
                        "{\"time\":0.005,\"mac\":\"5C:CF:7F:00:01:0A\",\"event\":\"fell-back\","
                        "\"version_before\":\"1.1.0\",\"status\":0,\"version_after\":\"1.0.0\","
                        "\"server\":0,\"detail\":\"boot\"}\n");
    free(out);
}

static void test_json_escapes_what_a_server_sends(void **state)
{
    struct timeline_line l = {
        .mac = mac, .event = EVENT_ANSWER, .version_after = "a\"b\\c\x01\xff", .status = 200};
    char *out = written(0, &l, 1);
    assert_non_null(strstr(out, "\"version_after\":\"a\\\"b\\\\c\\u0001\\u00ff\""));
    assert_non_null(strstr(out, "\"version_before\":\"\"")); /* NULL is empty */
    free(out);
}

static void test_csv_header_and_quoting(void **state)
{
    struct timeline_line l[2] = {
        {.time_ms = 61000, .mac = mac, .event = EVENT_CHECKIN, .version_before = "1.0.0"},
        {.time_ms = 61001,
         .mac = mac,
         .event = EVENT_CUT,
         .version_before = "1.0.0",
         .status = 200,
         .version_after = "2,0 \"x\"",
         .detail = "link lost"},
    };
    char *out = written(1, l, 2);
    assert_string_equal(out,
                        "time,mac,event,version_before,status,version_after,server,detail\n"
                        "61.000,5C:CF:7F:00:01:0A,checkin,1.0.0,0,,0,\n"
                        "61.001,5C:CF:7F:00:01:0A,cut,1.0.0,200,\"2,0 \"\"x\"\"\",0,link lost\n");
    free(out);
}

static void test_every_event_has_a_name(void **state)
{
    static const char *const names[] = {"checkin", "answer",  "served",    "staged",
                                        "failed",  "booted",  "fell-back", "bricked",
                                        "cut",     "refused", "error"};
    for (int e = EVENT_CHECKIN; e <= EVENT_ERROR; e++)
        assert_string_equal(timeline_event_name((enum timeline_event)e), names[e]);
    assert_string_equal(timeline_event_name((enum timeline_event)99), "?");
}

static void test_open_picks_csv_by_name(void **state)
{
    char dir[] = "/tmp/test_timeline_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char csv[128], json[128];
    snprintf(csv, sizeof(csv), "%s/t.csv", dir);
    snprintf(json, sizeof(json), "%s/t.jsonl", dir);
    struct timeline t;
    struct timeline_line l = {.time_ms = 1, .mac = mac, .event = EVENT_BOOTED};
    assert_int_equal(timeline_open(&t, csv), 0);
    assert_true(t.csv);
    timeline_write(&t, &l);
    assert_int_equal(timeline_close(&t, 1), 0);
    assert_int_equal(timeline_open(&t, json), 0);
    assert_false(t.csv);
    timeline_write(&t, &l);
    assert_int_equal(timeline_close(&t, 1), 0);
    char buf[256] = "";
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_string_equal(buf, "time,mac,event,version_before,status,version_after,server,detail\n");
    fclose(f);
    f = fopen(json, "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_true(buf[0] == '{');
    fclose(f);
    unlink(csv);
    unlink(json);
    rmdir(dir);
    assert_true(timeline_open(&t, "/nonexistent-dir/x.csv") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_json_escapes_what_a_server_sends),
        cmocka_unit_test(test_csv_header_and_quoting),
        cmocka_unit_test(test_every_event_has_a_name),
        cmocka_unit_test(test_open_picks_csv_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
