/* Case generation: one entry per op of clt (indexed by clt_op_kind, so the table cannot
 * skip one silently: cases_table_complete checks every kind has an entry), each with
 * its shape parameters, its shape classes and a builder that turns a case into tensors.
 *
 * Shape classes: "edge" (sizes of 1 and just past a vector width), "prime" (sizes no
 * tile divides), "tile" (multiples of the usual 16/32/64 tiles) and "large" (sizes of a
 * real model's layers, left out by --quick). */
#include "cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32 (1u << CLT_DTYPE_F32)
#define FLT (F32 | (1u << CLT_DTYPE_F16) | (1u << CLT_DTYPE_BF16))
#define OFF(op, field) offsetof(clt_op, u.op.field)
#define MAX_SHAPES 8

struct shape {
    const char *cls;
    bool full_only;                 /* left out by --quick */
    int64_t v[CASE_MAX_PARAMS];
};

struct op_entry {
    const char *params[CASE_MAX_PARAMS + 1]; /* NULL-terminated */
    unsigned dtypes;
    bool deterministic;
    struct shape shapes[MAX_SHAPES];         /* ends at the first with cls NULL */
    void (*build)(const conform_case *c, case_layout *L);
    clt_op_kind forward;                     /* with forward_names: see case_forward_of */
    const char *const *forward_names;
};

/* ---- building tensors ---------------------------------------------------------------- */

static void add(case_layout *L, const char *name, size_t offset, clt_dtype dt, int rank,
                const int64_t *shape, fill_kind fill, float lo, float hi, bool output)
{
    tensor_spec *t = &L->t[L->ntensors++];
    t->name = name;
    t->offset = offset;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->fill = fill;
    t->lo = lo;
    t->hi = hi;
    t->output = output;
}

#define SHAPE(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                   (const int64_t[]){__VA_ARGS__}
#define IN false
#define OUT true
#define UNI(lo, hi) FILL_UNIFORM, (lo), (hi)
#define NOISE FILL_UNIFORM, -1.0f, 1.0f /* outputs start as noise: unread unless said */

static void build_gemm(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* m n k ta tb batch bias cf32 */
    const int64_t m = v[0], n = v[1], k = v[2], batch = v[5];
    const clt_dtype cdt = v[7] ? CLT_DTYPE_F32 : c->dtype;
    clt_gemm_args *g = &L->op.u.gemm;
    g->trans_a = v[3] != 0;
    g->trans_b = v[4] != 0;
    g->alpha = 1.25f;
    g->beta = 0.5f;
    /* stored shapes: a (M,K) or (K,M) when transposed, b (K,N) or (N,K) */
    const int64_t ar = g->trans_a ? k : m, ac = g->trans_a ? m : k;
    const int64_t br = g->trans_b ? n : k, bc = g->trans_b ? k : n;
    if (batch > 1) {
        add(L, "a", OFF(gemm, a), c->dtype, SHAPE(batch, ar, ac), UNI(-1, 1), IN);
        add(L, "b", OFF(gemm, b), c->dtype, SHAPE(batch, br, bc), UNI(-1, 1), IN);
        add(L, "c", OFF(gemm, c), cdt, SHAPE(batch, m, n), NOISE, OUT);
    } else {
        add(L, "a", OFF(gemm, a), c->dtype, SHAPE(ar, ac), UNI(-1, 1), IN);
        add(L, "b", OFF(gemm, b), c->dtype, SHAPE(br, bc), UNI(-1, 1), IN);
        add(L, "c", OFF(gemm, c), cdt, SHAPE(m, n), NOISE, OUT);
    }
    if (v[6])
        add(L, "bias", OFF(gemm, bias), cdt, SHAPE(n), UNI(-1, 1), IN);
}

static void build_attention_fwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* B H T d causal */
    clt_attention_fwd_args *a = &L->op.u.attention_fwd;
    a->scale = (float)(1.0 / sqrt((double)v[3]));
    a->causal = v[4] != 0;
    add(L, "q", OFF(attention_fwd, q), c->dtype, SHAPE(v[0], v[1], v[2], v[3]), UNI(-2, 2), IN);
    add(L, "k", OFF(attention_fwd, k), c->dtype, SHAPE(v[0], v[1], v[2], v[3]), UNI(-2, 2), IN);
    add(L, "v", OFF(attention_fwd, v), c->dtype, SHAPE(v[0], v[1], v[2], v[3]), UNI(-1, 1), IN);
    add(L, "o", OFF(attention_fwd, o), c->dtype, SHAPE(v[0], v[1], v[2], v[3]), NOISE, OUT);
    add(L, "lse", OFF(attention_fwd, lse), CLT_DTYPE_F32, SHAPE(v[0], v[1], v[2]), NOISE, OUT);
}

