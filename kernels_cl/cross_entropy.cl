/* clt-prelude: dtype.cl rows.cl */
/* Cross-entropy fused with softmax: the loss from each row's logsumexp (computed by
 * softmax.cl's softmax_lse), and the gradient of the logits.
 *
 * Build options: -DWG -DRPG -DVW and the prelude's -DAB_DTYPE=d -DC_DTYPE=d (logits and
 * dlogits share the storage dtype d; lse and loss are f32, targets i32; arithmetic f32).
 *
 * ce_loss, ce_count   one work-group of WG work-items (RPG = 1): work-item i takes rows
 *                     i, i+WG, ..., and the group adds their sums in a fixed tree, so the
 *                     result is the same on every run. ce_loss writes
 *                     loss = Σ (lse − logit[target]) / n_valid over the rows whose target
 *                     is not ignore_index (0 when there are none); ce_count writes n_valid
 *                     (an integer count, exact) for the backward pass.
 * ce_bwd              a row kernel like softmax.cl's (local (WG, RPG), VW-element vectors):
 *                     dlogits = (exp(logit − lse) − onehot(target)) · dloss/n_valid, 0 on
 *                     ignored rows. dlogits may be logits: each work-item reads its
 *                     elements before it writes them (the target's logit first of all).
 *
 * A target outside [0, V) that is not ignore_index is a data error: it makes the loss NaN
 * and its row of dlogits NaN. NaN and infinity in a row's logits reach its lse, the loss,
 * and the row's gradient. */

__kernel void ce_loss(const int n_rows, const int V, __global const ab_t *logits,
                      const ulong l_off, const long l_stride, __global const int *targets,
                      const ulong t_off, __global const float *lse, const ulong lse_off,
                      const int ignore_index, __global float *loss, const ulong loss_off)
{
    __local float lf[WG];
    __local int li[WG];
    float sum = 0.0f;
    int count = 0;
    for (int r = get_local_id(0); r < n_rows; r += WG) {
        const int t = targets[t_off + r];
        if (t == ignore_index)
            continue;
        count++;
        sum += t >= 0 && t < V ? lse[lse_off + r] - LOAD_AB(logits + l_off + (long)r * l_stride, t)
                               : NAN;
    }
    sum = group_sum(sum, lf);
    count = group_count(count, li);
    if (get_local_id(0) == 0)
        loss[loss_off] = count > 0 ? sum / (float)count : 0.0f;
}

__kernel void ce_count(const int n_rows, __global const int *targets, const ulong t_off,
                       const int ignore_index, __global int *n_valid)
{
    __local int li[WG];
    int count = 0;
    for (int r = get_local_id(0); r < n_rows; r += WG)
        count += targets[t_off + r] != ignore_index;
    count = group_count(count, li);
    if (get_local_id(0) == 0)
        n_valid[0] = count;
}

__kernel void ce_bwd(const int n_rows, const int V, __global const ab_t *logits,
                     const ulong l_off, const long l_stride, __global const int *targets,
                     const ulong t_off, __global const float *lse, const ulong lse_off,
                     __global const int *n_valid, __global c_t *dlogits, const ulong d_off,
                     const long d_stride, const float dloss, const int ignore_index)
{
    const int row = get_global_id(1);
    if (row >= n_rows) /* no barriers below: padding rows may leave */
        return;
    __global const ab_t *xr = logits + l_off + (long)row * l_stride;
    __global c_t *dr = dlogits + d_off + (long)row * d_stride;
    const int t = targets[t_off + row];
    const int nv = V / VW, rem = V - nv * VW;
    if (t == ignore_index) {
        /* Exactly 0, whatever the logits hold. One element at a time: PoCL 3.1 compiles a
         * vstore_half16 of a constant into an aligned 32-byte store, which faults on the
         * rows of an f16 matrix whose stride is odd. */
        for (int e = get_local_id(0); e < V; e += WG)
            STORE_C(0.0f, dr, e);
        return;
    }
    int v = get_local_id(0);
    const bool bad = t < 0 || t >= V;
    const float scale = bad ? NAN : dloss / (float)n_valid[0]; /* n_valid >= 1: this row */
    const float l = bad ? 0.0f : lse[lse_off + row];
    /* The work-item that owns the target's element reads it before any write. */
    const bool owner = !bad && (t / VW) % WG == (int)get_local_id(0);
    const float xt = owner ? LOAD_AB(xr, t) : 0.0f;
    for (; v < nv; v += WG)
        STORE_Y(exp(LOAD_X(v, xr) - l) * scale, v, dr);
    if (rem > 0 && v == nv)
        for (int j = 0; j < rem; j++)
            STORE_C(exp(LOAD_AB(xr, nv * VW + j) - l) * scale, dr, nv * VW + j);
    if (owner)
        STORE_C((exp(xt - l) - 1.0f) * scale, dr, t);
}
