/*
 * What this binary was built from and how, for `otad --version`: the source's
 * git description at build time (meson's vcs_tag runs `git describe --always
 * --dirty`; a tarball without .git gets meson's project version), the
 * build's options, and the versions of libraries that tell none at run time.
 * Every value is fixed when the binary is built: nothing here reads the
 * environment or the disk. It does not own the run-time library versions:
 * each layer reports the libraries it calls (cli/cli_version.c gathers them).
 */
#ifndef OTAD_CORE_BUILD_INFO_H
#define OTAD_CORE_BUILD_INFO_H

/* "v1.2.0-3-gabcdef0-dirty", "3bd4f26", or the project version: static storage. */
const char *build_info_describe(void);

/*
 * The build's options as "key=value" words separated by spaces: buildtype,
 * optimization, debug, b_ndebug, sanitize, werror, postgresql and the compiler.
 * Static storage.
 */
const char *build_info_options(void);

/* inih's version from pkg-config when otad was built (inih has no run-time version). */
const char *build_info_inih_version(void);

#endif
