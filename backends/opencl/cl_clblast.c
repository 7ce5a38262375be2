/* GEMM through CLBlast (its C API), where clt was built with it. The driver hands it a
 * problem only when the tuner measured CLBlast faster on the device (use_clblast) and
 * CLBlast can take the problem as clt defines it:
 *
 *  - f32 storage only. CLBlast's Hgemm accumulates in half precision, while clt
 *    promises f32 accumulation for f16 storage, so f16 stays with clt's kernels.
 *  - no bias (CLBlast's GEMM has none);
 *  - offsets whole elements; row strides (ld) at least the row length, batch strides
 *    of a and b >= 0 (0 repeats one matrix) and of c > 0 when there are batches. */
#include "backends/opencl/cl_internal.h"

#ifdef CLT_HAVE_CLBLAST

#include <clblast_c.h>

static bool layout_fits(const clt_tensor *t)
{
    const int64_t cols = t->shape[t->rank - 1];
    return t->dtype == CLT_DTYPE_F32 && t->offset % sizeof(float) == 0 &&
           t->strides[t->rank - 1] == 1 && t->strides[t->rank - 2] >= cols &&
           (t->rank == 2 || t->strides[0] >= 0);
}

bool clt_cl_clblast_supports(const struct clt_cl_device *dev, const clt_gemm_args *g)
{
    (void)dev;
    if (g->bias.buf || !layout_fits(&g->a) || !layout_fits(&g->b) || !layout_fits(&g->c))
        return false;
    const clt_tensor *c = &g->c;
    return c->rank == 2 || c->shape[0] == 1 || c->strides[0] > 0;
}

/* ---- status codes ------------------------------------------------------------------- */

struct clblast_code {
    CLBlastStatusCode code;
    const char *name;
    clt_status status;
};

/* CLBlast's own codes; those above -1000 are OpenCL's and are named as such. Codes that
 * mean "clt passed something invalid" are internal errors: supports() should have kept
 * the problem away. */
static const struct clblast_code clblast_codes[] = {
    {CLBlastNotImplemented, "CLBlastNotImplemented", CLT_ERR_UNSUPPORTED},
    {CLBlastInvalidMatrixA, "CLBlastInvalidMatrixA", CLT_ERR_INTERNAL},
    {CLBlastInvalidMatrixB, "CLBlastInvalidMatrixB", CLT_ERR_INTERNAL},
    {CLBlastInvalidMatrixC, "CLBlastInvalidMatrixC", CLT_ERR_INTERNAL},
    {CLBlastInvalidDimension, "CLBlastInvalidDimension", CLT_ERR_INTERNAL},
    {CLBlastInvalidLeadDimA, "CLBlastInvalidLeadDimA", CLT_ERR_INTERNAL},
    {CLBlastInvalidLeadDimB, "CLBlastInvalidLeadDimB", CLT_ERR_INTERNAL},
    {CLBlastInvalidLeadDimC, "CLBlastInvalidLeadDimC", CLT_ERR_INTERNAL},
    {CLBlastInsufficientMemoryA, "CLBlastInsufficientMemoryA", CLT_ERR_INTERNAL},
    {CLBlastInsufficientMemoryB, "CLBlastInsufficientMemoryB", CLT_ERR_INTERNAL},
    {CLBlastInsufficientMemoryC, "CLBlastInsufficientMemoryC", CLT_ERR_INTERNAL},
    {CLBlastInsufficientMemoryTemp, "CLBlastInsufficientMemoryTemp", CLT_ERR_OUT_OF_MEMORY},
    {CLBlastInvalidBatchCount, "CLBlastInvalidBatchCount", CLT_ERR_INTERNAL},
    {CLBlastInvalidLocalMemUsage, "CLBlastInvalidLocalMemUsage", CLT_ERR_UNSUPPORTED},
    {CLBlastNoHalfPrecision, "CLBlastNoHalfPrecision", CLT_ERR_UNSUPPORTED},
    {CLBlastNoDoublePrecision, "CLBlastNoDoublePrecision", CLT_ERR_UNSUPPORTED},
    {CLBlastDatabaseError, "CLBlastDatabaseError", CLT_ERR_UNSUPPORTED},
    {CLBlastUnknownError, "CLBlastUnknownError", CLT_ERR_LAUNCH},
    {CLBlastUnexpectedError, "CLBlastUnexpectedError", CLT_ERR_LAUNCH},
};

