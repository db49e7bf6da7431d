/* nosym_module.c - a shared object that is not a whole module: it has
 * bus_module_init but no bus_module_fini. */
#include "bus/module.h"

int bus_module_init(bus_t *bus, const char *config, void **state)
{
    (void)bus;
    (void)config;
    *state = NULL;
    return 0;
}
