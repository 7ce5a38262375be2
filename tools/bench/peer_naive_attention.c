/* The naive attention peer; see peer_naive_attention.h, and naive_attention_kernels.c
 * for the kernels. */
#include "bench/peer_naive_attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/peer_opencl.h"

/* naive_attention_kernels.c */
extern const char naive_attention_source[];

enum { K_SCORES, K_SOFTMAX, K_A_X, K_AT_X, K_DELTA, K_DSCORES, K_COUNT };
static const char *const kernel_names[K_COUNT] = {
    "naive_scores", "naive_softmax", "naive_a_x", "naive_at_x", "naive_delta", "naive_dscores",
};

/* The problem's device buffers; s holds S then P, ds holds dS. */
enum { B_Q, B_K, B_V, B_O, B_DOUT, B_DQ, B_DK, B_DV, B_DELTA, B_S, B_DS, B_COUNT };

struct peer_naive_attention {
    peer_opencl cl;
    cl_program program;
    cl_kernel kernels[K_COUNT];
    cl_mem bufs[B_COUNT];
    naive_attention_dims dims;
    char error[256];
};

/* Per-buffer sizes for a problem, in bytes, indexed by the B_ enum. */
static void buffer_sizes(const naive_attention_dims *d, uint64_t sizes[B_COUNT])
{
    const uint64_t heads = (uint64_t)d->batch * (uint64_t)d->heads;
    const uint64_t t = (uint64_t)d->seq;
    for (int i = B_Q; i <= B_DV; i++)
        sizes[i] = heads * t * (uint64_t)d->dim * sizeof(float);
    sizes[B_DELTA] = heads * t * sizeof(float);
    sizes[B_S] = sizes[B_DS] = heads * t * t * sizeof(float);
}

uint64_t peer_naive_attention_bytes(const naive_attention_dims *dims, uint64_t *tt_bytes)
{
    uint64_t sizes[B_COUNT], total = 0;
    buffer_sizes(dims, sizes);
    for (int i = 0; i < B_COUNT; i++)
        total += sizes[i];
    if (tt_bytes)
        *tt_bytes = sizes[B_S] + sizes[B_DS];
    return total;
}

static void release_buffers(peer_naive_attention *p)
{
    for (int i = 0; i < B_COUNT; i++) {
        if (p->bufs[i])
            clReleaseMemObject(p->bufs[i]);
        p->bufs[i] = NULL;
    }
}

void peer_naive_attention_close(peer_naive_attention *p)
{
    if (!p)
        return;
    release_buffers(p);
    for (int i = 0; i < K_COUNT; i++)
        if (p->kernels[i])
            clReleaseKernel(p->kernels[i]);
    if (p->program)
        clReleaseProgram(p->program);
    peer_opencl_close(&p->cl);
    free(p);
}

bool peer_naive_attention_open(const clt_device_info *info, peer_naive_attention **out,
                               char *why, size_t why_size)
{
    cl_int err = CL_SUCCESS;
    *out = NULL;
    peer_naive_attention *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, why_size, "failed: out of host memory");
        return false;
    }
    if (!peer_opencl_open(info, &p->cl, why, why_size))
        goto fail;
    p->program = peer_opencl_build(&p->cl, naive_attention_source, why, why_size);
    if (!p->program)
        goto fail;
    for (int i = 0; i < K_COUNT; i++) {
        p->kernels[i] = clCreateKernel(p->program, kernel_names[i], &err);
        if (!p->kernels[i]) {
            snprintf(why, why_size, "failed: clCreateKernel %s: OpenCL error %d",
                     kernel_names[i], (int)err);
            goto fail;
        }
    }
    *out = p;
    return true;
fail:
    peer_naive_attention_close(p);
    return false;
}

static cl_mem create_buffer(peer_naive_attention *p, uint64_t bytes, const float *data)
{
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(p->cl.context, CL_MEM_READ_WRITE, (size_t)bytes, NULL, &err);
    if (mem && data &&
        clEnqueueWriteBuffer(p->cl.queue, mem, CL_TRUE, 0, (size_t)bytes, data, 0, NULL,
                             NULL) != CL_SUCCESS) {
        clReleaseMemObject(mem);
        mem = NULL;
    }
    return mem;
}

bool peer_naive_attention_upload(peer_naive_attention *p, const naive_attention_dims *dims,
                                 const float *q, const float *k, const float *v,
                                 const float *dout, char *why, size_t why_size)
{
    const float *data[B_COUNT] = {[B_Q] = q, [B_K] = k, [B_V] = v, [B_DOUT] = dout};
    uint64_t sizes[B_COUNT];
    uint64_t total = peer_naive_attention_bytes(dims, NULL);

    release_buffers(p);
    p->dims = *dims;
    buffer_sizes(dims, sizes);
    if (sizes[B_S] > p->cl.max_alloc_bytes) {
        snprintf(why, why_size, "skipped: a (B*H, T, T) matrix takes %llu bytes, more than "
                 "the %llu the device allows in one allocation",
                 (unsigned long long)sizes[B_S], (unsigned long long)p->cl.max_alloc_bytes);
        return false;
    }
    if (total > p->cl.global_mem_bytes) {
        snprintf(why, why_size, "skipped: needs %llu bytes, more than the device's %llu",
                 (unsigned long long)total, (unsigned long long)p->cl.global_mem_bytes);
        return false;
    }
    for (int i = 0; i < B_COUNT; i++) {
        p->bufs[i] = create_buffer(p, sizes[i], data[i]);
        if (!p->bufs[i]) {
            snprintf(why, why_size, "failed: cannot allocate or upload the naive peer's %llu "
                     "bytes", (unsigned long long)total);
            release_buffers(p);
            return false;
        }
    }
    return true;
}

