/* Helpers of the row-wise kernels (softmax.cl, layernorm.cl, cross_entropy.cl): the
 * prelude their first line names after dtype.cl, whose macros it uses — the vector types of width VW, loads and
 * stores of a row's last partial vector, and reductions across a vector's lanes and across
 * the WG work-items of a row.
 *
 * Build options: WG work-items per row, RPG rows per work-group, VW elements per vector
 * (backends/opencl/cl_rows.c chooses them per device). */

/* Defaults, for compiling a file on its own (the driver always sets all three). */
#ifndef WG
#define WG 1
#endif
#ifndef RPG
#define RPG 1
#endif
#ifndef VW
#define VW 4
#endif

#if VW == 1
#define floatV float
#define intV int
#define AS_INTV as_int
#define AS_FLOATV as_float
#define VLOAD_F(i, p) ((p)[i])
#define VSTORE_F(v, i, p) ((p)[i] = (v))
#define VSTORE_I(v, i, p) ((p)[i] = (v))
#define LOAD_X(i, p) LOAD_AB(p, i)
#define LOAD_Y(i, p) LOAD_C(p, i)
#define STORE_Y(v, i, p) STORE_C(v, p, i)
#else
#define floatV XCAT(float, VW)
#define intV XCAT(int, VW)
#define AS_INTV XCAT(as_int, VW)
#define AS_FLOATV XCAT(as_float, VW)
#define VLOAD_F(i, p) XCAT(vload, VW)(i, p)
#define VSTORE_F(v, i, p) XCAT(vstore, VW)(v, i, p)
#define VSTORE_I(v, i, p) XCAT(vstore, VW)(v, i, p)
#define LOAD_X(i, p) LOAD_AB_V(VW, i, p)
#define LOAD_Y(i, p) LOAD_C_V(VW, i, p)
#define STORE_Y(v, i, p) STORE_C_V(VW, v, i, p)
#endif

/* ---- row access ------------------------------------------------------------------------ */

/* The last, partial vector of a row: its n < VW elements, then `pad`. */
floatV load_part(__global const ab_t *p, int n, float pad)
{
    float part[VW];
    for (int j = 0; j < VW; j++)
        part[j] = j < n ? LOAD_AB(p, j) : pad;
    return VLOAD_F(0, part);
}

/* The same from an output tensor (to accumulate into it). */
floatV load_part_out(__global const c_t *p, int n)
{
    float part[VW];
    for (int j = 0; j < VW; j++)
        part[j] = j < n ? LOAD_C(p, j) : 0.0f;
    return VLOAD_F(0, part);
}

void store_part(floatV v, __global c_t *p, int n)
{
    float part[VW];
    VSTORE_F(v, 0, part);
    for (int j = 0; j < n; j++)
        STORE_C(part[j], p, j);
}

/* ---- reductions ----------------------------------------------------------------------
 * Across the lanes of a vector, and across the WG work-items of a row: every work-item
 * of the group calls the group_ ones (barriers), each row on its own WG slots of local
 * memory; the tree's order is fixed, so results are deterministic. */

float lanes_max(floatV v)
{
    float lane[VW];
    VSTORE_F(v, 0, lane);
    float m = lane[0];
    for (int j = 1; j < VW; j++)
        m = fmax(m, lane[j]);
    return m;
}

float lanes_sum(floatV v)
{
    float lane[VW];
    VSTORE_F(v, 0, lane);
    float s = lane[0];
    for (int j = 1; j < VW; j++)
        s += lane[j];
    return s;
}

float group_max(float v, __local float *slots)
{
#if WG > 1
    const int i = get_local_id(0);
    slots[i] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = WG / 2; w > 0; w >>= 1) {
        if (i < w)
            slots[i] = v = fmax(v, slots[i + w]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    v = slots[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return v;
}

float group_sum(float v, __local float *slots)
{
#if WG > 1
    const int i = get_local_id(0);
    slots[i] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = WG / 2; w > 0; w >>= 1) {
        if (i < w)
            slots[i] = v = v + slots[i + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    v = slots[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return v;
}

int group_count(int v, __local int *slots)
{
#if WG > 1
    const int i = get_local_id(0);
    slots[i] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = WG / 2; w > 0; w >>= 1) {
        if (i < w)
            slots[i] = v = v + slots[i + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    v = slots[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return v;
}
