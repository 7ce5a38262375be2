/* Attention on OpenCL: the launches of kernels_cl/attention.cl.
 *
 *   forward   attention_fwd                        one launch
 *   backward  attention_bwd_delta → _dkdv → _dq    on the in-order queue; _dkdv is two
 *                                                  launches (dV, then dK) from the head
 *                                                  size `split` on (GPU registers)
 *
 * No scratch: delta is the caller's workspace and every other intermediate lives in
 * local memory or registers, so the op allocates nothing (and nothing T×T). dK/dV and dQ
 * are separate kernels, each work-group owning its outputs, so nothing needs atomics and
 * results are bit-identical run to run.
 *
 * Each (kernel's tiles, head size, dtype) is its own program; the mask (causal or not)
 * is an argument, as it only changes loop bounds and which register blocks are masked.
 * Tiles come from cl_attention_db.c. A compiled kernel that cannot run as many
 * work-items as its tiles ask (registers) is retried with half the rows per group,
 * unless the tiles came from $CLT_ATTENTION_PARAMS. Kernel objects are made per launch:
 * clSetKernelArg on a shared one would race between threads. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"

#define FILE_NAME "attention.cl"

/* Work-items per group of attention_bwd_delta (fewer where the device runs fewer). */
#define DELTA_WG 64

static bool is_storage_dtype(clt_dtype d)
{
    return d == CLT_DTYPE_F32 || d == CLT_DTYPE_F16 || d == CLT_DTYPE_BF16;
}

/* Tensor offsets are bytes, the kernels index elements. */
static bool is_aligned(const clt_tensor *t) { return t->offset % clt_dtype_size(t->dtype) == 0; }

/* The op's (B, H, T, d) tensors, then its f32 statistics. */
struct tensors {
    const clt_tensor *rows[8];
    int n_rows;
    const clt_tensor *stats[2];
    int n_stats;
};

static struct tensors tensors_of(const clt_op *op)
{
    struct tensors t = {{NULL}, 0, {NULL}, 0};
    if (op->kind == CLT_OP_ATTENTION_FWD) {
        const clt_attention_fwd_args *a = &op->u.attention_fwd;
        const clt_tensor *rows[] = {&a->q, &a->k, &a->v, &a->o};
        memcpy(t.rows, rows, sizeof rows);
        t.n_rows = 4;
        t.stats[t.n_stats++] = &a->lse;
    } else {
        const clt_attention_bwd_args *a = &op->u.attention_bwd;
        const clt_tensor *rows[] = {&a->q, &a->k, &a->v, &a->o, &a->dout, &a->dq, &a->dk, &a->dv};
        memcpy(t.rows, rows, sizeof rows);
        t.n_rows = 8;
        t.stats[t.n_stats++] = &a->lse;
        t.stats[t.n_stats++] = &a->delta;
    }
    return t;
}

bool clt_cl_attention_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    if (op->kind != CLT_OP_ATTENTION_FWD && op->kind != CLT_OP_ATTENTION_BWD)
        return false;
    const struct tensors t = tensors_of(op);
    const clt_tensor *q = t.rows[0];
    for (int i = 0; i < t.n_rows; i++)
        if (!is_storage_dtype(t.rows[i]->dtype) || t.rows[i]->dtype != q->dtype ||
            (t.rows[i]->buf && !is_aligned(t.rows[i])))
            return false;
    for (int i = 0; i < t.n_stats; i++)
        if (t.stats[i]->dtype != CLT_DTYPE_F32 || (t.stats[i]->buf && !is_aligned(t.stats[i])))
            return false;
    /* The kernels count rows and (b, h) pairs in int, with room for a block past T. */
    if (q->shape[2] > INT_MAX / 2 || q->shape[0] * q->shape[1] > INT_MAX / 2)
        return false;
    /* The smallest tiles must fit; every device we know of passes with room to spare. */
    struct clt_cl_attention_params p;
    clt_cl_attention_default_params(dev, &p);
    const int d = (int)q->shape[3];
    return clt_cl_attention_params_shrink(dev, &p, d, CLT_CL_ATTENTION_DKDV);
}

