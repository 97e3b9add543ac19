/*
 * Version strings as firmware projects write them. A string that is a
 * semantic version (an optional leading 'v' or 'V', one to three dot-separated
 * numbers, an optional -pre.release and an optional +build) orders as semver:
 * missing numbers count as 0, a pre-release sorts below its release, build
 * metadata is ignored. Any other string has no order of its own; the service
 * then falls back to the release sequence.
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
