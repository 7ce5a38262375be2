/* The error convention of cltrain's data and checkpoint code: a sentence into the
 * caller's buffer, and false to return. */
#ifndef CLTRAIN_FAILF_H
#define CLTRAIN_FAILF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4))) static inline bool failf(char *err, size_t cap,
                                                               const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return false;
}

#endif
