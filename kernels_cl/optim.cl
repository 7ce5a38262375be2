/* clt-prelude: dtype.cl */
/* Optimizer steps and block-wise 8-bit quantization (include/clt/op.h), the device side
 * of backends/host/optim_host.c and quant8.c, which are the oracle: every f32 operation
 * here is the host's, in the host's order, so that f32 states agree bit for bit with a
 * correctly rounded f32 host (the driver builds with
 * -cl-fp32-correctly-rounded-divide-sqrt, and contraction into fma is off below).
 *
 * Build options: -DAB_DTYPE = the gradient's dtype, -DC_DTYPE = param_copy's (f32 when
 * there is none); -DVW = floats per vector (4, 8 or 16) and -DQ8_ITEMS=1 for the q8
 * kernels of the CPU shape, both from the device's shape (backends/opencl/
 * cl_optim_db.c). param, the f32 states, the absmax and the partial sums are f32. Every tensor comes as a base pointer and an element offset (a range of a
 * larger tensor); q8 ranges start on a block boundary, so block b of the range is
 * absmax[b].
 *
 * Vectors: the element-wise kernels (f32 states, and the q8 kernels of the CPU shape)
 * work on vectors of VW elements; the last n % VW elements are a vector whose dead
 * lanes load as 0 and are never stored. Vector arithmetic is lane by lane the scalar
 * arithmetic, so the width changes no result.
 *
 * f32 states: group g's work-item l takes vectors (g · items + k) · wg + l, k < items:
 * neighbouring work-items touch neighbouring vectors at each step (coalesced on a GPU),
 * and a group of one work-item (the CPU shape) walks `items` consecutive vectors.
 *
 * q8 states come in two shapes, the same results:
 * - a work-group per quantization block (GPU; adam_q8, sgd_q8, quantize8): (A) each
 *   work-item walks its elements of the block, dequantizes m/v through the map (in
 *   local memory), updates them and keeps max |x| as integer bits (NaN and Inf order
 *   above every finite value, as on the host); a work-group max gives the new absmax;
 *   (B) each work-item recomputes the same updated values (same operations, same
 *   inputs: param is written only in B, by the work-item that owns the element, after
 *   it has read it), quantizes them with the 255 thresholds (a branchless binary
 *   search, clt_q8_code's), and updates param with the unquantized moments, as the
 *   host does. Recomputing instead of keeping the values lets a block be any size
 *   without local memory for it.
 * - a work-item per block (CPU; the *_items kernels): the same two passes by one
 *   work-item over vectors of VW elements, with no barrier and no local memory (a CPU
 *   runtime such as PoCL runs a group's work-items one after the other between
 *   barriers, and a table copy and a tree per block cost more than the block's
 *   arithmetic). Pass A also updates param (it needs the unquantized moments only)
 *   and keeps a block's updated states in private memory when the block is short
 *   enough, so that pass B only quantizes them. Map lookups and the steps of the
 *   search read the table where it lies (in L1), 16 entries at a time, through
 *   register permutes (see the section).
 *
 * The gate: every work-item reads it and returns before touching anything when it is
 * not finite; it is the same for all, so no work-group splits at a barrier.
 *
 * LAMB: pass 1 (mode 1) updates the states and writes each work-group's (q8: each
 * block's) sums of p² and u² (u from the moments as stored) to partial[2g],
 * partial[2g+1]; lamb_trust adds them in a fixed order and writes the trust ratio;
 * pass 2 (mode 2) applies it. How the sums split depends on the shape and the launch
 * parameters only, so a device gives the same bits every run. */

#pragma OPENCL FP_CONTRACT OFF

#ifndef VW
#define VW 4
#endif
#if VW != 4 && VW != 8 && VW != 16
#error "optim.cl: VW must be 4, 8 or 16"
#endif

/* Helpers are inlined into the kernels: PoCL otherwise calls them and passes vectors
 * through memory. Lane loops are unrolled, so that the arrays they index stay in
 * registers. (Definitions are static: an inline-only C99 definition could leave an
 * unresolved symbol where a compiler chooses not to inline.) */
