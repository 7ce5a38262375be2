/* The context's log sink: a callback, a level, and formatting. */
#ifndef CLT_RUNTIME_LOGGER_H
#define CLT_RUNTIME_LOGGER_H

#include "clt/log.h"
#include "runtime/error.h"

struct clt_logger {
    clt_log_fn fn;     /* NULL: silent */
    void *user;
    clt_log_level level;
};

/* Resolves the sink from the options: an explicit callback, else $CLT_LOG on stderr,
 * else silence. */
void clt_logger_init(struct clt_logger *log, clt_log_fn fn, void *user, clt_log_level level);

void clt_log(const struct clt_logger *log, clt_log_level level, const char *fmt, ...)
    CLT_PRINTF(3, 4);

#endif
