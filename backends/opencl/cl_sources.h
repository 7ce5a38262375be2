/* The OpenCL C sources of kernels_cl/, embedded at build time by
 * cmake/embed_kernels.cmake into a generated clt_cl_sources.c. */
#ifndef CLT_CL_SOURCES_H
#define CLT_CL_SOURCES_H

#include <stddef.h>

struct clt_cl_source {
    const char *name;  /* file name without directory: "gemm.cl" */
    const char *text;  /* NUL-terminated */
    size_t length;     /* bytes, without the NUL */
};

extern const struct clt_cl_source clt_cl_sources[];
extern const size_t clt_cl_source_count;

#endif