#define INLINE static inline __attribute__((always_inline))
#define CLT_PRAGMA(x) _Pragma(#x)
#define UNROLL_ALL CLT_PRAGMA(unroll)

#define MODE_ADAMW 0
#define MODE_LAMB_SUMS 1
#define MODE_LAMB_APPLY 2

/* The table the driver passes (see cl_optim.c): signed map at 0, its thresholds at 256,
 * unsigned map at 512, its thresholds at 768 (255 each, one pad); then, for the CPU
 * kernels, each map's thresholds as a search tree, in breadth-first order (level l,
 * l = 0..7, at 2^l − 1: thr[(2j + 1) · 2^(7 − l) − 1] for j < 2^l), so that each step
 * of the binary search reads one contiguous level. */
#define TABLE_SIGNED 0
#define TABLE_UNSIGNED 512
#define TABLE_THR 256
#define TABLE_TREE_SIGNED 1024
#define TABLE_TREE_UNSIGNED 1280

#define F32_ABS_MASK 0x7fffffffu
#define F32_INF_BITS 0x7f800000u

struct hparams {
    float lr, beta1, beta2, eps, wd, grad_scale;
    float one_minus_beta1, one_minus_beta2; /* 1 − β in f32, as the host rounds them */
    float bc1, bc2;                         /* bias corrections, rounded once on the host */
};

INLINE int gate_closed(__global const float *gate, const ulong gate_off, const int has_gate)
{
    return has_gate && !isfinite(gate[gate_off]);
}

/* ---- the per-element arithmetic (optim_host.c's, operation for operation) ----------
 * Scalars or vectors alike. */

#define ADAM_MOMENTS(m, v, g, h)                                                           \
    do {                                                                                   \
        m = (h).beta1 * m + (h).one_minus_beta1 * g;                                       \
        v = (h).beta2 * v + (h).one_minus_beta2 * (g * g);                                 \
    } while (0)

#define ADAM_DIRECTION(m, v, p, h) ((m / (h).bc1) / (sqrt(v / (h).bc2) + (h).eps) + (h).wd * p)

/* ---- vectors of VW, the last one partial ------------------------------------------- */

#define floatV XCAT(float, VW)
#define uintV XCAT(uint, VW)
#define intV XCAT(int, VW)
#define VLOAD XCAT(vload, VW)
#define VSTORE XCAT(vstore, VW)
#define AS_UINTV XCAT(as_uint, VW)
#define AS_FLOATV XCAT(as_float, VW)
#define CONVERT_UINTV XCAT(convert_uint, VW)
#define CONVERT_UCHARV XCAT(convert_uchar, VW)

/* Lanes of the vector at `base` that lie below n. */
INLINE uint live_of(const ulong base, const ulong n)
{
    return n - base < VW ? (uint)(n - base) : VW;
}

/* Aligned whole vectors: `aligned` says that every tensor's offset (and in the q8
 * kernels of the CPU shape, the block) is a multiple of VW elements (the driver checks;
 * buffers start aligned for any vector), so that a vector is one aligned access (a
 * 16-byte load on a GPU; PoCL splits vloadn/vstoren into pieces, and bytes one by
 * one) where vloadn may assume element alignment only. */
#define ushortV XCAT(ushort, VW)
#define ucharV XCAT(uchar, VW)
#define ALOAD_F32(p) (*(__global const floatV *)(p))
#define ASTORE_F32(x, p) (*(__global floatV *)(p) = (x))
#if AB_DTYPE == 0
#define ALOAD_AB(p) ALOAD_F32(p)
#elif AB_DTYPE == 1
#define ALOAD_AB(p) XCAT(vloada_half, VW)(0, (p))
#else
#define ALOAD_AB(p) XCAT(as_float, VW)(CONVERT_UINTV(*(__global const ushortV *)(p)) << 16)
#endif
#if C_DTYPE == 0
#define ASTORE_C(x, p) ASTORE_F32((x), (p))
#elif C_DTYPE == 1
#define ASTORE_C(x, p) XCAT(XCAT(vstorea_half, VW), _rte)((x), 0, (p))
#else
#define ASTORE_C(x, p) (*(__global ushortV *)(p) = CLT_BF16_V(VW, (x)))
#endif

