/* The context's log sink. The library never prints on its own: stderr output happens
 * only when the user asks for it with $CLT_LOG. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/logger.h"

static void log_to_stderr(void *user, clt_log_level level, const char *message)
{
    (void)user;
    fprintf(stderr, "clt %s: %s\n", clt_log_level_name(level), message);
}

static bool level_from_name(const char *name, clt_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (clt_log_level)i;
            return true;
        }
    }
    return false;
}

void clt_logger_init(struct clt_logger *log, clt_log_fn fn, void *user, clt_log_level level)
{
    log->fn = fn;
    log->user = user;
    log->level = level;
    if (fn)
        return;
    const char *env = getenv("CLT_LOG");
    clt_log_level env_level;
    if (env && level_from_name(env, &env_level)) {
        log->fn = log_to_stderr;
        log->level = env_level;
    }
}

void clt_log(const struct clt_logger *log, clt_log_level level, const char *fmt, ...)
{
    if (!log || !log->fn || level > log->level)
        return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log->fn(log->user, level, message);
}

const char *clt_log_level_name(clt_log_level level)
{
    switch (level) {
    case CLT_LOG_ERROR: return "error";
    case CLT_LOG_WARN: return "warn";
    case CLT_LOG_INFO: return "info";
    case CLT_LOG_DEBUG: return "debug";
    }
    return "?";
}
