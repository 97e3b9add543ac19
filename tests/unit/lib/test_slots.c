/*
 * Unit tests for lib/slots.c over the in-memory port (memport.h): the life
 * of an update (stage, boot on trial, confirm), the boot loader's fallback
 * when the new slot resets unconfirmed, an explicit revert, the stored
 * record (its layout, its CRC-32 against zlib's, every damaged byte and
 * every out-of-range field refused) and a state_store that fails in the
 * middle of any change, which must leave the state and the record as they
 * were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "otac/slots.h"
#include "memport.h"

#define RECORD_LEN 228u /* docs/PROTOCOL.md, "The slot state record" */

static const struct otac_slot_image factory = {
    1,
    "1.0.0",
    "00112233445566778899aabbccddeeff",
    300000,
};
static const struct otac_slot_image update = {
    1,
    "1.1.0",
    "ffeeddccbbaa99887766554433221100",
    310016,
};

static int setup(void **state)
{
    *state = memport_new(16);
    return 0;
}

static int teardown(void **state)
{
    memport_free(*state);
    return 0;
}

/* Field by field, so padding never decides. */
static void assert_same_state(const struct otac_slots *a, const struct otac_slots *b)
{
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->running, b->running);
    assert_int_equal(a->pending, b->pending);
    assert_int_equal(a->trial, b->trial);
    assert_int_equal(a->reverted, b->reverted);
    for (unsigned i = 0; i < OTAC_SLOTS; i++) {
        assert_int_equal(a->image[i].valid, b->image[i].valid);
        assert_string_equal(a->image[i].version, b->image[i].version);
        assert_string_equal(a->image[i].md5, b->image[i].md5);
        assert_int_equal(a->image[i].size, b->image[i].size);
    }
}

/* The stored record read back equals S. */
static void assert_stored(struct memport *m, const struct otac_slots *s)
{
    struct otac_slots again;
    assert_int_equal(otac_slots_load(&again, &m->port, &factory), OTAC_OK);
    assert_same_state(&again, s);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Puts a CRC over the record's bytes back, as zlib computes it. */
static void record_seal(struct memport *m)
{
    uint32_t crc = (uint32_t)crc32(0, m->record, RECORD_LEN - 4);
    for (int i = 0; i < 4; i++)
        m->record[RECORD_LEN - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/* The first start: the factory image in slot 0, stored; the record as docs/PROTOCOL.md draws it. */
static void test_first_load_stores_factory(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(m->stores, 1);
    assert_int_equal(s.generation, 1);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.pending, OTAC_SLOT_NONE);
    assert_false(s.trial);
    assert_false(s.reverted);
    assert_true(s.image[0].valid);
    assert_string_equal(s.image[0].version, "1.0.0");
    assert_false(s.image[1].valid);
    assert_int_equal(otac_slots_target(&s), 1);
    assert_ptr_equal(otac_slots_running(&s), &s.image[0]);

    /* The layout. */
    const uint8_t *r = m->record;
    assert_int_equal(m->record_len, RECORD_LEN);
    assert_memory_equal(r, "OTAS", 4);
    assert_int_equal(r[4], 1);        /* record version */
    assert_int_equal(r[5], 0);        /* running */
    assert_int_equal(r[6], 0xff);     /* pending: none */
    assert_int_equal(r[7], 0);        /* flags */
    assert_int_equal(le32(r + 8), 1); /* generation */
    assert_int_equal(r[12], 1);       /* slot 0 valid */
    assert_int_equal(r[13], 5);       /* version length */
    assert_memory_equal(r + 14, "1.0.0", 5);
    assert_memory_equal(r + 14 + 64, factory.md5, 32);
    assert_int_equal(le32(r + 14 + 96), 300000);
    assert_int_equal(r[12 + 106], 0); /* slot 1 invalid */
    assert_int_equal(le32(r + RECORD_LEN - 4), (uint32_t)crc32(0, r, RECORD_LEN - 4));

    /* A second start reads the same state without storing. */
    assert_stored(m, &s);
    assert_int_equal(m->stores, 1);

    struct otac_identity id;
    memset(&id, 0, sizeof(id));
    otac_slots_identity(&s, &id);
    assert_string_equal(id.version, "1.0.0");
    assert_string_equal(id.sketch_md5, factory.md5);
    assert_int_equal(id.sketch_size, 300000);
}

/* Stage, boot on trial, confirm: the update stays, and later starts change nothing. */
static void test_update_confirmed(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    unsigned slot = 9;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 0);
    assert_int_equal(m->stores, 1); /* a plain start stores nothing */

    assert_true(otac_slots_may_stage(&s));
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    assert_int_equal(s.pending, 1);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.generation, 2);
    assert_stored(m, &s);
    /* Staged again before a reboot: the newer image replaces it in the same slot. */
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    assert_int_equal(s.pending, 1);

    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 1);
    assert_true(s.trial);
    assert_false(s.reverted);
    assert_int_equal(s.pending, OTAC_SLOT_NONE);
    assert_false(otac_slots_may_stage(&s));
    assert_stored(m, &s);
    struct otac_identity id;
    otac_slots_identity(&s, &id);
    assert_string_equal(id.version, "1.1.0");
    assert_string_equal(id.sketch_md5, update.md5);
    assert_int_equal(id.sketch_size, 310016);

    assert_int_equal(otac_slots_confirm(&s, &m->port), OTAC_OK);
    assert_false(s.trial);
    assert_stored(m, &s);
    assert_int_equal(otac_slots_confirm(&s, &m->port), OTAC_E_STATE);
    assert_int_equal(otac_slots_revert(&s, &m->port), OTAC_E_STATE);

    int stores = m->stores;
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 1);
    assert_int_equal(m->stores, stores);
    assert_int_equal(otac_slots_target(&s), 0);
    assert_true(otac_slots_may_stage(&s));
}

