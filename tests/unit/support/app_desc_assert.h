/*
 * One assertion shared by the tests that read an app descriptor back (the
 * image parser's and the databases'): two descriptors equal field by field,
 * padding not compared. Include after <cmocka.h>.
 */
#ifndef OTAD_TESTS_APP_DESC_ASSERT_H
#define OTAD_TESTS_APP_DESC_ASSERT_H

#include "model/model.h"

static inline void assert_app_equal(const struct app_desc *a, const struct app_desc *b)
{
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->framework, b->framework);
    assert_string_equal(a->project, b->project);
    assert_string_equal(a->version, b->version);
    assert_string_equal(a->idf_version, b->idf_version);
    assert_string_equal(a->build_date, b->build_date);
    assert_string_equal(a->build_time, b->build_time);
    assert_int_equal(a->secure_version, b->secure_version);
    assert_string_equal(a->elf_sha256, b->elf_sha256);
    assert_int_equal(a->chip_id, b->chip_id);
    assert_int_equal(a->min_chip_rev, b->min_chip_rev);
    assert_int_equal(a->max_chip_rev, b->max_chip_rev);
}

#endif
