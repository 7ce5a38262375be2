/* clt — contexts. A context opens one device and owns the buffers and events created
 * through it (clt.h states the rules for handles, threads and errors once). */
#ifndef CLT_CONTEXT_H
#define CLT_CONTEXT_H

#include "clt/device.h"
#include "clt/log.h"
#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether a device measures kernel candidates the first time an op needs them. */
typedef enum clt_tune_mode {
    CLT_TUNE_DEFAULT = 0, /* $CLT_TUNE ("auto" or "off"), else auto */
    CLT_TUNE_AUTO = 1,    /* measure on first use, cache the winner */
    CLT_TUNE_OFF = 2,     /* use cached results if any, else the built-in defaults */
} clt_tune_mode;

/* Options for clt_context_create. Fill with clt_context_opts_init, then set what you
 * need; a zero or NULL field means "from the environment, else the default". */
typedef struct clt_context_opts {
    /* "opencl:0", "host", ... NULL: $CLT_DEVICE, else the first GPU, else any OpenCL
     * device, else the host. */
    const char *device;
    /* Budget per tier in bytes, indexed by clt_tier. 0: $CLT_DEVICE_MEM,
     * $CLT_HOST_PINNED_MEM, $CLT_HOST_MEM, $CLT_NVME_MEM (sizes like "512M", "2G"), else
     * the device's global memory for DEVICE and no limit for the others. */
    uint64_t mem_budget[CLT_TIER_COUNT];
    /* Compiled-program cache. NULL: $CLT_CACHE_DIR, else $XDG_CACHE_HOME/clt, else
     * ~/.cache/clt. "" turns the on-disk cache off. */
    const char *cache_dir;
    /* Directory for NVME-tier files. NULL: $CLT_NVME_DIR, else $TMPDIR, else /tmp. */
    const char *nvme_dir;
    /* Log sink. NULL: $CLT_LOG selects stderr output at that level, else silence. */
    clt_log_fn log_fn;
    void *log_user;
    clt_log_level log_level; /* messages above this level are not formatted */
    clt_tune_mode tune;
} clt_context_opts;

/* Counters a context keeps; see clt_context_stats. */
typedef struct clt_stats {
    uint64_t programs_built;       /* kernel programs compiled from source */
    uint64_t programs_from_cache;  /* kernel programs loaded from the on-disk cache */
    uint64_t cache_rejected;       /* cache entries found corrupt or foreign, rebuilt */
    double build_seconds;          /* time spent compiling from source */
    double cache_load_seconds;     /* time spent loading cached binaries */
    uint64_t tunings_run;          /* kernel searches measured on this device */
    uint64_t tunings_from_cache;   /* tuned parameters read from the tuning cache */
    uint64_t tunings_rejected;     /* tuning cache entries found corrupt or foreign */
    double tune_seconds;           /* time spent measuring candidates */
    uint64_t ops_run;              /* ops run through the context, fallbacks included */
    uint64_t ops_fallback;         /* ops the device could not run, run on the host */
    uint64_t mem_used[CLT_TIER_COUNT];  /* bytes allocated now, per tier */
    uint64_t mem_peak[CLT_TIER_COUNT];  /* most bytes allocated at once, per tier */
    uint64_t mem_budget[CLT_TIER_COUNT];/* the budget in force; UINT64_MAX: no limit */
} clt_stats;

/* Sets every field to its "use the default" value (log_level: CLT_LOG_INFO). NULL does
 * nothing. */
CLT_API void clt_context_opts_init(clt_context_opts *opts);

/* Opens a device and returns a new context in *out, the caller's until
 * clt_context_destroy. `opts` may be NULL for all defaults; it and its strings are read
 * during the call only, except log_fn and log_user, which the context keeps and calls
 * until it is destroyed. On failure *out is NULL and nothing is left allocated.
 * Thread-safe. Errors: CLT_ERR_INVALID_ARG (bad option or environment value, named in
 * the text), CLT_ERR_NO_DEVICE (no device by that name: the text lists the devices that
 * exist; or the device could not be opened). */
CLT_API clt_status clt_context_create(const clt_context_opts *opts, clt_context **out);

/* Waits for outstanding work, frees every buffer and event still owned by the context
 * (wrapped memory stays its owner's) and closes the device. NULL does nothing. The
 * caller must not use the context, or anything created from it, concurrently or
 * afterwards; an offload engine on it must be destroyed before. */
CLT_API void clt_context_destroy(clt_context *ctx);

/* Copies the open device's description into *out. Thread-safe. Errors: only the
 * general ones (clt.h). */
CLT_API clt_status clt_context_device(const clt_context *ctx, clt_device_info *out);

/* Waits until all work submitted to the context has finished. Like submitting work, one
 * thread at a time per context (clt.h). Errors: what the device reports while waiting
 * (CLT_ERR_LAUNCH, CLT_ERR_TRANSFER, CLT_ERR_DEVICE_LOST). A failure of one asynchronous
 * op or transfer is reported by its event (clt_event_wait), and some OpenCL drivers
 * report it only there: keep the events of work whose failure matters. */
CLT_API clt_status clt_context_finish(clt_context *ctx);

/* Copies a consistent snapshot of the context's counters into *out. Thread-safe.
 * Errors: only the general ones (clt.h). */
CLT_API clt_status clt_context_stats(const clt_context *ctx, clt_stats *out);

/* Parses a size like "4096", "64K", "512M", "1.5G", "2T" (binary multiples, optional
 * trailing "B" or "iB", surrounding spaces allowed) into bytes. Thread-safe. Errors:
 * CLT_ERR_INVALID_ARG for NULL, text that is not a number with a known unit, a value
 * beyond 64 bits, or a fraction that is not a whole number of bytes (the text quotes
 * the size). */
CLT_API clt_status clt_parse_size(const char *text, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
