/* Built-in attention tiles per device, in the GEMM database's shape (vendor →
 * architecture → device name, a default at each level), and the rules that fit them to
 * a device and a head size.
 *
 * Why these values (kernels_cl/attention.cl has the design):
 * - CPUs: work-items owning one SIMD vector of query rows each (16 lanes with AVX-512,
 *   the device's native float width otherwise), two per group so that each K/V tile
 *   staged in local memory serves 32 rows; register blocks of 16 streamed rows (16
 *   accumulators + 2 of AVX-512's 32 registers), tiles of 16 rows (K and V of a tile
 *   stay in L1 up to d = 128). Loops over d are not unrolled: the accumulators live in
 *   L1 anyway. Measured on PoCL 3.1 (2 cores, AVX-512), B=1 H=12 d=64 causal T=2048:
 *   forward ~200 GFLOP/s with these tiles; wg=1 or 4, bc=32, ju=8 within 5% of it;
 *   bc=64 -15%; 8 lanes per work-item -35% (on this AVX-512 machine).
 * - GPUs: one work-item per row (the SIMT lanes are the rows), 64 rows per group (128 on
 *   sm_80+: more warps per group to hide local-memory latency), d unrolled so that
 *   the accumulators stay in registers, register blocks of 4 rows and tiles of 16, so
 *   that the owned rows and the K/V tiles fit 48 KiB of local memory at d = 64; larger
 *   d shrinks to fit (clt_cl_attention_params_shrink), FastAttention's point for
 *   Volta-class and low-resource GPUs by the same rule. dK and dV are two launches from
 *   d = 80 on: 2·d accumulators per lane (plus the masked blocks' bookkeeping) do not
 *   fit 255 registers there. ptxas (sm_70, sm_86): 0 spills for every d and dtype with
 *   these tiles; 8-row blocks spill in the backward from d = 96.
 * - Intel GPUs and unknown devices: 32 rows per group (smaller register files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_device_db.h"
#include "backends/opencl/cl_internal.h"

#define ENV_PARAMS "CLT_ATTENTION_PARAMS"

#define P(BR, WG, BC, JU, DU, SPLIT) \
    {.br = BR, .wg = WG, .bc = BC, .ju = JU, .du = DU, .split = SPLIT}

struct db_device {
    const char *name; /* CL_DEVICE_NAME; NULL: the architecture's default (last) */
    struct clt_cl_attention_params params;
};

static const struct db_device nvidia_ampere_on[] = {{NULL, P(128, 128, 16, 4, 0, 80)}};
static const struct db_device nvidia_volta[] = {{NULL, P(64, 64, 16, 4, 0, 80)}};
static const struct db_device nvidia_default[] = {{NULL, P(64, 64, 16, 4, 0, 80)}};
static const struct clt_cl_db_arch nvidia[] = {
    {"sm_80", nvidia_ampere_on}, {"sm_86", nvidia_ampere_on}, {"sm_87", nvidia_ampere_on},
    {"sm_89", nvidia_ampere_on}, {"sm_90", nvidia_ampere_on}, {"sm_70", nvidia_volta},
    {"sm_72", nvidia_volta},     {"sm_75", nvidia_volta},     {NULL, nvidia_default},
};

/* GCN/CDNA (wave64) and RDNA (wave32) alike: 64 rows, one or two waves. */
static const struct db_device amd_default[] = {{NULL, P(64, 64, 16, 4, 0, 80)}};
static const struct clt_cl_db_arch amd[] = {{NULL, amd_default}};

static const struct db_device intel_gpu_default[] = {{NULL, P(32, 32, 16, 4, 0, 80)}};
static const struct clt_cl_db_arch intel_gpu[] = {{NULL, intel_gpu_default}};

/* br is cut to the native float width on CPUs that have narrower vectors (see below). */
static const struct db_device cpu_default[] = {{NULL, P(32, 2, 16, 16, 1, 0)}};
static const struct clt_cl_db_arch cpu[] = {{NULL, cpu_default}};

static const struct db_device other_default[] = {{NULL, P(32, 32, 16, 4, 0, 80)}};
static const struct clt_cl_db_arch other[] = {{NULL, other_default}};

