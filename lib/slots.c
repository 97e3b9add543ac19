/*
 * The A/B slot state (include/otac/slots.h): which slot runs, which waits
 * for the next boot, whether the running one is on trial, and the image in
 * each; and the stored record that carries it across resets, whose layout is
 * the table "The slot state record" in docs/PROTOCOL.md.
 *
 * Every change is made on a copy, stored through the port, and only then
 * copied back, so a failing state_store leaves the caller's state as it was
 * and the stored record always equals the last state a call returned. The
 * record is checked whole (magic, version, CRC-32, every field in range)
 * before any of it is believed.
 *
 * The module does not write images (lib/image.c) or decide when to boot; the
 * device calls otac_slots_boot at every start.
 */
#include "otac/slots.h"

#include <string.h>

/* The record (docs/PROTOCOL.md): little-endian, fixed offsets. */
#define RECORD_MAGIC       "OTAS"
#define RECORD_VERSION     1u
#define RECORD_HEAD        12u /* magic, version, running, pending, flags, generation */
#define RECORD_SLOT        106u
#define RECORD_SLOT_VALID  0u
#define RECORD_SLOT_VERLEN 1u
#define RECORD_SLOT_VER    2u
#define RECORD_SLOT_MD5    (RECORD_SLOT_VER + OTAC_VERSION_MAX)
#define RECORD_SLOT_SIZE   (RECORD_SLOT_MD5 + 32u)
#define RECORD_CRC_AT      (RECORD_HEAD + OTAC_SLOTS * RECORD_SLOT)
#define RECORD_LEN         (RECORD_CRC_AT + 4u)

#define FLAG_TRIAL    0x01u
#define FLAG_REVERTED 0x02u
#define FLAGS_KNOWN   (FLAG_TRIAL | FLAG_REVERTED)

#define MD5_HEX 32u

_Static_assert(RECORD_SLOT_SIZE + 8u == RECORD_SLOT, "slot entry layout");
_Static_assert(RECORD_LEN <= OTAC_SLOTS_RECORD_MAX, "the record fits its maximum");
_Static_assert(OTAC_SLOTS == 2u, "the record holds two slots");

/*
 * CRC-32 as zlib and PNG compute it (IEEE 802.3, reflected, polynomial
 * 0xEDB88320, initial value and final XOR 0xFFFFFFFF), a nibble at a time:
 * a 16-entry table is small enough for any device and fast enough for
 * 228 bytes.
 */
static uint32_t crc32_ieee(const uint8_t *data, size_t len)
{
    static const uint32_t table[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
    };
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ table[crc & 15u];
        crc = (crc >> 4) ^ table[crc & 15u];
    }
    return crc ^ 0xffffffffu;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Empty, or 32 lowercase hex digits and a NUL. */
static int md5_text_ok(const char *md5)
{
    if (md5[0] == '\0')
        return 1;
    for (size_t i = 0; i < MD5_HEX; i++)
        if (!is_lower_hex(md5[i]))
            return 0;
    return md5[MD5_HEX] == '\0';
}

/*
 * An image a caller hands in: its strings end inside their arrays, the MD5 is
 * well-formed, and the version holds no CR or LF: the device reports it in
 * every later check-in, whose builder refuses a line break (otac/request.h),
 * so such a version would end its check-ins for good.
 */
static int image_ok(const struct otac_slot_image *image)
{
    return memchr(image->version, '\0', sizeof(image->version)) != NULL &&
           !strpbrk(image->version, "\r\n") &&
           memchr(image->md5, '\0', sizeof(image->md5)) != NULL && md5_text_ok(image->md5);
}

static void encode(const struct otac_slots *s, uint8_t out[RECORD_LEN])
{
    memset(out, 0, RECORD_LEN);
    memcpy(out, RECORD_MAGIC, 4);
    out[4] = RECORD_VERSION;
    out[5] = s->running;
    out[6] = s->pending;
    out[7] = (uint8_t)((s->trial ? FLAG_TRIAL : 0) | (s->reverted ? FLAG_REVERTED : 0));
    put_le(out + 8, s->generation, 4);
    for (unsigned i = 0; i < OTAC_SLOTS; i++) {
        const struct otac_slot_image *image = &s->image[i];
        uint8_t *entry = out + RECORD_HEAD + i * RECORD_SLOT;
        size_t version_len = strlen(image->version);
        entry[RECORD_SLOT_VALID] = image->valid ? 1 : 0;
        entry[RECORD_SLOT_VERLEN] = (uint8_t)version_len;
        memcpy(entry + RECORD_SLOT_VER, image->version, version_len);
        memcpy(entry + RECORD_SLOT_MD5, image->md5, strlen(image->md5));
        put_le(entry + RECORD_SLOT_SIZE, image->size, 8);
    }
    put_le(out + RECORD_CRC_AT, crc32_ieee(out, RECORD_CRC_AT), 4);
}

