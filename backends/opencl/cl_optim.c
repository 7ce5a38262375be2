/* The optimizer steps and the 8-bit codecs on OpenCL (kernels_cl/optim.cl): AdamW, SGD
 * and LAMB with f32 or q8 states, quantize8 and dequantize8. One launch per step (LAMB:
 * sums, trust ratio, apply); the host's optim_host.c is the oracle they are tested
 * against (tests/test_optim_cl.c).
 *
 * Programs are built per (gradient dtype, param_copy dtype, shape) with
 * -cl-fp32-correctly-rounded-divide-sqrt where the device offers it, so that the
 * divisions and square roots round as the host's do.
 *
 * The maps and their thresholds are computed once on the host (quant8.c, the same
 * floats the host optimizer uses) and uploaded on a device's first q8 op (6 KiB).
 *
 * How a device runs them (vector width, group sizes, q8 layout) is its shape
 * (cl_optim_db.c): GPUs take a float4 per work-item and a work-group per q8 block; CPUs
 * groups of one work-item walking SIMD-wide vectors and a work-item per q8 block. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/host/quant8.h"
#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_optim_db.h"
#include "runtime/ops.h"

#define FILE_NAME "optim.cl"

/* Table layout, as optim.cl reads it: each map, its thresholds 256 floats after it, and
 * the thresholds again as a search tree (search_tree) for the CPU kernels. */
#define TABLE_FLOATS 1536
#define TABLE_SIGNED 0
#define TABLE_UNSIGNED 512
#define TABLE_THR 256
#define TABLE_TREE_SIGNED 1024
#define TABLE_TREE_UNSIGNED 1280

#define MODE_ADAMW 0
#define MODE_LAMB_SUMS 1
#define MODE_LAMB_APPLY 2

/* optim.cl's struct hparams, field for field. */
struct cl_hparams {
    cl_float lr, beta1, beta2, eps, wd, grad_scale;
    cl_float one_minus_beta1, one_minus_beta2;
    cl_float bc1, bc2;
};

/* The 255 thresholds in breadth-first order: level l of the binary search (l = 0..7,
 * step 2^(7 − l)) at 2^l − 1, its entry j the threshold that step compares when the
 * code so far is j · 2^(8 − l). A vector search reads each level as one small table. */
static void search_tree(const float thr[255], float tree[255])
{
    for (int l = 0; l < 8; l++)
        for (int j = 0; j < (1 << l); j++)
            tree[(1 << l) - 1 + j] = thr[(2 * j + 1) * (1 << (7 - l)) - 1];
}

/* The device's table, made on its first q8 op: the signed and unsigned maps with their
 * thresholds, which the GPU kernels copy into local memory, and the search trees. */
static clt_status q8_table_of(struct clt_cl_device *dev, cl_mem *out)
{
    clt_status status = CLT_OK;
    pthread_mutex_lock(&dev->scratch_lock);
    if (!dev->q8_table) {
        float table[TABLE_FLOATS] = {0};
        clt_q8_map_signed(table + TABLE_SIGNED);
        clt_q8_thresholds(table + TABLE_SIGNED, table + TABLE_SIGNED + TABLE_THR);
        clt_q8_map_unsigned(table + TABLE_UNSIGNED);
        clt_q8_thresholds(table + TABLE_UNSIGNED, table + TABLE_UNSIGNED + TABLE_THR);
        search_tree(table + TABLE_SIGNED + TABLE_THR, table + TABLE_TREE_SIGNED);
        search_tree(table + TABLE_UNSIGNED + TABLE_THR, table + TABLE_TREE_UNSIGNED);
        status = clt_dev_reserve(&dev->base, sizeof table, "optim: q8 map table");
        cl_int err = CL_SUCCESS;
        if (status == CLT_OK)
            dev->q8_table = clCreateBuffer(dev->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                           sizeof table, table, &err);
        if (status == CLT_OK && !dev->q8_table) {
            clt_dev_release(&dev->base, sizeof table);
            status = clt_cl_fail(dev, err, CLT_ERR_OUT_OF_MEMORY, "clCreateBuffer(q8 map table)");
        }
    }
    *out = dev->q8_table;
    pthread_mutex_unlock(&dev->scratch_lock);
    return status;
}

