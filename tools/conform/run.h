/* Running one case on one context: drawing its inputs from the seed, making them
 * consistent with a forward pass where a backward op needs that, uploading, running the
 * op and reading every output back. */
#ifndef CLT_CONFORM_RUN_H
#define CLT_CONFORM_RUN_H

#include "conform.h"

/* Allocates host storage for every tensor of the layout. false when out of memory. */
bool case_data_alloc(const case_layout *L, case_data *out);
void case_data_free(case_data *d);

/* Draws every tensor's contents from the seed (tensor i from its own stream, so a
 * tensor's values do not depend on which others the case has). */
void case_data_fill(const case_layout *L, uint64_t seed, case_data *d);

/* For a backward op that needs them: runs the forward case on ctx (the host) with the
 * inputs of the same names and copies its outputs (o and lse, mean and rstd) into in.
 * Nothing to do for other ops. On failure, clt_last_error() says why. */
clt_status case_data_derive(clt_context *ctx, const conform_case *c, const case_layout *L,
                            case_data *in);

/* Uploads `in`, runs the op on ctx and reads every tensor back into `out` (allocated
 * for the same layout). kernel receives clt_op_describe's text (which kernel variant
 * ran); a failure's text is clt_last_error()'s, a kernel build failure's holds the log. */
clt_status case_execute(clt_context *ctx, const case_layout *L, const case_data *in,
                        case_data *out, char *kernel, size_t kernel_cap);

#endif
