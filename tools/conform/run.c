/* Running one case on one context. Every tensor gets its own buffer on the DEVICE tier,
 * so a kernel that writes past a tensor's end cannot corrupt another tensor unseen by
 * the comparison: it fails on the driver's bounds or leaves the host's copy intact. */
#include "run.h"

#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "rng.h"

static size_t numel_of(const tensor_spec *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->shape[i];
    return n;
}

bool case_data_alloc(const case_layout *L, case_data *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < L->ntensors; i++) {
        out->size[i] = numel_of(&L->t[i]) * clt_dtype_size(L->t[i].dtype);
        out->bytes[i] = malloc(out->size[i]);
        if (!out->bytes[i]) {
            case_data_free(out);
            return false;
        }
    }
    return true;
}

void case_data_free(case_data *d)
{
    for (int i = 0; i < CASE_MAX_TENSORS; i++) {
        free(d->bytes[i]);
        d->bytes[i] = NULL;
    }
}

static void store_float(clt_dtype dt, unsigned char *base, size_t i, float x)
{
    if (dt == CLT_DTYPE_F32) {
        memcpy(base + 4 * i, &x, 4);
    } else {
        const uint16_t h = dt == CLT_DTYPE_F16 ? clt_f32_to_f16(x) : clt_f32_to_bf16(x);
        memcpy(base + 2 * i, &h, 2);
    }
}

void case_data_fill(const case_layout *L, uint64_t seed, case_data *d)
{
    for (int i = 0; i < L->ntensors; i++) {
        const tensor_spec *t = &L->t[i];
        const size_t n = numel_of(t);
        struct rng r;
        rng_seed(&r, seed * 131u + (uint64_t)i);
        for (size_t j = 0; j < n; j++) {
            switch (t->fill) {
            case FILL_UNIFORM:
                store_float(t->dtype, d->bytes[i], j,
                            (float)(t->lo + (t->hi - t->lo) * rng_uniform(&r)));
                break;
            case FILL_INDEX: {
                /* lo < 0: every third index is lo, the op's ignore index */
                int32_t v = (int32_t)rng_below(&r, (uint64_t)t->hi);
                if (t->lo < 0 && j % 3 == 1)
                    v = (int32_t)t->lo;
                memcpy(d->bytes[i] + 4 * j, &v, 4);
                break;
            }
            case FILL_CODES:
                d->bytes[i][j] = (unsigned char)rng_below(&r, 256);
                break;
            }
        }
    }
}

static int tensor_named(const case_layout *L, const char *name)
{
    for (int i = 0; i < L->ntensors; i++)
        if (strcmp(L->t[i].name, name) == 0)
            return i;
    return -1;
}

clt_status case_data_derive(clt_context *ctx, const conform_case *c, const case_layout *L,
                            case_data *in)
{
    conform_case fc;
    const char *const *names = NULL;
    if (!case_forward_of(c, &fc, &names))
        return CLT_OK;
    case_layout FL;
    case_data fin, fout;
    char kernel[160];
    case_layout_build(&fc, &FL);
    if (!case_data_alloc(&FL, &fin))
        return CLT_ERR_OUT_OF_MEMORY;
    if (!case_data_alloc(&FL, &fout)) {
        case_data_free(&fin);
        return CLT_ERR_OUT_OF_MEMORY;
    }
    case_data_fill(&FL, c->seed, &fin);
    /* the forward pass reads the backward case's inputs of the same name (x, q, logits) */
    for (int i = 0; i < FL.ntensors; i++) {
        const int j = tensor_named(L, FL.t[i].name);
        if (!FL.t[i].output && j >= 0 && in->size[j] == fin.size[i])
            memcpy(fin.bytes[i], in->bytes[j], fin.size[i]);
    }
    clt_status st = case_execute(ctx, &FL, &fin, &fout, kernel, sizeof kernel);
    for (int k = 0; st == CLT_OK && names[k]; k++) {
        const int i = tensor_named(&FL, names[k]), j = tensor_named(L, names[k]);
        if (i >= 0 && j >= 0 && in->size[j] == fout.size[i])
            memcpy(in->bytes[j], fout.bytes[i], fout.size[i]);
    }
    case_data_free(&fin);
    case_data_free(&fout);
    return st;
}

clt_status case_execute(clt_context *ctx, const case_layout *L, const case_data *in,
                        case_data *out, char *kernel, size_t kernel_cap)
{
    clt_buffer *bufs[CASE_MAX_TENSORS] = {0};
    clt_op op = L->op;
    clt_status st = CLT_OK;
    kernel[0] = '\0';
    for (int i = 0; i < L->ntensors && st == CLT_OK; i++) {
        const tensor_spec *t = &L->t[i];
        clt_tensor *slot = (clt_tensor *)((char *)&op + t->offset);
        st = clt_buffer_create(ctx, in->size[i], CLT_TIER_DEVICE, &bufs[i]);
        if (st == CLT_OK)
            st = clt_tensor_init(slot, bufs[i], 0, t->dtype, t->rank, t->shape);
        if (st == CLT_OK)
            st = clt_buffer_write(bufs[i], 0, in->bytes[i], in->size[i], NULL);
    }
    if (st == CLT_OK)
        st = clt_op_describe(ctx, &op, kernel, kernel_cap);
    if (st == CLT_OK)
        st = clt_op_run(ctx, &op, NULL);
    if (st == CLT_OK)
        st = clt_context_finish(ctx);
    for (int i = 0; i < L->ntensors && st == CLT_OK; i++)
        st = clt_buffer_read(bufs[i], 0, out->bytes[i], in->size[i], NULL);
    for (int i = 0; i < L->ntensors; i++)
        clt_buffer_destroy(bufs[i]);
    return st;
}