static void build_attention_bwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* B H T d causal */
    clt_attention_bwd_args *a = &L->op.u.attention_bwd;
    a->scale = (float)(1.0 / sqrt((double)v[3]));
    a->causal = v[4] != 0;
#define QSHAPE SHAPE(v[0], v[1], v[2], v[3])
    add(L, "q", OFF(attention_bwd, q), c->dtype, QSHAPE, UNI(-2, 2), IN);
    add(L, "k", OFF(attention_bwd, k), c->dtype, QSHAPE, UNI(-2, 2), IN);
    add(L, "v", OFF(attention_bwd, v), c->dtype, QSHAPE, UNI(-1, 1), IN);
    add(L, "o", OFF(attention_bwd, o), c->dtype, QSHAPE, UNI(-1, 1), IN);
    add(L, "dout", OFF(attention_bwd, dout), c->dtype, QSHAPE, UNI(-1, 1), IN);
    add(L, "lse", OFF(attention_bwd, lse), CLT_DTYPE_F32, SHAPE(v[0], v[1], v[2]), UNI(0, 1), IN);
    add(L, "delta", OFF(attention_bwd, delta), CLT_DTYPE_F32, SHAPE(v[0], v[1], v[2]), NOISE, OUT);
    add(L, "dq", OFF(attention_bwd, dq), c->dtype, QSHAPE, NOISE, OUT);
    add(L, "dk", OFF(attention_bwd, dk), c->dtype, QSHAPE, NOISE, OUT);
    add(L, "dv", OFF(attention_bwd, dv), c->dtype, QSHAPE, NOISE, OUT);
#undef QSHAPE
}

static void build_softmax(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows cols algo */
    L->op.u.softmax.algo = v[2] ? CLT_SOFTMAX_THREE_PASS : CLT_SOFTMAX_TWO_PASS;
    add(L, "x", OFF(softmax, x), c->dtype, SHAPE(v[0], v[1]), UNI(-8, 8), IN);
    add(L, "y", OFF(softmax, y), c->dtype, SHAPE(v[0], v[1]), NOISE, OUT);
}

static void build_softmax_bwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows cols */
    add(L, "y", OFF(softmax_bwd, y), c->dtype, SHAPE(v[0], v[1]), UNI(0, 1), IN);
    add(L, "dy", OFF(softmax_bwd, dy), c->dtype, SHAPE(v[0], v[1]), UNI(-1, 1), IN);
    add(L, "dx", OFF(softmax_bwd, dx), c->dtype, SHAPE(v[0], v[1]), NOISE, OUT);
}

static void build_layernorm_fwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows C bias stats */
    L->op.u.layernorm_fwd.eps = 1e-5f;
    add(L, "x", OFF(layernorm_fwd, x), c->dtype, SHAPE(v[0], v[1]), UNI(-2, 3), IN);
    add(L, "weight", OFF(layernorm_fwd, weight), c->dtype, SHAPE(v[1]), UNI(0.5f, 1.5f), IN);
    if (v[2])
        add(L, "bias", OFF(layernorm_fwd, bias), c->dtype, SHAPE(v[1]), UNI(-0.5f, 0.5f), IN);
    add(L, "out", OFF(layernorm_fwd, out), c->dtype, SHAPE(v[0], v[1]), NOISE, OUT);
    if (v[3]) {
        add(L, "mean", OFF(layernorm_fwd, mean), CLT_DTYPE_F32, SHAPE(v[0]), NOISE, OUT);
        add(L, "rstd", OFF(layernorm_fwd, rstd), CLT_DTYPE_F32, SHAPE(v[0]), NOISE, OUT);
    }
}

static void build_layernorm_bwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows C dbias acc */
    L->op.u.layernorm_bwd.accumulate = v[3] != 0;
    add(L, "dout", OFF(layernorm_bwd, dout), c->dtype, SHAPE(v[0], v[1]), UNI(-1, 1), IN);
    add(L, "x", OFF(layernorm_bwd, x), c->dtype, SHAPE(v[0], v[1]), UNI(-2, 3), IN);
    add(L, "weight", OFF(layernorm_bwd, weight), c->dtype, SHAPE(v[1]), UNI(0.5f, 1.5f), IN);
    add(L, "mean", OFF(layernorm_bwd, mean), CLT_DTYPE_F32, SHAPE(v[0]), UNI(0, 1), IN);
    add(L, "rstd", OFF(layernorm_bwd, rstd), CLT_DTYPE_F32, SHAPE(v[0]), UNI(0.5f, 1), IN);
    add(L, "dx", OFF(layernorm_bwd, dx), c->dtype, SHAPE(v[0], v[1]), NOISE, OUT);
    add(L, "dweight", OFF(layernorm_bwd, dweight), c->dtype, SHAPE(v[1]), NOISE, OUT);
    if (v[2])
        add(L, "dbias", OFF(layernorm_bwd, dbias), c->dtype, SHAPE(v[1]), NOISE, OUT);
}

