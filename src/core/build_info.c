/*
 * The build's options and compile-time library versions, from the header
 * src/core/meson.build generates (core/build_options.h); the git description
 * is in the file meson's vcs_tag writes at every build (build_describe.c.in).
 */
#include "core/build_info.h"

#include "core/build_options.h"

const char *build_info_options(void)
{
    return OTAD_BUILD_OPTIONS;
}

const char *build_info_inih_version(void)
{
    return OTAD_BUILD_INIH_VERSION;
}