/* Reads one slot entry; 0 when a field is out of its range. */
static int decode_slot(const uint8_t *entry, struct otac_slot_image *image)
{
    uint8_t valid = entry[RECORD_SLOT_VALID];
    size_t version_len = entry[RECORD_SLOT_VERLEN];
    if (valid > 1 || version_len > OTAC_VERSION_MAX)
        return 0;
    memset(image, 0, sizeof(*image));
    image->valid = valid;
    const uint8_t *version = entry + RECORD_SLOT_VER;
    for (size_t i = 0; i < OTAC_VERSION_MAX; i++)
        if ((i < version_len && version[i] == 0) || (i >= version_len && version[i] != 0))
            return 0;
    memcpy(image->version, version, version_len);
    const uint8_t *md5 = entry + RECORD_SLOT_MD5;
    if (md5[0] != 0) {
        for (size_t i = 0; i < MD5_HEX; i++)
            if (!is_lower_hex((char)md5[i]))
                return 0;
        memcpy(image->md5, md5, MD5_HEX);
    } else {
        for (size_t i = 1; i < MD5_HEX; i++)
            if (md5[i] != 0)
                return 0;
    }
    image->size = get_le(entry + RECORD_SLOT_SIZE, 8);
    return 1;
}

/* Decodes a stored record into *RET; OTAC_E_RECORD on any damage or inconsistency. */
static int decode(const uint8_t *in, size_t len, struct otac_slots *ret)
{
    struct otac_slots s;
    if (len != RECORD_LEN || memcmp(in, RECORD_MAGIC, 4) != 0 || in[4] != RECORD_VERSION)
        return OTAC_E_RECORD;
    if (get_le(in + RECORD_CRC_AT, 4) != crc32_ieee(in, RECORD_CRC_AT))
        return OTAC_E_RECORD;
    memset(&s, 0, sizeof(s));
    s.running = in[5];
    s.pending = in[6];
    uint8_t flags = in[7];
    s.generation = (uint32_t)get_le(in + 8, 4);
    if (s.running >= OTAC_SLOTS || (flags & ~FLAGS_KNOWN) != 0)
        return OTAC_E_RECORD;
    s.trial = (flags & FLAG_TRIAL) ? 1 : 0;
    s.reverted = (flags & FLAG_REVERTED) ? 1 : 0;
    for (unsigned i = 0; i < OTAC_SLOTS; i++)
        if (!decode_slot(in + RECORD_HEAD + i * RECORD_SLOT, &s.image[i]))
            return OTAC_E_RECORD;
    /* Only states the calls can make: a pending slot is the other one and holds an image. */
    if (s.pending != OTAC_SLOT_NONE &&
        (s.pending >= OTAC_SLOTS || s.pending == s.running || !s.image[s.pending].valid || s.trial))
        return OTAC_E_RECORD;
    *ret = s;
    return OTAC_OK;
}

/* Stores NEXT with the next generation and, only once that worked, makes it S. */
static int commit(struct otac_slots *s, const struct otac_port *port, struct otac_slots *next)
{
    uint8_t record[RECORD_LEN];
    encode(next, record);
    int r = port->state_store(port->ctx, record, sizeof(record));
    if (r < 0)
        return r;
    *s = *next;
    return OTAC_OK;
}

/* Every change needs state_store; only otac_slots_load reads. */
static int port_ok(const struct otac_port *port)
{
    return port && port->state_store;
}

int otac_slots_reset(struct otac_slots *s, const struct otac_port *port,
                     const struct otac_slot_image *factory)
{
    if (!s || !port_ok(port) || !factory || !image_ok(factory))
        return OTAC_E_INVAL;
    struct otac_slots next;
    memset(&next, 0, sizeof(next));
    next.generation = 1; /* the state starts over; nothing of the old one is trusted */
    next.running = 0;
    next.pending = OTAC_SLOT_NONE;
    next.image[0] = *factory;
    next.image[0].valid = 1;
    return commit(s, port, &next);
}

