/* The GPT-2 model's presets, its parameter layout (GPT-2 names, shapes and [in, out]
 * weights) and GPT-2's initialisation (gpt.h); the passes are in gpt.c. */
#include "gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_layout.h"
#include "rng.h"

/* ---- configuration -------------------------------------------------------------------- */

bool gpt_config_preset(const char *name, struct gpt_config *out)
{
    static const struct {
        const char *name;
        struct gpt_config cfg;
    } presets[] = {
        {"tiny", {2, 2, 64, 64, 256}},
        {"small", {6, 6, 384, 256, 256}},
        {"gpt2", {12, 12, 768, 1024, 256}},
    };
    for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(name, presets[i].name) == 0) {
            *out = presets[i].cfg;
            return true;
        }
    }
    return false;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static uint64_t align_up(uint64_t n)
{
    return (n + LAYOUT_ALIGN - 1) / LAYOUT_ALIGN * LAYOUT_ALIGN;
}

/* A bound on the layout's total in elements, padding included, or 0 when it (or 16
 * bytes per element: master, gradients and two optimizer states) does not fit in
 * size_t. */
static uint64_t layout_total(const struct gpt_config *c)
{
    const uint64_t C = (uint64_t)c->dim;
    uint64_t wte, wpe, fc, per_layer, layers;
    if (!mul_ok((uint64_t)c->vocab, C, &wte) || !mul_ok((uint64_t)c->ctx, C, &wpe) ||
        !mul_ok(4 * C, C, &fc) || fc > UINT64_MAX / 16)
        return 0;
    /* per layer: 2 LayerNorms, c_attn (3C·C + 3C), attn.c_proj, c_fc, mlp.c_proj; each
     * tensor padded by < LAYOUT_ALIGN */
    per_layer = 4 * C + 3 * C * C + 3 * C + C * C + C + fc + 4 * C + fc + C + 12 * LAYOUT_ALIGN;
    if (!mul_ok(per_layer, (uint64_t)c->layers, &layers))
        return 0;
    uint64_t total = wte + wpe + 2 * C + 4 * LAYOUT_ALIGN;
    if (__builtin_add_overflow(total, layers, &total) || total > SIZE_MAX / 16)
        return 0;
    return total;
}

bool gpt_config_valid(const struct gpt_config *cfg, char *err, size_t cap)
{
    static const int head_sizes[] = {32, 64, 80, 96, 128};
    const struct {
        const char *name;
        int value;
    } fields[] = {{"layers", cfg->layers}, {"heads", cfg->heads}, {"dim", cfg->dim},
                  {"ctx", cfg->ctx},       {"vocab", cfg->vocab}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value < 1) {
            snprintf(err, cap, "model: %s is %d; it must be at least 1", fields[i].name,
                     fields[i].value);
            return false;
        }
    }
    if (cfg->dim % cfg->heads != 0) {
        snprintf(err, cap, "model: dim %d is not a multiple of heads %d", cfg->dim, cfg->heads);
        return false;
    }
    const int hs = cfg->dim / cfg->heads;
    bool runs = false;
    for (size_t i = 0; i < sizeof head_sizes / sizeof head_sizes[0]; i++)
        runs = runs || hs == head_sizes[i];
    if (!runs) {
        snprintf(err, cap,
                 "model: head size dim/heads = %d/%d = %d; attention runs head sizes 32, 64, "
                 "80, 96 and 128",
                 cfg->dim, cfg->heads, hs);
        return false;
    }
    if (cfg->dim > INT32_MAX / 4) { /* the MLP's 4·dim columns are an op dimension */
        snprintf(err, cap, "model: dim %d is too large (4·dim must fit in 2^31 - 1)", cfg->dim);
        return false;
    }
    if (layout_total(cfg) == 0) {
        snprintf(err, cap,
                 "model: layers %d, dim %d, ctx %d, vocab %d give more parameters than memory "
                 "can address",
                 cfg->layers, cfg->dim, cfg->ctx, cfg->vocab);
        return false;
    }
    return true;
}

/* ---- parameter layout ------------------------------------------------------------------ */

static const struct {
    const char *suffix;
    int rank;
    int in_mult, out_mult; /* shape (in_mult·C, out_mult·C), or (out_mult·C,) */
} block_tensors[P_PER_LAYER] = {
    [L_LN1_W] = {"ln_1.weight", 1, 0, 1},       [L_LN1_B] = {"ln_1.bias", 1, 0, 1},
    [L_QKV_W] = {"attn.c_attn.weight", 2, 1, 3}, [L_QKV_B] = {"attn.c_attn.bias", 1, 0, 3},
    [L_ATTPROJ_W] = {"attn.c_proj.weight", 2, 1, 1},
    [L_ATTPROJ_B] = {"attn.c_proj.bias", 1, 0, 1},
    [L_LN2_W] = {"ln_2.weight", 1, 0, 1},       [L_LN2_B] = {"ln_2.bias", 1, 0, 1},
    [L_FC_W] = {"mlp.c_fc.weight", 2, 1, 4},    [L_FC_B] = {"mlp.c_fc.bias", 1, 0, 4},
    [L_FCPROJ_W] = {"mlp.c_proj.weight", 2, 4, 1},
    [L_FCPROJ_B] = {"mlp.c_proj.bias", 1, 0, 1},
};

