/* Built-in GEMM parameters per device, in CLBlast's database shape: vendor → architecture
 * → device name, with a default at each level, so an untuned device gets the parameters
 * of its closest known relative. The tuner (cl_tune.c) measures better ones and caches
 * them per device; these are what a device starts from.
 *
 * Sources: the gpu family's tiles follow CLBlast's published xgemm tunings for the
 * same architectures (its database, src/database/kernels/xgemm), adapted to this kernel
 * (both operands always staged in local memory, NDIMC along C's rows); the cpu family's
 * micro-tile was measured on PoCL (AVX2+FMA: 16 ymm registers hold RM×NR/8 = 12
 * accumulators, 2 B vectors and a broadcast). */
#include <stdio.h>
#include <string.h>

#include "backends/opencl/cl_device_db.h"
#include "backends/opencl/cl_internal.h"

/* Problems below these many flops run the direct kernel. On a CPU the packing costs two
 * extra passes over A and B; on a GPU a tile per work-group leaves most of the device
 * idle below about 128³. */
#define CPU_DIRECT_BELOW (2.0 * 48 * 48 * 48)
#define GPU_DIRECT_BELOW (2.0 * 128 * 128 * 128)

#define CPU_PARAMS(RM, NR, KU)                                                            \
    {.direct_below_flops = CPU_DIRECT_BELOW, .family = CLT_CL_GEMM_CPU, .use_clblast = false, \
     .direct = {.ts = 16}, .cpu = {.rm = RM, .nr = NR, .ku = KU},                          \
     .gpu = {.mwg = 32, .nwg = 32, .kwg = 16, .mdimc = 8, .ndimc = 8, .vwm = 1, .vwn = 1}}

#define GPU_PARAMS(MWG, NWG, KWG, MDIMC, NDIMC, VWM, VWN)                                 \
    {.direct_below_flops = GPU_DIRECT_BELOW, .family = CLT_CL_GEMM_GPU, .use_clblast = false, \
     .direct = {.ts = 16}, .cpu = {.rm = 6, .nr = 16, .ku = 2},                            \
     .gpu = {.mwg = MWG, .nwg = NWG, .kwg = KWG, .mdimc = MDIMC, .ndimc = NDIMC,           \
             .vwm = VWM, .vwn = VWN}}

struct db_device {
    const char *name; /* CL_DEVICE_NAME; NULL: the architecture's default (last) */
    struct clt_cl_gemm_params params;
};

/* ---- NVIDIA GPUs ---- */
static const struct db_device nvidia_volta_on[] = {
    /* Volta, Turing, Ampere, Ada: 64 KiB+ registers per SM; an 8×8 micro-tile per
     * work-item, 256 work-items, 16 KiB of local memory per group. */
    {NULL, GPU_PARAMS(128, 128, 16, 16, 16, 4, 4)},
};
static const struct db_device nvidia_pascal[] = {
    /* CLBlast SM6.1 default: KWG 32, MWG 64 NWG 64, MDIMC 16 NDIMC 8, VWM 4 VWN 4. */
    {NULL, GPU_PARAMS(64, 64, 32, 16, 8, 4, 4)},
};
static const struct db_device nvidia_default[] = {
    {NULL, GPU_PARAMS(64, 64, 16, 16, 16, 2, 2)},
};
static const struct clt_cl_db_arch nvidia[] = {
    {"sm_70", nvidia_volta_on}, {"sm_72", nvidia_volta_on}, {"sm_75", nvidia_volta_on},
    {"sm_80", nvidia_volta_on}, {"sm_86", nvidia_volta_on}, {"sm_87", nvidia_volta_on},
    {"sm_89", nvidia_volta_on}, {"sm_90", nvidia_volta_on},
    {"sm_60", nvidia_pascal},   {"sm_61", nvidia_pascal},   {"sm_62", nvidia_pascal},
    {NULL, nvidia_default},
};

/* ---- AMD GPUs: the device name is the gfx target on ROCm ("gfx906") ---- */
static const struct db_device amd_gcn[] = {
    /* GCN/CDNA, wavefront 64: 16×16 work-items, 4×4 each, float4 loads. */
    {NULL, GPU_PARAMS(64, 64, 16, 16, 16, 4, 4)},
};
static const struct db_device amd_rdna[] = {
    /* RDNA, wave32 and a larger register file per lane: 8×4 per work-item. */
    {NULL, GPU_PARAMS(128, 64, 16, 16, 16, 4, 4)},
};
static const struct db_device amd_default[] = {
    /* CLBlast's AMD default: KWG 32, MWG 64 NWG 64, MDIMC 16 NDIMC 16... VWM 4 VWN 4. */
    {NULL, GPU_PARAMS(64, 64, 16, 16, 16, 4, 4)},
};
static const struct clt_cl_db_arch amd[] = {
    {"gfx900", amd_gcn},   {"gfx906", amd_gcn},   {"gfx908", amd_gcn},   {"gfx90a", amd_gcn},
    {"gfx940", amd_gcn},   {"gfx942", amd_gcn},   {"gfx1010", amd_rdna}, {"gfx1030", amd_rdna},
    {"gfx1031", amd_rdna}, {"gfx1100", amd_rdna}, {"gfx1101", amd_rdna}, {"gfx1102", amd_rdna},
    {NULL, amd_default},
};