/* Loads of the `live` first lanes at x + base, the rest 0, and stores of them: one
 * vector access when the vector is whole (`aligned`: see above). The lane loops have a
 * constant trip count; compilers unroll them and keep t in registers. */
INLINE floatV load_f32(__global const float *x, const ulong base, const uint live,
                       const int aligned)
{
    if (live == VW)
        return aligned ? ALOAD_F32(x + base) : VLOAD(0, x + base);
    float t[VW];
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        t[j] = j < live ? x[base + j] : 0.0f;
    return VLOAD(0, t);
}

INLINE void store_f32(const floatV v, __global float *x, const ulong base, const uint live,
                      const int aligned)
{
    if (live == VW) {
        if (aligned)
            ASTORE_F32(v, x + base);
        else
            VSTORE(v, 0, x + base);
        return;
    }
    float t[VW];
    VSTORE(v, 0, t);
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        if (j < live)
            x[base + j] = t[j];
}

INLINE floatV load_grad(__global const ab_t *x, const ulong base, const uint live,
                        const int aligned)
{
    if (live == VW)
        return aligned ? ALOAD_AB(x + base) : LOAD_AB_V(VW, 0, x + base);
    float t[VW];
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        t[j] = j < live ? LOAD_AB(x, base + j) : 0.0f;
    return VLOAD(0, t);
}

INLINE void store_copy(const floatV v, __global c_t *x, const ulong base, const uint live,
                       const int aligned)
{
    if (live == VW) {
        if (aligned)
            ASTORE_C(v, x + base);
        else
            STORE_C_V(VW, v, 0, x + base);
        return;
    }
    float t[VW];
    VSTORE(v, 0, t);
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        if (j < live)
            STORE_C(t[j], x, base + j);
}

INLINE uintV load_codes(__global const uchar *x, const ulong base, const uint live,
                        const int aligned)
{
    if (live == VW)
        return CONVERT_UINTV(aligned ? *(__global const ucharV *)(x + base)
                                     : VLOAD(0, x + base));
    uint t[VW];
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        t[j] = j < live ? x[base + j] : 0u;
    return VLOAD(0, t);
}

INLINE void store_codes(const uintV c, __global uchar *x, const ulong base, const uint live,
                        const int aligned)
{
    if (live == VW) {
        if (aligned)
            *(__global ucharV *)(x + base) = CONVERT_UCHARV(c);
        else
            VSTORE(CONVERT_UCHARV(c), 0, x + base);
        return;
    }
    uint t[VW];
    VSTORE(c, 0, t);
    UNROLL_ALL
    for (uint j = 0; j < VW; j++)
        if (j < live)
            x[base + j] = (uchar)t[j];
}

/* The lanes added in order, and their integer max. */
INLINE float lanes_sum(const floatV x)
{
    float t[VW];
    VSTORE(x, 0, t);
    float s = t[0];
    UNROLL_ALL
    for (uint j = 1; j < VW; j++)
        s += t[j];
    return s;
}

INLINE uint lanes_max(const uintV x)
{
    uint t[VW];
    VSTORE(x, 0, t);
    uint m = t[0];
    UNROLL_ALL
    for (uint j = 1; j < VW; j++)
        m = max(m, t[j]);
    return m;
}

/* The first vector of work-item `lid` of group `group` in the element-wise layout, and
 * the distance to its next one. */
#define FIRST_VECTOR(items) ((ulong)get_group_id(0) * (items) * get_local_size(0) + get_local_id(0))
#define NEXT_VECTOR ((ulong)get_local_size(0))

/* ---- reductions over a work-group ---------------------------------------------------- */

