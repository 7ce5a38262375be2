/* clt-prelude: dtype.cl */
/* Optimizer steps and block-wise 8-bit quantization (include/clt/op.h), the device side
 * of backends/host/optim_host.c and quant8.c, which are the oracle: every f32 operation
 * here is the host's, in the host's order, so that f32 states agree bit for bit with a
 * correctly rounded f32 host (the driver builds with
 * -cl-fp32-correctly-rounded-divide-sqrt, and contraction into fma is off below).
 *
 * Build options: -DAB_DTYPE = the gradient's dtype, -DC_DTYPE = param_copy's (f32 when
 * there is none). param, the f32 states, the absmax and the partial sums are f32.
 * Every tensor comes as a base pointer and an element offset (a range of a larger
 * tensor); q8 ranges start on a block boundary, so block b of the range is absmax[b].
 *
 * f32 states: a work-item takes vectors of four, the global size apart (grid stride);
 * the last n % 4 elements are a vector padded with zeros that only its live lanes store.
 *
 * q8 states: a work-group per quantization block, in one kernel: (A) each work-item
 * walks its elements of the block, dequantizes m/v through the map (in local memory),
 * updates them and keeps max |x| as integer bits (NaN and Inf order above every finite
 * value, as on the host); a work-group max gives the new absmax; (B) each work-item
 * recomputes the same updated values (same operations, same inputs: param is written
 * only in B, by the work-item that owns the element, after it has read it), quantizes
 * them with the 255 thresholds (a branchless binary search, clt_q8_code's), and
 * updates param with the unquantized moments, as the host does. Recomputing instead of
 * keeping the values lets a block be any size without local memory for it.
 *
 * The gate: every work-item reads it and returns before touching anything when it is
 * not finite; it is the same for all, so no work-group splits at a barrier.
 *
 * LAMB: pass 1 (mode 1) updates the states and writes each work-group's sums of p² and
 * u² (u from the moments as stored) to partial[2g], partial[2g+1]; lamb_trust adds
 * them in a fixed order and writes the trust ratio; pass 2 (mode 2) applies it. */

#pragma OPENCL FP_CONTRACT OFF

#define MODE_ADAMW 0
#define MODE_LAMB_SUMS 1
#define MODE_LAMB_APPLY 2

/* The table the driver passes (see cl_optim.c): signed map at 0, its thresholds at 256,
 * unsigned map at 512, its thresholds at 768 (255 each, one pad). */
#define TABLE_SIGNED 0
#define TABLE_UNSIGNED 512
#define TABLE_THR 256

#define F32_ABS_MASK 0x7fffffffu
#define F32_INF_BITS 0x7f800000u

struct hparams {
    float lr, beta1, beta2, eps, wd, grad_scale;
    float one_minus_beta1, one_minus_beta2; /* 1 − β in f32, as the host rounds them */
    float bc1, bc2;                         /* bias corrections, rounded once on the host */
};

int gate_closed(__global const float *gate, const ulong gate_off, const int has_gate)
{
    return has_gate && !isfinite(gate[gate_off]);
}

/* ---- the per-element arithmetic (optim_host.c's, operation for operation) ---------- */

#define ADAM_MOMENTS(m, v, g, h)                                                           \
    do {                                                                                   \
        m = (h).beta1 * m + (h).one_minus_beta1 * g;                                       \
        v = (h).beta2 * v + (h).one_minus_beta2 * (g * g);                                 \
    } while (0)

#define ADAM_DIRECTION(m, v, p, h) ((m / (h).bc1) / (sqrt(v / (h).bc2) + (h).eps) + (h).wd * p)

/* ---- vectors of four, padded at the end --------------------------------------------- */

float4 load4_f32(__global const float *x, const ulong base, const ulong n)
{
    if (base + 4 <= n)
        return vload4(0, x + base);
    float4 r = (float4)(0.0f);
    r.s0 = x[base];
    if (base + 1 < n) r.s1 = x[base + 1];
    if (base + 2 < n) r.s2 = x[base + 2];
    return r;
}

void store4_f32(const float4 v, __global float *x, const ulong base, const ulong n)
{
    if (base + 4 <= n) {
        vstore4(v, 0, x + base);
        return;
    }
    x[base] = v.s0;
    if (base + 1 < n) x[base + 1] = v.s1;
    if (base + 2 < n) x[base + 2] = v.s2;
}

