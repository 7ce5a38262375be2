/* clt — logging. The library never prints: it hands each message to the context's
 * callback. With no callback set, CLT_LOG=error|warn|info|debug turns on a default one
 * that writes to stderr. */
#ifndef CLT_LOG_H
#define CLT_LOG_H

#include "clt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clt_log_level {
    CLT_LOG_ERROR = 0,
    CLT_LOG_WARN = 1,
    CLT_LOG_INFO = 2,
    CLT_LOG_DEBUG = 3,
} clt_log_level;

/* Called with one complete message, without a trailing newline, valid only during the
 * call. May be called from any thread that is in the library on the context's behalf
 * (an offload engine's threads included), so it must be thread-safe. It must not call
 * clt functions on the same context: it may run while the library holds that context's
 * locks. */
typedef void (*clt_log_fn)(void *user, clt_log_level level, const char *message);

/* "error", "warn", "info", "debug"; "?" for an unknown value. Static. */
CLT_API const char *clt_log_level_name(clt_log_level level);

#ifdef __cplusplus
}
#endif
#endif
