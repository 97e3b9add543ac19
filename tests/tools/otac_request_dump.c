/*
 * otac_request_dump: writes to stdout the exact bytes the device library's
 * otac_request_checkin (or otac_request_resume) builds for the client and
 * fields given on the command line, so tests/e2e/test_otac_wire.py can hold
 * them against the Python builders of tests/e2e/devices.py. A test tool only:
 * it decides nothing, and prints nothing else on success.
 *
 *   otac_request_dump CLIENT HOST PORT TARGET [--FIELD VALUE]...
 *   otac_request_dump resume HOST PORT TARGET FROM [--authorization VALUE]
 *   otac_request_dump --batch < RECORDS
 *
 * CLIENT: esp8266-2.4, esp8266-2.7, esp8266-3.1, esp32, esp-idf.
 * FIELD: mode (sketch | fs), authorization, sta-mac, ap-mac, base-mac,
 * chip-id, free-space, sketch-size, chip-size, sketch-md5, sketch-sha256,
 * sdk-version, version. An absent field is zero or empty.
 * Exit status 0, or 1 with the library's error on stderr, or 2 for a usage
 * error.
 *
 * --batch builds many requests in one run (a process per request is slow
 * under the sanitizers): stdin holds records, each the number of its
 * arguments in decimal and then the arguments, every one NUL-terminated (an
 * argument may be empty); for each, stdout gets "OK LEN\n" and the LEN bytes
 * of the request, or "ERR MESSAGE\n".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otac/error.h"
#include "otac/request.h"

static const struct {
    const char *name;
    enum otac_client client;
} clients[] = {
    {"esp8266-2.4", OTAC_CLIENT_ESP8266_2_4}, {"esp8266-2.7", OTAC_CLIENT_ESP8266_2_7},
    {"esp8266-3.1", OTAC_CLIENT_ESP8266_3_1}, {"esp32", OTAC_CLIENT_ESP32},
    {"esp-idf", OTAC_CLIENT_ESP_IDF},
};

static void usage(const char *why)
{
    fprintf(stderr,
            "otac_request_dump: %s\n"
            "usage: otac_request_dump CLIENT HOST PORT TARGET [--FIELD VALUE]...\n"
            "       otac_request_dump resume HOST PORT TARGET FROM [--authorization VALUE]\n",
            why);
    exit(2);
}

static uint64_t number(const char *text, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (!text[0] || *end || errno || text[0] == '-' || value > max)
        usage("not a number in range");
    return value;
}

/* Copies TEXT into FIELD of SIZE bytes; too long is a usage error. */
static void text(char *field, size_t size, const char *value)
{
    if (strlen(value) >= size)
        usage("a field is too long");
    strcpy(field, value);
}

static void mac(uint8_t out[6], const char *value)
{
    if (otac_mac_parse(value, out) != OTAC_OK)
        usage("not a MAC address");
}

/*
 * Builds the request ARGV asks for (ARGV[0] is the client or "resume") into
 * BUF. Returns OTAC_OK or the library's error; exits on a usage error.
 */
