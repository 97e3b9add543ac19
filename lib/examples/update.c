/*
 * otac-update: the otac device library's example, a whole "device" whose
 * flash is a folder (the POSIX port). Each run is one start of the device:
 * it loads its slot state, boots, confirms or reverts an update on trial,
 * checks in once with the server at URL and says what came of it in one
 * line. A firmware engineer copies this file and replaces the POSIX port
 * with the chip's own (lib/README.md).
 *
 *   otac-update [options] URL DIR
 *     URL  http://HOST[:PORT]/PATH or https://...: the check-in URL (for
 *          --client esp-idf, the image URL)
 *     DIR  the device's flash: DIR/slot0.bin, slot1.bin, state.bin
 *
 * Exit status: 0 current or staged, 1 failed, refused or cut (or the device
 * could not start), 2 bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otac/otac.h"
#include "otac/port_posix.h"

#define HOST_MAX    255
#define TARGET_MAX  1024
#define KEY_PEM_MAX 4096

static const char usage[] =
    "usage: otac-update [options] URL DIR\n"
    "  --ca FILE          CA certificates (PEM) an https:// server must chain to\n"
    "  --client NAME      esp8266-2.4 | esp8266-2.7 | esp8266-3.1 (default) | esp32 | esp-idf\n"
    "  --mac MAC          the station MAC, AA:BB:CC:DD:EE:FF (default 5C:CF:7F:00:00:01)\n"
    "  --factory VERSION  the version in slot 0 when DIR is new (default 1.0.0)\n"
    "  --slot-size BYTES  each slot's size (default 4194304)\n"
    "  --key FILE         take only images signed for this public key (PEM)\n"
    "  --resumes N        esp-idf: resume a cut download up to N times (default 0)\n"
    "  --confirm          the update on trial works: keep it\n"
    "  --revert           the update on trial does not: back to the previous slot\n"
    "  --version          print the library's version\n"
    "Exit status: 0 current or staged, 1 failed, refused or cut, 2 bad usage.\n";

struct options {
    const char *url, *dir, *ca, *key, *factory;
    enum otac_client client;
    uint8_t mac[6];
    uint64_t slot_size;
    unsigned resumes;
    int confirm, revert;
};

struct url {
    int tls;
    char host[HOST_MAX + 1];
    uint16_t port;
    char target[TARGET_MAX + 1];
};

static const struct {
    const char *name;
    enum otac_client client;
    const char *sdk_version; /* what the stock client reports as its SDK */
} clients[] = {
    {"esp8266-2.4", OTAC_CLIENT_ESP8266_2_4, "2.2.1(cfd48f3)"},
    {"esp8266-2.7", OTAC_CLIENT_ESP8266_2_7, "2.2.2-dev(38a443e)"},
    {"esp8266-3.1", OTAC_CLIENT_ESP8266_3_1, "2.2.2-dev(38a443e)"},
    {"esp32", OTAC_CLIENT_ESP32, "v4.4.7"},
    {"esp-idf", OTAC_CLIENT_ESP_IDF, "v5.1.2"},
};
#define CLIENT_COUNT (sizeof(clients) / sizeof(clients[0]))

static int fail_usage(const char *what, const char *value)
{
    fprintf(stderr, "otac-update: %s%s%s\n%s", what, value ? ": " : "", value ? value : "", usage);
    return 2;
}