/* ---- launching ---------------------------------------------------------------------- */


/* A tensor as the kernels take it: its buffer, and (element offset, batch, head, row
 * strides) in a long4. */
struct operand {
    cl_mem buf;
    cl_long4 layout;
};

static struct operand operand_of(const clt_tensor *t)
{
    struct operand o;
    o.buf = clt_cl_buffer_of(t->buf);
    o.layout.s[0] = (cl_long)(t->offset / clt_dtype_size(t->dtype));
    o.layout.s[1] = t->strides[0];
    o.layout.s[2] = t->strides[1];
    o.layout.s[3] = t->strides[2];
    return o;
}

static bool same_tiles(const struct clt_cl_attention_params *a,
                       const struct clt_cl_attention_params *b)
{
    return a->br == b->br && a->wg == b->wg && a->bc == b->bc && a->ju == b->ju &&
           a->du == b->du && a->split == b->split;
}

/* The kernels a program with these tiles holds, as the bits 1 << kernel: `which`, and
 * the others that run with the same tiles at this head size (on CPUs all do, so one
 * program serves the forward and the backward). Any other kernel stays out: its local
 * arrays sized by these tiles could exceed the device's local memory, and then the
 * whole program would fail to build. */
static unsigned kernels_sharing(const struct clt_cl_device *dev,
                                const struct clt_cl_attention_params *p, int d,
                                enum clt_cl_attention_kernel which, bool from_env, int part)
{
    unsigned mask = 1u << which;
    if (part != 0)
        return mask;
    const bool split = p->split > 0 && d >= p->split; /* dK/dV has programs of its own */
    for (int k = CLT_CL_ATTENTION_FWD; k <= CLT_CL_ATTENTION_DQ; k++) {
        if (k == CLT_CL_ATTENTION_DKDV && split)
            continue;
        struct clt_cl_attention_params q = *p;
        if (!from_env) {
            clt_cl_attention_default_params(dev, &q);
            if (!clt_cl_attention_params_shrink(dev, &q, d, k))
                continue;
        }
        if (same_tiles(&q, p) && clt_cl_attention_params_fit(dev, p, d, k))
            mask |= 1u << k;
    }
    return mask;
}

/* The program for these tiles, head size and dtype holding the kernels in `mask`;
 * `part` 1 or 2 builds the dK/dV kernel for dV or dK alone (0: both). */
static clt_status program_for(struct clt_cl_device *dev, const struct clt_cl_attention_params *p,
                              int d, clt_dtype dtype, unsigned mask, int part, cl_program *out)
{
    char options[224], part_option[24] = "";
    if (part != 0)
        snprintf(part_option, sizeof part_option, " -DDKDV_PART=%d", part);
    snprintf(options, sizeof options,
             "-DHEAD_DIM=%d -DWG=%d -DVR=%d -DBC=%d -DJU=%d -DDU=%d -DKERNELS=%u "
             "-DAB_DTYPE=%d -DC_DTYPE=%d%s",
             d, p->wg, p->br / p->wg, p->bc, p->ju, p->du > 0 ? p->du : d, mask, (int)dtype,
             (int)dtype, part_option);
    return clt_cl_program_get(dev, FILE_NAME, options, out);
}

/* How many work-items per group a compiled kernel can run (registers permitting). */
static size_t kernel_max_work_items(const struct clt_cl_device *dev, cl_kernel kernel,
                                    size_t want)
{
    size_t max = 0;
    if (clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max,
                                 &max, NULL) != CL_SUCCESS)
        return want;
    return max;
}

/* The kernel `which` with its tiles in *p: from the database (halving rows per group
 * while the compiled kernel cannot run that many work-items) or $CLT_ATTENTION_PARAMS. */
