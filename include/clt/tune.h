/* clt — kernel tuning. Drivers keep kernel parameters per device (tile sizes, vector
 * widths, which kernel family). With CLT_TUNE_AUTO a context measures a few candidates
 * the first time an op runs on a device and caches the winner beside the program
 * cache; later contexts read it back. clt_tune redoes the measurement on demand. */
#ifndef CLT_TUNE_H
#define CLT_TUNE_H

#include <stddef.h>

#include "clt/op.h"
#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLT_TUNE_FORCE 1u /* measure again even where cached results exist */
#define CLT_TUNE_PEERS 2u /* also measure library peers that are slow to start (CLBlast) */

/* Measures the candidates for ops of `kind` on the context's device and stores the
 * winner in the tuning cache (if the context has a cache directory). Takes seconds. A
 * device with nothing to tune returns CLT_OK at once. Runs work on the context: one
 * thread at a time per context (clt.h). Errors: CLT_ERR_INVALID_ARG for NULL ctx, an
 * unknown kind or unknown flags; what building and running the candidates meets
 * (CLT_ERR_BUILD, CLT_ERR_LAUNCH, CLT_ERR_OUT_OF_MEMORY), prefixed with the op. */
CLT_API clt_status clt_tune(clt_context *ctx, clt_op_kind kind, unsigned flags);

/* Writes into `out` (`size` bytes, NUL-terminated, cut to fit) a short description of
 * how the context would run `op` — the kernel and its parameters ("gemm_cpu RM=6 NR=16
 * KU=2"), "host fallback", or the driver's name — after validating it as clt_op_run
 * would. Runs nothing, but may build programs or tune, as a first run does: one thread
 * at a time per context (clt.h). Errors: CLT_ERR_INVALID_ARG for NULL out or size 0 and
 * as clt_op_run's validation; CLT_ERR_BUILD from a program build. */
CLT_API clt_status clt_op_describe(clt_context *ctx, const clt_op *op, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