/*
 * Revert after a failed confirm: the new slot boots on trial, resets before
 * it confirms, and the next start runs the old slot, says so, and the staged
 * slot is invalid.
 */
static void test_unconfirmed_falls_back(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    unsigned slot;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 1);
    assert_true(s.trial);

    /* No confirm: a reset. */
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 0);
    assert_int_equal(s.running, 0);
    assert_true(s.reverted);
    assert_false(s.trial);
    assert_false(s.image[1].valid);
    assert_true(s.image[0].valid);
    assert_int_equal(s.pending, OTAC_SLOT_NONE);
    assert_stored(m, &s);
    struct otac_identity id;
    otac_slots_identity(&s, &id);
    assert_string_equal(id.version, "1.0.0");
    assert_string_equal(id.sketch_md5, factory.md5);

    /* The start after that did not fall back. */
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 0);
    assert_false(s.reverted);
    assert_stored(m, &s);
    /* And the slot can take the next update. */
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
}

/* The new firmware finds it does not work: revert, and the next start runs the old slot. */
static void test_explicit_revert(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    unsigned slot;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_revert(&s, &m->port), OTAC_E_STATE);
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);

    /* On trial the other slot is the fallback: nothing may be staged over it. */
    int calls = m->store_calls;
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_E_STATE);
    assert_int_equal(m->store_calls, calls);

    assert_int_equal(otac_slots_revert(&s, &m->port), OTAC_OK);
    assert_false(s.trial);
    assert_false(s.image[1].valid);
    assert_int_equal(s.running, 1); /* until the next start */
    assert_stored(m, &s);
    assert_int_equal(otac_slots_confirm(&s, &m->port), OTAC_E_STATE);
    assert_int_equal(otac_slots_revert(&s, &m->port), OTAC_E_STATE);
    assert_false(otac_slots_may_stage(&s));
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_E_STATE);

    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 0);
    assert_true(s.reverted);
    assert_string_equal(otac_slots_running(&s)->version, "1.0.0");
    assert_stored(m, &s);
}

/* Each change's store fails once: the state and the record stay; the retry works. */
static void test_store_failure_changes_nothing(void **state)
{
    struct memport *m = *state;
    struct otac_slots s, before;
    uint8_t record[OTAC_SLOTS_RECORD_MAX];
    unsigned slot = 7;

    /* The very first store: nothing was stored, nothing is. */
    m->fail_store_call = 1;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_FLASH);
    assert_int_equal(m->record_len, 0);
    m->fail_store_call = MEMPORT_NEVER;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);

    enum { STAGE, BOOT_TRIAL, CONFIRM, STAGE2, BOOT_TRIAL2, REVERT, BOOT_BACK, RESET, STEPS };
    for (int step = 0; step < STEPS; step++) {
        before = s;
        memcpy(record, m->record, sizeof(record));
        for (int attempt = 0; attempt < 2; attempt++) {
            m->fail_store_call = attempt == 0 ? m->store_calls + 1 : MEMPORT_NEVER;
            int r = OTAC_E_INVAL;
            switch (step) {
            case STAGE:
            case STAGE2:
                r = otac_slots_stage(&s, &m->port, &update);
                break;
            case BOOT_TRIAL:
            case BOOT_TRIAL2:
            case BOOT_BACK:
                slot = 7;
                r = otac_slots_boot(&s, &m->port, &slot);
                if (attempt == 0)
                    assert_int_equal(slot, 7); /* not written on failure */
                break;
            case CONFIRM:
                r = otac_slots_confirm(&s, &m->port);
                break;
            case REVERT:
                r = otac_slots_revert(&s, &m->port);
                break;
            case RESET:
                r = otac_slots_reset(&s, &m->port, &factory);
                break;
            }
            if (attempt == 0) {
                assert_int_equal(r, OTAC_E_FLASH);
                assert_same_state(&s, &before);
                assert_memory_equal(m->record, record, RECORD_LEN);
                assert_stored(m, &before);
            } else {
                assert_int_equal(r, OTAC_OK);
                assert_stored(m, &s);
                if (step != RESET)
                    assert_int_equal(s.generation, before.generation + 1);
            }
        }
        switch (step) {
        case BOOT_TRIAL:
        case BOOT_TRIAL2:
            assert_int_equal(slot, 1 - before.running);
            assert_true(s.trial);
            break;
        case BOOT_BACK:
            assert_true(s.reverted);
            assert_int_equal(slot, 1); /* the confirmed first update */
            break;
        case RESET:
            assert_int_equal(s.running, 0);
            assert_int_equal(s.generation, 1);
            assert_string_equal(s.image[0].version, "1.0.0");
            assert_false(s.image[1].valid);
            break;
        }
    }
}