/* Splits "http[s]://HOST[:PORT][/TARGET]"; returns 0 or -1. */
static int parse_url(const char *text, struct url *u)
{
    const char *rest;
    if (strncmp(text, "http://", 7) == 0) {
        u->tls = 0;
        rest = text + 7;
    } else if (strncmp(text, "https://", 8) == 0) {
        u->tls = 1;
        rest = text + 8;
    } else {
        return -1;
    }
    size_t host_len = strcspn(rest, ":/");
    if (host_len == 0 || host_len > HOST_MAX)
        return -1;
    memcpy(u->host, rest, host_len);
    u->host[host_len] = '\0';
    rest += host_len;
    u->port = u->tls ? 443 : 80;
    if (*rest == ':') {
        char *end;
        unsigned long port = strtoul(rest + 1, &end, 10);
        if (end == rest + 1 || port == 0 || port > 65535 || (*end && *end != '/'))
            return -1;
        u->port = (uint16_t)port;
        rest = end;
    }
    if (strlen(rest) > TARGET_MAX)
        return -1;
    snprintf(u->target, sizeof(u->target), "%s", *rest ? rest : "/");
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.client = OTAC_CLIENT_ESP8266_3_1,
                          .mac = {0x5c, 0xcf, 0x7f, 0x00, 0x00, 0x01},
                          .factory = "1.0.0",
                          .slot_size = 4194304};
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--confirm") == 0) {
            o->confirm = 1;
        } else if (strcmp(a, "--revert") == 0) {
            o->revert = 1;
        } else if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("otac %s\n", otac_version_string());
            exit(0);
        } else if (a[0] == '-' && a[1] == '-') {
            if (!value)
                return fail_usage("missing value", a);
            i++;
            if (strcmp(a, "--ca") == 0) {
                o->ca = value;
            } else if (strcmp(a, "--key") == 0) {
                o->key = value;
            } else if (strcmp(a, "--factory") == 0) {
                o->factory = value;
            } else if (strcmp(a, "--mac") == 0) {
                if (otac_mac_parse(value, o->mac) != OTAC_OK)
                    return fail_usage("not a MAC", value);
            } else if (strcmp(a, "--slot-size") == 0) {
                char *end;
                o->slot_size = strtoull(value, &end, 10);
                if (*end || o->slot_size == 0)
                    return fail_usage("not a size", value);
            } else if (strcmp(a, "--resumes") == 0) {
                char *end;
                o->resumes = (unsigned)strtoul(value, &end, 10);
                if (*end || o->resumes > 100)
                    return fail_usage("not a count (0-100)", value);
            } else if (strcmp(a, "--client") == 0) {
                size_t k = 0;
                while (k < CLIENT_COUNT && strcmp(clients[k].name, value) != 0)
                    k++;
                if (k == CLIENT_COUNT)
                    return fail_usage("unknown client", value);
                o->client = clients[k].client;
            } else {
                return fail_usage("unknown option", a);
            }
        } else if (positional == 0) {
            o->url = a;
            positional++;
        } else if (positional == 1) {
            o->dir = a;
            positional++;
        } else {
            return fail_usage("too many arguments", a);
        }
    }
    if (positional != 2)
        return fail_usage("URL and DIR are required", NULL);
    if (o->confirm && o->revert)
        return fail_usage("--confirm and --revert exclude each other", NULL);
    return 0;
}

/* Ends a start that went wrong before an outcome: says why, releases the port. */
static int give_up(struct otac_posix *posix, const char *what, int err)
{
    fprintf(stderr, "otac-update: %s: %s\n", what, otac_strerror(err));
    otac_posix_free(posix);
    return 1;
}

/* Reads the PEM public key of PATH into KEY: OTAC_OK, OTAC_E_INVAL (unreadable) or a parse error.
 */
static int load_key(const char *path, struct otac_pubkey *key)
{
    static char pem[KEY_PEM_MAX];
    FILE *f = fopen(path, "rb");
    if (!f)
        return OTAC_E_INVAL;
    size_t len = fread(pem, 1, sizeof(pem), f);
    fclose(f);
    return otac_pubkey_parse(key, pem, len);
}