size_t gpt_param_count(const struct gpt_config *cfg)
{
    return 2 + (size_t)P_PER_LAYER * (size_t)cfg->layers + 2;
}

static int param_kind(const struct gpt_config *cfg, size_t i)
{
    const size_t blocks_end = P_LAYER0 + (size_t)P_PER_LAYER * (size_t)cfg->layers;
    if (i == P_WTE)
        return K_WTE;
    if (i == P_WPE)
        return K_WPE;
    if (i < blocks_end)
        return (int)((i - P_LAYER0) % P_PER_LAYER);
    return i == blocks_end ? K_LNF_W : K_LNF_B;
}

/* Describes tensor i, placed at *offset, and moves *offset past it and its padding. */
static void param_at(const struct gpt_config *cfg, size_t i, size_t *offset,
                     struct gpt_param *p)
{
    const int64_t C = cfg->dim;
    const int kind = param_kind(cfg, i);
    memset(p, 0, sizeof *p);
    if (kind == K_WTE || kind == K_WPE) {
        snprintf(p->name, sizeof p->name, "%s", kind == K_WTE ? "wte.weight" : "wpe.weight");
        p->rank = 2;
        p->shape[0] = kind == K_WTE ? cfg->vocab : cfg->ctx;
        p->shape[1] = C;
        p->decay = kind == K_WTE; /* the tied LM head is a weight; positions are not */
    } else if (kind == K_LNF_W || kind == K_LNF_B) {
        snprintf(p->name, sizeof p->name, "ln_f.%s", kind == K_LNF_W ? "weight" : "bias");
        p->rank = 1;
        p->shape[0] = C;
    } else {
        const int layer = (int)((i - P_LAYER0) / P_PER_LAYER);
        snprintf(p->name, sizeof p->name, "h.%d.%s", layer, block_tensors[kind].suffix);
        p->rank = block_tensors[kind].rank;
        if (p->rank == 2) {
            p->shape[0] = block_tensors[kind].in_mult * C;
            p->shape[1] = block_tensors[kind].out_mult * C;
        } else {
            p->shape[0] = block_tensors[kind].out_mult * C;
        }
        p->decay = p->rank == 2;
    }
    p->numel = (size_t)p->shape[0] * (size_t)(p->rank == 2 ? p->shape[1] : 1);
    p->offset = *offset;
    *offset = (size_t)align_up(*offset + p->numel);
}

size_t gpt_params_layout(const struct gpt_config *cfg, struct gpt_param *out)
{
    size_t off = 0;
    for (size_t i = 0, n = gpt_param_count(cfg); i < n; i++)
        param_at(cfg, i, &off, &out[i]);
    return off;
}

/* ---- initialisation -------------------------------------------------------------------- */

/* Standard normal deviates by Box–Muller in double, both of each pair used. */
struct normal_gen {
    struct rng rng;
    double spare;
    bool has_spare;
};

static double normal_next(struct normal_gen *g)
{
    if (g->has_spare) {
        g->has_spare = false;
        return g->spare;
    }
    const double u1 = 1.0 - rng_uniform(&g->rng); /* (0, 1]: the log is finite */
    const double u2 = rng_uniform(&g->rng);
    const double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586476925 * u2;
    g->spare = r * sin(theta);
    g->has_spare = true;
    return r * cos(theta);
}

void gpt_init_params(const struct gpt_config *cfg, uint64_t seed, float *params)
{
    const double std = 0.02, proj_std = 0.02 / sqrt(2.0 * cfg->layers);
    size_t off = 0, padded_from = 0;
    for (size_t i = 0, n = gpt_param_count(cfg); i < n; i++) {
        struct gpt_param p;
        param_at(cfg, i, &off, &p);
        memset(params + padded_from, 0, (p.offset - padded_from) * sizeof *params);
        padded_from = p.offset + p.numel;
        float *w = params + p.offset;
        const int kind = param_kind(cfg, i);
        if (kind == L_LN1_W || kind == L_LN2_W || kind == K_LNF_W) {
            for (size_t j = 0; j < p.numel; j++)
                w[j] = 1.0f;
        } else if (p.rank == 1) {
            memset(w, 0, p.numel * sizeof *w); /* biases */
        } else {
            /* each tensor draws from its own stream, so its values do not depend on the
             * shapes of the tensors before it */
            struct normal_gen g = {.has_spare = false};
            rng_seed(&g.rng, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
            const double s = kind == L_ATTPROJ_W || kind == L_FCPROJ_W ? proj_std : std;
            for (size_t j = 0; j < p.numel; j++)
                w[j] = (float)(s * normal_next(&g));
        }
    }
    memset(params + padded_from, 0, (off - padded_from) * sizeof *params);
}