/* Sums of local a[] and b[] (get_local_size(0) entries, a power of two) into a[0], b[0]
 * by a fixed tree. */
INLINE void tree_sum2(__local float *a, __local float *b)
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
INLINE void tree_max2(__local uint *a, __local uint *b)
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

__kernel void adam_f32(const ulong n, const int mode, const ulong items, const int aligned,
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
    floatV sp = 0.0f, su = 0.0f;
    const ulong first = FIRST_VECTOR(items);
    for (ulong k = 0; k < items; k++) {
        const ulong base = (first + k * NEXT_VECTOR) * VW;
        if (base >= n)
            break;
        const uint live = live_of(base, n);
        floatV pv = load_f32(p, base, live, aligned);
        floatV mv = load_f32(m, base, live, aligned), vv = load_f32(v, base, live, aligned);
        if (mode != MODE_LAMB_APPLY) {
            const floatV g = h.grad_scale * load_grad(grad, base, live, aligned);
            ADAM_MOMENTS(mv, vv, g, h);
            store_f32(mv, m, base, live, aligned);
            store_f32(vv, v, base, live, aligned);
        }
        const floatV u = ADAM_DIRECTION(mv, vv, pv, h);
        if (mode == MODE_LAMB_SUMS) {
            /* dead lanes hold p = 0, m = v = 0 and so u = 0: they add nothing */
            sp += pv * pv;
            su += u * u;
            continue;
        }
        pv = pv - h.lr * (mode == MODE_LAMB_APPLY ? trust * u : u);
        store_f32(pv, p, base, live, aligned);
        if (has_copy)
            store_copy(pv, copy, base, live, aligned);
    }
    if (mode == MODE_LAMB_SUMS) {
        const uint lid = get_local_id(0);
        sum_p[lid] = lanes_sum(sp);
        sum_u[lid] = lanes_sum(su);
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

__kernel void sgd_f32(const ulong n, const int has_buf, const int nesterov, const ulong items,
                      const int aligned,
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
    const ulong first = FIRST_VECTOR(items);
    for (ulong k = 0; k < items; k++) {
        const ulong base = (first + k * NEXT_VECTOR) * VW;
        if (base >= n)
            break;
        const uint live = live_of(base, n);
        floatV pv = load_f32(p, base, live, aligned);
        const floatV g = h.grad_scale * load_grad(grad, base, live, aligned) + h.wd * pv;
        floatV step = g;
        if (has_buf) {
            floatV b = load_f32(buf, base, live, aligned);
            b = h.beta1 * b + g;
            store_f32(b, buf, base, live, aligned);
            step = nesterov ? g + h.beta1 * b : b;
        }
        pv = pv - h.lr * step;
        store_f32(pv, p, base, live, aligned);
        if (has_copy)
            store_copy(pv, copy, base, live, aligned);
    }
}

/* ---- q8, common to both shapes ------------------------------------------------------- */

/* The absmax that integer-max bits stand for: 0, NaN (a non-finite element), or the
 * value. */
INLINE float absmax_of_bits(const uint bits)
{
    return bits == 0 ? 0.0f : bits >= F32_INF_BITS ? as_float(0x7fc00000u) : as_float(bits);
}

/* Whether a block of absmax bits `bits` quantizes to the code of 0 throughout (a zero
 * or non-finite block). */
INLINE int q8_zero_block(const uint bits)
{
    return bits == 0 || bits >= F32_INF_BITS;
}

/* ---- q8: a work-group per block (GPU) ------------------------------------------------ */

/* Copies map (256) and thresholds (255) of one table half into local memory. */
INLINE void load_table(__global const float *table, const uint at, __local float *map,
                       __local float *thr)
{
    for (uint i = get_local_id(0); i < 256; i += get_local_size(0)) {
        map[i] = table[at + i];
        if (i < 255)
            thr[i] = table[at + TABLE_THR + i];
    }
}

/* clt_q8_code: the count of thresholds <= x by an 8-step binary search; NaN gets 0. */
INLINE uchar q8_code(__local const float *thr, const float x)
{
    uint pos = 0;
    for (uint step = 128; step > 0; step >>= 1)
        pos += (x >= thr[pos + step - 1]) ? step : 0;
    return (uchar)pos;
}

/* x's code in a block of absmax `am` (from `bits`): the code of 0 for zero and
 * non-finite blocks, else the nearest code of x / am (a true division). */
INLINE uchar q8_quantize_one(__local const float *thr, const uint bits, const float am,
                             const float x, const uchar zero_code)
{
    return q8_zero_block(bits) ? zero_code : q8_code(thr, x / am);
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

/* ---- q8: a work-item per block (CPU) -------------------------------------------------
 * Built with -DQ8_ITEMS=1 (cl_optim.c does so for CPUs): the table lookups below index
 * vectors with a variable lane (v[i], clang's vector subscript, which PoCL and the
 * other clang-based CPU compilers accept), a form that LLVM turns into a register
 * permute (vpermps) where a gather or a binary search through memory would wait on
 * each load in turn. */
#if defined(Q8_ITEMS) && Q8_ITEMS

#if VW == 4
#define LANE_IDS ((uintV)(0, 1, 2, 3))
#define PERM_LANES(t, m) (floatV)(t[m.s0], t[m.s1], t[m.s2], t[m.s3])
#elif VW == 8
#define LANE_IDS ((uintV)(0, 1, 2, 3, 4, 5, 6, 7))
#define PERM_LANES(t, m)                                                                   \
    (floatV)(t[m.s0], t[m.s1], t[m.s2], t[m.s3], t[m.s4], t[m.s5], t[m.s6], t[m.s7])
#else
#define LANE_IDS ((uintV)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define PERM_LANES(t, m)                                                                   \
    (floatV)(t[m.s0], t[m.s1], t[m.s2], t[m.s3], t[m.s4], t[m.s5], t[m.s6], t[m.s7],        \
             t[m.s8], t[m.s9], t[m.sa], t[m.sb], t[m.sc], t[m.sd], t[m.se], t[m.sf])
#endif

/* t[k mod 16] for the 16 floats at t, lane by lane. */
INLINE floatV lookup16(__global const float *t, const uintV k)
{
    const float16 v = vload16(0, t);
    const uintV m = k & 15u;
    return PERM_LANES(v, m);
}

/* t[k mod 2^b] for the 2^b floats at t: tables of 16, picked by k's bits 4 .. b−1. */
INLINE floatV lookup32(__global const float *t, const uintV k)
{
    return select(lookup16(t, k), lookup16(t + 16, k), XCAT(as_int, VW)(k << 27));
}

INLINE floatV lookup64(__global const float *t, const uintV k)
{
    return select(lookup32(t, k), lookup32(t + 32, k), XCAT(as_int, VW)(k << 26));
}

INLINE floatV lookup128(__global const float *t, const uintV k)
{
    return select(lookup64(t, k), lookup64(t + 64, k), XCAT(as_int, VW)(k << 25));
}

/* map[c] for codes c < 256. */
INLINE floatV decode(__global const float *map, const uintV c)
{
    return select(lookup128(map, c), lookup128(map + 128, c), XCAT(as_int, VW)(c << 24));
}

/* clt_q8_code lane by lane: the binary search's eight steps, each compare reading its
 * level of the tree. x >= t is false for NaN, so NaN gets 0. */
INLINE uintV vq8_code(__global const float *tree, const floatV x)
{
    uintV pos = AS_UINTV(x >= tree[0]) & 128u;
    pos += AS_UINTV(x >= lookup16(tree + 1, pos >> 7)) & 64u;
    pos += AS_UINTV(x >= lookup16(tree + 3, pos >> 6)) & 32u;
    pos += AS_UINTV(x >= lookup16(tree + 7, pos >> 5)) & 16u;
    pos += AS_UINTV(x >= lookup16(tree + 15, pos >> 4)) & 8u;
    pos += AS_UINTV(x >= lookup32(tree + 31, pos >> 3)) & 4u;
    pos += AS_UINTV(x >= lookup64(tree + 63, pos >> 2)) & 2u;
    pos += AS_UINTV(x >= lookup128(tree + 127, pos >> 1)) & 1u;
    return pos;
}

INLINE uintV vq8_quantize(__global const float *tree, const uint bits, const float am,
                          const floatV x, const uint zero_code)
{
    return q8_zero_block(bits) ? (uintV)zero_code : vq8_code(tree, x / am);
}

/* All ones in the `live` first lanes, zeros after. */
INLINE uintV live_mask(const uint live)
{
    return AS_UINTV(LANE_IDS < live);
}

/* Block b of the range: its length, or 0 past the end (the work-items that round the
 * range up to whole groups). */
INLINE ulong block_len(const ulong n, const ulong block, const ulong b)
{
    const ulong start = b * block;
    return start < n ? min(block, n - start) : 0;
}

/* Blocks up to STASH elements keep their updated states in private memory between the
 * two passes (the default block, 256, does); longer ones recompute them in pass B. */
#define STASH 256

__kernel void adam_q8_items(const ulong n, const int mode, const ulong block,
                            __global float *p, const ulong p_off,
                            __global const ab_t *grad, const ulong grad_off,
                            __global uchar *mc, const ulong mc_off,
                            __global float *m_absmax, const ulong ma_off,
                            __global uchar *vc, const ulong vc_off,
                            __global float *v_absmax, const ulong va_off,
                            __global c_t *copy, const ulong copy_off, const int has_copy,
                            __global const float *gate, const ulong gate_off,
                            const int has_gate, __global float *partial,
                            __global const float *table, const struct hparams h,
                            const int aligned)
{
    const ulong b = get_global_id(0), len = block_len(n, block, b);
    if (len == 0 || gate_closed(gate, gate_off, has_gate))
        return;
    const ulong start = b * block;
    p += p_off + start;
    grad += grad_off + start;
    mc += mc_off + start;
    vc += vc_off + start;
    copy += copy_off + start;
    __global const float *map_m = table + TABLE_SIGNED, *tree_m = table + TABLE_TREE_SIGNED;
    __global const float *map_v = table + TABLE_UNSIGNED, *tree_v = table + TABLE_TREE_UNSIGNED;
    const float am_m = m_absmax[ma_off + b], am_v = v_absmax[va_off + b];

    if (mode == MODE_LAMB_APPLY) { /* states as stored; no requantization */
        const float trust = partial[2 * ((n + block - 1) / block)];
        for (ulong i = 0; i < len; i += VW) {
            const uint live = live_of(i, len);
            const floatV mv = decode(map_m, load_codes(mc, i, live, aligned)) * am_m;
            const floatV vv = decode(map_v, load_codes(vc, i, live, aligned)) * am_v;
            const floatV pv = load_f32(p, i, live, aligned);
            const floatV np = pv - h.lr * (trust * ADAM_DIRECTION(mv, vv, pv, h));
            store_f32(np, p, i, live, aligned);
            if (has_copy)
                store_copy(np, copy, i, live, aligned);
        }
        return;
    }

    /* (A) the updated moments and their absmax; AdamW's parameter update (from the
     * unquantized moments, which do not depend on the new absmax) */
    const int keep = len <= STASH;
    float kept_m[STASH], kept_v[STASH];
    uintV max_m = 0, max_v = 0;
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        floatV mv = decode(map_m, load_codes(mc, i, live, aligned)) * am_m;
        floatV vv = decode(map_v, load_codes(vc, i, live, aligned)) * am_v;
        const floatV g = h.grad_scale * load_grad(grad, i, live, aligned);
        ADAM_MOMENTS(mv, vv, g, h);
        const uintV on = live_mask(live);
        max_m = max(max_m, AS_UINTV(mv) & F32_ABS_MASK & on);
        max_v = max(max_v, AS_UINTV(vv) & F32_ABS_MASK & on);
        if (keep) { /* STASH is a multiple of VW: a whole vector fits */
            VSTORE(mv, 0, kept_m + i);
            VSTORE(vv, 0, kept_v + i);
        }
        if (mode == MODE_ADAMW) {
            const floatV pv = load_f32(p, i, live, aligned);
            const floatV np = pv - h.lr * ADAM_DIRECTION(mv, vv, pv, h);
            store_f32(np, p, i, live, aligned);
            if (has_copy)
                store_copy(np, copy, i, live, aligned);
        }
    }
    const uint bits_m = lanes_max(max_m), bits_v = lanes_max(max_v);
    const float new_m = absmax_of_bits(bits_m), new_v = absmax_of_bits(bits_v);
    const uint zero_m = vq8_code(tree_m, (floatV)0.0f).s0;
    const uint zero_v = vq8_code(tree_v, (floatV)0.0f).s0;

    /* (B) the moments, kept or computed again (codes are written only here): quantize
     * them; LAMB's sums take u from the moments as stored */
    floatV sp = 0.0f, su = 0.0f;
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        floatV mv, vv;
        if (keep) {
            mv = VLOAD(0, kept_m + i);
            vv = VLOAD(0, kept_v + i);
        } else {
            mv = decode(map_m, load_codes(mc, i, live, aligned)) * am_m;
            vv = decode(map_v, load_codes(vc, i, live, aligned)) * am_v;
            const floatV g = h.grad_scale * load_grad(grad, i, live, aligned);
            ADAM_MOMENTS(mv, vv, g, h);
        }
        const uintV cm = vq8_quantize(tree_m, bits_m, new_m, mv, zero_m);
        const uintV cv = vq8_quantize(tree_v, bits_v, new_v, vv, zero_v);
        store_codes(cm, mc, i, live, aligned);
        store_codes(cv, vc, i, live, aligned);
        if (mode == MODE_LAMB_SUMS) {
            const floatV pv = load_f32(p, i, live, aligned);
            const floatV u = ADAM_DIRECTION(decode(map_m, cm) * new_m,
                                            decode(map_v, cv) * new_v, pv, h);
            sp += pv * pv; /* dead lanes: p = 0 */
            su += AS_FLOATV(AS_UINTV(u * u) & live_mask(live));
        }
    }
    m_absmax[ma_off + b] = new_m;
    v_absmax[va_off + b] = new_v;
    if (mode == MODE_LAMB_SUMS) {
        partial[2 * b] = lanes_sum(sp);
        partial[2 * b + 1] = lanes_sum(su);
    }
}

/* SGD's parameter update from the momentum. */
INLINE void sgd_apply(const floatV pv, const floatV g, const floatV bv, const int nesterov,
                      const struct hparams h, __global float *p, __global c_t *copy,
                      const int has_copy, const ulong i, const uint live, const int aligned)
{
    const floatV step = nesterov ? g + h.beta1 * bv : bv;
    const floatV np = pv - h.lr * step;
    store_f32(np, p, i, live, aligned);
    if (has_copy)
        store_copy(np, copy, i, live, aligned);
}

__kernel void sgd_q8_items(const ulong n, const int nesterov, const ulong block,
                           __global float *p, const ulong p_off,
                           __global const ab_t *grad, const ulong grad_off,
                           __global uchar *bc, const ulong bc_off,
                           __global float *b_absmax, const ulong ba_off,
                           __global c_t *copy, const ulong copy_off, const int has_copy,
                           __global const float *gate, const ulong gate_off,
                           const int has_gate, __global const float *table,
                           const struct hparams h, const int aligned)
{
    const ulong b = get_global_id(0), len = block_len(n, block, b);
    if (len == 0 || gate_closed(gate, gate_off, has_gate))
        return;
    const ulong start = b * block;
    p += p_off + start;
    grad += grad_off + start;
    bc += bc_off + start;
    copy += copy_off + start;
    __global const float *map = table + TABLE_SIGNED, *tree = table + TABLE_TREE_SIGNED;
    const float am = b_absmax[ba_off + b];

    /* (A) the updated momentum and its absmax; a kept block updates the parameter here
     * (a recomputed one needs the old parameter in B) */
    const int keep = len <= STASH;
    float kept[STASH];
    uintV max_b = 0;
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        const floatV pv = load_f32(p, i, live, aligned);
        const floatV g = h.grad_scale * load_grad(grad, i, live, aligned) + h.wd * pv;
        const floatV bv = h.beta1 * (decode(map, load_codes(bc, i, live, aligned)) * am) + g;
        max_b = max(max_b, AS_UINTV(bv) & F32_ABS_MASK & live_mask(live));
        if (keep) {
            VSTORE(bv, 0, kept + i);
            sgd_apply(pv, g, bv, nesterov, h, p, copy, has_copy, i, live, aligned);
        }
    }
    const uint bits = lanes_max(max_b);
    const float new_am = absmax_of_bits(bits);
    const uint zero = vq8_code(tree, (floatV)0.0f).s0;

    /* (B) quantize */
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        floatV bv;
        if (keep) {
            bv = VLOAD(0, kept + i);
        } else {
            const floatV pv = load_f32(p, i, live, aligned);
            const floatV g = h.grad_scale * load_grad(grad, i, live, aligned) + h.wd * pv;
            bv = h.beta1 * (decode(map, load_codes(bc, i, live, aligned)) * am) + g;
            sgd_apply(pv, g, bv, nesterov, h, p, copy, has_copy, i, live, aligned);
        }
        store_codes(vq8_quantize(tree, bits, new_am, bv, zero), bc, i, live, aligned);
    }
    b_absmax[ba_off + b] = new_am;
}

