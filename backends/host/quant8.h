/* Block-wise 8-bit dynamic quantization on the host (Dettmers et al., "8-bit Optimizers
 * via Block-wise Quantization"): the 256-entry dynamic maps of bitsandbytes, and the
 * quantize / dequantize loops that define what the q8 storage dtype of optimizer states
 * means. Internal: they are the scalar SIMD level's codec, which the vector levels
 * (optim_simd.h) reproduce bit for bit and the host optimizer calls per chunk through
 * its level's table; the device kernels are checked against them.
 *
 * A q8 tensor of n elements with block size B is n uint8 codes plus ceil(n/B) f32
 * absmax values; element i is map[codes[i]] · absmax[i / B]. */
#ifndef CLT_HOST_QUANT8_H
#define CLT_HOST_QUANT8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The dynamic maps of bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7,
 * total_bits=8), sorted ascending, strictly increasing. Signed: 127 negative values,
 * 0 at index 127, 127 positive values and 1.0, so [-0.99296875, 1] (bitsandbytes has no
 * -1: the sign takes the place of the 1.0 entry's twin). Unsigned: 0, 254 positive values
 * and 1.0, so [0, 1]. See quant8.c for the construction. */
void clt_q8_map_signed(float map[256]);
void clt_q8_map_unsigned(float map[256]);

/* The decision boundaries of a strictly increasing map: thr[i] is the smallest float
 * strictly greater than the exact midpoint (map[i] + map[i+1]) / 2. For a float v,
 * #{i : v >= thr[i]} is then exactly argmin_i |map[i] - v| in real arithmetic, ties going
 * to the lower index. Exact when each map[i] + map[i+1] is exact in double, which holds
 * when adjacent entries are within a factor 2^28 of each other or one is 0 (true of the
 * dynamic maps, whose neighbours differ by at most a factor ~6). */
void clt_q8_thresholds(const float map[256], float thr[255]);

/* The code of v: the count of thresholds <= v, by a branchless binary search (8 steps of
 * 128, 64, ..., 1). A NaN v compares false everywhere and gets code 0. Inline so that the
 * quantize loop and the tests run the same search. */
static inline uint8_t clt_q8_code(const float thr[255], float v)
{
    unsigned pos = 0;
    for (unsigned step = 128; step > 0; step >>= 1)
        pos += (v >= thr[pos + step - 1]) ? step : 0;
    return (uint8_t)pos;
}

/* Block-wise quantization. x (n), codes (n), absmax (ceil(n / block)); block >= 1, the
 * last block may be partial. map strictly increasing (a dynamic map).
 *
 * Per block: absmax = max |x|; codes[i] = the index of the map value nearest x[i]/absmax
 * (x/absmax rounded once, as an f32 division; ties to the lower index).
 *   - absmax 0 (all zeros, either sign): every code is the code of 0.0 (127 in the signed
 *     map, 0 in the unsigned one), so the block dequantizes to exact zeros.
 *   - a NaN or ±Inf anywhere in the block: absmax is stored as NaN and every code as the
 *     code of 0.0, so the whole block dequantizes to NaN. A non-finite optimizer state is
 *     corrupt; NaN spreads it into the update, where the training loop's finiteness check
 *     sees it, instead of silently clipping an Inf to a finite value.
 * Blocks are independent: a block's codes and absmax depend only on its own elements. */
void clt_q8_quantize(const float *x, size_t n, size_t block, const float map[256],
                     uint8_t *codes, float *absmax);

/* The same with the map's thresholds (clt_q8_thresholds) made beforehand: for callers
 * that quantize one block at a time, so the 255 thresholds are not rebuilt per block. */
void clt_q8_quantize_thr(const float *x, size_t n, size_t block, const float thr[255],
                         uint8_t *codes, float *absmax);

/* x[i] = map[codes[i]] · absmax[i / block]. codes (n), absmax (ceil(n / block)), x (n). */
void clt_q8_dequantize(const uint8_t *codes, const float *absmax, size_t n, size_t block,
                       const float map[256], float *x);

/* Everything the quantize and dequantize loops of every SIMD level (optim_simd.h) read
 * about one map, made once per map. tree holds the thresholds in the order the binary
 * search of clt_q8_code visits them, step by step: at step l = 0..7 (stride 2^(7-l)) the
 * search has fixed the code's top l bits to some k < 2^l and reads
 *     tree[2^l - 1 + k] = thr[(2k + 1) · 2^(7-l) - 1].
 * Each step's thresholds are then one small contiguous table (1, 2, 4, ..., 128 floats)
 * that a vector level keeps in registers and indexes with a permute, instead of
 * gathering from thr. */
struct clt_q8_codebook {
    float map[256];
    float thr[255];
    float tree[255];
    uint8_t zero_code; /* the code of 0.0: what zero and non-finite blocks hold */
};

/* The signed map's codebook (the first moment's) or the unsigned one's (the second's). */
void clt_q8_codebook_init(struct clt_q8_codebook *cb, bool is_signed);

/* The largest error quantization can make on x in a block of this absmax (> 0, finite),
 * in real arithmetic: half the gap between the two map entries around r = x/absmax,
 * times absmax; outside [map[0], map[255]] the distance to the end entry, times absmax.
 * A test adds the f32 rounding of r and of the dequantized product (≤ 1 ulp of each). */
double clt_q8_error_bound(const float map[256], float x, float absmax);

#endif