void clt_cl_optim_release(struct clt_cl_device *dev)
{
    if (!dev->q8_table)
        return;
    clReleaseMemObject(dev->q8_table);
    clt_dev_release(&dev->base, TABLE_FLOATS * sizeof(float));
    dev->q8_table = NULL;
}

/* Bias correction 1 − β^step in double, rounded once: optim_host.c's. */
static float bias_correction(float beta, int64_t step)
{
    return (float)(1.0 - pow((double)beta, (double)step));
}

static struct cl_hparams hparams_of(const clt_optim_hparams *h, bool adam)
{
    return (struct cl_hparams){
        .lr = h->lr, .beta1 = h->beta1, .beta2 = h->beta2, .eps = h->eps,
        .wd = h->weight_decay, .grad_scale = h->grad_scale,
        .one_minus_beta1 = 1.0f - h->beta1, .one_minus_beta2 = 1.0f - h->beta2,
        .bc1 = adam ? bias_correction(h->beta1, h->step) : 1.0f,
        .bc2 = adam ? bias_correction(h->beta2, h->step) : 1.0f,
    };
}

/* A tensor as the kernels take it: its cl_mem (NULL when absent) and element offset. */
struct operand {
    cl_mem buf;
    cl_ulong off;
};

static struct operand operand_of(const clt_tensor *t)
{
    if (!t->buf)
        return (struct operand){NULL, 0};
    return (struct operand){clt_cl_buffer_of(t->buf), clt_cl_elem_offset(t)};
}

/* One op's launches: the program for its dtypes, the device's shape, the device's table
 * (not owned) and the scratch, released together. */
struct launch {
    struct clt_cl_device *dev;
    cl_program program;
    struct clt_cl_optim_shape shape;
    size_t wg;              /* work-items per group for one-group kernels (lamb_trust) */
    cl_mem table;           /* the device's, not owned */
    cl_mem scratch;
    size_t scratch_bytes;
};

static clt_status launch_open(struct clt_cl_device *dev, clt_dtype grad, clt_dtype copy,
                              bool need_table, struct launch *L)
{
    memset(L, 0, sizeof *L);
    L->dev = dev;
    clt_status status = clt_cl_optim_shape_of(dev, &L->shape);
    if (status != CLT_OK)
        return status;
    struct clt_cl_ew_params p;
    clt_cl_ew_params_of(dev, &p);
    L->wg = p.wg;

    cl_device_fp_config fp = 0;
    if (clGetDeviceInfo(dev->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) !=
        CL_SUCCESS)
        fp = 0;
    char options[160];
    snprintf(options, sizeof options, "-DAB_DTYPE=%d -DC_DTYPE=%d -DVW=%d%s%s", (int)grad,
             (int)copy, L->shape.vw, L->shape.q8_items ? " -DQ8_ITEMS=1" : "",
             (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
                 ? " -cl-fp32-correctly-rounded-divide-sqrt"
                 : "");
    status = clt_cl_program_get(dev, FILE_NAME, options, &L->program);
    if (status != CLT_OK || !need_table)
        return status;

    return q8_table_of(dev, &L->table);
}

/* OpenCL keeps released buffers alive until the kernels that use them finish. */
static void launch_close(struct launch *L)
{
    clt_cl_ew_scratch_free(L->dev, L->scratch, L->scratch_bytes);
}

/* Runs kernel `name` over `groups` groups of `local` work-items. */
static clt_status launch_run(struct launch *L, const char *name, const struct clt_cl_arg *args,
                             size_t n_args, size_t groups, size_t local, cl_event *event)
{
    if (event)
        *event = NULL;
    struct clt_cl_device *dev = L->dev;
    cl_int err = CL_SUCCESS;
    cl_kernel kernel = clCreateKernel(L->program, name, &err);
    if (!kernel)
        return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name, FILE_NAME);
    clt_status status = clt_cl_set_args(dev, kernel, name, args, n_args);
    const size_t global = groups * local;
    if (status == CLT_OK)
        status = clt_cl_enqueue(dev, kernel, name, 1, &global, &local, event);
    clReleaseKernel(kernel);
    return status;
}

