/* The OpenCL GEMM's parameters for one device: which kernel runs a problem, and the
 * build-time parameters of each kernel (CLBlast's approach: every tile size, vector
 * width and unroll factor is a -D macro). Built-in defaults come from the database
 * (cl_gemm_db.c: vendor → architecture → device name, a default at each level); the
 * tuner (cl_tune.c) measures candidates and caches the winner per device. */
#ifndef CLT_CL_GEMM_PARAMS_H
#define CLT_CL_GEMM_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum clt_cl_gemm_kernel {
    CLT_CL_GEMM_DIRECT = 0,  /* gemm.cl: one element per work-item, any layout, no setup */
    CLT_CL_GEMM_CPU = 1,     /* gemm_cpu.cl: packed panels, a register block per work-item */
    CLT_CL_GEMM_GPU = 2,     /* gemm_gpu.cl: local-memory tiles, register micro-tiles */
    CLT_CL_GEMM_CLBLAST = 3, /* CLBlast's xgemm, where clt was built with it */
};
#define CLT_CL_GEMM_KERNEL_COUNT 4

/* gemm.cl: a TS×TS work-group computes a TS×TS tile of C. */
struct clt_cl_gemm_direct_params {
    int ts;
};

/* gemm_cpu.cl: one work-item (work-group of 1) computes an RM×NR block of C from
 * packed panels of op(A) (RM rows, K-major) and op(B) (NR columns, K-major); NR is a
 * vector width (8 or 16 floats); the k loop is unrolled KU times. */
struct clt_cl_gemm_cpu_params {
    int rm, nr, ku;
};

/* gemm_gpu.cl, with CLBlast's names: a work-group of MDIMC×NDIMC work-items computes an
 * MWG×NWG tile of C, staging KWG-deep slices of A and B in local memory; each work-item
 * keeps an (MWG/MDIMC)×(NWG/NDIMC) block in registers; VWM/VWN are the vector widths of
 * loads along M and N. */
struct clt_cl_gemm_gpu_params {
    int mwg, nwg, kwg, mdimc, ndimc, vwm, vwn;
};

struct clt_cl_gemm_params {
    /* Problems of fewer than this many flops (2·M·N·K·batch) run the direct kernel: the
     * larger kernels' setup (packing, bigger tiles) does not pay below it. */
    double direct_below_flops;
    /* The kernel for everything else: CLT_CL_GEMM_CPU or CLT_CL_GEMM_GPU. */
    enum clt_cl_gemm_kernel family;
    /* Hand large f32 problems to CLBlast instead of `family` (the tuner measured it
     * faster here). Ignored where CLBlast cannot take the problem (bf16, bias). */
    bool use_clblast;
    struct clt_cl_gemm_direct_params direct;
    struct clt_cl_gemm_cpu_params cpu;
    struct clt_cl_gemm_gpu_params gpu;
};

#endif
