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
    if (n < 0 || (size_t)n + 2 >= sizeof last_error)
        return status;
    /* Append ": detail", cut to what fits. */
    size_t used = (size_t)n, room = sizeof last_error - used - 1;
    memcpy(last_error + used, ": ", 2);
    used += 2;
    room -= 2;
    size_t len = strnlen(detail, room);
    memcpy(last_error + used, detail, len);
    last_error[used + len] = '\0';
    return status;
}