/* The largest power of two <= the kernel's limit and <= want, for a kernel that needs
 * a power-of-two group (its trees). */
static size_t local_size_for(struct launch *L, const char *name, size_t want)
{
    cl_int err = CL_SUCCESS;
    size_t max = want;
    cl_kernel kernel = clCreateKernel(L->program, name, &err);
    if (kernel) {
        if (clGetKernelWorkGroupInfo(kernel, L->dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                     sizeof max, &max, NULL) != CL_SUCCESS)
            max = want;
        clReleaseKernel(kernel);
    }
    size_t local = 1;
    while (local * 2 <= want && local * 2 <= max)
        local *= 2;
    return local;
}

/* Whether every present operand starts on a vector boundary: the f32 kernels then make
 * each whole vector one aligned access (buffers themselves start aligned for any
 * vector type). */
static cl_int all_aligned(const struct launch *L, const struct operand *ops, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (ops[i].buf && ops[i].off % (cl_ulong)L->shape.vw != 0)
            return 0;
    return 1;
}

/* The f32 kernels' range for n elements: groups of `local` work-items, `items` vectors
 * each (the last group may hold fewer live vectors). */
struct f32_range {
    size_t local, groups;
    cl_ulong items;
};

static struct f32_range f32_range_of(struct launch *L, const char *name, cl_ulong n)
{
    const struct clt_cl_optim_shape *s = &L->shape;
    struct f32_range r;
    r.local = local_size_for(L, name, (size_t)s->wg);
    const cl_ulong vectors = (n + (cl_ulong)s->vw - 1) / (cl_ulong)s->vw;
    const cl_ulong per_group_min = (cl_ulong)r.local * (cl_ulong)s->min_items;
    cl_ulong groups = (vectors + per_group_min - 1) / per_group_min;
    if (groups > (cl_ulong)s->max_groups)
        groups = (cl_ulong)s->max_groups;
    if (groups < 1)
        groups = 1;
    r.items = (vectors + groups * r.local - 1) / (groups * r.local);
    if (r.items < 1)
        r.items = 1;
    /* the groups that have vectors at `items` per work-item */
    groups = (vectors + r.items * r.local - 1) / (r.items * r.local);
    r.groups = groups < 1 ? 1 : (size_t)groups;
    return r;
}

/* The q8 kernels' range: a work-group per block of up to q8_wg work-items (the block
 * rounded up to a power of two when smaller), or q8_wg blocks per group, a work-item
 * each, in kernel `kernel`_items. */
struct q8_range {
    char kernel[32];
    size_t local, groups;
};

static struct q8_range q8_range_of(struct launch *L, const char *kernel, cl_ulong n,
                                   cl_ulong block)
{
    const struct clt_cl_optim_shape *s = &L->shape;
    const cl_ulong blocks = (n + block - 1) / block;
    struct q8_range r;
    if (s->q8_items) {
        snprintf(r.kernel, sizeof r.kernel, "%s_items", kernel);
        r.local = local_size_for(L, r.kernel, (size_t)s->q8_wg);
        r.groups = (size_t)((blocks + r.local - 1) / r.local);
        return r;
    }
    snprintf(r.kernel, sizeof r.kernel, "%s", kernel);
    size_t want = 1;
    while (want < (size_t)s->q8_wg && (cl_ulong)want < block)
        want *= 2;
    r.local = local_size_for(L, r.kernel, want);
    r.groups = (size_t)blocks;
    return r;
}

#define LOCAL_BYTES(n) CLT_CL_EW_LOCAL(n)
#define N_ARGS(a) (sizeof(a) / sizeof((a)[0]))

/* A q8 kernel's arguments: those both layouts share, then their own (q8_tail). */
#define Q8_MAX_ARGS 32
struct arg_list {
    struct clt_cl_arg a[Q8_MAX_ARGS];
    size_t n;
};

static void args_add(struct arg_list *l, const struct clt_cl_arg *a, size_t n)
{
    memcpy(l->a + l->n, a, n * sizeof *a);
    l->n += n;
}

