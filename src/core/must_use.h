/*
 * MUST_USE marks a function whose result the caller must look at: a
 * -errno it ignores is a silent failure (a header never set, bytes never
 * appended). With warnings as errors, ignoring one does not build.
 */
#ifndef OTAD_CORE_MUST_USE_H
#define OTAD_CORE_MUST_USE_H

#define MUST_USE __attribute__((warn_unused_result))

#endif