static void build_gelu_fwd(const conform_case *c, case_layout *L)
{
    add(L, "x", OFF(gelu_fwd, x), c->dtype, SHAPE(c->values[0]), UNI(-6, 6), IN);
    add(L, "y", OFF(gelu_fwd, y), c->dtype, SHAPE(c->values[0]), NOISE, OUT);
}

static void build_gelu_bwd(const conform_case *c, case_layout *L)
{
    add(L, "x", OFF(gelu_bwd, x), c->dtype, SHAPE(c->values[0]), UNI(-6, 6), IN);
    add(L, "dy", OFF(gelu_bwd, dy), c->dtype, SHAPE(c->values[0]), UNI(-1, 1), IN);
    add(L, "dx", OFF(gelu_bwd, dx), c->dtype, SHAPE(c->values[0]), NOISE, OUT);
}

static void build_embedding_fwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* B T V C wpe */
    add(L, "tokens", OFF(embedding_fwd, tokens), CLT_DTYPE_I32, SHAPE(v[0], v[1]), FILL_INDEX,
        0, (float)v[2], IN);
    add(L, "wte", OFF(embedding_fwd, wte), c->dtype, SHAPE(v[2], v[3]), UNI(-1, 1), IN);
    if (v[4])
        add(L, "wpe", OFF(embedding_fwd, wpe), c->dtype, SHAPE(v[1] + 3, v[3]), UNI(-1, 1), IN);
    add(L, "out", OFF(embedding_fwd, out), c->dtype, SHAPE(v[0], v[1], v[3]), NOISE, OUT);
}

static void build_embedding_bwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* B T V C wpe acc */
    L->op.u.embedding_bwd.accumulate = v[5] != 0;
    add(L, "dout", OFF(embedding_bwd, dout), c->dtype, SHAPE(v[0], v[1], v[3]), UNI(-1, 1), IN);
    add(L, "tokens", OFF(embedding_bwd, tokens), CLT_DTYPE_I32, SHAPE(v[0], v[1]), FILL_INDEX,
        0, (float)v[2], IN);
    add(L, "dwte", OFF(embedding_bwd, dwte), c->dtype, SHAPE(v[2], v[3]), NOISE, OUT);
    if (v[4])
        add(L, "dwpe", OFF(embedding_bwd, dwpe), c->dtype, SHAPE(v[1] + 3, v[3]), NOISE, OUT);
}

/* Targets: with ignore, every third row's target is the ignore index (-1). */
static void build_cross_entropy_fwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows V ignore */
    L->op.u.cross_entropy_fwd.ignore_index = -1;
    add(L, "logits", OFF(cross_entropy_fwd, logits), c->dtype, SHAPE(v[0], v[1]), UNI(-8, 8), IN);
    add(L, "targets", OFF(cross_entropy_fwd, targets), CLT_DTYPE_I32, SHAPE(v[0]), FILL_INDEX,
        v[2] ? -1.0f : 0.0f, (float)v[1], IN);
    add(L, "loss", OFF(cross_entropy_fwd, loss), CLT_DTYPE_F32, SHAPE(1), NOISE, OUT);
    add(L, "lse", OFF(cross_entropy_fwd, lse), CLT_DTYPE_F32, SHAPE(v[0]), NOISE, OUT);
}

static void build_cross_entropy_bwd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows V ignore */
    L->op.u.cross_entropy_bwd.ignore_index = -1;
    L->op.u.cross_entropy_bwd.dloss = 0.75f;
    add(L, "logits", OFF(cross_entropy_bwd, logits), c->dtype, SHAPE(v[0], v[1]), UNI(-8, 8), IN);
    add(L, "targets", OFF(cross_entropy_bwd, targets), CLT_DTYPE_I32, SHAPE(v[0]), FILL_INDEX,
        v[2] ? -1.0f : 0.0f, (float)v[1], IN);
    add(L, "lse", OFF(cross_entropy_bwd, lse), CLT_DTYPE_F32, SHAPE(v[0]), UNI(0, 1), IN);
    add(L, "dlogits", OFF(cross_entropy_bwd, dlogits), c->dtype, SHAPE(v[0], v[1]), NOISE, OUT);
}