/* The last arguments: `aligned` for a work-item per block (the whole list's vectors are
 * aligned when every offset and the block are multiples of the width); for a work-group
 * per block, `maps` local arrays of 256 floats (maps, thresholds) and the two of the
 * absmax tree. */
static void q8_tail(const struct launch *L, const struct q8_range *r, int maps,
                    const cl_int *aligned, struct arg_list *args)
{
    if (L->shape.q8_items) {
        args->a[args->n++] = (struct clt_cl_arg)CLT_CL_ARG(*aligned);
        return;
    }
    for (int i = 0; i < maps; i++)
        args->a[args->n++] = (struct clt_cl_arg)LOCAL_BYTES(256 * sizeof(cl_float));
    for (int i = 0; i < 2; i++)
        args->a[args->n++] = (struct clt_cl_arg)LOCAL_BYTES(r->local * sizeof(cl_uint));
}

/* all_aligned, and the block a multiple of the width. */
static cl_int q8_aligned(const struct launch *L, const struct operand *ops, size_t count,
                         cl_ulong block)
{
    return block % (cl_ulong)L->shape.vw == 0 ? all_aligned(L, ops, count) : 0;
}

/* ---- AdamW and LAMB ----------------------------------------------------------------- */

static clt_status adam_enqueue(struct clt_cl_device *dev, const clt_adamw_args *a, bool lamb,
                               cl_event *event)
{
    const cl_ulong n = (cl_ulong)a->param.shape[0];
    const bool q8 = a->m.dtype == CLT_DTYPE_U8;
    const clt_dtype copy_dt = a->param_copy.buf ? a->param_copy.dtype : CLT_DTYPE_F32;
    struct launch L;
    clt_status status = launch_open(dev, a->grad.dtype, copy_dt, q8, &L);
    if (status != CLT_OK)
        goto done;

    struct operand p = operand_of(&a->param), g = operand_of(&a->grad);
    struct operand m = operand_of(&a->m), v = operand_of(&a->v);
    struct operand ma = operand_of(&a->m_absmax), va = operand_of(&a->v_absmax);
    struct operand copy = operand_of(&a->param_copy), gate = operand_of(&a->gate);
    cl_int has_copy = copy.buf != NULL, has_gate = gate.buf != NULL;
    struct cl_hparams h = hparams_of(&a->h, true);
    const cl_ulong block = (cl_ulong)clt_q8_block_of(a->block);
    struct q8_range qr = {{0}, 0, 0};
    struct f32_range fr = {0, 0, 0};
    if (q8)
        qr = q8_range_of(&L, "adam_q8", n, block);
    else
        fr = f32_range_of(&L, "adam_f32", n);
    /* LAMB's partial sums: one pair per f32 group or per q8 block */
    const size_t sums = q8 ? (size_t)((n + block - 1) / block) : fr.groups;

    if (lamb) { /* two partial sums per group, then the trust ratio */
        status = clt_cl_ew_scratch(dev, (2 * sums + 1) * sizeof(cl_float),
                                   "lamb: partial sums", &L.scratch);
        if (status != CLT_OK)
            goto done;
        L.scratch_bytes = (2 * sums + 1) * sizeof(cl_float);
    }
    const int passes[2] = {lamb ? MODE_LAMB_SUMS : MODE_ADAMW, MODE_LAMB_APPLY};
    for (int pass = 0; pass < (lamb ? 2 : 1) && status == CLT_OK; pass++) {
        cl_int mode = passes[pass];
        cl_event *ev = pass == (lamb ? 1 : 0) ? event : NULL;
        if (q8) {
            const struct operand ops[] = {p, g, m, v, copy};
            const cl_int aligned = q8_aligned(&L, ops, N_ARGS(ops), block);
            const struct clt_cl_arg common[] = {
                CLT_CL_ARG(n),        CLT_CL_ARG(mode),       CLT_CL_ARG(block),
                CLT_CL_ARG_MEM(p.buf), CLT_CL_ARG(p.off),     CLT_CL_ARG_MEM(g.buf),
                CLT_CL_ARG(g.off),    CLT_CL_ARG_MEM(m.buf),  CLT_CL_ARG(m.off),
                CLT_CL_ARG_MEM(ma.buf), CLT_CL_ARG(ma.off),   CLT_CL_ARG_MEM(v.buf),
                CLT_CL_ARG(v.off),    CLT_CL_ARG_MEM(va.buf), CLT_CL_ARG(va.off),
                CLT_CL_ARG_MEM(copy.buf), CLT_CL_ARG(copy.off), CLT_CL_ARG(has_copy),
                CLT_CL_ARG_MEM(gate.buf), CLT_CL_ARG(gate.off), CLT_CL_ARG(has_gate),
                CLT_CL_ARG_MEM(L.scratch), CLT_CL_ARG_MEM(L.table), CLT_CL_ARG(h),
            };
            struct arg_list args = {.n = 0};
            args_add(&args, common, N_ARGS(common));
            q8_tail(&L, &qr, 4, &aligned, &args);
            status = launch_run(&L, qr.kernel, args.a, args.n, qr.groups, qr.local, ev);
        } else {
            const size_t sum_bytes = fr.local * sizeof(cl_float);
            const struct operand ops[] = {p, g, m, v, copy};
            cl_int aligned = all_aligned(&L, ops, N_ARGS(ops));
            const struct clt_cl_arg args[] = {
                CLT_CL_ARG(n),        CLT_CL_ARG(mode),       CLT_CL_ARG(fr.items),
                CLT_CL_ARG(aligned),
                CLT_CL_ARG_MEM(p.buf), CLT_CL_ARG(p.off),     CLT_CL_ARG_MEM(g.buf),
                CLT_CL_ARG(g.off),    CLT_CL_ARG_MEM(m.buf),  CLT_CL_ARG(m.off),
                CLT_CL_ARG_MEM(v.buf), CLT_CL_ARG(v.off),     CLT_CL_ARG_MEM(copy.buf),
                CLT_CL_ARG(copy.off), CLT_CL_ARG(has_copy),   CLT_CL_ARG_MEM(gate.buf),
                CLT_CL_ARG(gate.off), CLT_CL_ARG(has_gate),   CLT_CL_ARG_MEM(L.scratch),
                CLT_CL_ARG(h),        LOCAL_BYTES(sum_bytes), LOCAL_BYTES(sum_bytes),
            };
            status = launch_run(&L, "adam_f32", args, N_ARGS(args), fr.groups, fr.local, ev);
        }
        if (status == CLT_OK && lamb && pass == 0) {
            cl_uint n_sums = (cl_uint)sums;
            const size_t t_local = local_size_for(&L, "lamb_trust", L.wg);
            const size_t sum_bytes = t_local * sizeof(cl_float);
            const struct clt_cl_arg args[] = {
                CLT_CL_ARG(n_sums),   CLT_CL_ARG_MEM(L.scratch), CLT_CL_ARG_MEM(gate.buf),
                CLT_CL_ARG(gate.off), CLT_CL_ARG(has_gate),     LOCAL_BYTES(sum_bytes),
                LOCAL_BYTES(sum_bytes),
            };
            status = launch_run(&L, "lamb_trust", args, N_ARGS(args), 1, t_local, NULL);
        }
    }
done:
    launch_close(&L);
    return status;
}

