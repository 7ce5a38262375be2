/* Human sizes ("512M", "1.5G") for budgets given on the command line or environment. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clt/context.h"
#include "runtime/error.h"

clt_status clt_parse_size(const char *text, uint64_t *out)
{
    if (!text || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_parse_size: %s is NULL",
                        text ? "out" : "text");
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "size '%s' is not a number (expected e.g. 4096, 512M, 1.5G)", text);
    /* The whole part exactly, as an integer; a fraction, if any, as a double. */
    char *end;
    errno = 0;
    uint64_t whole = isdigit((unsigned char)*p) ? strtoull(p, &end, 10) : 0;
    if (!isdigit((unsigned char)*p))
        end = (char *)p;
    if (errno == ERANGE)
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is out of range", text);
    double fraction = 0.0;
    if (*end == '.') {
        /* Digits only: strtod would also take an exponent ("0.1e50"), which no size has
         * and which could make the fraction too large for any integer. */
        const char *f = end;
        const size_t digits = strspn(f + 1, "0123456789");
        fraction = strtod(f, &end);
        if (end != f + 1 + digits)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "size '%s' is not a number (expected e.g. 4096, 512M, 1.5G)", text);
    }
    const char *unit = end;
    unsigned shift = 0;
    switch (toupper((unsigned char)*unit)) {
    case 'K': shift = 10; unit++; break;
    case 'M': shift = 20; unit++; break;
    case 'G': shift = 30; unit++; break;
    case 'T': shift = 40; unit++; break;
    default: break;
    }
    if (shift && (*unit == 'i' || *unit == 'I'))
        unit++;
    if (*unit == 'b' || *unit == 'B')
        unit++;
    while (isspace((unsigned char)*unit))
        unit++;
    if (*unit != '\0')
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "size '%s' has an unknown unit '%s' (use K, M, G or T)", text, end);
    if (shift && whole > (UINT64_MAX >> shift))
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is out of range", text);
    uint64_t bytes = whole << shift;
    double extra = ldexp(fraction, (int)shift);
    if (extra != floor(extra))
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is not a whole number of bytes", text);
    if (extra > 0 && (uint64_t)extra > UINT64_MAX - bytes)
        return clt_fail(CLT_ERR_INVALID_ARG, "size '%s' is out of range", text);
    *out = bytes + (uint64_t)extra;
    return CLT_OK;
}
