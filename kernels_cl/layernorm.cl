/* clt-prelude: dtype.cl rows.cl */
/* LayerNorm over the rows of a matrix, forward and backward.
 *
 * Build options: -DWG -DRPG -DVW (below) and the prelude's -DAB_DTYPE=d -DC_DTYPE=d: every
 * floating tensor of an op has the storage dtype d; mean and rstd are f32; arithmetic is
 * f32. WG and RPG are powers of two.
 *
 * Row kernels (layernorm_fwd, layernorm_bwd_dx) run as softmax.cl's: local size
 * (WG, RPG), global (WG, n_rows rounded up to RPG); WG work-items share a row, each taking
 * the vectors of VW elements i, i+WG, i+2·WG ..., the last partial vector through a private
 * array. The column kernel (layernorm_bwd_params) runs local (WG, RPG) over global
 * (column vectors rounded up to WG, RPG): a group owns WG vectors of VW columns and splits
 * the rows among its RPG row slices, which it adds in a fixed order.
 *
 * layernorm_fwd       mean = Σx/C; var = Σ(x − mean)²/C, a second pass over the row (the
 *                     row is in cache; no cancellation as in Σx² − C·mean²);
 *                     rstd = 1/sqrt(var + eps); out = (x − mean)·rstd·weight + bias.
 * layernorm_bwd_dx    dx = rstd·(g − mean(g) − x̂·mean(g∘x̂)), g = dout∘weight,
 *                     x̂ = (x − mean)·rstd, from the saved mean and rstd.
 * layernorm_bwd_params dweight = Σ_rows dout∘x̂, dbias = Σ_rows dout: each column's rows
 *                     in a fixed order (slice j takes rows j, j+RPG ...; slices are added
 *                     as a tree), so the sums are the same on every run.
 * `accumulate` adds to dx, dweight and dbias instead of overwriting them (one rounding
 * to the storage dtype, at the end).
 *
 * NaN and infinity reach the whole row they are in (its mean and variance), and in the
 * backward pass the columns they are in; with eps = 0 a constant row has rstd = +inf and
 * its out is NaN (0·inf), as in the host reference. */

/* The row this work-item serves, and its length: 0 for the padding rows of the last
 * group, which still take part in the barriers. */
#define ROW_SETUP(n_rows, C)                                                               \
    const int row = get_global_id(1);                                                      \
    const bool live = row < (n_rows);                                                      \
    const int len = live ? (C) : 0;                                                        \
    const long rix = live ? row : 0;                                                       \
    const int slot = get_local_id(1) * WG;                                                 \
    const int nv = len / VW, rem = len - nv * VW

/* flags of layernorm_fwd */
#define HAS_BIAS 1
#define HAS_MEAN 2
#define HAS_RSTD 4

__kernel void layernorm_fwd(const int n_rows, const int C, __global const ab_t *x,
                            const ulong x_off, const long x_stride, __global const ab_t *weight,
                            const ulong w_off, __global const ab_t *bias, const ulong b_off,
                            __global c_t *out, const ulong out_off, const long out_stride,
                            __global float *mean, const ulong mean_off, __global float *rstd,
                            const ulong rstd_off, const float eps, const int flags)
{
    __local float lf[WG * RPG];
    ROW_SETUP(n_rows, C);
    __global const ab_t *xr = x + x_off + rix * x_stride;
    __global c_t *outr = out + out_off + rix * out_stride;
    __global const ab_t *w = weight + w_off;
    const bool has_bias = (flags & HAS_BIAS) != 0;
    __global const ab_t *b = has_bias ? bias + b_off : bias; /* bias may be NULL */
    const int first = get_local_id(0);

    floatV acc = 0.0f;
    int v = first;
    for (; v < nv; v += WG)
        acc += LOAD_X(v, xr);
    if (rem > 0 && v == nv)
        acc += load_part(xr + nv * VW, rem, 0.0f);
    const float m = group_sum(lanes_sum(acc), lf + slot) / (float)C;

    acc = 0.0f;
    for (v = first; v < nv; v += WG) {
        const floatV d = LOAD_X(v, xr) - m;
        acc = fma(d, d, acc);
    }
    if (rem > 0 && v == nv) {
        const floatV d = load_part(xr + nv * VW, rem, m) - m;
        acc = fma(d, d, acc);
    }
    const float var = group_sum(lanes_sum(acc), lf + slot) / (float)C;
    const float s = 1.0f / sqrt(var + eps);

    for (v = first; v < nv; v += WG) {
        floatV o = (LOAD_X(v, xr) - m) * s * LOAD_X(v, w);
        if (has_bias)
            o += LOAD_X(v, b);
        STORE_Y(o, v, outr);
    }
    if (rem > 0 && v == nv) {
        floatV o = (load_part(xr + nv * VW, rem, 0.0f) - m) * s * load_part(w + nv * VW, rem, 0.0f);
        if (has_bias)
            o += load_part(b + nv * VW, rem, 0.0f);
        store_part(o, outr + nv * VW, rem);
    }
    if (live && first == 0) {
        if (flags & HAS_MEAN)
            mean[mean_off + row] = m;
        if (flags & HAS_RSTD)
            rstd[rstd_off + row] = s;
    }
}

