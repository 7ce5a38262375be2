/* clt — library version, and what it promises: clt.h, "Versions". */
#ifndef CLT_VERSION_H
#define CLT_VERSION_H

#include "clt/export.h"

#define CLT_VERSION_MAJOR 0
#define CLT_VERSION_MINOR 1
#define CLT_VERSION_PATCH 0
#define CLT_VERSION_STRING "0.1.0"
/* X·1000000 + Y·1000 + Z, so versions compare as integers. */
#define CLT_VERSION_NUMBER \
    (CLT_VERSION_MAJOR * 1000000 + CLT_VERSION_MINOR * 1000 + CLT_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually loaded, as CLT_VERSION_NUMBER and as
 * CLT_VERSION_STRING ("0.1.0", static) would give it; it may differ from the headers
 * compiled against. Thread-safe; never fail. */
CLT_API int clt_version_number(void);
CLT_API const char *clt_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
