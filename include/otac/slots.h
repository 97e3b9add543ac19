/*
 * The A/B slot state of a device: which of the two application slots runs,
 * which holds an update waiting for the next boot, and whether the running
 * one is still on trial. The same life as ESP-IDF's app rollback:
 *
 *   otac_slots_stage     an image was written whole and verified into the
 *                        other slot: it is pending, tried at the next boot
 *   otac_slots_boot      at every start: a pending slot is run on trial; a
 *                        slot that was on trial and was not confirmed (the
 *                        new firmware reset before it could) is given up and
 *                        the previous slot runs again: the boot loader's
 *                        fallback
 *   otac_slots_confirm   the new firmware works: it stays
 *   otac_slots_revert    the new firmware finds it does not: back to the
 *                        previous slot at the next boot
 *
 * Each slot keeps the version, MD5 and size of its image, which the device
 * reports at its next check-in (otac_slots_identity), so the server sees at
 * once whether an update took. Every change is stored through the port's
 * state_store before the call returns; a record that fails its checksum is
 * refused, never half-believed.
 */
#ifndef OTAC_SLOTS_H
#define OTAC_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "otac/error.h"
#include "otac/port.h"
#include "otac/request.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_SLOT_NONE        0xffu
#define OTAC_SLOTS_RECORD_MAX 256u /* bytes of the stored record */

struct otac_slot_image {
    uint8_t valid;                      /* the slot holds a whole, verified image */
    char version[OTAC_VERSION_MAX + 1]; /* no CR or LF: the calls refuse it (OTAC_E_INVAL) */
    char md5[33];                       /* lowercase hex of the image */
    uint64_t size;                      /* bytes the device boots */
};

/* The state, held by value; read the fields, change them only through the calls. */
struct otac_slots {
    uint32_t generation; /* rises with every stored change */
    uint8_t running;     /* the slot this boot runs */
    uint8_t pending;     /* slot to try at the next boot, or OTAC_SLOT_NONE */
    uint8_t trial;       /* the running slot is not confirmed yet */
    uint8_t reverted;    /* the last boot fell back from an unconfirmed slot */
    struct otac_slot_image image[OTAC_SLOTS];
};

/*
 * Loads the state through PORT (state_load). When nothing was ever stored,
 * slot 0 holds FACTORY (the image the device was flashed with) and that state
 * is stored (state_store). Returns OTAC_OK, OTAC_E_RECORD (a damaged record:
 * the caller decides, e.g. otac_slots_reset), the port's error, OTAC_E_INVAL.
 */
int otac_slots_load(struct otac_slots *s, const struct otac_port *port,
                    const struct otac_slot_image *factory);

/* Forgets everything but FACTORY in slot 0, and stores that. Same returns. */
int otac_slots_reset(struct otac_slots *s, const struct otac_port *port,
                     const struct otac_slot_image *factory);

/* The slot an update is written to: the one not running. */
unsigned otac_slots_target(const struct otac_slots *s);

/*
 * Records that the target slot now holds IMAGE, whole and verified, to be
 * tried at the next boot. Returns OTAC_OK, the port's error, OTAC_E_INVAL,
 * or OTAC_E_STATE while the running slot is on trial or was reverted: the
 * target is then the slot to fall back to, which must stay (esp_ota_begin
 * refuses the same way); confirm, or boot, first (otac_slots_may_stage).
 */
int otac_slots_stage(struct otac_slots *s, const struct otac_port *port,
                     const struct otac_slot_image *image);

/* Nonzero when otac_slots_stage would take an image now (the running slot is confirmed). */
int otac_slots_may_stage(const struct otac_slots *s);

/*
 * The target slot is about to be written: from its first erased byte it no
 * longer holds the image the state says, so that image stops being valid
 * and, when it was staged and not booted yet, pending (the new download
 * replaces it; a cut or a failed check then leaves nothing to boot but the
 * running slot). Stored through PORT before it returns; nothing is stored
 * when the target held no valid image. Call it before flash_begin on the
 * target. Returns OTAC_OK, the port's error (the state is then unchanged and
 * the slot must not be written), OTAC_E_INVAL, or OTAC_E_STATE when
 * otac_slots_may_stage says no.
 */
int otac_slots_release_target(struct otac_slots *s, const struct otac_port *port);
/*
 * Decides what this boot runs (see above), stores the decision and sets
 * *RET_SLOT. Call once per start, before anything else. Returns OTAC_OK or
 * the port's error; on an error the running slot is unchanged.
 */
int otac_slots_boot(struct otac_slots *s, const struct otac_port *port, unsigned *ret_slot);

/* The running slot is good: it leaves trial. OTAC_E_STATE when not on trial. */
int otac_slots_confirm(struct otac_slots *s, const struct otac_port *port);

/*
 * The running slot on trial is bad: the previous slot runs at the next boot
 * and this one is marked invalid. OTAC_E_STATE when not on trial.
 */
int otac_slots_revert(struct otac_slots *s, const struct otac_port *port);

/* The running slot's image. */
const struct otac_slot_image *otac_slots_running(const struct otac_slots *s);

/*
 * Copies the running image's version, MD5 and size into ID (version,
 * sketch_md5, sketch_size): what the next check-in reports.
 */
void otac_slots_identity(const struct otac_slots *s, struct otac_identity *id);

#ifdef __cplusplus
}
#endif

#endif
