/* GEMM through CLBlast's C API on clt's OpenCL device; see peer_clblast.h. */
#include "bench/peer_clblast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CLT_BENCH_HAVE_CLBLAST
#include <clblast_c.h>

#include "bench/peer_opencl.h"

struct peer_clblast {
    peer_opencl cl;
    cl_mem a, b, c;
    bench_shape shape;
    size_t elem_size;
    bool fp16;
    char error[256];
};

static bool has_extension(cl_device_id device, const char *ext)
{
    size_t size = 0;
    bool found = false;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS)
        return false;
    char *text = malloc(size + 1);
    if (text && clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, text, NULL) == CL_SUCCESS) {
        text[size] = '\0';
        found = strstr(text, ext) != NULL;
    }
    free(text);
    return found;
}

bool peer_clblast_open(const clt_device_info *info, peer_clblast **out, char *why,
                       size_t why_size)
{
    *out = NULL;
    peer_clblast *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, why_size, "out of host memory");
        return false;
    }
    if (!peer_opencl_open(info, &p->cl, why, why_size)) {
        free(p);
        return false;
    }
    p->fp16 = has_extension(p->cl.device, "cl_khr_fp16");
    *out = p;
    return true;
}

static void release_buffers(peer_clblast *p)
{
    cl_mem *bufs[] = {&p->a, &p->b, &p->c};
    for (size_t i = 0; i < 3; i++) {
        if (*bufs[i])
            clReleaseMemObject(*bufs[i]);
        *bufs[i] = NULL;
    }
}

void peer_clblast_close(peer_clblast *p)
{
    if (!p)
        return;
    release_buffers(p);
    peer_opencl_close(&p->cl);
    free(p);
}

bool peer_clblast_has_fp16(const peer_clblast *p) { return p->fp16; }

const char *peer_clblast_error(const peer_clblast *p) { return p->error; }

static cl_mem create_buffer(peer_clblast *p, size_t bytes, const void *data)
{
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(p->cl.context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (mem && data &&
        clEnqueueWriteBuffer(p->cl.queue, mem, CL_TRUE, 0, bytes, data, 0, NULL, NULL) !=
            CL_SUCCESS) {
        clReleaseMemObject(mem);
        mem = NULL;
    }
    return mem;
}

bool peer_clblast_upload(peer_clblast *p, const bench_shape *s, const void *a,
                         const void *b, size_t elem_size, char *why, size_t why_size)
{
    release_buffers(p);
    p->shape = *s;
    p->elem_size = elem_size;
    p->a = create_buffer(p, (size_t)(s->m * s->k) * elem_size, a);
    p->b = create_buffer(p, (size_t)(s->k * s->n) * elem_size, b);
    p->c = create_buffer(p, (size_t)(s->m * s->n) * elem_size, NULL);
    if (!p->a || !p->b || !p->c) {
        snprintf(why, why_size, "cannot allocate or upload the CLBlast buffers");
        release_buffers(p);
        return false;
    }
    return true;
}

bool peer_clblast_gemm(void *user)
{
    peer_clblast *p = user;
    const bench_shape *s = &p->shape;
    const CLBlastTranspose ta = s->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = s->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    const size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
    const size_t lda = s->trans_a ? m : k, ldb = s->trans_b ? k : n;
    cl_event event = NULL;
    CLBlastStatusCode st;
    if (p->elem_size == 2) /* half 1.0 is 0x3c00 */
        st = CLBlastHgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 0x3c00, p->a, 0, lda, p->b,
                          0, ldb, 0, p->c, 0, n, &p->cl.queue, &event);
    else
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, p->a, 0, lda, p->b,
                          0, ldb, 0.0f, p->c, 0, n, &p->cl.queue, &event);
    if (st != CLBlastSuccess) {
        snprintf(p->error, sizeof p->error, "CLBlast %sgemm failed: status %d",
                 p->elem_size == 2 ? "H" : "S", (int)st);
        return false;
    }
    cl_int err = event ? clWaitForEvents(1, &event) : clFinish(p->cl.queue);
    if (event)
        clReleaseEvent(event);
    if (err != CL_SUCCESS) {
        snprintf(p->error, sizeof p->error, "waiting for CLBlast failed (%d)", (int)err);
        return false;
    }
    return true;
}

#else

bool peer_clblast_open(const clt_device_info *info, peer_clblast **out, char *why,
                       size_t why_size)
{
    (void)info;
    *out = NULL;
    snprintf(why, why_size, "n/a: clt-bench was built without CLBlast");
    return false;
}

void peer_clblast_close(peer_clblast *p) { (void)p; }

bool peer_clblast_has_fp16(const peer_clblast *p)
{
    (void)p;
    return false;
}

bool peer_clblast_upload(peer_clblast *p, const bench_shape *s, const void *a,
                         const void *b, size_t elem_size, char *why, size_t why_size)
{
    (void)p;
    (void)s;
    (void)a;
    (void)b;
    (void)elem_size;
    snprintf(why, why_size, "n/a: clt-bench was built without CLBlast");
    return false;
}

bool peer_clblast_gemm(void *p)
{
    (void)p;
    return false;
}

const char *peer_clblast_error(const peer_clblast *p)
{
    (void)p;
    return "n/a: clt-bench was built without CLBlast";
}

#endif
