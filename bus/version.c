/* version.c - the library's version at run time. */
#include "bus.h"

#define STR(x) #x
#define VERSION_STRING(major, minor, patch) STR(major) "." STR(minor) "." STR(patch)

unsigned bus_version(void)
{
    return BUS_VERSION;
}

const char *bus_version_string(void)
{
    return VERSION_STRING(BUS_VERSION_MAJOR, BUS_VERSION_MINOR, BUS_VERSION_PATCH);
}