/* clt_q8_quantize, a work-item per block; table_at is the map's offset. */
__kernel void quantize8_items(const ulong n, const ulong block, const uint table_at,
                              __global const float *x, const ulong x_off,
                              __global uchar *codes, const ulong codes_off,
                              __global float *absmax, const ulong absmax_off,
                              __global const float *table, const int aligned)
{
    const ulong b = get_global_id(0), len = block_len(n, block, b);
    if (len == 0)
        return;
    x += x_off + b * block;
    codes += codes_off + b * block;
    __global const float *tree =
        table + (table_at == TABLE_SIGNED ? TABLE_TREE_SIGNED : TABLE_TREE_UNSIGNED);
    uintV max_x = 0;
    for (ulong i = 0; i < len; i += VW) /* dead lanes load 0 */
        max_x = max(max_x, AS_UINTV(load_f32(x, i, live_of(i, len), aligned)) & F32_ABS_MASK);
    const uint bits = lanes_max(max_x);
    const float am = absmax_of_bits(bits);
    const uint zero = vq8_code(tree, (floatV)0.0f).s0;
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        const floatV xv = load_f32(x, i, live, aligned);
        store_codes(vq8_quantize(tree, bits, am, xv, zero), codes, i, live, aligned);
    }
    absmax[absmax_off + b] = am;
}

/* clt_q8_dequantize, a work-item per block. */
__kernel void dequantize8_items(const ulong n, const ulong block, const uint table_at,
                                __global const uchar *codes, const ulong codes_off,
                                __global const float *absmax, const ulong absmax_off,
                                __global float *x, const ulong x_off,
                                __global const float *table, const int aligned)
{
    const ulong b = get_global_id(0), len = block_len(n, block, b);
    if (len == 0)
        return;
    codes += codes_off + b * block;
    x += x_off + b * block;
    const float am = absmax[absmax_off + b];
    for (ulong i = 0; i < len; i += VW) {
        const uint live = live_of(i, len);
        const floatV xv = decode(table + table_at, load_codes(codes, i, live, aligned)) * am;
        store_f32(xv, x, i, live, aligned);
    }
}

#endif /* Q8_ITEMS */