static clt_status make_kernel(struct clt_cl_device *dev, enum clt_cl_attention_kernel which,
                              int d, clt_dtype dtype, int part,
                              struct clt_cl_attention_params *p, cl_program *program_out,
                              cl_kernel *out)
{
    *out = NULL;
    const char *name = clt_cl_attention_kernel_name(which);
    bool from_env = false;
    clt_status status = clt_cl_attention_params_get(dev, d, which, p, &from_env);
    if (status != CLT_OK)
        return status;
    for (;;) {
        cl_program program = NULL;
        const unsigned mask = kernels_sharing(dev, p, d, which, from_env, part);
        status = program_for(dev, p, d, dtype, mask, part, &program);
        if (status != CLT_OK)
            return status;
        cl_int err = CL_SUCCESS;
        cl_kernel kernel = clCreateKernel(program, name, &err);
        if (!kernel)
            return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name,
                               FILE_NAME);
        const size_t max = kernel_max_work_items(dev, kernel, (size_t)p->wg);
        if (max >= (size_t)p->wg) {
            *program_out = program;
            *out = kernel;
            return CLT_OK;
        }
        clReleaseKernel(kernel);
        if (from_env || p->wg % 2 != 0)
            return clt_fail(CLT_ERR_UNSUPPORTED,
                            "%s: %s (d=%d) runs at most %zu work-items per group; its tiles "
                            "ask for %d", dev->label, name, d, max, p->wg);
        clt_cl_log(dev, CLT_LOG_DEBUG, "%s (d=%d): %zu work-items per group at most; halving "
                   "br=%d wg=%d", name, d, max, p->br, p->wg);
        p->wg /= 2;
        p->br /= 2;
    }
}

/* One work-group per block of br rows and (b, h). */
static void grid_of(const struct clt_cl_attention_params *p, const clt_tensor *q,
                    size_t global[2], size_t local[2])
{
    const size_t t = (size_t)q->shape[2], blocks = (t + (size_t)p->br - 1) / (size_t)p->br;
    global[0] = blocks * (size_t)p->wg;
    global[1] = (size_t)q->shape[0] * (size_t)q->shape[1];
    local[0] = (size_t)p->wg;
    local[1] = 1;
}

/* ---- forward ------------------------------------------------------------------------ */

static clt_status forward(struct clt_cl_device *dev, const clt_attention_fwd_args *a,
                          cl_event *event)
{
    static const char name[] = "attention_fwd";
    const int d = (int)a->q.shape[3];
    struct clt_cl_attention_params p;
    cl_program program = NULL;
    cl_kernel kernel = NULL;
    clt_status status = make_kernel(dev, CLT_CL_ATTENTION_FWD, d, a->q.dtype, 0, &p, &program,
                                    &kernel);
    if (status != CLT_OK)
        return status;
    struct operand q = operand_of(&a->q), k = operand_of(&a->k), v = operand_of(&a->v),
                   o = operand_of(&a->o);
    cl_mem lse = clt_cl_buffer_of(a->lse.buf);
    cl_ulong lse_offset = a->lse.offset / sizeof(float);
    cl_int t = (cl_int)a->q.shape[2], h = (cl_int)a->q.shape[1], causal = a->causal;
    cl_float scale = a->scale;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(t), CLT_CL_ARG(h), CLT_CL_ARG(scale), CLT_CL_ARG(causal),
        CLT_CL_ARG(q.buf), CLT_CL_ARG(q.layout), CLT_CL_ARG(k.buf), CLT_CL_ARG(k.layout), CLT_CL_ARG(v.buf), CLT_CL_ARG(v.layout),
        CLT_CL_ARG(o.buf), CLT_CL_ARG(o.layout), CLT_CL_ARG(lse), CLT_CL_ARG(lse_offset),
    };
    status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status == CLT_OK) {
        size_t global[2], local[2];
        grid_of(&p, &a->q, global, local);
        status = clt_cl_enqueue(dev, kernel, name, 2, global, local, event);
    }
    clReleaseKernel(kernel);
    return status;
}

/* ---- backward ----------------------------------------------------------------------- */

