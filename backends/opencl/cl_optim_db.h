/* How a device runs the optimizer kernels (kernels_cl/optim.cl, launched by
 * cl_optim.c): vector width, group sizes and the q8 layout, from a built-in table keyed
 * vendor → architecture → device name (cl_optim_db.c), or from $CLT_OPTIM_SHAPE for
 * experiments and tests. */
#ifndef CLT_CL_OPTIM_DB_H
#define CLT_CL_OPTIM_DB_H

#include <stdbool.h>

#include "backends/opencl/cl_internal.h"

struct clt_cl_optim_shape {
    int vw;         /* floats per vector (optim.cl's VW): 4, 8 or 16 */
    int wg;         /* f32 kernels: work-items per group, a power of two */
    int min_items;  /* f32 kernels: vectors per work-item, at least */
    int max_groups; /* f32 kernels: groups, at most (beyond: more vectors per work-item) */
    bool q8_items;  /* q8: a work-item per block (optim.cl built with Q8_ITEMS) */
    int q8_wg;      /* q8: work-items per group, a power of two: blocks (q8_items), or the
                       most that share one block */
};

/* The device's shape: $CLT_OPTIM_SHAPE over the table's entry when it is set
 * ("key=value" pairs separated by spaces or commas, keys vw, wg, items (min_items),
 * groups (max_groups), q8 ("items" or "group"), q8_wg; a key left out keeps the table's
 * value). CLT_ERR_INVALID_ARG naming the variable when it does not parse or gives a
 * value out of range. */
clt_status clt_cl_optim_shape_of(const struct clt_cl_device *dev,
                                 struct clt_cl_optim_shape *out);

#endif