static void build_add(const conform_case *c, case_layout *L)
{
    L->op.u.add.alpha = 0.75f;
    L->op.u.add.beta = -1.25f;
    add(L, "a", OFF(add, a), c->dtype, SHAPE(c->values[0]), UNI(-4, 4), IN);
    add(L, "b", OFF(add, b), c->dtype, SHAPE(c->values[0]), UNI(-4, 4), IN);
    add(L, "out", OFF(add, out), c->dtype, SHAPE(c->values[0]), NOISE, OUT);
}

static void build_scale(const conform_case *c, case_layout *L)
{
    L->op.u.scale.alpha = -1.5f;
    add(L, "x", OFF(scale, x), c->dtype, SHAPE(c->values[0]), UNI(-4, 4), OUT);
}

static void build_bias_add(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows N */
    add(L, "y", OFF(bias_add, y), c->dtype, SHAPE(v[0], v[1]), UNI(-2, 2), OUT);
    add(L, "bias", OFF(bias_add, bias), c->dtype, SHAPE(v[1]), UNI(-1, 1), IN);
}

static void build_bias_grad(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* rows N acc */
    L->op.u.bias_grad.accumulate = v[2] != 0;
    add(L, "dy", OFF(bias_grad, dy), c->dtype, SHAPE(v[0], v[1]), UNI(-1, 1), IN);
    add(L, "dbias", OFF(bias_grad, dbias), c->dtype, SHAPE(v[1]), NOISE, OUT);
}

static void build_sqnorm(const conform_case *c, case_layout *L)
{
    L->op.u.sqnorm.accumulate = c->values[1] != 0;
    add(L, "x", OFF(sqnorm, x), c->dtype, SHAPE(c->values[0]), UNI(-2, 2), IN);
    add(L, "norm", OFF(sqnorm, norm), CLT_DTYPE_F32, SHAPE(1), UNI(0, 10), OUT);
}

static clt_optim_hparams optim_hparams(void)
{
    return (clt_optim_hparams){.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                               .weight_decay = 0.01f, .step = 3, .grad_scale = 0.5f};
}

static int64_t blocks_of(int64_t n, int64_t block) { return (n + block - 1) / block; }

/* A state tensor of n elements: f32 values, or u8 codes with an absmax per block. */
static void add_state(case_layout *L, const char *name, size_t off, const char *absmax_name,
                      size_t absmax_off, int64_t n, bool q8, int64_t block, float lo, float hi)
{
    if (!q8) {
        add(L, name, off, CLT_DTYPE_F32, SHAPE(n), UNI(lo, hi), OUT);
        return;
    }
    add(L, name, off, CLT_DTYPE_U8, SHAPE(n), FILL_CODES, 0, 256, OUT);
    add(L, absmax_name, absmax_off, CLT_DTYPE_F32, SHAPE(blocks_of(n, block)), UNI(0.01f, hi), OUT);
}

/* AdamW and LAMB take the same arguments. */
static void build_adam_like(const conform_case *c, case_layout *L, clt_adamw_args *a)
{
    const int64_t *v = c->values; /* n q8 */
    const int64_t n = v[0], block = CLT_Q8_DEFAULT_BLOCK;
    a->h = optim_hparams();
    a->block = (int32_t)block;
    add(L, "param", (size_t)((char *)&a->param - (char *)&L->op), CLT_DTYPE_F32, SHAPE(n),
        UNI(-1, 1), OUT);
    add(L, "grad", (size_t)((char *)&a->grad - (char *)&L->op), c->dtype, SHAPE(n), UNI(-1, 1), IN);
    add_state(L, "m", (size_t)((char *)&a->m - (char *)&L->op), "m_absmax",
              (size_t)((char *)&a->m_absmax - (char *)&L->op), n, v[1] != 0, block, -0.1f, 0.1f);
    add_state(L, "v", (size_t)((char *)&a->v - (char *)&L->op), "v_absmax",
              (size_t)((char *)&a->v_absmax - (char *)&L->op), n, v[1] != 0, block, 0, 0.01f);
    if (c->dtype != CLT_DTYPE_F32)
        add(L, "param_copy", (size_t)((char *)&a->param_copy - (char *)&L->op), c->dtype,
            SHAPE(n), NOISE, OUT);
}

static void build_adamw(const conform_case *c, case_layout *L)
{
    build_adam_like(c, L, &L->op.u.adamw);
}