float4 load4_grad(__global const ab_t *x, const ulong base, const ulong n)
{
    if (base + 4 <= n)
        return LOAD_AB_V(4, 0, x + base);
    float4 r = (float4)(0.0f);
    r.s0 = LOAD_AB(x, base);
    if (base + 1 < n) r.s1 = LOAD_AB(x, base + 1);
    if (base + 2 < n) r.s2 = LOAD_AB(x, base + 2);
    return r;
}

void store4_copy(const float4 v, __global c_t *x, const ulong base, const ulong n)
{
    if (base + 4 <= n) {
        STORE_C_V(4, v, 0, x + base);
        return;
    }
    STORE_C(v.s0, x, base);
    if (base + 1 < n) STORE_C(v.s1, x, base + 1);
    if (base + 2 < n) STORE_C(v.s2, x, base + 2);
}

/* Sums of local a[] and b[] (get_local_size(0) entries, a power of two) into a[0], b[0]
 * by a fixed tree. */
void tree_sum2(__local float *a, __local float *b)
{
    const uint lid = get_local_id(0);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < s) {
            a[lid] += a[lid + s];
            b[lid] += b[lid + s];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Integer max of a[] and b[] into a[0], b[0]. */
void tree_max2(__local uint *a, __local uint *b)
{
    const uint lid = get_local_id(0);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < s) {
            a[lid] = max(a[lid], a[lid + s]);
            b[lid] = max(b[lid], b[lid + s]);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* ---- AdamW / LAMB, f32 states ------------------------------------------------------ */

__kernel void adam_f32(const ulong n, const int mode,
                       __global float *p, const ulong p_off,
                       __global const ab_t *grad, const ulong grad_off,
                       __global float *m, const ulong m_off,
                       __global float *v, const ulong v_off,
                       __global c_t *copy, const ulong copy_off, const int has_copy,
                       __global const float *gate, const ulong gate_off, const int has_gate,
                       __global float *partial, const struct hparams h,
                       __local float *sum_p, __local float *sum_u)
{
    if (gate_closed(gate, gate_off, has_gate))
        return;
    p += p_off;
    grad += grad_off;
    m += m_off;
    v += v_off;
    copy += copy_off;
    /* LAMB pass 2: the trust ratio lamb_trust wrote after the partial sums */
    const float trust = mode == MODE_LAMB_APPLY ? partial[2 * get_num_groups(0)] : 1.0f;
    float sp = 0.0f, su = 0.0f;
    const ulong vectors = (n + 3) / 4;
    for (ulong k = get_global_id(0); k < vectors; k += get_global_size(0)) {
        const ulong base = 4 * k;
        float4 pv = load4_f32(p, base, n);
        float4 mv = load4_f32(m, base, n), vv = load4_f32(v, base, n);
        if (mode != MODE_LAMB_APPLY) {
            const float4 g = h.grad_scale * load4_grad(grad, base, n);
            ADAM_MOMENTS(mv, vv, g, h);
            store4_f32(mv, m, base, n);
            store4_f32(vv, v, base, n);
        }
        const float4 u = ADAM_DIRECTION(mv, vv, pv, h);
        if (mode == MODE_LAMB_SUMS) {
            /* padded lanes hold p = 0 and u = 0: they add nothing */
            const float4 pp = pv * pv, uu = u * u;
            sp += ((pp.s0 + pp.s1) + pp.s2) + pp.s3;
            su += ((uu.s0 + uu.s1) + uu.s2) + uu.s3;
            continue;
        }
        pv = pv - h.lr * (mode == MODE_LAMB_APPLY ? trust * u : u);
        store4_f32(pv, p, base, n);
        if (has_copy)
            store4_copy(pv, copy, base, n);
    }
    if (mode == MODE_LAMB_SUMS) {
        const uint lid = get_local_id(0);
        sum_p[lid] = sp;
        sum_u[lid] = su;
        tree_sum2(sum_p, sum_u);
        if (lid == 0) {
            partial[2 * get_group_id(0)] = sum_p[0];
            partial[2 * get_group_id(0) + 1] = sum_u[0];
        }
    }
}

/* The trust ratio ‖p‖/‖u‖ (1 when either is 0) from `groups` pairs of partial sums,
 * added in a fixed order: work-item i takes pairs i, i + wg, ... in order, then a tree.
 * One work-group; writes partial[2 · groups]. */
__kernel void lamb_trust(const uint groups, __global float *partial,
                         __global const float *gate, const ulong gate_off, const int has_gate,
                         __local float *sum_p, __local float *sum_u)
{
    if (gate_closed(gate, gate_off, has_gate))
        return;
    const uint lid = get_local_id(0);
    float sp = 0.0f, su = 0.0f;
    for (uint i = lid; i < groups; i += get_local_size(0)) {
        sp += partial[2 * i];
        su += partial[2 * i + 1];
    }
    sum_p[lid] = sp;
    sum_u[lid] = su;
    tree_sum2(sum_p, sum_u);
    if (lid == 0) {
        const float pn = sqrt(sum_p[0]), un = sqrt(sum_u[0]);
        partial[2 * groups] = pn > 0.0f && un > 0.0f ? pn / un : 1.0f;
    }
}

/* ---- SGD, f32 momentum or none ------------------------------------------------------- */

__kernel void sgd_f32(const ulong n, const int has_buf, const int nesterov,
                      __global float *p, const ulong p_off,
                      __global const ab_t *grad, const ulong grad_off,
                      __global float *buf, const ulong buf_off,
                      __global c_t *copy, const ulong copy_off, const int has_copy,
                      __global const float *gate, const ulong gate_off, const int has_gate,
                      const struct hparams h)
{
    if (gate_closed(gate, gate_off, has_gate))
        return;
    p += p_off;
    grad += grad_off;
    buf += buf_off;
    copy += copy_off;
    const ulong vectors = (n + 3) / 4;
    for (ulong k = get_global_id(0); k < vectors; k += get_global_size(0)) {
        const ulong base = 4 * k;
        float4 pv = load4_f32(p, base, n);
        const float4 g = h.grad_scale * load4_grad(grad, base, n) + h.wd * pv;
        float4 step = g;
        if (has_buf) {
            float4 b = load4_f32(buf, base, n);
            b = h.beta1 * b + g;
            store4_f32(b, buf, base, n);
            step = nesterov ? g + h.beta1 * b : b;
        }
        pv = pv - h.lr * step;
        store4_f32(pv, p, base, n);
        if (has_copy)
            store4_copy(pv, copy, base, n);
    }
}

/* ---- q8: a work-group per block ------------------------------------------------------ */

/* Copies map (256) and thresholds (255) of one table half into local memory. */
void load_table(__global const float *table, const uint at, __local float *map,
                __local float *thr)
{
    for (uint i = get_local_id(0); i < 256; i += get_local_size(0)) {
        map[i] = table[at + i];
        if (i < 255)
            thr[i] = table[at + TABLE_THR + i];
    }
}

/* clt_q8_code: the count of thresholds <= x by an 8-step binary search; NaN gets 0. */
uchar q8_code(__local const float *thr, const float x)
{
    uint pos = 0;
    for (uint step = 128; step > 0; step >>= 1)
        pos += (x >= thr[pos + step - 1]) ? step : 0;
    return (uchar)pos;
}

/* The absmax that integer-max bits stand for: 0, NaN (a non-finite element), or the
 * value. */
float absmax_of_bits(const uint bits)
{
    return bits == 0 ? 0.0f : bits >= F32_INF_BITS ? as_float(0x7fc00000u) : as_float(bits);
}

/* x's code in a block of absmax `am` (from `bits`): the code of 0 for zero and
 * non-finite blocks, else the nearest code of x / am (a true division). */
uchar q8_quantize_one(__local const float *thr, const uint bits, const float am, const float x,
                      const uchar zero_code)
{
    return bits == 0 || bits >= F32_INF_BITS ? zero_code : q8_code(thr, x / am);
}

__kernel void adam_q8(const ulong n, const int mode, const ulong block,
                      __global float *p, const ulong p_off,
                      __global const ab_t *grad, const ulong grad_off,
                      __global uchar *mc, const ulong mc_off,
                      __global float *m_absmax, const ulong ma_off,
                      __global uchar *vc, const ulong vc_off,
                      __global float *v_absmax, const ulong va_off,
                      __global c_t *copy, const ulong copy_off, const int has_copy,
                      __global const float *gate, const ulong gate_off, const int has_gate,
                      __global float *partial, __global const float *table,
                      const struct hparams h,
                      __local float *map_m, __local float *thr_m,
                      __local float *map_v, __local float *thr_v,
                      __local uint *red_a, __local uint *red_b)
{
    if (gate_closed(gate, gate_off, has_gate))
        return;
    const ulong b = get_group_id(0), start = b * block;
    const ulong len = min(block, n - start);
    const uint lid = get_local_id(0), wg = get_local_size(0);
    p += p_off + start;
    grad += grad_off + start;
    mc += mc_off + start;
    vc += vc_off + start;
    copy += copy_off + start;
    load_table(table, TABLE_SIGNED, map_m, thr_m);
    load_table(table, TABLE_UNSIGNED, map_v, thr_v);
    barrier(CLK_LOCAL_MEM_FENCE);
    const float am_m = m_absmax[ma_off + b], am_v = v_absmax[va_off + b];
    const float trust = mode == MODE_LAMB_APPLY ? partial[2 * get_num_groups(0)] : 1.0f;

    if (mode == MODE_LAMB_APPLY) { /* states as stored; no requantization */
        for (ulong i = lid; i < len; i += wg) {
            const float mv = map_m[mc[i]] * am_m, vv = map_v[vc[i]] * am_v;
            const float pv = p[i];
            const float u = ADAM_DIRECTION(mv, vv, pv, h);
            const float np = pv - h.lr * (trust * u);
            p[i] = np;
            if (has_copy)
                STORE_C(np, copy, i);
        }
        return;
    }

    /* (A) the updated moments' absmax */
    uint bits_m = 0, bits_v = 0;
    for (ulong i = lid; i < len; i += wg) {
        float mv = map_m[mc[i]] * am_m, vv = map_v[vc[i]] * am_v;
        const float g = h.grad_scale * LOAD_AB(grad, i);
        ADAM_MOMENTS(mv, vv, g, h);
        bits_m = max(bits_m, as_uint(mv) & F32_ABS_MASK);
        bits_v = max(bits_v, as_uint(vv) & F32_ABS_MASK);
    }
    red_a[lid] = bits_m;
    red_b[lid] = bits_v;
    tree_max2(red_a, red_b);
    bits_m = red_a[0];
    bits_v = red_b[0];
    const float new_m = absmax_of_bits(bits_m), new_v = absmax_of_bits(bits_v);
    const uchar zero_m = q8_code(thr_m, 0.0f), zero_v = q8_code(thr_v, 0.0f);

    /* (B) the same moments again: quantize them and update the parameter */
    float sp = 0.0f, su = 0.0f;
    for (ulong i = lid; i < len; i += wg) {
        float mv = map_m[mc[i]] * am_m, vv = map_v[vc[i]] * am_v;
        const float g = h.grad_scale * LOAD_AB(grad, i);
        ADAM_MOMENTS(mv, vv, g, h);
        const uchar cm = q8_quantize_one(thr_m, bits_m, new_m, mv, zero_m);
        const uchar cv = q8_quantize_one(thr_v, bits_v, new_v, vv, zero_v);
        mc[i] = cm;
        vc[i] = cv;
        const float pv = p[i];
        if (mode == MODE_LAMB_SUMS) { /* u from the moments as stored */
            const float u = ADAM_DIRECTION(map_m[cm] * new_m, map_v[cv] * new_v, pv, h);
            sp += pv * pv;
            su += u * u;
            continue;
        }
        const float np = pv - h.lr * ADAM_DIRECTION(mv, vv, pv, h);
        p[i] = np;
        if (has_copy)
            STORE_C(np, copy, i);
    }
    if (lid == 0) {
        m_absmax[ma_off + b] = new_m;
        v_absmax[va_off + b] = new_v;
    }
    if (mode == MODE_LAMB_SUMS) {
        /* the max tree is done with red_a/red_b (every work-item read [0] above, and
         * the barrier below orders those reads before these writes) */
        __local float *fa = (__local float *)red_a, *fb = (__local float *)red_b;
        barrier(CLK_LOCAL_MEM_FENCE);
        fa[lid] = sp;
        fb[lid] = su;
        tree_sum2(fa, fb);
        if (lid == 0) {
            partial[2 * b] = fa[0];
            partial[2 * b + 1] = fb[0];
        }
    }
}

__kernel void sgd_q8(const ulong n, const int nesterov, const ulong block,
                     __global float *p, const ulong p_off,
                     __global const ab_t *grad, const ulong grad_off,
                     __global uchar *bc, const ulong bc_off,
                     __global float *b_absmax, const ulong ba_off,
                     __global c_t *copy, const ulong copy_off, const int has_copy,
                     __global const float *gate, const ulong gate_off, const int has_gate,
                     __global const float *table, const struct hparams h,
                     __local float *map, __local float *thr, __local uint *red_a,
                     __local uint *red_b)
{
    if (gate_closed(gate, gate_off, has_gate))
        return;
    const ulong b = get_group_id(0), start = b * block;
    const ulong len = min(block, n - start);
    const uint lid = get_local_id(0), wg = get_local_size(0);
    p += p_off + start;
    grad += grad_off + start;
    bc += bc_off + start;
    copy += copy_off + start;
    load_table(table, TABLE_SIGNED, map, thr);
    barrier(CLK_LOCAL_MEM_FENCE);
    const float am = b_absmax[ba_off + b];

    uint bits = 0;
    for (ulong i = lid; i < len; i += wg) {
        const float g = h.grad_scale * LOAD_AB(grad, i) + h.wd * p[i];
        const float bv = h.beta1 * (map[bc[i]] * am) + g;
        bits = max(bits, as_uint(bv) & F32_ABS_MASK);
    }
    red_a[lid] = bits;
    red_b[lid] = 0;
    tree_max2(red_a, red_b);
    bits = red_a[0];
    const float new_am = absmax_of_bits(bits);
    const uchar zero = q8_code(thr, 0.0f);

    for (ulong i = lid; i < len; i += wg) {
        const float pv = p[i];
        const float g = h.grad_scale * LOAD_AB(grad, i) + h.wd * pv;
        const float bv = h.beta1 * (map[bc[i]] * am) + g;
        bc[i] = q8_quantize_one(thr, bits, new_am, bv, zero);
        const float step = nesterov ? g + h.beta1 * bv : bv;
        const float np = pv - h.lr * step;
        p[i] = np;
        if (has_copy)
            STORE_C(np, copy, i);
    }
    if (lid == 0)
        b_absmax[ba_off + b] = new_am;
}

/* ---- the codecs ---------------------------------------------------------------------- */

/* clt_q8_quantize, a work-group per block. */
__kernel void quantize8(const ulong n, const ulong block, const uint table_at,
                        __global const float *x, const ulong x_off,
                        __global uchar *codes, const ulong codes_off,
                        __global float *absmax, const ulong absmax_off,
                        __global const float *table,
                        __local float *map, __local float *thr, __local uint *red_a,
                        __local uint *red_b)
{
    const ulong b = get_group_id(0), start = b * block;
    const ulong len = min(block, n - start);
    const uint lid = get_local_id(0), wg = get_local_size(0);
    x += x_off + start;
    codes += codes_off + start;
    load_table(table, table_at, map, thr);
    uint bits = 0;
    for (ulong i = lid; i < len; i += wg)
        bits = max(bits, as_uint(x[i]) & F32_ABS_MASK);
    red_a[lid] = bits;
    red_b[lid] = 0;
    tree_max2(red_a, red_b); /* its barriers also cover load_table's writes */
    bits = red_a[0];
    const float am = absmax_of_bits(bits);
    const uchar zero = q8_code(thr, 0.0f);
    for (ulong i = lid; i < len; i += wg)
        codes[i] = q8_quantize_one(thr, bits, am, x[i], zero);
    if (lid == 0)
        absmax[absmax_off + b] = am;
}

/* clt_q8_dequantize: x[i] = map[codes[i]] · absmax[i / block], a work-item per element. */
__kernel void dequantize8(const ulong n, const ulong block, const uint table_at,
                          __global const uchar *codes, const ulong codes_off,
                          __global const float *absmax, const ulong absmax_off,
                          __global float *x, const ulong x_off,
                          __global const float *table)
{
    for (ulong i = get_global_id(0); i < n; i += get_global_size(0))
        x[x_off + i] = table[table_at + codes[codes_off + i]] * absmax[absmax_off + i / block];
}