/* delta = rowsum(dout ∘ o), from a program of the same head size. */
static clt_status delta_enqueue(struct clt_cl_device *dev, const clt_attention_bwd_args *a,
                                cl_program program)
{
    static const char name[] = "attention_bwd_delta";
    cl_int err = CL_SUCCESS;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (!kernel)
        return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name, FILE_NAME);
    struct operand dout = operand_of(&a->dout), o = operand_of(&a->o);
    cl_mem delta = clt_cl_buffer_of(a->delta.buf);
    cl_ulong delta_offset = a->delta.offset / sizeof(float);
    cl_int t = (cl_int)a->q.shape[2], h = (cl_int)a->q.shape[1];
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(t), CLT_CL_ARG(h), CLT_CL_ARG(dout.buf), CLT_CL_ARG(dout.layout), CLT_CL_ARG(o.buf), CLT_CL_ARG(o.layout),
        CLT_CL_ARG(delta), CLT_CL_ARG(delta_offset),
    };
    clt_status status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status == CLT_OK) {
        size_t wg = kernel_max_work_items(dev, kernel, DELTA_WG);
        wg = wg < DELTA_WG ? wg : DELTA_WG;
        const size_t local[2] = {wg, 1};
        const size_t global[2] = {((size_t)t + wg - 1) / wg * wg,
                                  (size_t)a->q.shape[0] * (size_t)a->q.shape[1]};
        status = clt_cl_enqueue(dev, kernel, name, 2, global, local, NULL);
    }
    clReleaseKernel(kernel);
    return status;
}

/* One launch of the dK/dV kernel (both, or the dV or dK part alone). */
static clt_status dkdv_enqueue(struct clt_cl_device *dev, const clt_attention_bwd_args *a,
                               const struct clt_cl_arg *args, size_t n_args, int part,
                               cl_program *program)
{
    static const char name[] = "attention_bwd_dkdv";
    struct clt_cl_attention_params p;
    cl_kernel kernel = NULL;
    clt_status status = make_kernel(dev, CLT_CL_ATTENTION_DKDV, (int)a->q.shape[3], a->q.dtype,
                                    part, &p, program, &kernel);
    if (status != CLT_OK)
        return status;
    status = clt_cl_set_args(dev, kernel, name, args, n_args);
    if (status == CLT_OK) {
        size_t global[2], local[2];
        grid_of(&p, &a->q, global, local);
        status = clt_cl_enqueue(dev, kernel, name, 2, global, local, NULL);
    }
    clReleaseKernel(kernel);
    return status;
}