static void build_lamb(const conform_case *c, case_layout *L)
{
    build_adam_like(c, L, &L->op.u.lamb);
}

static void build_sgd(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* n q8 nesterov */
    const int64_t n = v[0], block = CLT_Q8_DEFAULT_BLOCK;
    clt_sgd_args *s = &L->op.u.sgd;
    s->h = optim_hparams();
    s->h.nesterov = v[2] != 0;
    s->block = (int32_t)block;
    add(L, "param", OFF(sgd, param), CLT_DTYPE_F32, SHAPE(n), UNI(-1, 1), OUT);
    add(L, "grad", OFF(sgd, grad), c->dtype, SHAPE(n), UNI(-1, 1), IN);
    add_state(L, "momentum", OFF(sgd, momentum), "momentum_absmax", OFF(sgd, momentum_absmax), n,
              v[1] != 0, block, -0.1f, 0.1f);
    if (c->dtype != CLT_DTYPE_F32)
        add(L, "param_copy", OFF(sgd, param_copy), c->dtype, SHAPE(n), NOISE, OUT);
}

static void build_quantize8(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* n signed block */
    L->op.u.quantize8.is_signed = v[1] != 0;
    L->op.u.quantize8.block = (int32_t)v[2];
    add(L, "x", OFF(quantize8, x), CLT_DTYPE_F32, SHAPE(v[0]), UNI(v[1] ? -3.0f : 0.0f, 3), IN);
    add(L, "codes", OFF(quantize8, codes), CLT_DTYPE_U8, SHAPE(v[0]), FILL_CODES, 0, 256, OUT);
    add(L, "absmax", OFF(quantize8, absmax), CLT_DTYPE_F32, SHAPE(blocks_of(v[0], v[2])), NOISE,
        OUT);
}

static void build_dequantize8(const conform_case *c, case_layout *L)
{
    const int64_t *v = c->values; /* n signed block */
    L->op.u.dequantize8.is_signed = v[1] != 0;
    L->op.u.dequantize8.block = (int32_t)v[2];
    add(L, "codes", OFF(dequantize8, codes), CLT_DTYPE_U8, SHAPE(v[0]), FILL_CODES, 0, 256, IN);
    add(L, "absmax", OFF(dequantize8, absmax), CLT_DTYPE_F32, SHAPE(blocks_of(v[0], v[2])),
        UNI(0.01f, 3), IN);
    add(L, "x", OFF(dequantize8, x), CLT_DTYPE_F32, SHAPE(v[0]), NOISE, OUT);
}

/* ---- the table --------------------------------------------------------------------------- */

static const char *const attention_fwd_outputs[] = {"o", "lse", NULL};
static const char *const layernorm_fwd_outputs[] = {"mean", "rstd", NULL};
static const char *const cross_entropy_fwd_outputs[] = {"lse", NULL};

/* Every op promises the same bits from two runs on one device: no kernel of clt uses
 * float atomics, and reductions (layernorm's and the bias's column sums, embedding's
 * scatter-add, sqnorm) sum in a fixed order (include/clt/op.h). */