/* ---- Intel GPUs ---- */
static const struct db_device intel_gpu_default[] = {
    /* CLBlast's Intel GPU default: KWG 32, MWG 64 NWG 64, MDIMC 16 NDIMC 8, VWM 4 VWN 4. */
    {NULL, GPU_PARAMS(64, 64, 32, 16, 8, 4, 4)},
};
static const struct clt_cl_db_arch intel_gpu[] = {
    {NULL, intel_gpu_default},
};

/* ---- CPUs (PoCL, Intel's and AMD's CPU runtimes) ---- */
static const struct db_device cpu_default[] = {
    /* Measured on PoCL 3.1, AVX2+FMA (see the header). */
    {NULL, CPU_PARAMS(6, 16, 2)},
};
static const struct clt_cl_db_arch cpu[] = {
    {NULL, cpu_default},
};

/* ---- anything else ---- */
static const struct db_device gpu_default[] = {
    /* Modest: 64 work-items and 4 KiB of local memory fit every GPU we know of. */
    {NULL, GPU_PARAMS(32, 32, 16, 8, 8, 2, 2)},
};
static const struct clt_cl_db_arch other_gpu[] = {
    {NULL, gpu_default},
};

static const struct clt_cl_db_vendor database[] = {
    {CLT_DEVICE_TYPE_GPU, "NVIDIA", nvidia},
    {CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices", amd},
    {CLT_DEVICE_TYPE_GPU, "AMD", amd},
    {CLT_DEVICE_TYPE_GPU, "Intel", intel_gpu},
    {CLT_DEVICE_TYPE_CPU, NULL, cpu},
    {CLT_DEVICE_TYPE_GPU, NULL, other_gpu},
    {CLT_DEVICE_TYPE_ACCELERATOR, NULL, other_gpu},
    {CLT_DEVICE_TYPE_OTHER, NULL, other_gpu},
};
#define DATABASE_SIZE ((int)(sizeof database / sizeof database[0]))

void clt_cl_gemm_default_params(const struct clt_cl_device *dev, struct clt_cl_gemm_params *out)
{
    static const struct clt_cl_gemm_params fallback = GPU_PARAMS(32, 32, 16, 8, 8, 2, 2);
    *out = fallback;
    const struct db_device *d = clt_cl_db_lookup(dev, database, DATABASE_SIZE, sizeof *d);
    if (d)
        *out = d->params;
    /* The direct kernel is the fallback for every problem: it must always fit. */
    while (out->direct.ts > 1 &&
           ((int64_t)out->direct.ts * out->direct.ts > dev->info.max_work_group_size ||
            2u * (uint64_t)out->direct.ts * (uint64_t)(out->direct.ts + 1) * sizeof(float) >
                dev->info.local_mem_bytes))
        out->direct.ts /= 2;
    /* A device smaller than its entry assumes (fewer work-items, little local memory)
     * runs the direct kernel rather than nothing. */
    if (!clt_cl_gemm_params_fit(dev, out))
        out->direct_below_flops = 1e300;
}

static bool is_vector_width(int w) { return w == 1 || w == 2 || w == 4 || w == 8; }

bool clt_cl_gemm_params_fit(const struct clt_cl_device *dev, const struct clt_cl_gemm_params *p)
{
    const int64_t wg = dev->info.max_work_group_size;
    const uint64_t local = dev->info.local_mem_bytes;
    const int ts = p->direct.ts;
    if (ts < 1 || (int64_t)ts * ts > wg || 2u * (uint64_t)ts * (uint64_t)(ts + 1) * 4u > local)
        return false;
    if (!(p->direct_below_flops >= 0))
        return false;
    const struct clt_cl_gemm_cpu_params *c = &p->cpu;
    if (p->family == CLT_CL_GEMM_CPU)
        return c->rm >= 1 && c->rm <= 16 && (c->nr == 8 || c->nr == 16) && c->ku >= 1 &&
               c->ku <= 16;
    if (p->family != CLT_CL_GEMM_GPU)
        return false;
    /* gemm_gpu.cl: whole vectors per work-item along M and N, and along K when a layout
     * loads vectors in that direction. */
    const struct clt_cl_gemm_gpu_params *g = &p->gpu;
    if (g->mwg < 1 || g->nwg < 1 || g->kwg < 1 || g->mdimc < 1 || g->ndimc < 1 ||
        !is_vector_width(g->vwm) || !is_vector_width(g->vwn))
        return false;
    return (int64_t)g->mdimc * g->ndimc <= wg && g->mwg % (g->mdimc * g->vwm) == 0 &&
           g->nwg % (g->ndimc * g->vwn) == 0 && g->kwg % g->vwm == 0 && g->kwg % g->vwn == 0 &&
           (uint64_t)(g->mwg + g->nwg) * (uint64_t)g->kwg * 4u <= local;
}