int otac_slots_load(struct otac_slots *s, const struct otac_port *port,
                    const struct otac_slot_image *factory)
{
    if (!s || !port_ok(port) || !port->state_load || !factory || !image_ok(factory))
        return OTAC_E_INVAL;
    uint8_t record[OTAC_SLOTS_RECORD_MAX];
    size_t len = 0;
    int r = port->state_load(port->ctx, record, sizeof(record), &len);
    if (r < 0)
        return r;
    if (len == 0)
        return otac_slots_reset(s, port, factory);
    if (len > sizeof(record))
        return OTAC_E_RECORD;
    return decode(record, len, s);
}

unsigned otac_slots_target(const struct otac_slots *s)
{
    return s->running == 0 ? 1u : 0u;
}

int otac_slots_may_stage(const struct otac_slots *s)
{
    return s && !s->trial && s->image[s->running].valid;
}

int otac_slots_stage(struct otac_slots *s, const struct otac_port *port,
                     const struct otac_slot_image *image)
{
    if (!s || !port_ok(port) || !image || !image_ok(image))
        return OTAC_E_INVAL;
    if (!otac_slots_may_stage(s))
        return OTAC_E_STATE;
    struct otac_slots next = *s;
    unsigned target = otac_slots_target(s);
    next.generation = s->generation + 1;
    next.image[target] = *image;
    next.image[target].valid = 1;
    next.pending = (uint8_t)target;
    return commit(s, port, &next);
}

int otac_slots_release_target(struct otac_slots *s, const struct otac_port *port)
{
    if (!s || !port_ok(port))
        return OTAC_E_INVAL;
    if (!otac_slots_may_stage(s))
        return OTAC_E_STATE;
    unsigned target = otac_slots_target(s);
    if (!s->image[target].valid && s->pending == OTAC_SLOT_NONE)
        return OTAC_OK; /* the record already says the slot holds nothing to boot */
    struct otac_slots next = *s;
    next.generation = s->generation + 1;
    memset(&next.image[target], 0, sizeof(next.image[target]));
    next.pending = OTAC_SLOT_NONE;
    return commit(s, port, &next);
}

int otac_slots_boot(struct otac_slots *s, const struct otac_port *port, unsigned *ret_slot)
{
    if (!s || !port_ok(port) || !ret_slot)
        return OTAC_E_INVAL;
    struct otac_slots next = *s;
    unsigned other = otac_slots_target(s);
    if (s->pending != OTAC_SLOT_NONE) {
        /* An update waits: run it on trial. */
        next.running = s->pending;
        next.pending = OTAC_SLOT_NONE;
        next.trial = 1;
        next.reverted = 0;
    } else if ((s->trial || !s->image[s->running].valid) && s->image[other].valid) {
        /* The slot on trial reset before it was confirmed, or was reverted: fall back. */
        next.image[s->running].valid = 0;
        next.running = (uint8_t)other;
        next.trial = 0;
        next.reverted = 1;
    } else if (s->reverted) {
        next.reverted = 0; /* this start did not fall back */
    } else {
        /*
         * A plain restart (also a slot on trial with nothing to fall back to,
         * a record the calls never make, which keeps running it): nothing to
         * store, so no flash write at every start.
         */
        *ret_slot = s->running;
        return OTAC_OK;
    }
    next.generation = s->generation + 1;
    int r = commit(s, port, &next);
    if (r < 0)
        return r;
    *ret_slot = s->running;
    return OTAC_OK;
}

int otac_slots_confirm(struct otac_slots *s, const struct otac_port *port)
{
    if (!s || !port_ok(port))
        return OTAC_E_INVAL;
    if (!s->trial)
        return OTAC_E_STATE;
    struct otac_slots next = *s;
    next.generation = s->generation + 1;
    next.trial = 0;
    return commit(s, port, &next);
}

int otac_slots_revert(struct otac_slots *s, const struct otac_port *port)
{
    if (!s || !port_ok(port))
        return OTAC_E_INVAL;
    if (!s->trial)
        return OTAC_E_STATE;
    /* The running slot is given up now; the next boot falls back (otac_slots_boot). */
    struct otac_slots next = *s;
    next.generation = s->generation + 1;
    next.trial = 0;
    next.image[s->running].valid = 0;
    return commit(s, port, &next);
}

const struct otac_slot_image *otac_slots_running(const struct otac_slots *s)
{
    return &s->image[s->running];
}

void otac_slots_identity(const struct otac_slots *s, struct otac_identity *id)
{
    const struct otac_slot_image *running = otac_slots_running(s);
    memcpy(id->version, running->version, sizeof(id->version));
    memcpy(id->sketch_md5, running->md5, sizeof(id->sketch_md5));
    id->sketch_size = running->size;
}