/* ---- SGD ---------------------------------------------------------------------------- */

static clt_status sgd_enqueue(struct clt_cl_device *dev, const clt_sgd_args *a, cl_event *event)
{
    const cl_ulong n = (cl_ulong)a->param.shape[0];
    const bool q8 = a->momentum.buf && a->momentum.dtype == CLT_DTYPE_U8;
    const clt_dtype copy_dt = a->param_copy.buf ? a->param_copy.dtype : CLT_DTYPE_F32;
    struct launch L;
    clt_status status = launch_open(dev, a->grad.dtype, copy_dt, q8, &L);
    if (status != CLT_OK)
        goto done;
    struct operand p = operand_of(&a->param), g = operand_of(&a->grad);
    struct operand b = operand_of(&a->momentum), ba = operand_of(&a->momentum_absmax);
    struct operand copy = operand_of(&a->param_copy), gate = operand_of(&a->gate);
    cl_int has_copy = copy.buf != NULL, has_gate = gate.buf != NULL;
    cl_int has_buf = b.buf != NULL, nesterov = a->h.nesterov ? 1 : 0;
    struct cl_hparams h = hparams_of(&a->h, false);
    if (q8) {
        const cl_ulong block = (cl_ulong)clt_q8_block_of(a->block);
        const struct q8_range qr = q8_range_of(&L, "sgd_q8", n, block);
        const struct operand ops[] = {p, g, b, copy};
        const cl_int aligned = q8_aligned(&L, ops, N_ARGS(ops), block);
        const struct clt_cl_arg common[] = {
            CLT_CL_ARG(n),          CLT_CL_ARG(nesterov),  CLT_CL_ARG(block),
            CLT_CL_ARG_MEM(p.buf),  CLT_CL_ARG(p.off),     CLT_CL_ARG_MEM(g.buf),
            CLT_CL_ARG(g.off),      CLT_CL_ARG_MEM(b.buf), CLT_CL_ARG(b.off),
            CLT_CL_ARG_MEM(ba.buf), CLT_CL_ARG(ba.off),    CLT_CL_ARG_MEM(copy.buf),
            CLT_CL_ARG(copy.off),   CLT_CL_ARG(has_copy),  CLT_CL_ARG_MEM(gate.buf),
            CLT_CL_ARG(gate.off),   CLT_CL_ARG(has_gate),  CLT_CL_ARG_MEM(L.table),
            CLT_CL_ARG(h),
        };
        struct arg_list args = {.n = 0};
        args_add(&args, common, N_ARGS(common));
        q8_tail(&L, &qr, 2, &aligned, &args);
        status = launch_run(&L, qr.kernel, args.a, args.n, qr.groups, qr.local, event);
    } else {
        const struct f32_range fr = f32_range_of(&L, "sgd_f32", n);
        const struct operand ops[] = {p, g, b, copy};
        cl_int aligned = all_aligned(&L, ops, N_ARGS(ops));
        const struct clt_cl_arg args[] = {
            CLT_CL_ARG(n),         CLT_CL_ARG(has_buf),   CLT_CL_ARG(nesterov),
            CLT_CL_ARG(fr.items),  CLT_CL_ARG(aligned),   CLT_CL_ARG_MEM(p.buf),
            CLT_CL_ARG(p.off),
            CLT_CL_ARG_MEM(g.buf), CLT_CL_ARG(g.off),     CLT_CL_ARG_MEM(b.buf),
            CLT_CL_ARG(b.off),     CLT_CL_ARG_MEM(copy.buf), CLT_CL_ARG(copy.off),
            CLT_CL_ARG(has_copy),  CLT_CL_ARG_MEM(gate.buf), CLT_CL_ARG(gate.off),
            CLT_CL_ARG(has_gate),  CLT_CL_ARG(h),
        };
        status = launch_run(&L, "sgd_f32", args, N_ARGS(args), fr.groups, fr.local, event);
    }
done:
    launch_close(&L);
    return status;
}

