/* Human-readable quantities for the tools' text output. */
#ifndef CLT_TOOLS_UNITS_H
#define CLT_TOOLS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Formats a byte count with binary units: "512 B", "48 KiB", "1.5 MiB", "15.6 GiB".
 * Exact multiples print without decimals. Returns `buf`. */
const char *format_bytes(uint64_t bytes, char *buf, size_t size);

#endif
