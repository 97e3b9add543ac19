/*
 * Version strings as firmware projects write them. A string that is a
 * semantic version (an optional leading 'v' or 'V', one to three dot-separated
 * numbers, an optional -pre.release and an optional +build) orders as semver:
 * missing numbers count as 0, a pre-release sorts below its release, build
 * metadata is ignored. Any other string has no order of its own; the service
 * then falls back to the release sequence.
 *
 * Strict where semver is strict: no leading zeros in numbers ("1.02",
 * "2024.01.05" are not semver), no empty identifiers, only [0-9A-Za-z-] in
 * them, every number within 64 bits. Two firmware habits that would parse
 * but misorder are refused as well: a pre-release identifier made only of
 * digits and hyphens (a date such as "2024-01-05", whose "01-05" would sort
 * lexically) and a git describe suffix ("v1.2.3-4-g14f53a19[-dirty]", which
 * would sort below the tag it follows).
 */
#ifndef OTAD_CORE_VERSION_H
#define OTAD_CORE_VERSION_H

#include <stdbool.h>

/* True when S (NUL-terminated, may be NULL) is a semantic version as above. */
bool version_is_semver(const char *s);

/*
 * Compares two semantic versions. Writes <0, 0 or >0 to *ret_cmp as A sorts
 * below, equal to or above B. Returns 0, or -EINVAL (nothing written) when
 * either is not a semantic version.
 */
int version_compare(const char *a, const char *b, int *ret_cmp);

#endif
