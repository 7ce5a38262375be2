/* Human sizes ("512M", "1.5G") for budgets given on the command line or environment. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/error.h"
#include "clt/context.h"

clt_status clt_parse_size(const char *text, uint64_t *out)
{
    if (!text || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_parse_size: %s is NULL",
                        text ? "out" : "text");
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "size '%s' is not a number (expected e.g. 4096, 512M, 1.5G)", text);
    char *end;
    double value = strtod(p, &end);
    const char *unit = end;
    double scale = 1.0;
    switch (toupper((unsigned char)*unit)) {
    case 'K': scale = 0x1p10; unit++; break;
    case 'M': scale = 0x1p20; unit++; break;
    case 'G': scale = 0x1p30; unit++; break;
    case 'T': scale = 0x1p40; unit++; break;
    default: break;
    }
    if (scale > 1.0 && (*unit == 'i' || *unit == 'I'))
        unit++;
    if (*unit == 'b' || *unit == 'B')
        unit++;
    while (isspace((unsigned char)*unit))
        unit++;
    if (*unit != '\0')
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "size '%s' has an unknown unit '%s' (use K, M, G or T)", text, end);
    double bytes = value * scale;
    if (!isfinite(bytes) || bytes < 0 || bytes >= 0x1p64)
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is out of range", text);
    if (bytes != floor(bytes))
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is not a whole number of bytes", text);
    *out = (uint64_t)bytes;
    return CLT_OK;
}