static const struct op_entry table[CLT_OP_COUNT] = {
    [CLT_OP_GEMM] = {{"m", "n", "k", "ta", "tb", "batch", "bias", "cf32"}, FLT, true, {
        {"edge", false, {1, 1, 1, 0, 0, 1, 0, 0}},
        {"edge", false, {1, 33, 17, 1, 1, 1, 1, 0}},
        {"prime", false, {67, 13, 129, 1, 0, 1, 1, 0}},
        {"prime", false, {37, 41, 43, 0, 1, 3, 0, 1}},
        {"tile", false, {64, 64, 64, 0, 0, 1, 0, 0}},
        {"tile", false, {128, 96, 64, 1, 1, 2, 1, 1}},
        {"large", true, {384, 512, 768, 0, 1, 1, 1, 0}},
    }, build_gemm, 0, NULL},
    [CLT_OP_ATTENTION_FWD] = {{"B", "H", "T", "d", "causal"}, FLT, true, {
        {"edge", false, {1, 1, 1, 32, 1}},
        {"prime", false, {1, 2, 67, 64, 1}},
        {"prime", false, {2, 1, 13, 80, 0}},
        {"tile", false, {1, 2, 64, 96, 1}},
        {"tile", false, {1, 1, 128, 128, 0}},
        {"large", true, {2, 4, 256, 64, 1}},
    }, build_attention_fwd, 0, NULL},
    [CLT_OP_ATTENTION_BWD] = {{"B", "H", "T", "d", "causal"}, FLT, true, {
        {"edge", false, {1, 1, 1, 32, 1}},
        {"prime", false, {1, 2, 67, 64, 1}},
        {"prime", false, {2, 1, 13, 80, 0}},
        {"tile", false, {1, 2, 64, 96, 1}},
        {"tile", false, {1, 1, 128, 128, 0}},
        {"large", true, {2, 4, 256, 64, 1}},
    }, build_attention_bwd, CLT_OP_ATTENTION_FWD, attention_fwd_outputs},
    [CLT_OP_SOFTMAX] = {{"rows", "cols", "algo"}, FLT, true, {
        {"edge", false, {1, 1, 0}},
        {"edge", false, {3, 17, 1}},
        {"prime", false, {7, 1021, 0}},
        {"tile", false, {64, 256, 0}},
        {"tile", false, {32, 512, 1}},
        {"large", true, {16, 50257, 0}},
    }, build_softmax, 0, NULL},
    [CLT_OP_SOFTMAX_BWD] = {{"rows", "cols"}, FLT, true, {
        {"edge", false, {1, 1}},
        {"prime", false, {7, 1021}},
        {"tile", false, {64, 256}},
        {"large", true, {16, 50257}},
    }, build_softmax_bwd, 0, NULL},
    [CLT_OP_LAYERNORM_FWD] = {{"rows", "C", "bias", "stats"}, FLT, true, {
        {"edge", false, {1, 1, 1, 1}},
        {"edge", false, {5, 17, 0, 0}},
        {"prime", false, {13, 1021, 1, 1}},
        {"tile", false, {64, 768, 1, 1}},
        {"large", true, {512, 3072, 1, 1}},
    }, build_layernorm_fwd, 0, NULL},
    [CLT_OP_LAYERNORM_BWD] = {{"rows", "C", "dbias", "acc"}, FLT, true, {
        {"edge", false, {1, 1, 1, 0}},
        {"edge", false, {5, 17, 0, 1}},
        {"prime", false, {13, 1021, 1, 0}},
        {"tile", false, {64, 768, 1, 1}},
        {"large", true, {512, 3072, 1, 0}},
    }, build_layernorm_bwd, CLT_OP_LAYERNORM_FWD, layernorm_fwd_outputs},
    [CLT_OP_GELU_FWD] = {{"n"}, FLT, true, {
        {"edge", false, {1}},
        {"edge", false, {17}},
        {"prime", false, {1021}},
        {"tile", false, {4096}},
        {"large", true, {1 << 21}},
    }, build_gelu_fwd, 0, NULL},
    [CLT_OP_GELU_BWD] = {{"n"}, FLT, true, {
        {"edge", false, {1}},
        {"edge", false, {17}},
        {"prime", false, {1021}},
        {"tile", false, {4096}},
        {"large", true, {1 << 21}},
    }, build_gelu_bwd, 0, NULL},
    [CLT_OP_EMBEDDING_FWD] = {{"B", "T", "V", "C", "wpe"}, FLT, true, {
        {"edge", false, {1, 1, 1, 1, 1}},
        {"prime", false, {3, 13, 257, 67, 1}},
        {"tile", false, {4, 64, 256, 128, 0}},
        {"large", true, {8, 256, 50257, 768, 1}},
    }, build_embedding_fwd, 0, NULL},
    [CLT_OP_EMBEDDING_BWD] = {{"B", "T", "V", "C", "wpe", "acc"}, FLT, true, {
        {"edge", false, {1, 1, 1, 1, 1, 0}},
        {"prime", false, {3, 13, 257, 67, 1, 1}},
        {"tile", false, {4, 64, 256, 128, 0, 0}},
        {"large", true, {8, 256, 8192, 768, 1, 0}},
    }, build_embedding_bwd, 0, NULL},
    [CLT_OP_CROSS_ENTROPY_FWD] = {{"rows", "V", "ignore"}, FLT, true, {
        {"edge", false, {1, 1, 0}},
        {"prime", false, {13, 1021, 1}},
        {"tile", false, {64, 256, 0}},
        {"large", true, {256, 50257, 1}},
    }, build_cross_entropy_fwd, 0, NULL},
    [CLT_OP_CROSS_ENTROPY_BWD] = {{"rows", "V", "ignore"}, FLT, true, {
        {"edge", false, {1, 1, 0}},
        {"prime", false, {13, 1021, 1}},
        {"tile", false, {64, 256, 0}},
        {"large", true, {256, 50257, 1}},
    }, build_cross_entropy_bwd, CLT_OP_CROSS_ENTROPY_FWD, cross_entropy_fwd_outputs},
    [CLT_OP_ADD] = {{"n"}, FLT, true, {
        {"edge", false, {1}},
        {"prime", false, {1021}},
        {"tile", false, {4096}},
        {"large", true, {1 << 21}},
    }, build_add, 0, NULL},
    [CLT_OP_SCALE] = {{"n"}, FLT, true, {
        {"edge", false, {1}},
        {"prime", false, {1021}},
        {"tile", false, {4096}},
        {"large", true, {1 << 21}},
    }, build_scale, 0, NULL},
    [CLT_OP_BIAS_ADD] = {{"rows", "N"}, FLT, true, {
        {"edge", false, {1, 1}},
        {"prime", false, {13, 1021}},
        {"tile", false, {64, 256}},
        {"large", true, {1024, 3072}},
    }, build_bias_add, 0, NULL},
    [CLT_OP_BIAS_GRAD] = {{"rows", "N", "acc"}, FLT, true, {
        {"edge", false, {1, 1, 0}},
        {"prime", false, {13, 1021, 1}},
        {"tile", false, {64, 256, 0}},
        {"large", true, {1024, 3072, 0}},
    }, build_bias_grad, 0, NULL},
    [CLT_OP_SQNORM] = {{"n", "acc"}, FLT, true, {
        {"edge", false, {1, 0}},
        {"prime", false, {1021, 1}},
        {"tile", false, {65536, 0}},
        {"large", true, {1 << 22, 0}},
    }, build_sqnorm, 0, NULL},
    [CLT_OP_ADAMW] = {{"n", "q8"}, FLT, true, {
        {"edge", false, {1, 0}},
        {"prime", false, {1021, 0}},
        {"prime", false, {4099, 1}},
        {"tile", false, {8192, 1}},
        {"large", true, {1 << 21, 0}},
        {"large", true, {1 << 21, 1}},
    }, build_adamw, 0, NULL},
    [CLT_OP_SGD] = {{"n", "q8", "nesterov"}, FLT, true, {
        {"edge", false, {1, 0, 0}},
        {"prime", false, {1021, 0, 1}},
        {"prime", false, {4099, 1, 0}},
        {"tile", false, {8192, 1, 1}},
        {"large", true, {1 << 21, 0, 0}},
    }, build_sgd, 0, NULL},
    [CLT_OP_LAMB] = {{"n", "q8"}, FLT, true, {
        {"edge", false, {1, 0}},
        {"prime", false, {1021, 0}},
        {"prime", false, {4099, 1}},
        {"tile", false, {8192, 1}},
        {"large", true, {1 << 21, 0}},
    }, build_lamb, 0, NULL},
    [CLT_OP_QUANTIZE8] = {{"n", "signed", "block"}, F32, true, {
        {"edge", false, {1, 1, 256}},
        {"prime", false, {1021, 1, 256}},
        {"tile", false, {8192, 0, 256}},
        {"tile", false, {8192, 1, 2048}},
        {"large", true, {1 << 21, 1, 256}},
    }, build_quantize8, 0, NULL},
    [CLT_OP_DEQUANTIZE8] = {{"n", "signed", "block"}, F32, true, {
        {"edge", false, {1, 1, 256}},
        {"prime", false, {1021, 0, 256}},
        {"tile", false, {8192, 1, 256}},
        {"large", true, {1 << 21, 0, 256}},
    }, build_dequantize8, 0, NULL},
};