/* Any single changed byte of the record is refused (the CRC); so is a wrong length. */
static void test_damaged_record(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    uint8_t good[RECORD_LEN];
    memcpy(good, m->record, RECORD_LEN);
    for (size_t i = 0; i < RECORD_LEN; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            m->record[i] ^= (uint8_t)(1u << bit);
            struct otac_slots got;
            memset(&got, 0x5a, sizeof(got));
            assert_int_equal(otac_slots_load(&got, &m->port, &factory), OTAC_E_RECORD);
            assert_int_equal(got.generation, 0x5a5a5a5a); /* untouched */
            memcpy(m->record, good, RECORD_LEN);
        }
    }
    m->record_len = RECORD_LEN - 1;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_RECORD);
    m->record_len = RECORD_LEN + 1;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_RECORD);
    m->record_len = OTAC_SLOTS_RECORD_MAX + 1; /* more than the library's buffer */
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_RECORD);
    m->record_len = RECORD_LEN;

    /* The caller decides: a reset starts over from the factory image. */
    m->record[20] ^= 1;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_RECORD);
    assert_int_equal(otac_slots_reset(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(s.running, 0);
    assert_stored(m, &s);
}

/* A record whose CRC is right but whose fields no call could make is refused too. */
static void test_inconsistent_record(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    uint8_t good[RECORD_LEN];
    memcpy(good, m->record, RECORD_LEN);
    const size_t slot1 = 12 + 106;
    static const struct {
        size_t at;
        uint8_t value;
    } bad[] = {
        {4, 2},                /* a record version this library does not read */
        {5, 2},                /* running slot 2 */
        {6, 0},                /* pending = running */
        {6, 2},                /* pending slot 2 */
        {7, 0x04},             /* an unknown flag */
        {7, 0x01},             /* on trial with an update pending */
        {12, 2},               /* valid is not 0 or 1 */
        {13, 65},              /* version longer than OTAC_VERSION_MAX */
        {13, 4},               /* version shorter than its bytes */
        {13, 6},               /* version with a NUL inside */
        {12 + 2 + 64, 'A'},    /* MD5 in uppercase */
        {12 + 2 + 64 + 31, 0}, /* MD5 cut short */
        {slot1, 0},            /* the pending slot holds no image */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(m->record, good, RECORD_LEN);
        m->record[bad[i].at] = bad[i].value;
        record_seal(m);
        if (otac_slots_load(&s, &m->port, &factory) != OTAC_E_RECORD)
            fail_msg("byte %zu = %u was believed", bad[i].at, bad[i].value);
    }
    /* Sealed unchanged, it loads: the cases above fail for their field, not the seal. */
    memcpy(m->record, good, RECORD_LEN);
    record_seal(m);
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
}

/* Misuse and the port's own errors. */
static void test_errors(void **state)
{
    struct memport *m = *state;
    struct otac_slots s;
    unsigned slot;
    assert_int_equal(otac_slots_load(NULL, &m->port, &factory), OTAC_E_INVAL);
    assert_int_equal(otac_slots_load(&s, NULL, &factory), OTAC_E_INVAL);
    assert_int_equal(otac_slots_load(&s, &m->port, NULL), OTAC_E_INVAL);
    struct otac_slot_image odd = factory;
    strcpy(odd.md5, "00112233445566778899AABBCCDDEEFF");
    assert_int_equal(otac_slots_load(&s, &m->port, &odd), OTAC_E_INVAL);
    strcpy(odd.md5, "0011");
    assert_int_equal(otac_slots_reset(&s, &m->port, &odd), OTAC_E_INVAL);
    memset(odd.version, 'v', sizeof(odd.version)); /* no NUL */
    strcpy(odd.md5, "");
    assert_int_equal(otac_slots_reset(&s, &m->port, &odd), OTAC_E_INVAL);
    /* A version the next check-in could not send (otac_request_checkin refuses a CR or LF). */
    strcpy(odd.version, "1.0\r\nx-Evil: 1");
    assert_int_equal(otac_slots_reset(&s, &m->port, &odd), OTAC_E_INVAL);
    strcpy(odd.version, "1.0\n");
    assert_int_equal(otac_slots_load(&s, &m->port, &odd), OTAC_E_INVAL);
    assert_int_equal(m->store_calls, 0);

    m->fail_load = OTAC_E_FLASH;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_E_FLASH);
    m->fail_load = 0;

    /* A factory image without MD5 or version is fine (an old device reports neither). */
    struct otac_slot_image bare;
    memset(&bare, 0, sizeof(bare));
    assert_int_equal(otac_slots_load(&s, &m->port, &bare), OTAC_OK);
    assert_true(s.image[0].valid);
    assert_stored(m, &s);

    assert_int_equal(otac_slots_stage(&s, &m->port, NULL), OTAC_E_INVAL);
    struct otac_slot_image crlf = update;
    strcpy(crlf.version, "1.1\r0");
    int stores = m->stores;
    assert_int_equal(otac_slots_stage(&s, &m->port, &crlf), OTAC_E_INVAL);
    assert_int_equal(m->stores, stores);
    assert_int_equal(otac_slots_stage(&s, NULL, &update), OTAC_E_INVAL);
    assert_int_equal(otac_slots_boot(&s, &m->port, NULL), OTAC_E_INVAL);
    assert_int_equal(otac_slots_boot(NULL, &m->port, &slot), OTAC_E_INVAL);
    assert_int_equal(otac_slots_confirm(NULL, &m->port), OTAC_E_INVAL);
    assert_int_equal(otac_slots_revert(&s, NULL), OTAC_E_INVAL);
    struct otac_port no_store = m->port;
    no_store.state_store = NULL;
    assert_int_equal(otac_slots_stage(&s, &no_store, &update), OTAC_E_INVAL);
    assert_false(otac_slots_may_stage(NULL));
}

