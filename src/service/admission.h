/*
 * Which new devices the registry records: the growth limits on the device
 * table. A device is "new" when the database has no row for its (product,
 * STA MAC); known devices are never asked about and never refused. A new
 * device is refused a row when its product already has the maximum number
 * of devices, or when its source address has added the per-minute number
 * of new devices already. Refusing a row never changes a device's answer:
 * the update decision is made before and without the registry.
 *
 * Addresses are counted in fixed one-minute windows (a burst that straddles
 * the end of a window can add up to twice the limit). An IPv6 address is
 * counted by its /64 prefix, the block one host is usually given; an
 * IPv4-mapped IPv6 address counts as its IPv4 address. At most MAX_ADDRS
 * addresses are tracked per window: a new device from one more address
 * is refused until the window ends (the table is full; it says so).
 *
 * Not thread-safe: the registry's flusher is its only user.
 */
#ifndef OTAD_SERVICE_ADMISSION_H
#define OTAD_SERVICE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMISSION_WINDOW_MS 60000

struct admission;

struct admission_limits {
    uint64_t new_per_addr_per_minute; /* 0 = unlimited */
    uint64_t max_per_product;         /* 0 = unlimited */
};

enum admission_verdict {
    ADMISSION_OK = 0,
    ADMISSION_PRODUCT_FULL, /* the product has max_per_product devices */
    ADMISSION_ADDR_RATE,    /* the address added its devices for this minute */
    ADMISSION_ADDR_TABLE,   /* MAX_ADDRS other addresses added devices this minute */
};

/*
 * A new limiter with LIMITS (copied) tracking at most MAX_ADDRS (> 0)
 * addresses per window. Returns 0 with a new limiter (free with
 * admission_free), or -ENOMEM, -EINVAL.
 */
int admission_new(const struct admission_limits *limits, size_t max_addrs,
                  struct admission **ret_admission);

/* Frees. NULL-safe. */
void admission_free(struct admission *admission);

/*
 * True when the product cap applies and PRODUCT_ID's device count is not
 * known yet: the caller reads it (db) and hands it to admission_set_devices
 * before asking about the product's devices.
 */
bool admission_needs_count(const struct admission *admission, int64_t product_id);

/* PRODUCT_ID has DEVICES rows. Returns 0 or -ENOMEM (the product is then not capped). */
int admission_set_devices(struct admission *admission, int64_t product_id, uint64_t devices);

/*
 * Forgets every product count (after a failed commit: rows counted as added
 * were rolled back), so they are read again.
 */
void admission_forget_counts(struct admission *admission);

/*
 * Whether a new device of PRODUCT_ID first seen from ADDR (textual, as
 * inet_ntop writes it; "" or anything else unparseable counts as one
 * "unknown" address) may be added at NOW_MS (a monotonic clock).
 * ADMISSION_OK counts the device against its product and address; a
 * refusal counts nothing. A product whose count was never set is not
 * capped.
 */
enum admission_verdict admission_check(struct admission *admission, int64_t product_id,
                                       const char *addr, int64_t now_ms);

#endif