static int build(int argc, char **argv, char *buf, size_t cap, size_t *ret_len)
{
    if (argc < 4)
        usage("too few arguments");
    const char *host = argv[1];
    uint16_t port = (uint16_t)number(argv[2], 65535);
    const char *target = argv[3];

    if (strcmp(argv[0], "resume") == 0) {
        if (argc != 5 && (argc != 7 || strcmp(argv[5], "--authorization") != 0))
            usage("resume takes HOST PORT TARGET FROM [--authorization VALUE]");
        return otac_request_resume(buf, cap, ret_len, host, port, target,
                                   argc == 7 ? argv[6] : NULL, number(argv[4], UINT64_MAX));
    }

    struct otac_identity id;
    memset(&id, 0, sizeof(id));
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        if (strcmp(argv[0], clients[i].name) == 0)
            id.client = clients[i].client;
    }
    if (!id.client)
        usage("unknown client");

    enum otac_mode mode = OTAC_MODE_SKETCH;
    const char *authorization = NULL;
    for (int i = 4; i < argc; i += 2) {
        const char *name = argv[i];
        if (i + 1 >= argc || strncmp(name, "--", 2) != 0)
            usage("fields come as --FIELD VALUE");
        const char *value = argv[i + 1];
        name += 2;
        if (strcmp(name, "mode") == 0) {
            if (strcmp(value, "sketch") != 0 && strcmp(value, "fs") != 0)
                usage("mode is sketch or fs");
            mode = strcmp(value, "fs") == 0 ? OTAC_MODE_FS : OTAC_MODE_SKETCH;
        } else if (strcmp(name, "authorization") == 0) {
            authorization = value;
        } else if (strcmp(name, "sta-mac") == 0) {
            mac(id.sta_mac, value);
        } else if (strcmp(name, "ap-mac") == 0) {
            mac(id.ap_mac, value);
        } else if (strcmp(name, "base-mac") == 0) {
            mac(id.base_mac, value);
        } else if (strcmp(name, "chip-id") == 0) {
            id.chip_id = (uint32_t)number(value, UINT32_MAX);
        } else if (strcmp(name, "free-space") == 0) {
            id.free_space = number(value, UINT64_MAX);
        } else if (strcmp(name, "sketch-size") == 0) {
            id.sketch_size = number(value, UINT64_MAX);
        } else if (strcmp(name, "chip-size") == 0) {
            id.chip_size = number(value, UINT64_MAX);
        } else if (strcmp(name, "sketch-md5") == 0) {
            text(id.sketch_md5, sizeof(id.sketch_md5), value);
        } else if (strcmp(name, "sketch-sha256") == 0) {
            text(id.sketch_sha256, sizeof(id.sketch_sha256), value);
        } else if (strcmp(name, "sdk-version") == 0) {
            text(id.sdk_version, sizeof(id.sdk_version), value);
        } else if (strcmp(name, "version") == 0) {
            text(id.version, sizeof(id.version), value);
        } else {
            usage("unknown field");
        }
    }
    return otac_request_checkin(buf, cap, ret_len, &id, mode, host, port, target, authorization);
}

#define BATCH_ARGS_MAX 64

/* Reads every record from stdin and answers each on stdout. */
static int batch(void)
{
    static char input[1 << 24];
    size_t n = fread(input, 1, sizeof(input) - 2, stdin);
    if (ferror(stdin) || !feof(stdin))
        usage("--batch: stdin unreadable or over 16 MiB");
    input[n] = input[n + 1] = '\0';

    size_t at = 0;
    while (at < n) {
        char *args[BATCH_ARGS_MAX];
        int count = (int)number(input + at, BATCH_ARGS_MAX);
        at += strlen(input + at) + 1;
        for (int i = 0; i < count; i++) {
            if (at >= n)
                usage("--batch: a record ends early");
            args[i] = input + at;
            at += strlen(input + at) + 1;
        }

        char buf[OTAC_REQUEST_MAX * 4];
        size_t len = 0;
        int rc = build(count, args, buf, sizeof(buf), &len);
        if (rc == OTAC_OK) {
            printf("OK %zu\n", len);
            fwrite(buf, 1, len, stdout);
        } else {
            printf("ERR %s\n", otac_strerror(rc));
        }
    }
    if (fflush(stdout) != 0) {
        perror("otac_request_dump: stdout");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--batch") == 0)
        return batch();

    char buf[OTAC_REQUEST_MAX * 4];
    size_t len = 0;
    int rc = build(argc - 1, argv + 1, buf, sizeof(buf), &len);
    if (rc != OTAC_OK) {
        fprintf(stderr, "otac_request_dump: %s\n", otac_strerror(rc));
        return 1;
    }
    if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
        perror("otac_request_dump: stdout");
        return 1;
    }
    return 0;
}
