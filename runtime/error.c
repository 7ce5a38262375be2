/* The thread-local sentence behind clt_last_error(). This is the one piece of
 * per-thread state in the library: errors must not cross threads. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"

#define CLT_ERROR_TEXT_MAX 8192

static _Thread_local char last_error[CLT_ERROR_TEXT_MAX];

const char *clt_last_error(void) { return last_error; }

clt_status clt_fail(clt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

clt_status clt_fail_prefix(clt_status status, const char *fmt, ...)
{
    char detail[CLT_ERROR_TEXT_MAX];
    memcpy(detail, last_error, sizeof detail);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_error)
        snprintf(last_error + n, sizeof last_error - (size_t)n, ": %s", detail);
    return status;
}
