/* Human-readable quantities; see units.h. */
#include "units.h"

#include <inttypes.h>
#include <stdio.h>

const char *format_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    uint64_t scale = 1;
    while (u + 1 < (int)(sizeof units / sizeof units[0]) && bytes / scale >= 1024) {
        scale *= 1024;
        u++;
    }
    if (bytes % scale == 0)
        snprintf(buf, size, "%" PRIu64 " %s", bytes / scale, units[u]);
    else
        snprintf(buf, size, "%.1f %s", (double)bytes / (double)scale, units[u]);
    return buf;
}