/*
 * Releasing the target before a download overwrites it: a staged update is
 * no longer pending and its slot no longer valid, stored before the call
 * returns; nothing is stored when the slot held nothing; a failing store
 * changes nothing; during a trial the target is the fallback and is refused.
 */
static void test_release_target(void **state)
{
    struct memport *m = *state;
    struct otac_slots s, before;
    unsigned slot;
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    int stores = m->stores;
    assert_int_equal(otac_slots_release_target(&s, &m->port), OTAC_OK);
    assert_int_equal(m->stores, stores); /* slot 1 held nothing */

    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    before = s;
    m->fail_store_call = m->store_calls + 1;
    assert_int_equal(otac_slots_release_target(&s, &m->port), OTAC_E_FLASH);
    assert_same_state(&s, &before);
    assert_stored(m, &s);

    assert_int_equal(otac_slots_release_target(&s, &m->port), OTAC_OK);
    assert_int_equal(s.pending, OTAC_SLOT_NONE);
    assert_false(s.image[1].valid);
    assert_string_equal(s.image[1].version, "");
    assert_int_equal(s.generation, before.generation + 1);
    assert_stored(m, &s);
    /* A reset now: the running slot boots, as it is. */
    assert_int_equal(otac_slots_load(&s, &m->port, &factory), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_int_equal(slot, 0);
    assert_false(s.trial);

    /* On trial the target is the slot to fall back to. */
    assert_int_equal(otac_slots_stage(&s, &m->port, &update), OTAC_OK);
    assert_int_equal(otac_slots_boot(&s, &m->port, &slot), OTAC_OK);
    assert_true(s.trial);
    before = s;
    assert_int_equal(otac_slots_release_target(&s, &m->port), OTAC_E_STATE);
    assert_same_state(&s, &before);
    assert_true(s.image[0].valid);
    assert_int_equal(otac_slots_release_target(NULL, &m->port), OTAC_E_INVAL);
    assert_int_equal(otac_slots_release_target(&s, NULL), OTAC_E_INVAL);

    /* Confirmed: the old slot 0 is released before it is written. */
    assert_int_equal(otac_slots_confirm(&s, &m->port), OTAC_OK);
    assert_int_equal(otac_slots_release_target(&s, &m->port), OTAC_OK);
    assert_false(s.image[0].valid);
    assert_int_equal(s.running, 1);
    assert_stored(m, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_load_stores_factory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_confirmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unconfirmed_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_revert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failure_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inconsistent_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