/* ---- the codecs ----------------------------------------------------------------------- */

static clt_status codec_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event)
{
    const bool quantize = op->kind == CLT_OP_QUANTIZE8;
    const clt_tensor *x = quantize ? &op->u.quantize8.x : &op->u.dequantize8.x;
    const clt_tensor *codes = quantize ? &op->u.quantize8.codes : &op->u.dequantize8.codes;
    const clt_tensor *absmax = quantize ? &op->u.quantize8.absmax : &op->u.dequantize8.absmax;
    const bool is_signed = quantize ? op->u.quantize8.is_signed : op->u.dequantize8.is_signed;
    const cl_ulong block =
        (cl_ulong)clt_q8_block_of(quantize ? op->u.quantize8.block : op->u.dequantize8.block);
    const cl_ulong n = (cl_ulong)x->shape[0];
    struct launch L;
    clt_status status = launch_open(dev, CLT_DTYPE_F32, CLT_DTYPE_F32, true, &L);
    if (status != CLT_OK)
        goto done;
    struct operand xo = operand_of(x), co = operand_of(codes), ao = operand_of(absmax);
    const struct operand ops[] = {xo, co};
    const cl_int aligned = q8_aligned(&L, ops, N_ARGS(ops), block);
    cl_uint table_at = is_signed ? TABLE_SIGNED : TABLE_UNSIGNED;
    struct arg_list args = {.n = 0};
    if (quantize) {
        const struct q8_range qr = q8_range_of(&L, "quantize8", n, block);
        const struct clt_cl_arg common[] = {
            CLT_CL_ARG(n),          CLT_CL_ARG(block),      CLT_CL_ARG(table_at),
            CLT_CL_ARG_MEM(xo.buf), CLT_CL_ARG(xo.off),     CLT_CL_ARG_MEM(co.buf),
            CLT_CL_ARG(co.off),     CLT_CL_ARG_MEM(ao.buf), CLT_CL_ARG(ao.off),
            CLT_CL_ARG_MEM(L.table),
        };
        args_add(&args, common, N_ARGS(common));
        q8_tail(&L, &qr, 2, &aligned, &args);
        status = launch_run(&L, qr.kernel, args.a, args.n, qr.groups, qr.local, event);
    } else {
        const struct clt_cl_arg common[] = {
            CLT_CL_ARG(n),          CLT_CL_ARG(block),      CLT_CL_ARG(table_at),
            CLT_CL_ARG_MEM(co.buf), CLT_CL_ARG(co.off),     CLT_CL_ARG_MEM(ao.buf),
            CLT_CL_ARG(ao.off),     CLT_CL_ARG_MEM(xo.buf), CLT_CL_ARG(xo.off),
            CLT_CL_ARG_MEM(L.table),
        };
        args_add(&args, common, N_ARGS(common));
        if (L.shape.q8_items) { /* dequantize8_items: a work-item per block */
            const struct q8_range qr = q8_range_of(&L, "dequantize8", n, block);
            q8_tail(&L, &qr, 0, &aligned, &args);
            status = launch_run(&L, qr.kernel, args.a, args.n, qr.groups, qr.local, event);
        } else { /* dequantize8: a work-item per element, grid stride */
            const size_t local = local_size_for(&L, "dequantize8", (size_t)L.shape.wg);
            cl_ulong groups = (n + local - 1) / local;
            if (groups > (cl_ulong)L.shape.max_groups)
                groups = (cl_ulong)L.shape.max_groups;
            status = launch_run(&L, "dequantize8", args.a, args.n, (size_t)groups, local,
                                event);
        }
    }
done:
    launch_close(&L);
    return status;
}

