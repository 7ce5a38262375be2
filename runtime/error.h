/* Failure reporting: the thread-local sentence behind clt_last_error(). */
#ifndef CLT_RUNTIME_ERROR_H
#define CLT_RUNTIME_ERROR_H

#include "clt/status.h"

#if defined(__GNUC__)
#define CLT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLT_PRINTF(f, a)
#endif

/* Sets the calling thread's error sentence and returns status, so failures read
 * `return clt_fail(CLT_ERR_INVALID_ARG, "gemm: argument a: ...");`. */
clt_status clt_fail(clt_status status, const char *fmt, ...) CLT_PRINTF(2, 3);

/* Prefixes the current sentence with `fmt` and ": ", keeping the detail underneath;
 * returns status. For adding context on the way up ("opencl:0: " ...). */
clt_status clt_fail_prefix(clt_status status, const char *fmt, ...) CLT_PRINTF(2, 3);

#endif