/* ---- queries ------------------------------------------------------------------------------ */

bool cases_table_complete(char *err, size_t cap)
{
    for (int k = 0; k < CLT_OP_COUNT; k++) {
        if (!table[k].build || !table[k].shapes[0].cls || !table[k].params[0]) {
            snprintf(err, cap, "clt-conform has no cases for op '%s' (tools/conform/cases.c)",
                     clt_op_name((clt_op_kind)k));
            return false;
        }
    }
    return true;
}

int cases_param_count(clt_op_kind op)
{
    int n = 0;
    while (n < CASE_MAX_PARAMS && table[op].params[n])
        n++;
    return n;
}

const char *cases_param_name(clt_op_kind op, int i) { return table[op].params[i]; }

unsigned cases_dtypes(clt_op_kind op) { return table[op].dtypes; }

bool cases_deterministic(clt_op_kind op) { return table[op].deterministic; }

void case_shape_text(const conform_case *c, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < cases_param_count(c->op) && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%lld", i ? " " : "",
                                table[c->op].params[i], (long long)c->values[i]);
}

void case_text(const conform_case *c, char *buf, size_t cap)
{
    char shape[256];
    case_shape_text(c, shape, sizeof shape);
    snprintf(buf, cap, "%s %s seed=%llu", clt_dtype_name(c->dtype), shape,
             (unsigned long long)c->seed);
}

