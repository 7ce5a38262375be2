/* The parameter databases' shape (CLBlast's): vendor → architecture → device name, a
 * default at each level, and the one walk over it that cl_gemm_db.c, cl_attention_db.c
 * and cl_optim_db.c share. Each database keeps its own payload in device entries whose
 * first member is `const char *name`. */
#ifndef CLT_CL_DEVICE_DB_H
#define CLT_CL_DEVICE_DB_H

#include <stddef.h>

#include "backends/opencl/cl_internal.h"

struct clt_cl_db_arch {
    const char *arch;    /* "sm_70", "gfx906"; NULL: the vendor's default (last) */
    const void *devices; /* the database's device entries; name NULL: the default (last) */
};

struct clt_cl_db_vendor {
    clt_device_type type;
    const char *vendor; /* matched within CL_DEVICE_VENDOR, ignoring case; NULL: any */
    const struct clt_cl_db_arch *archs;
};

/* dev's device entry: the first of the n vendor rows that matches its type and vendor,
 * there its architecture's row (else the default), there its device name's entry (else
 * the default). entry_size is sizeof the database's device entry. NULL when no vendor
 * row matches. */
const void *clt_cl_db_lookup(const struct clt_cl_device *dev, const struct clt_cl_db_vendor *db,
                             int n, size_t entry_size);

/* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, 0 when the driver does not say: CPUs' databases
 * size their vectors by it (AVX2: 8, AVX-512: 16). */
unsigned clt_cl_native_float_width(const struct clt_cl_device *dev);

#endif