__kernel void layernorm_bwd_dx(const int n_rows, const int C, __global const ab_t *dout,
                               const ulong g_off, const long g_stride, __global const ab_t *x,
                               const ulong x_off, const long x_stride,
                               __global const ab_t *weight, const ulong w_off,
                               __global const float *mean, const ulong mean_off,
                               __global const float *rstd, const ulong rstd_off,
                               __global c_t *dx, const ulong dx_off, const long dx_stride,
                               const int accumulate)
{
    __local float lf[WG * RPG];
    ROW_SETUP(n_rows, C);
    __global const ab_t *gr = dout + g_off + rix * g_stride;
    __global const ab_t *xr = x + x_off + rix * x_stride;
    __global c_t *dxr = dx + dx_off + rix * dx_stride;
    __global const ab_t *w = weight + w_off;
    const float m = live ? mean[mean_off + row] : 0.0f;
    const float s = live ? rstd[rstd_off + row] : 0.0f;
    const int first = get_local_id(0);

    /* Σ g and Σ g∘x̂, g = dout∘weight; padding lanes are 0 in dout */
    floatV sg = 0.0f, sgx = 0.0f;
    int v = first;
    for (; v < nv; v += WG) {
        const floatV g = LOAD_X(v, gr) * LOAD_X(v, w);
        sg += g;
        sgx = fma(g, (LOAD_X(v, xr) - m) * s, sgx);
    }
    if (rem > 0 && v == nv) {
        const floatV g = load_part(gr + nv * VW, rem, 0.0f) * load_part(w + nv * VW, rem, 0.0f);
        sg += g;
        sgx = fma(g, (load_part(xr + nv * VW, rem, m) - m) * s, sgx);
    }
    const float mg = group_sum(lanes_sum(sg), lf + slot) / (float)C;
    const float mgx = group_sum(lanes_sum(sgx), lf + slot) / (float)C;

    for (v = first; v < nv; v += WG) {
        const floatV g = LOAD_X(v, gr) * LOAD_X(v, w);
        const floatV xhat = (LOAD_X(v, xr) - m) * s;
        floatV d = s * (g - mg - xhat * mgx);
        if (accumulate)
            d += LOAD_Y(v, dxr);
        STORE_Y(d, v, dxr);
    }
    if (rem > 0 && v == nv) {
        const floatV g = load_part(gr + nv * VW, rem, 0.0f) * load_part(w + nv * VW, rem, 0.0f);
        const floatV xhat = (load_part(xr + nv * VW, rem, m) - m) * s;
        floatV d = s * (g - mg - xhat * mgx);
        if (accumulate)
            d += load_part_out(dxr + nv * VW, rem);
        store_part(d, dxr + nv * VW, rem);
    }
}

/* Adds the RPG row slices of each of the group's column vectors, in a fixed tree. */
floatV slices_sum(floatV v, __local float *slots)
{
#if RPG > 1
    const int i = get_local_id(0), j = get_local_id(1);
    VSTORE_F(v, j * WG + i, slots);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = RPG / 2; w > 0; w >>= 1) {
        if (j < w) {
            v += VLOAD_F((j + w) * WG + i, slots);
            VSTORE_F(v, j * WG + i, slots);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#endif
    return v;
}

__kernel void layernorm_bwd_params(const int n_rows, const int C, __global const ab_t *dout,
                                   const ulong g_off, const long g_stride,
                                   __global const ab_t *x, const ulong x_off,
                                   const long x_stride, __global const float *mean,
                                   const ulong mean_off, __global const float *rstd,
                                   const ulong rstd_off, __global c_t *dweight,
                                   const ulong dw_off, __global c_t *dbias, const ulong db_off,
                                   const int has_dbias, const int accumulate)
{
    __local float lw[WG * RPG * VW], lb[WG * RPG * VW];
    const int cv = get_global_id(0); /* this work-item's vector of VW columns */
    const int nvc = C / VW, rem = C - nvc * VW;
    const int width = cv < nvc ? VW : cv == nvc ? rem : 0; /* its columns */
    floatV dw = 0.0f, db = 0.0f;
    if (width == VW) {
        for (int r = get_local_id(1); r < n_rows; r += RPG) {
            const floatV g = LOAD_X(cv, dout + g_off + (long)r * g_stride);
            const floatV xhat = (LOAD_X(cv, x + x_off + (long)r * x_stride) - mean[mean_off + r]) *
                                rstd[rstd_off + r];
            dw = fma(g, xhat, dw);
            db += g;
        }
    } else if (width > 0) {
        for (int r = get_local_id(1); r < n_rows; r += RPG) {
            const floatV g = load_part(dout + g_off + (long)r * g_stride + cv * VW, width, 0.0f);
            const floatV xhat =
                (load_part(x + x_off + (long)r * x_stride + cv * VW, width, 0.0f) -
                 mean[mean_off + r]) * rstd[rstd_off + r];
            dw = fma(g, xhat, dw);
            db += g;
        }
    }
    dw = slices_sum(dw, lw);
    db = slices_sum(db, lb);
    if (get_local_id(1) != 0 || width == 0)
        return;
    __global c_t *dwp = dweight + dw_off + cv * VW;
    __global c_t *dbp = has_dbias ? dbias + db_off + cv * VW : dbias; /* dbias may be NULL */
    if (width == VW) {
        if (accumulate)
            dw += LOAD_Y(0, dwp);
        STORE_Y(dw, 0, dwp);
        if (has_dbias) {
            if (accumulate)
                db += LOAD_Y(0, dbp);
            STORE_Y(db, 0, dbp);
        }
    } else {
        if (accumulate)
            dw += load_part_out(dwp, width);
        store_part(dw, dwp, width);
        if (has_dbias) {
            if (accumulate)
                db += load_part_out(dbp, width);
            store_part(db, dbp, width);
        }
    }
}
