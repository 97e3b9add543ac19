/*
 * An otac port in memory for the device library's tests (test_image,
 * test_slots, test_session, test_client and the session fuzz target): a
 * flash array per slot that is erased to 0xFF by flash_begin and checks that
 * the library writes as port.h says (every byte once and in order past the
 * held-back head, the head last), a record buffer for the slot state with
 * failures to order, and random bytes from a fixed sequence. The network is
 * test_client's own. Header-only (static inline functions) so each test
 * binary stays one source file.
 */
#ifndef OTAD_TESTS_LIB_MEMPORT_H
#define OTAD_TESTS_LIB_MEMPORT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otac/image.h"
#include "otac/port.h"
#include "otac/slots.h"

#define MEMPORT_NEVER (-1)

struct memport {
    struct otac_port port;
    void *user; /* a test's own state for the calls it adds (test_client's network) */

    /* Flash. */
    uint64_t slot_size;
    uint8_t *flash[OTAC_SLOTS];
    uint64_t begun[OTAC_SLOTS];   /* the size flash_begin was given; 0: not begun */
    uint64_t next_at[OTAC_SLOTS]; /* where the next in-order write must start */
    int head_written[OTAC_SLOTS]; /* the held-back head came (then nothing may follow) */
    uint64_t bytes_written[OTAC_SLOTS];
    int misordered;      /* writes port.h does not allow */
    int flash_writes;    /* flash_write calls */
    int fail_write_call; /* the Nth flash_write (from 1) fails; MEMPORT_NEVER */
    int fail_begin;      /* flash_begin returns this when < 0 */

    /* The slot state record. */
    uint8_t record[OTAC_SLOTS_RECORD_MAX];
    size_t record_len;
    int stores;          /* state_store calls that stored */
    int store_calls;     /* all state_store calls */
    int fail_store_call; /* the Nth state_store call (from 1) fails; MEMPORT_NEVER */
    int fail_load;       /* state_load returns this when < 0 */

    /* Random. */
    uint64_t random_state;
    int no_random; /* random fails */
};

static inline int memport_flash_begin(void *ctx, unsigned slot, uint64_t size)
{
    struct memport *m = ctx;
    if (m->fail_begin < 0)
        return m->fail_begin;
    if (slot >= OTAC_SLOTS)
        return OTAC_E_INVAL;
    if (size > m->slot_size)
        return OTAC_E_NO_SPACE;
    memset(m->flash[slot], 0xff, m->slot_size);
    m->begun[slot] = size;
    m->next_at[slot] = OTAC_IMAGE_HEAD_HELD;
    m->head_written[slot] = 0;
    m->bytes_written[slot] = 0;
    return OTAC_OK;
}

static inline int memport_flash_write(void *ctx, unsigned slot, uint64_t offset, const void *data,
                                      size_t len)
{
    struct memport *m = ctx;
    m->flash_writes++;
    if (m->fail_write_call != MEMPORT_NEVER && m->flash_writes == m->fail_write_call)
        return OTAC_E_FLASH;
    if (slot >= OTAC_SLOTS || m->begun[slot] == 0 || offset + len > m->begun[slot] || len == 0)
        return OTAC_E_INVAL;
    if (m->head_written[slot])
        m->misordered++; /* nothing after the head */
    if (offset == 0) {
        uint64_t head =
            m->begun[slot] < OTAC_IMAGE_HEAD_HELD ? m->begun[slot] : OTAC_IMAGE_HEAD_HELD;
        if (len != head || m->next_at[slot] < m->begun[slot])
            m->misordered++; /* the head is written whole, after every other byte */
        m->head_written[slot] = 1;
    } else if (offset != m->next_at[slot]) {
        m->misordered++;
    } else {
        m->next_at[slot] = offset + len;
    }
    memcpy(m->flash[slot] + offset, data, len);
    m->bytes_written[slot] += len;
    return OTAC_OK;
}

static inline int memport_state_load(void *ctx, void *buf, size_t cap, size_t *ret_len)
{
    struct memport *m = ctx;
    if (m->fail_load < 0)
        return m->fail_load;
    size_t n = m->record_len < cap ? m->record_len : cap;
    memcpy(buf, m->record, n);
    *ret_len = m->record_len;
    return OTAC_OK;
}

static inline int memport_state_store(void *ctx, const void *buf, size_t len)
{
    struct memport *m = ctx;
    m->store_calls++;
    if (m->fail_store_call != MEMPORT_NEVER && m->store_calls == m->fail_store_call)
        return OTAC_E_FLASH; /* the old record stays whole, as port.h promises */
    if (len > sizeof(m->record))
        return OTAC_E_INVAL;
    memcpy(m->record, buf, len);
    m->record_len = len;
    m->stores++;
    return OTAC_OK;
}

static inline int memport_random(void *ctx, void *buf, size_t len)
{
    struct memport *m = ctx;
    if (m->no_random)
        return OTAC_E_IO;
    uint8_t *out = buf;
    for (size_t i = 0; i < len; i++) {
        /* splitmix64, a byte at a time */
        uint64_t z = (m->random_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        out[i] = (uint8_t)(z ^ (z >> 31));
    }
    return OTAC_OK;
}

/* A port over SLOT_SIZE bytes of flash per slot, no record stored yet, nothing failing. */
static inline struct memport *memport_new(uint64_t slot_size)
{
    struct memport *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->slot_size = slot_size;
    for (unsigned i = 0; i < OTAC_SLOTS; i++) {
        m->flash[i] = malloc(slot_size ? slot_size : 1);
        if (!m->flash[i])
            abort();
        memset(m->flash[i], 0xff, slot_size);
    }
    m->fail_write_call = MEMPORT_NEVER;
    m->fail_store_call = MEMPORT_NEVER;
    m->random_state = 42;
    m->port.ctx = m;
    m->port.flash_begin = memport_flash_begin;
    m->port.flash_write = memport_flash_write;
    m->port.state_load = memport_state_load;
    m->port.state_store = memport_state_store;
    m->port.random = memport_random;
    return m;
}

static inline void memport_free(struct memport *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < OTAC_SLOTS; i++)
        free(m->flash[i]);
    free(m);
}

#endif