/* One kernel argument: its size and where its value is. */
typedef struct karg {
    size_t size;
    const void *value;
} karg;

#define ARG(x) {sizeof(x), &(x)}
#define LAUNCH(p, kernel, args, work_dim, global) \
    launch(p, kernel, args, (int)(sizeof args / sizeof args[0]), work_dim, global)

/* Sets the kernel's arguments and enqueues it over `global` (work_dim entries). */
static bool launch(peer_naive_attention *p, int kernel, const karg *args, int n_args,
                   cl_uint work_dim, const size_t *global)
{
    cl_kernel kn = p->kernels[kernel];
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n_args && err == CL_SUCCESS; i++)
        err = clSetKernelArg(kn, (cl_uint)i, args[i].size, args[i].value);
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(p->cl.queue, kn, work_dim, NULL, global, NULL, 0, NULL,
                                     NULL);
    if (err != CL_SUCCESS)
        snprintf(p->error, sizeof p->error, "%s: OpenCL error %d", kernel_names[kernel],
                 (int)err);
    return err == CL_SUCCESS;
}

static bool finish(peer_naive_attention *p)
{
    cl_int err = clFinish(p->cl.queue);
    if (err != CL_SUCCESS)
        snprintf(p->error, sizeof p->error, "clFinish: OpenCL error %d", (int)err);
    return err == CL_SUCCESS;
}

/* The scalar arguments every kernel takes, and the three shapes of launch: one
 * work-item per (T, T) entry, per (T, d) entry, per row. */
typedef struct launch_dims {
    cl_int t, d, causal;
    cl_float scale, one;
    size_t tt[3], td[3], rows[2];
} launch_dims;

static launch_dims dims_of(const naive_attention_dims *n)
{
    const size_t heads = (size_t)(n->batch * n->heads), t = (size_t)n->seq;
    launch_dims l = {
        .t = (cl_int)n->seq, .d = (cl_int)n->dim, .causal = n->causal,
        .scale = n->scale, .one = 1.0f,
        .tt = {t, t, heads}, .td = {(size_t)n->dim, t, heads}, .rows = {t, heads},
    };
    return l;
}

bool peer_naive_attention_fwd(void *user)
{
    peer_naive_attention *p = user;
    cl_mem *b = p->bufs;
    launch_dims l = dims_of(&p->dims);
    const karg scores[] = {ARG(b[B_Q]), ARG(b[B_K]), ARG(b[B_S]), ARG(l.t),
                           ARG(l.d),    ARG(l.scale), ARG(l.causal)};
    const karg softmax[] = {ARG(b[B_S]), ARG(l.t), ARG(l.causal)};
    const karg pv[] = {ARG(b[B_S]), ARG(b[B_V]), ARG(b[B_O]), ARG(l.t),
                       ARG(l.d),    ARG(l.one),  ARG(l.causal)};
    return LAUNCH(p, K_SCORES, scores, 3, l.tt) && LAUNCH(p, K_SOFTMAX, softmax, 2, l.rows) &&
           LAUNCH(p, K_A_X, pv, 3, l.td) && finish(p);
}

bool peer_naive_attention_bwd(void *user)
{
    peer_naive_attention *p = user;
    cl_mem *b = p->bufs;
    launch_dims l = dims_of(&p->dims);
    const karg delta[] = {ARG(b[B_DOUT]), ARG(b[B_O]), ARG(b[B_DELTA]), ARG(l.t), ARG(l.d)};
    const karg dv[] = {ARG(b[B_S]), ARG(b[B_DOUT]), ARG(b[B_DV]), ARG(l.t),
                       ARG(l.d),    ARG(l.one),     ARG(l.causal)};
    const karg ds[] = {ARG(b[B_S]), ARG(b[B_DOUT]), ARG(b[B_V]), ARG(b[B_DELTA]),
                       ARG(b[B_DS]), ARG(l.t),      ARG(l.d),    ARG(l.causal)};
    const karg dq[] = {ARG(b[B_DS]), ARG(b[B_K]), ARG(b[B_DQ]), ARG(l.t),
                       ARG(l.d),     ARG(l.scale), ARG(l.causal)};
    const karg dk[] = {ARG(b[B_DS]), ARG(b[B_Q]), ARG(b[B_DK]), ARG(l.t),
                       ARG(l.d),     ARG(l.scale), ARG(l.causal)};
    return LAUNCH(p, K_DELTA, delta, 2, l.rows) && LAUNCH(p, K_AT_X, dv, 3, l.td) &&
           LAUNCH(p, K_DSCORES, ds, 3, l.tt) && LAUNCH(p, K_A_X, dq, 3, l.td) &&
           LAUNCH(p, K_AT_X, dk, 3, l.td) && finish(p);
}

bool peer_naive_attention_read(peer_naive_attention *p, float *o, float *dq, float *dk,
                               float *dv)
{
    uint64_t sizes[B_COUNT];
    const int which[4] = {B_O, B_DQ, B_DK, B_DV};
    float *dst[4] = {o, dq, dk, dv};
    buffer_sizes(&p->dims, sizes);
    for (int i = 0; i < 4; i++) {
        cl_int err = clEnqueueReadBuffer(p->cl.queue, p->bufs[which[i]], CL_TRUE, 0,
                                         (size_t)sizes[which[i]], dst[i], 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            snprintf(p->error, sizeof p->error, "reading the results: OpenCL error %d",
                     (int)err);
            return false;
        }
    }
    return true;
}

const char *peer_naive_attention_error(const peer_naive_attention *p) { return p->error; }