int main(int argc, char **argv)
{
    /* Everything the library uses lives in the caller's memory: static here, as on a chip. */
    static struct otac_posix posix;
    static struct otac_slots slots;
    static struct otac_session session;
    static struct otac_pubkey key;
    struct otac_port port;
    struct options o;
    struct url url;

    int status = parse_options(argc, argv, &o);
    if (status)
        return status;
    if (parse_url(o.url, &url) < 0)
        return fail_usage("not an http:// or https:// URL", o.url);

    /* The port: this "device" keeps its two slots and its state record in DIR. */
    int err = otac_posix_init(&posix, o.dir, o.slot_size, o.ca, &port);
    if (err == OTAC_E_IO) /* the POSIX port's word for a folder or file it cannot use */
        fprintf(stderr, "otac-update: cannot make %s%s%s\n", o.dir, o.ca ? " or read " : "",
                o.ca ? o.ca : "");
    else if (err == OTAC_E_KEY_PARSE)
        fprintf(stderr, "otac-update: %s: no certificate in it that decodes\n", o.ca);
    else if (err != OTAC_OK)
        fprintf(stderr, "otac-update: %s: %s\n", o.dir, otac_strerror(err));
    if (err != OTAC_OK)
        return 1;

    /* The slot state; on the very first start slot 0 holds the factory image. */
    struct otac_slot_image factory = {.valid = 1};
    snprintf(factory.version, sizeof(factory.version), "%s", o.factory);
    err = otac_slots_load(&slots, &port, &factory);
    /* A damaged record: start over from the factory image rather than guess. */
    if (err == OTAC_E_RECORD)
        err = otac_slots_reset(&slots, &port, &factory);
    if (err != OTAC_OK)
        return give_up(&posix, "slot state", err);

    /* Boot: a staged update runs on trial; an unconfirmed trial falls back. */
    unsigned slot;
    if ((err = otac_slots_boot(&slots, &port, &slot)) != OTAC_OK)
        return give_up(&posix, "boot", err);
    fprintf(stderr, "otac-update: slot %u runs %s%s%s\n", slot, otac_slots_running(&slots)->version,
            slots.trial ? " on trial" : "", slots.reverted ? " (the trial before fell back)" : "");

    /* The new firmware decides whether it works: confirm it, or revert and restart. */
    if (o.confirm && slots.trial) {
        if ((err = otac_slots_confirm(&slots, &port)) != OTAC_OK)
            return give_up(&posix, "confirm", err);
        fprintf(stderr, "otac-update: slot %u confirmed\n", slot);
    }
    if (o.revert && slots.trial) {
        if ((err = otac_slots_revert(&slots, &port)) != OTAC_OK)
            return give_up(&posix, "revert", err);
        /* A device restarts at once after a revert; so does this one, without checking in. */
        printf("reverted: slot %u gave up; the previous slot runs at the next start\n", slot);
        otac_posix_free(&posix);
        return 0;
    }

    /* Who the device is: the running image from the slots, the rest from the hardware. */
    struct otac_identity id = {.client = o.client,
                               .free_space = o.slot_size,
                               .chip_size = 4194304}; /* a 4 MB flash chip */
    memcpy(id.sta_mac, o.mac, 6);
    memcpy(id.ap_mac, o.mac, 6);
    id.ap_mac[5] = (uint8_t)(o.mac[5] + 1); /* the soft AP's MAC follows the station's */
    memcpy(id.base_mac, o.mac, 6);
    id.chip_id = (uint32_t)o.mac[3] << 16 | (uint32_t)o.mac[4] << 8 | o.mac[5];
    for (size_t k = 0; k < CLIENT_COUNT; k++)
        if (clients[k].client == o.client)
            snprintf(id.sdk_version, sizeof(id.sdk_version), "%s", clients[k].sdk_version);
    otac_slots_identity(&slots, &id);

    /* Where to check in, and what an image must be to be taken. */
    struct otac_session_config cfg = {
        .host = url.host,
        .port = url.port,
        .target = url.target,
        .mode = OTAC_MODE_SKETCH,
        .max_resumes = o.client == OTAC_CLIENT_ESP_IDF ? o.resumes : 0,
    };
    if (o.key) {
        if ((err = load_key(o.key, &key)) != OTAC_OK)
            return give_up(&posix, o.key, err);
        cfg.key = &key;
        cfg.format = o.client == OTAC_CLIENT_ESP32 || o.client == OTAC_CLIENT_ESP_IDF
                         ? OTAC_FORMAT_ESP32
                         : OTAC_FORMAT_ESP8266;
        cfg.hash = OTAC_HASH_SHA256;
    }

    /* One check-in: request, answer, and a 200's image streamed into the other slot. */
    enum otac_outcome outcome;
    err = otac_check(&session, &port, &cfg, &id, &slots, url.tls, 0, &outcome);
    if (err != OTAC_OK)
        return give_up(&posix, "check-in", err);

    /* What came of it, in one line. */
    int answer = otac_session_status(&session);
    switch (outcome) {
    case OTAC_OUTCOME_CURRENT:
        printf("current: %s is up to date (%d)\n", otac_slots_running(&slots)->version, answer);
        break;
    case OTAC_OUTCOME_STAGED: {
        const char *version = slots.image[slots.pending].version; /* "" when none was sent */
        printf("staged: %s in slot %u, %" PRIu64 " bytes (%d); restart to run it\n",
               *version ? version : "an image", (unsigned)slots.pending,
               otac_session_size(&session), answer);
        break;
    }
    case OTAC_OUTCOME_REFUSED:
        printf("refused: %d, retry after %" PRIu32 " s\n", answer,
               otac_session_retry_after_s(&session));
        break;
    case OTAC_OUTCOME_FAILED:
        printf("failed: %s (error %d, status %d)\n", otac_strerror(otac_session_error(&session)),
               otac_session_error(&session), answer);
        break;
    default:
        printf("cut: %" PRIu64 " of %" PRIu64 " bytes (%s, error %d)\n",
               otac_session_received(&session), otac_session_size(&session),
               otac_strerror(otac_session_error(&session)), otac_session_error(&session));
        break;
    }
    otac_posix_free(&posix);
    return outcome == OTAC_OUTCOME_CURRENT || outcome == OTAC_OUTCOME_STAGED ? 0 : 1;
}
