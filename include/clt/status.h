/* clt — status codes and error text.
 *
 * Every public function that can fail returns a clt_status. On failure the library also
 * leaves a sentence in a thread-local buffer, read with clt_last_error(), that names what
 * was wrong: which op, which argument, which file, which tier and how many bytes. */
#ifndef CLT_STATUS_H
#define CLT_STATUS_H

#include "clt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clt_status {
    CLT_OK = 0,
    CLT_ERR_INVALID_ARG = 1,   /* a null pointer, bad shape, dtype, stride, size or name */
    CLT_ERR_OUT_OF_MEMORY = 2, /* a tier's budget is exhausted or an allocation failed */
    CLT_ERR_NO_DEVICE = 3,     /* the named device does not exist or cannot be opened */
    CLT_ERR_UNSUPPORTED = 4,   /* the device cannot run this and there is no fallback */
    CLT_ERR_BUILD = 5,         /* a kernel program failed to build; the text holds the log */
    CLT_ERR_TRANSFER = 6,      /* a copy between host and device memory failed */
    CLT_ERR_LAUNCH = 7,        /* a kernel failed to launch or to run */
    CLT_ERR_DEVICE_LOST = 8,   /* the device stopped answering */
    CLT_ERR_IO = 9,            /* a file read or write failed: short read, disk full */
    CLT_ERR_FORMAT = 10,       /* a file is corrupt, truncated or of a foreign format */
    CLT_ERR_INTERNAL = 11,     /* a bug in clt: please report it with clt_last_error() */
    CLT_ERR_COMM = 12,         /* a collective with other ranks failed or timed out */
} clt_status;

#define CLT_STATUS_COUNT 13

/* A short English description ("out of memory"). Never NULL; unknown values give
 * "unknown status". Thread-safe; the string is static. */
CLT_API const char *clt_status_str(clt_status status);

/* The enumerator's name ("CLT_ERR_OUT_OF_MEMORY"). Never NULL; unknown values give
 * "CLT_ERR_UNKNOWN". Thread-safe; the string is static. */
CLT_API const char *clt_status_name(clt_status status);

/* The sentence describing the most recent failure on the calling thread, or "" if
 * nothing has failed on it yet. Successful calls do not clear it, so read it only after
 * a call has returned something other than CLT_OK. Each thread has its own: a failure
 * on one thread never shows on another. The next failing clt call on the same thread
 * overwrites the text, and the pointer dies with the thread: copy the text to keep it.
 * Never NULL. */
CLT_API const char *clt_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
