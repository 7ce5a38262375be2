/* Built-in optimizer shapes per device, in the GEMM and attention databases' shape
 * (vendor → architecture → device name, a default at each level), and
 * $CLT_OPTIM_SHAPE.
 *
 * Why these values (kernels_cl/optim.cl has the kernels' side):
 * - GPUs: a work-item per float4 (coalesced, 16-byte accesses), 256 work-items per
 *   group (8 warps, 4 wave64s), at most 4096 groups (an H100's 132 SMs many times
 *   over; beyond, each work-item takes more vectors); a work-group per q8 block, its map
 *   and thresholds in local memory, a tree for the block's absmax.
 * - CPUs: groups of one work-item walking 1024 consecutive vectors of the native float
 *   width (16 Ki elements with AVX-512: a group costs little to start next to its
 *   work, and 10 M parameters still make 600 groups to share out), and a work-item per
 *   q8 block, 16 blocks per group. The GPU shape ran AdamW at 0.12 of the memory
 *   triad on PoCL 3.1 (2 AVX-512 cores): its work-item loops around the grid-stride
 *   loop do not vectorise, and per q8 block it spent a table copy and eight barriers
 *   (PoCL runs a group's work-items one after the other between barriers).
 * - Other devices: the GPU shape with 64 work-items per group. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_device_db.h"
#include "backends/opencl/cl_optim_db.h"

#define ENV_SHAPE "CLT_OPTIM_SHAPE"

#define S(VW, WG, ITEMS, GROUPS, Q8_ITEMS, Q8_WG)                                         \
    {.vw = VW, .wg = WG, .min_items = ITEMS, .max_groups = GROUPS, .q8_items = Q8_ITEMS,   \
     .q8_wg = Q8_WG}

struct db_device {
    const char *name; /* CL_DEVICE_NAME; NULL: the architecture's default (last) */
    struct clt_cl_optim_shape shape;
};

static const struct db_device gpu_default[] = {{NULL, S(4, 256, 1, 4096, false, 256)}};
static const struct clt_cl_db_arch gpu[] = {{NULL, gpu_default}};

/* vw is the device's native float width (shape_for_width below) */
static const struct db_device cpu_default[] = {{NULL, S(16, 1, 1024, 4096, true, 16)}};
static const struct clt_cl_db_arch cpu[] = {{NULL, cpu_default}};

static const struct db_device other_default[] = {{NULL, S(4, 64, 1, 4096, false, 64)}};
static const struct clt_cl_db_arch other[] = {{NULL, other_default}};

static const struct clt_cl_db_vendor database[] = {
    {CLT_DEVICE_TYPE_GPU, "NVIDIA", gpu},
    {CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices", gpu},
    {CLT_DEVICE_TYPE_GPU, "AMD", gpu},
    {CLT_DEVICE_TYPE_GPU, "Intel", gpu},
    {CLT_DEVICE_TYPE_CPU, NULL, cpu},
    {CLT_DEVICE_TYPE_GPU, NULL, gpu},
    {CLT_DEVICE_TYPE_ACCELERATOR, NULL, other},
    {CLT_DEVICE_TYPE_OTHER, NULL, other},
};
#define DATABASE_SIZE ((int)(sizeof database / sizeof database[0]))

static void default_shape(const struct clt_cl_device *dev, struct clt_cl_optim_shape *out)
{
    const struct db_device *d = clt_cl_db_lookup(dev, database, DATABASE_SIZE, sizeof *d);
    *out = d ? d->shape : other_default[0].shape;
    /* A CPU's vectors are its SIMD registers (AVX2: 8 floats); its f32 groups keep the
     * same count of elements. */
    if (dev->info.type == CLT_DEVICE_TYPE_CPU) {
        const unsigned width = clt_cl_native_float_width(dev);
        const int vw = width >= 16 ? 16 : width >= 8 ? 8 : 4;
        out->min_items = out->min_items * out->vw / vw;
        out->vw = vw;
    }
}

/* ---- $CLT_OPTIM_SHAPE ---------------------------------------------------------------- */

static bool is_pow2(long x) { return x > 0 && (x & (x - 1)) == 0; }

/* One "key=value" of the variable into s; false when the key is unknown or the value
 * is out of range. */
static bool parse_pair(const char *key, const char *value, struct clt_cl_optim_shape *s)
{
    if (strcmp(key, "q8") == 0) {
        if (strcmp(value, "items") != 0 && strcmp(value, "group") != 0)
            return false;
        s->q8_items = strcmp(value, "items") == 0;
        return true;
    }
    char *end;
    errno = 0;
    const long x = strtol(value, &end, 10);
    if (errno || end == value || *end)
        return false;
    if (strcmp(key, "vw") == 0 && (x == 4 || x == 8 || x == 16))
        s->vw = (int)x;
    else if (strcmp(key, "wg") == 0 && is_pow2(x) && x <= 4096)
        s->wg = (int)x;
    else if (strcmp(key, "items") == 0 && x >= 1 && x <= 1L << 20)
        s->min_items = (int)x;
    else if (strcmp(key, "groups") == 0 && x >= 1 && x <= 1L << 20)
        s->max_groups = (int)x;
    else if (strcmp(key, "q8_wg") == 0 && is_pow2(x) && x <= 4096)
        s->q8_wg = (int)x;
    else
        return false;
    return true;
}

static clt_status parse_env(const struct clt_cl_device *dev, const char *text,
                            struct clt_cl_optim_shape *s)
{
    char buf[256];
    if (strlen(text) >= sizeof buf)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is longer than %zu characters",
                        dev->label, ENV_SHAPE, sizeof buf - 1);
    strcpy(buf, text);
    for (char *save = NULL, *tok = strtok_r(buf, " ,", &save); tok;
         tok = strtok_r(NULL, " ,", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        if (!eq || !parse_pair(tok, eq + 1, s))
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: %s='%s': '%s' is not one of vw=4|8|16, wg=<power of two "
                            "<= 4096>, items=<1..2^20>, groups=<1..2^20>, q8=items|group, "
                            "q8_wg=<power of two <= 4096>",
                            dev->label, ENV_SHAPE, text, tok);
    }
    return CLT_OK;
}

clt_status clt_cl_optim_shape_of(const struct clt_cl_device *dev,
                                 struct clt_cl_optim_shape *out)
{
    default_shape(dev, out);
    const char *env = getenv(ENV_SHAPE);
    return env && env[0] ? parse_env(dev, env, out) : CLT_OK;
}