/* Fails with "<label>: <routine> failed: <CLBlast code name> (<code>)". */
static clt_status clblast_fail(const struct clt_cl_device *dev, CLBlastStatusCode code,
                               const char *routine)
{
    if (code > -1000)  /* an OpenCL error, passed through */
        return clt_cl_fail(dev, (cl_int)code, CLT_ERR_LAUNCH, "%s (CLBlast)", routine);
    for (size_t i = 0; i < sizeof clblast_codes / sizeof clblast_codes[0]; i++)
        if (clblast_codes[i].code == code)
            return clt_fail(clblast_codes[i].status, "%s: %s failed: %s (%d)", dev->label,
                            routine, clblast_codes[i].name, (int)code);
    return clt_fail(CLT_ERR_LAUNCH, "%s: %s failed: CLBlast status %d", dev->label, routine,
                    (int)code);
}

/* ---- the call ----------------------------------------------------------------------- */

static CLBlastTranspose transpose(bool t) { return t ? CLBlastTransposeYes : CLBlastTransposeNo; }

clt_status clt_cl_clblast_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g,
                                  cl_event *event)
{
    const clt_tensor *a = &g->a, *b = &g->b, *c = &g->c;
    const size_t m = (size_t)c->shape[c->rank - 2], n = (size_t)c->shape[c->rank - 1];
    const size_t k = (size_t)(g->trans_a ? a->shape[a->rank - 2] : a->shape[a->rank - 1]);
    const size_t batch = c->rank == 3 ? (size_t)c->shape[0] : 1;
    /* CLBlast counts offsets and strides in elements. */
    const size_t a_off = a->offset / sizeof(float), b_off = b->offset / sizeof(float);
    const size_t c_off = c->offset / sizeof(float);
    const size_t lda = (size_t)a->strides[a->rank - 2], ldb = (size_t)b->strides[b->rank - 2];
    const size_t ldc = (size_t)c->strides[c->rank - 2];
    cl_mem a_mem = clt_cl_buffer_of(a->buf), b_mem = clt_cl_buffer_of(b->buf);
    cl_mem c_mem = clt_cl_buffer_of(c->buf);
    *event = NULL;

    CLBlastStatusCode code;
    const char *routine;
    if (batch == 1) {
        routine = "CLBlastSgemm";
        code = CLBlastSgemm(CLBlastLayoutRowMajor, transpose(g->trans_a), transpose(g->trans_b),
                            m, n, k, g->alpha, a_mem, a_off, lda, b_mem, b_off, ldb, g->beta,
                            c_mem, c_off, ldc, &dev->queue, event);
    } else {
        routine = "CLBlastSgemmStridedBatched";
        const size_t a_stride = a->rank == 3 ? (size_t)a->strides[0] : 0;
        const size_t b_stride = b->rank == 3 ? (size_t)b->strides[0] : 0;
        code = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, transpose(g->trans_a), transpose(g->trans_b), m, n, k,
            g->alpha, a_mem, a_off, lda, a_stride, b_mem, b_off, ldb, b_stride, g->beta, c_mem,
            c_off, ldc, (size_t)c->strides[0], batch, &dev->queue, event);
    }
    if (code != CLBlastSuccess) {
        if (*event)
            clReleaseEvent(*event);
        *event = NULL;
        return clblast_fail(dev, code, routine);
    }
    return CLT_OK;
}

#else

bool clt_cl_clblast_supports(const struct clt_cl_device *dev, const clt_gemm_args *args)
{
    (void)dev;
    (void)args;
    return false;
}

clt_status clt_cl_clblast_enqueue(struct clt_cl_device *dev, const clt_gemm_args *args,
                                  cl_event *event)
{
    (void)args;
    *event = NULL;
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: clt was built without CLBlast", dev->label);
}
#endif