static clt_status backward(struct clt_cl_device *dev, const clt_attention_bwd_args *a,
                           cl_event *event)
{
    static const char name[] = "attention_bwd_dq";
    const int d = (int)a->q.shape[3];
    struct clt_cl_attention_params p;
    cl_program program = NULL, dq_program = NULL;
    cl_kernel dq = NULL;
    clt_status status = make_kernel(dev, CLT_CL_ATTENTION_DQ, d, a->q.dtype, 0, &p, &dq_program,
                                    &dq);
    if (status != CLT_OK)
        return status;
    /* Where 2·d accumulators per row would not fit (GPU registers), dV and dK are two
     * launches of their own programs. */
    const bool split = p.split > 0 && d >= p.split;

    struct operand q = operand_of(&a->q), k = operand_of(&a->k), v = operand_of(&a->v),
                   dout = operand_of(&a->dout), dqo = operand_of(&a->dq),
                   dko = operand_of(&a->dk), dvo = operand_of(&a->dv);
    cl_mem lse = clt_cl_buffer_of(a->lse.buf), delta = clt_cl_buffer_of(a->delta.buf);
    cl_ulong lse_offset = a->lse.offset / sizeof(float);
    cl_ulong delta_offset = a->delta.offset / sizeof(float);
    cl_int t = (cl_int)a->q.shape[2], h = (cl_int)a->q.shape[1], causal = a->causal;
    cl_float scale = a->scale;
    const struct clt_cl_arg kv_args[] = {
        CLT_CL_ARG(t), CLT_CL_ARG(h), CLT_CL_ARG(scale), CLT_CL_ARG(causal),
        CLT_CL_ARG(q.buf), CLT_CL_ARG(q.layout), CLT_CL_ARG(k.buf), CLT_CL_ARG(k.layout), CLT_CL_ARG(v.buf), CLT_CL_ARG(v.layout),
        CLT_CL_ARG(dout.buf), CLT_CL_ARG(dout.layout), CLT_CL_ARG(lse), CLT_CL_ARG(lse_offset), CLT_CL_ARG(delta),
        CLT_CL_ARG(delta_offset), CLT_CL_ARG(dko.buf), CLT_CL_ARG(dko.layout), CLT_CL_ARG(dvo.buf), CLT_CL_ARG(dvo.layout),
    };
    const struct clt_cl_arg q_args[] = {
        CLT_CL_ARG(t), CLT_CL_ARG(h), CLT_CL_ARG(scale), CLT_CL_ARG(causal),
        CLT_CL_ARG(q.buf), CLT_CL_ARG(q.layout), CLT_CL_ARG(k.buf), CLT_CL_ARG(k.layout), CLT_CL_ARG(v.buf), CLT_CL_ARG(v.layout),
        CLT_CL_ARG(dout.buf), CLT_CL_ARG(dout.layout), CLT_CL_ARG(lse), CLT_CL_ARG(lse_offset), CLT_CL_ARG(delta),
        CLT_CL_ARG(delta_offset), CLT_CL_ARG(dqo.buf), CLT_CL_ARG(dqo.layout),
    };
    const size_t n_kv = sizeof kv_args / sizeof kv_args[0];

    /* delta comes first: both kernels read it. Its kernel only needs d, so it comes from
     * the dQ program. */
    status = delta_enqueue(dev, a, dq_program);
    if (status != CLT_OK)
        goto done;
    status = dkdv_enqueue(dev, a, kv_args, n_kv, split ? 1 : 0, &program);
    if (status == CLT_OK && split)
        status = dkdv_enqueue(dev, a, kv_args, n_kv, 2, &program);
    if (status != CLT_OK)
        goto done;
    status = clt_cl_set_args(dev, dq, name, q_args, sizeof q_args / sizeof q_args[0]);
    if (status == CLT_OK) {
        size_t global[2], local[2];
        grid_of(&p, &a->q, global, local);
        status = clt_cl_enqueue(dev, dq, name, 2, global, local, event);
    }
done:
    clReleaseKernel(dq);
    return status;
}

clt_status clt_cl_attention_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event)
{
    *event = NULL;
    if (op->kind == CLT_OP_ATTENTION_FWD)
        return forward(dev, &op->u.attention_fwd, event);
    if (op->kind == CLT_OP_ATTENTION_BWD)
        return backward(dev, &op->u.attention_bwd, event);
    return clt_fail(CLT_ERR_INTERNAL, "%s: op %s is not an attention op", dev->label,
                    clt_op_name(op->kind));
}

static void describe_kernel(const struct clt_cl_device *dev, int d,
                            enum clt_cl_attention_kernel kernel, char *out, size_t size)
{
    struct clt_cl_attention_params p;
    bool from_env = false;
    char params[96] = "its parameters do not resolve";
    if (clt_cl_attention_params_get(dev, d, kernel, &p, &from_env) == CLT_OK)
        clt_cl_attention_params_format(&p, params, sizeof params);
    snprintf(out, size, "%s %s%s", clt_cl_attention_kernel_name(kernel), params,
             from_env ? " (from $CLT_ATTENTION_PARAMS)" : "");
}

clt_status clt_cl_attention_describe(const struct clt_cl_device *dev, const clt_op *op,
                                     char *out, size_t size)
{
    const bool fwd = op->kind == CLT_OP_ATTENTION_FWD;
    const int d = (int)(fwd ? op->u.attention_fwd.q : op->u.attention_bwd.q).shape[3];
    if (fwd) {
        describe_kernel(dev, d, CLT_CL_ATTENTION_FWD, out, size);
        return CLT_OK;
    }
    char dkdv[160], dq[160];
    describe_kernel(dev, d, CLT_CL_ATTENTION_DKDV, dkdv, sizeof dkdv);
    describe_kernel(dev, d, CLT_CL_ATTENTION_DQ, dq, sizeof dq);
    snprintf(out, size, "%s; %s", dkdv, dq);
    return CLT_OK;
}
