/*
 * Shared helpers for unit tests that need a data folder and firmware images:
 * a temporary folder removed at the end, and ESP8266 images built in memory
 * (esptool v1 layout: 8-byte header, then one segment filling the image).
 */
#ifndef OTAD_TESTS_FIXTURE_H
#define OTAD_TESTS_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

/* Fills OUT (LEN >= 32, a multiple of 16) with a valid ESP8266 image; SEED varies the content. */
static inline void fixture_esp8266_image(uint8_t *out, size_t len, uint8_t flash_code,
                                         uint32_t seed)
{
    memset(out, 0, len);
    out[0] = 0xE9;
    out[1] = 1;                                                 /* one segment */
    out[2] = 2;                                                 /* DIO */
    out[3] = (uint8_t)(flash_code << 4);                        /* flash size code, 40 MHz */
    out[4] = 0x04, out[5] = 0x00, out[6] = 0x10, out[7] = 0x40; /* entry 0x40100004 */
    uint32_t seg = (uint32_t)(len - 16);
    out[8] = 0x00, out[9] = 0x00, out[10] = 0x10, out[11] = 0x40;
    out[12] = (uint8_t)seg, out[13] = (uint8_t)(seg >> 8), out[14] = (uint8_t)(seg >> 16),
    out[15] = (uint8_t)(seg >> 24);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 16; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        out[i] = (uint8_t)x;
    }
}

/* Creates a fresh temporary folder into DIR (64 bytes). Returns 0 or -1. */
static inline int fixture_tmpdir(char dir[64])
{
    strcpy(dir, "/tmp/otad-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static inline void fixture_rmdir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* A configuration with defaults and DATA_DIR. */
static inline int fixture_config(struct config *c, const char *data_dir)
{
    char flag[128];
    snprintf(flag, sizeof(flag), "--data-dir=%s", data_dir);
    char *argv[] = {"otad", flag, "--log-level=error", NULL};
    int argc = 3;
    static char *envp[] = {NULL}; /* the config keeps a pointer to it */
    log_set_level(LOG_LEVEL_ERROR);
    return config_load(c, &argc, argv, envp, stderr);
}

#endif