/* FNV-1a over the case's text without its seed: the same case, the same seed. */
static uint64_t derived_seed(const conform_case *c)
{
    char text[320], shape[256];
    case_shape_text(c, shape, sizeof shape);
    snprintf(text, sizeof text, "%s %s %s", clt_op_name(c->op), clt_dtype_name(c->dtype), shape);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h % 100000;
}

int cases_list(clt_op_kind op, clt_dtype dtype, bool quick, conform_case *out, int max)
{
    int n = 0;
    if (!(table[op].dtypes & (1u << dtype)))
        return 0;
    for (int s = 0; s < MAX_SHAPES && table[op].shapes[s].cls; s++) {
        const struct shape *sh = &table[op].shapes[s];
        if (quick && sh->full_only)
            continue;
        if (n < max) {
            conform_case *c = &out[n];
            memset(c, 0, sizeof *c);
            c->op = op;
            c->dtype = dtype;
            c->shape_class = sh->cls;
            memcpy(c->values, sh->v, sizeof c->values);
            c->seed = derived_seed(c);
        }
        n++;
    }
    return n;
}

void case_layout_build(const conform_case *c, case_layout *out)
{
    memset(out, 0, sizeof *out);
    out->op.kind = c->op;
    table[c->op].build(c, out);
}

bool case_forward_of(const conform_case *c, conform_case *fwd, const char *const **names)
{
    const struct op_entry *e = &table[c->op];
    if (!e->forward_names)
        return false;
    *fwd = *c;
    fwd->op = e->forward;
    if (c->op == CLT_OP_LAYERNORM_BWD) { /* rows C dbias acc -> rows C bias stats */
        fwd->values[2] = 1;
        fwd->values[3] = 1;
    }
    *names = e->forward_names;
    return true;
}

/* The largest value a shape parameter may take in a replayed case: enough for any
 * real layer, small enough that products of a few stay far from overflow. */
#define PARAM_MAX (1 << 24)

bool case_parse(clt_op_kind op, const char *text, conform_case *out, char *err, size_t cap)
{
    char buf[512], *save = NULL;
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) {
        snprintf(err, cap, "--case: text too long");
        return false;
    }
    memset(out, 0, sizeof *out);
    out->op = op;
    out->shape_class = "replay";
    memcpy(out->values, table[op].shapes[0].v, sizeof out->values);
    bool have_seed = false;
    char *tok = strtok_r(buf, " \t", &save);
    if (!tok) {
        snprintf(err, cap, "--case: empty; expected e.g. '%s ...'", "f32");
        return false;
    }
    int dt = -1;
    for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++)
        if (strcmp(tok, clt_dtype_name((clt_dtype)d)) == 0)
            dt = d;
    if (dt < 0 || !(table[op].dtypes & (1u << dt))) {
        snprintf(err, cap, "--case: '%s' is not a dtype op %s is tried with (the case starts "
                 "with its dtype: %s)", tok, clt_op_name(op),
                 table[op].dtypes == F32 ? "f32" : "f32, f16 or bf16");
        return false;
    }
    out->dtype = (clt_dtype)dt;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        if (!eq || eq == tok || !eq[1]) {
            snprintf(err, cap, "--case: '%s' is not NAME=VALUE", tok);
            return false;
        }
        *eq = '\0';
        unsigned long long value = strtoull(eq + 1, &end, 10);
        if (*end || eq[1] == '-') {
            snprintf(err, cap, "--case: %s=%s is not a whole number", tok, eq + 1);
            return false;
        }
        if (strcmp(tok, "seed") == 0) {
            out->seed = value;
            have_seed = true;
            continue;
        }
        int i = 0;
        while (i < cases_param_count(op) && strcmp(table[op].params[i], tok) != 0)
            i++;
        if (i == cases_param_count(op)) {
            char names[256];
            case_shape_text(out, names, sizeof names);
            snprintf(err, cap, "--case: op %s has no parameter '%s' (it has: %s seed)",
                     clt_op_name(op), tok, names);
            return false;
        }
        if (value > PARAM_MAX) {
            snprintf(err, cap, "--case: %s=%llu is larger than %d", tok, value, PARAM_MAX);
            return false;
        }
        out->values[i] = (int64_t)value;
    }
    if (!have_seed)
        out->seed = derived_seed(out);
    return true;
}
