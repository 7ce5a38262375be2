/* Built-in GEMM parameters per device. */
#include "backends/opencl/cl_internal.h"

void clt_cl_gemm_default_params(const struct clt_cl_device *dev, struct clt_cl_gemm_params *out)
{
    const bool cpu = dev->info.type == CLT_DEVICE_TYPE_CPU;
    *out = (struct clt_cl_gemm_params){
        .direct_below_flops = cpu ? 2.0 * 64 * 64 * 64 : 2.0 * 128 * 128 * 128,
        .family = cpu ? CLT_CL_GEMM_CPU : CLT_CL_GEMM_GPU,
        .use_clblast = false,
        .direct = {.ts = 16},
        .cpu = {.rm = 6, .nr = 16, .ku = 1},
        .gpu = {.mwg = 64, .nwg = 64, .kwg = 16, .mdimc = 16, .ndimc = 16, .vwm = 2, .vwn = 2},
    };
    while (out->direct.ts > 1 && (out->direct.ts * out->direct.ts > dev->info.max_work_group_size))
        out->direct.ts /= 2;
}

bool clt_cl_gemm_params_fit(const struct clt_cl_device *dev, const struct clt_cl_gemm_params *p)
{
    const int64_t wg = dev->info.max_work_group_size;
    const uint64_t local = dev->info.local_mem_bytes;
    const int ts = p->direct.ts;
    if (ts < 1 || (int64_t)ts * ts > wg || 2u * (uint64_t)ts * (uint64_t)(ts + 1) * 4u > local)
        return false;
    const struct clt_cl_gemm_cpu_params *c = &p->cpu;
    if (c->rm < 1 || c->rm > 16 || (c->nr != 8 && c->nr != 16) || c->ku < 1 || c->ku > 16)
        return false;
    const struct clt_cl_gemm_gpu_params *g = &p->gpu;
    if ((int64_t)g->mdimc * g->ndimc > wg || g->mwg % (g->mdimc * g->vwm) != 0 ||
        g->nwg % (g->ndimc * g->vwn) != 0 ||
        (uint64_t)(g->mwg + g->nwg) * (uint64_t)g->kwg * 4u > local)
        return false;
    return true;
}