static const struct clt_cl_db_vendor database[] = {
    {CLT_DEVICE_TYPE_GPU, "NVIDIA", nvidia},
    {CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices", amd},
    {CLT_DEVICE_TYPE_GPU, "AMD", amd},
    {CLT_DEVICE_TYPE_GPU, "Intel", intel_gpu},
    {CLT_DEVICE_TYPE_CPU, NULL, cpu},
    {CLT_DEVICE_TYPE_GPU, NULL, other},
    {CLT_DEVICE_TYPE_ACCELERATOR, NULL, other},
    {CLT_DEVICE_TYPE_OTHER, NULL, other},
};
#define DATABASE_SIZE ((int)(sizeof database / sizeof database[0]))

void clt_cl_attention_default_params(const struct clt_cl_device *dev,
                                     struct clt_cl_attention_params *out)
{
    const struct db_device *d = clt_cl_db_lookup(dev, database, DATABASE_SIZE, sizeof *d);
    *out = d ? d->params : other_default[0].params;
    /* A CPU's rows per work-item are one SIMD vector: AVX2 has 8 float lanes, and 16
     * accumulators of 8 lanes would already fill its 16 registers. */
    if (dev->info.type == CLT_DEVICE_TYPE_CPU) {
        const unsigned width = clt_cl_native_float_width(dev);
        if (width >= 4 && (int)width * out->wg < out->br) {
            int lanes = 4;
            while (lanes * 2 <= (int)width)
                lanes *= 2;
            out->br = out->wg * lanes;
            out->ju = lanes < out->ju ? lanes : out->ju;
        }
    }
}

uint64_t clt_cl_attention_local_bytes(const struct clt_cl_attention_params *p, int head_dim,
                                      enum clt_cl_attention_kernel kernel)
{
    const uint64_t d = (uint64_t)head_dim, br = (uint64_t)p->br, bc = (uint64_t)p->bc;
    switch (kernel) {
    case CLT_CL_ATTENTION_FWD: /* own q; K and V tiles */
        return 4 * (br * d + 2 * bc * d);
    case CLT_CL_ATTENTION_DQ: /* own q and dout; K and V tiles */
        return 4 * (2 * br * d + 2 * bc * d);
    case CLT_CL_ATTENTION_DKDV: /* own k and v; Q and dout tiles, their lse and delta */
        return 4 * (2 * br * d + 2 * bc * d + 2 * bc);
    }
    return UINT64_MAX;
}

static bool well_formed(const struct clt_cl_attention_params *p)
{
    if (p->br < 1 || p->wg < 1 || p->bc < 1 || p->ju < 1 || p->du < 0 || p->split < 0 ||
        p->br % p->wg != 0)
        return false;
    const int vr = p->br / p->wg;
    return (vr == 1 || vr == 2 || vr == 4 || vr == 8 || vr == 16) && p->bc % p->ju == 0;
}

bool clt_cl_attention_params_fit(const struct clt_cl_device *dev,
                                 const struct clt_cl_attention_params *p, int head_dim,
                                 enum clt_cl_attention_kernel kernel)
{
    return well_formed(p) && p->wg <= dev->info.max_work_group_size &&
           clt_cl_attention_local_bytes(p, head_dim, kernel) <= dev->info.local_mem_bytes;
}

bool clt_cl_attention_params_shrink(const struct clt_cl_device *dev,
                                    struct clt_cl_attention_params *p, int head_dim,
                                    enum clt_cl_attention_kernel kernel)
{
    if (!well_formed(p))
        return false;
    /* Every step keeps the parameters well formed: br and wg halve together (same
     * lanes per work-item), bc stays a multiple of ju. */
    const uint64_t owned_per_row = kernel == CLT_CL_ATTENTION_FWD ? 1 : 2;
    while (!clt_cl_attention_params_fit(dev, p, head_dim, kernel)) {
        const bool rows_can = p->wg % 2 == 0 && p->wg > 1;
        const bool tiles_can = p->bc > p->ju;
        const bool rows_larger = owned_per_row * (uint64_t)p->br > 2u * (uint64_t)p->bc;
        if (p->wg > dev->info.max_work_group_size && rows_can) {
            p->wg /= 2;
            p->br /= 2;
        } else if (rows_can && (!tiles_can || (rows_larger && p->wg > 32))) {
            p->wg /= 2;
            p->br /= 2;
        } else if (tiles_can) {
            p->bc = p->bc / 2 % p->ju == 0 ? p->bc / 2 : p->ju;
        } else if (p->ju > 1) {
            p->ju /= 2;
            p->bc = p->ju;
        } else if (p->br / p->wg > 1) {
            p->br /= 2;
        } else {
            return false;
        }
    }
    return true;
}

const char *clt_cl_attention_kernel_name(enum clt_cl_attention_kernel kernel)
{
    switch (kernel) {
    case CLT_CL_ATTENTION_FWD:
        return "attention_fwd";
    case CLT_CL_ATTENTION_DKDV:
        return "attention_bwd_dkdv";
    case CLT_CL_ATTENTION_DQ:
        return "attention_bwd_dq";
    }
    return "?";
}

clt_status clt_cl_attention_params_get(const struct clt_cl_device *dev, int head_dim,
                                       enum clt_cl_attention_kernel kernel,
                                       struct clt_cl_attention_params *out, bool *from_env)
{
    clt_cl_attention_default_params(dev, out);
    const char *env = getenv(ENV_PARAMS);
    *from_env = env && env[0];
    if (*from_env) {
        clt_status status = clt_cl_attention_params_parse(env, out);
        if (status != CLT_OK)
            return status;
        char text[128];
        clt_cl_attention_params_format(out, text, sizeof text);
        if (!well_formed(out))
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: %s gives %s: br/wg must be 1, 2, 4, 8 or 16 and ju must "
                            "divide bc", dev->label, ENV_PARAMS, text);
        if (!clt_cl_attention_params_fit(dev, out, head_dim, kernel)) {
            const unsigned long long need =
                clt_cl_attention_local_bytes(out, head_dim, kernel);
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: %s gives %s, which does not fit %s at d=%d: %d work-items "
                            "(the device runs %d), %llu bytes of local memory (it has %llu)",
                            dev->label, ENV_PARAMS, text, clt_cl_attention_kernel_name(kernel),
                            head_dim, out->wg, dev->info.max_work_group_size, need,
                            (unsigned long long)dev->info.local_mem_bytes);
        }
        return CLT_OK;
    }
    if (!clt_cl_attention_params_shrink(dev, out, head_dim, kernel))
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: %s at d=%d does not fit the device (%llu bytes of local memory)",
                        dev->label, clt_cl_attention_kernel_name(kernel), head_dim,
                        (unsigned long long)dev->info.local_mem_bytes);
    return CLT_OK;
}
