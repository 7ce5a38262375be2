/* GEMM parameters as text, "key=value" pairs separated by spaces or commas: the format of
 * the tuning cache and of $CLT_GEMM_PARAMS. Parsing starts from the caller's values, so
 * a text may give only the keys it changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"

static const char *const kernel_names[CLT_CL_GEMM_KERNEL_COUNT] = {
    [CLT_CL_GEMM_DIRECT] = "direct",
    [CLT_CL_GEMM_CPU] = "cpu",
    [CLT_CL_GEMM_GPU] = "gpu",
    [CLT_CL_GEMM_CLBLAST] = "clblast",
};

/* The integer parameters, by name, as offsets into the struct. */
struct int_field {
    const char *key;
    size_t offset;
};

#define FIELD(key, member) {key, offsetof(struct clt_cl_gemm_params, member)}
static const struct int_field int_fields[] = {
    FIELD("ts", direct.ts),   FIELD("rm", cpu.rm),       FIELD("nr", cpu.nr),
    FIELD("ku", cpu.ku),      FIELD("mwg", gpu.mwg),     FIELD("nwg", gpu.nwg),
    FIELD("kwg", gpu.kwg),    FIELD("mdimc", gpu.mdimc), FIELD("ndimc", gpu.ndimc),
    FIELD("vwm", gpu.vwm),    FIELD("vwn", gpu.vwn),
};
#define INT_FIELD_COUNT ((int)(sizeof int_fields / sizeof int_fields[0]))

void clt_cl_gemm_params_format(const struct clt_cl_gemm_params *p, char *out, size_t size)
{
    size_t used = 0;
    int w = snprintf(out, size, "family=%s clblast=%d direct_below_flops=%.17g",
                     kernel_names[p->family], p->use_clblast ? 1 : 0, p->direct_below_flops);
    for (int i = 0; i < INT_FIELD_COUNT && w >= 0 && (used += (size_t)w) < size; i++)
        w = snprintf(out + used, size - used, " %s=%d", int_fields[i].key,
                     *(const int *)((const char *)p + int_fields[i].offset));
}

static clt_status parse_pair(const char *key, const char *value, struct clt_cl_gemm_params *p)
{
    char *end;
    errno = 0;
    if (strcmp(key, "family") == 0) {
        for (int k = 0; k < CLT_CL_GEMM_KERNEL_COUNT; k++) {
            if (strcmp(value, kernel_names[k]) == 0) {
                if (k == CLT_CL_GEMM_CLBLAST) { /* "family=clblast": CLBlast for large ones */
                    p->use_clblast = true;
                } else if (k == CLT_CL_GEMM_DIRECT) { /* direct for every size */
                    p->direct_below_flops = 1e300;
                } else {
                    p->family = (enum clt_cl_gemm_kernel)k;
                    p->use_clblast = false;
                }
                return CLT_OK;
            }
        }
        return clt_fail(CLT_ERR_INVALID_ARG, "GEMM parameters: family '%s' is not one of "
                        "direct, cpu, gpu, clblast", value);
    }
    if (strcmp(key, "clblast") == 0) {
        long v = strtol(value, &end, 10);
        if (*end || errno || (v != 0 && v != 1))
            return clt_fail(CLT_ERR_INVALID_ARG, "GEMM parameters: clblast=%s is not 0 or 1",
                            value);
        p->use_clblast = v == 1;
        return CLT_OK;
    }
    if (strcmp(key, "direct_below_flops") == 0) {
        double v = strtod(value, &end);
        if (*end || errno || !(v >= 0))
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "GEMM parameters: direct_below_flops=%s is not a number >= 0", value);
        p->direct_below_flops = v;
        return CLT_OK;
    }
    for (int i = 0; i < INT_FIELD_COUNT; i++) {
        if (strcmp(key, int_fields[i].key) != 0)
            continue;
        long v = strtol(value, &end, 10);
        if (*end || errno || v < 1 || v > 4096)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "GEMM parameters: %s=%s is not a whole number in 1..4096", key, value);
        *(int *)((char *)p + int_fields[i].offset) = (int)v;
        return CLT_OK;
    }
    return clt_fail(CLT_ERR_INVALID_ARG, "GEMM parameters: unknown key '%s'", key);
}

clt_status clt_cl_gemm_params_parse(const char *text, struct clt_cl_gemm_params *p)
{
    struct clt_cl_gemm_params out = *p;
    char pair[128];
    const char *s = text;
    while (*s) {
        s += strspn(s, " ,\t\n");
        size_t n = strcspn(s, " ,\t\n");
        if (n == 0)
            break;
        if (n >= sizeof pair)
            return clt_fail(CLT_ERR_INVALID_ARG, "GEMM parameters: '%.40s...' is too long", s);
        memcpy(pair, s, n);
        pair[n] = '\0';
        s += n;
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1])
            return clt_fail(CLT_ERR_INVALID_ARG, "GEMM parameters: '%s' is not key=value", pair);
        *eq = '\0';
        clt_status st = parse_pair(pair, eq + 1, &out);
        if (st != CLT_OK)
            return st;
    }
    *p = out;
    return CLT_OK;
}
