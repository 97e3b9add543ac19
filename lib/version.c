/*
 * The version of the library linked in, for a program that wants to know
 * whether it runs with the headers it was compiled against. The numbers
 * themselves live in include/otac/version.h only.
 */
#include "otac/version.h"

unsigned int otac_version(void)
{
    return OTAC_VERSION_HEX;
}

const char *otac_version_string(void)
{
    return OTAC_VERSION_STRING;
}
