/*
 * Version of the otac device library. The macros give the version a program
 * was compiled against; otac_version() and otac_version_string() give the
 * one it runs with (the same, unless a prebuilt library was swapped).
 * Until 1.0 a minor version may change the structs callers allocate; from
 * 1.0 on, only a major version may.
 */
#ifndef OTAC_VERSION_H
#define OTAC_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_VERSION_MAJOR 0
#define OTAC_VERSION_MINOR 2
#define OTAC_VERSION_PATCH 0

/* 0xMMmmpp: compare with >= to require a version at compile time. */
#define OTAC_VERSION_HEX                                                                           \
    ((OTAC_VERSION_MAJOR << 16) | (OTAC_VERSION_MINOR << 8) | OTAC_VERSION_PATCH)

#define OTAC_VERSION_STRINGIFY_(x) #x
#define OTAC_VERSION_STRINGIFY(x)  OTAC_VERSION_STRINGIFY_(x)
#define OTAC_VERSION_STRING                                                                        \
    OTAC_VERSION_STRINGIFY(OTAC_VERSION_MAJOR)                                                     \
    "." OTAC_VERSION_STRINGIFY(OTAC_VERSION_MINOR) "." OTAC_VERSION_STRINGIFY(OTAC_VERSION_PATCH)

/* OTAC_VERSION_HEX of the library linked in. */
unsigned int otac_version(void);

/* OTAC_VERSION_STRING of the library linked in ("0.2.0"); constant, never NULL. */
const char *otac_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