/* ---- the family's entries --------------------------------------------------------------- */

bool clt_cl_optim_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    (void)dev;
    switch (op->kind) {
    case CLT_OP_ADAMW:
    case CLT_OP_LAMB: {
        /* One state f32 and the other q8 is left to the host: the kernels walk both
         * states the same way. */
        const clt_adamw_args *a = op->kind == CLT_OP_ADAMW ? &op->u.adamw : &op->u.lamb;
        return a->m.dtype == a->v.dtype;
    }
    case CLT_OP_SGD:
    case CLT_OP_QUANTIZE8:
    case CLT_OP_DEQUANTIZE8:
        return true;
    default:
        return false;
    }
}

clt_status clt_cl_optim_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event)
{
    *event = NULL;
    switch (op->kind) {
    case CLT_OP_ADAMW:
        return adam_enqueue(dev, &op->u.adamw, false, event);
    case CLT_OP_LAMB:
        return adam_enqueue(dev, &op->u.lamb, true, event);
    case CLT_OP_SGD:
        return sgd_enqueue(dev, &op->u.sgd, event);
    case CLT_OP_QUANTIZE8:
    case CLT_OP_DEQUANTIZE8:
        return codec_enqueue(dev, op, event);
    default:
        return clt_fail(CLT_ERR_INTERNAL, "%s: %s is not an optimizer op", dev->label,
                        clt_op_name(op->kind));
    }
}
