/*
 * ESP-IDF partial downloads in progress on this node (docs/PROTOCOL.md,
 * "ESP-IDF check-in"). esp_https_ota fetches an image as a HEAD and then
 * ranges, each one a check-in decided afresh and sent without If-Range: a
 * release published, a stage promoted or a rollout halted between two
 * ranges would splice two images into one download. The range that starts
 * at byte 0 pins the form it was sent for that device; the ranges after it
 * are sent from that form for PARTIAL_DOWNLOAD_TTL_MS.
 *
 * The table is fixed in size (PARTIAL_DOWNLOAD_SLOTS, one mutex): a device
 * whose slot another took since is decided afresh, as before the table.
 */
#ifndef OTAD_SERVICE_PARTIAL_H
#define OTAD_SERVICE_PARTIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

#define PARTIAL_DOWNLOAD_SLOTS  4096
#define PARTIAL_DOWNLOAD_TTL_MS (10 * 60 * 1000)

struct partial_downloads;

/* A new, empty table into *RET. Returns 0 or -ENOMEM. */
int partial_downloads_new(struct partial_downloads **ret);
void partial_downloads_free(struct partial_downloads *p); /* NULL-safe */

/* Device MAC of PRODUCT_ID began a download of the form SHA256 at NOW_MS. */
void partial_download_begin(struct partial_downloads *p, int64_t product_id, uint64_t mac,
                            const char *sha256, int64_t now_ms);

/*
 * Whether device MAC of PRODUCT_ID began a download within the TTL before
 * NOW_MS; the form it began on is copied into SHA256.
 */
bool partial_download_pinned(struct partial_downloads *p, int64_t product_id, uint64_t mac,
                             int64_t now_ms, char sha256[SHA256_HEX_LEN + 1]);

#endif
